/* Synthetic MNIST-format files for tests (see idx_writer.h). */
#include "idx_writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: tiny, seedable, independent of the library's RNG under test. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int below(uint64_t *s, int n) { return (int)(next_u64(s) % (uint64_t)n); }

/* Seven-segment digits (bits a..g = top, top-right, bottom-right, bottom,
 * bottom-left, top-left, middle): distinct, easy to reconstruct patterns. */
static const uint8_t seven_seg[10] = {0x3F, 0x06, 0x5B, 0x4F, 0x66, 0x6D, 0x7D, 0x07, 0x7F, 0x6F};

static void stroke(uint8_t *img, int x0, int y0, int x1, int y1, int dx, int dy)
{
    int steps = abs(x1 - x0) > abs(y1 - y0) ? abs(x1 - x0) : abs(y1 - y0);
    for (int i = 0; i <= steps; i++) {
        int x = x0 + (steps ? (x1 - x0) * i / steps : 0) + dx;
        int y = y0 + (steps ? (y1 - y0) * i / steps : 0) + dy;
        for (int ty = 0; ty < 2; ty++)
            for (int tx = 0; tx < 2; tx++) {
                int px = x + tx, py = y + ty;
                if (px >= 0 && px < CG_TEST_MNIST_SIDE && py >= 0 && py < CG_TEST_MNIST_SIDE)
                    img[py * CG_TEST_MNIST_SIDE + px] = 230;
            }
    }
}

static void draw_digit(uint8_t *img, int digit, int dx, int dy)
{
    const int l = 9, r = 18, t = 5, m = 13, b = 21;
    uint8_t seg = seven_seg[digit];
    if (seg & 0x01) stroke(img, l, t, r, t, dx, dy);
    if (seg & 0x02) stroke(img, r, t, r, m, dx, dy);
    if (seg & 0x04) stroke(img, r, m, r, b, dx, dy);
    if (seg & 0x08) stroke(img, l, b, r, b, dx, dy);
    if (seg & 0x10) stroke(img, l, m, l, b, dx, dy);
    if (seg & 0x20) stroke(img, l, t, l, m, dx, dy);
    if (seg & 0x40) stroke(img, l, m, r, m, dx, dy);
}

void cg_test_make_digits(uint8_t *images, uint8_t *labels, int n, uint64_t seed)
{
    const int pix = CG_TEST_MNIST_SIDE * CG_TEST_MNIST_SIDE;
    uint64_t s = seed ^ 0x5EED1DC0FFEEull;
    for (int i = 0; i < n; i++) {
        uint8_t *img = images + (size_t)i * pix;
        int digit = below(&s, 10);
        memset(img, 0, (size_t)pix);
        draw_digit(img, digit, below(&s, 3) - 1, below(&s, 3) - 1);
        for (int p = 0; p < pix; p++) { /* light noise on background and strokes */
            int v = img[p] + below(&s, 41) - 20;
            img[p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        if (labels) labels[i] = (uint8_t)digit;
    }
}

/* ---- writing: raw, or gzip with stored deflate blocks ---- */

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

static int write_gzip(FILE *f, const uint8_t *data, size_t len)
{
    static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
    if (write_all(f, header, sizeof header)) return -1;
    size_t off = 0;
    do { /* stored blocks of at most 65535 bytes; an empty input gets one empty final block */
        size_t n = len - off > 65535 ? 65535 : len - off;
        uint8_t bh[5] = {off + n == len ? 1 : 0, (uint8_t)n, (uint8_t)(n >> 8),
                         (uint8_t)~n, (uint8_t)(~n >> 8)};
        if (write_all(f, bh, 5) || write_all(f, data + off, n)) return -1;
        off += n;
    } while (off < len);
    uint8_t trailer[8];
    put_le32(trailer, crc32_update(0, data, len));
    put_le32(trailer + 4, (uint32_t)len);
    return write_all(f, trailer, 8);
}

int cg_test_write_bytes(const char *path, const void *data, size_t len, int gz)
{
    if (!path || (!data && len)) {
        errno = EINVAL;
        return -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int rc = gz ? write_gzip(f, data, len) : (len ? write_all(f, data, len) : 0);
    if (fclose(f) != 0) rc = -1;
    return rc;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static int write_idx(const char *path, uint32_t magic, const uint32_t *dims, int ndims,
                     const uint8_t *body, size_t body_len, int gz)
{
    size_t head = 4 + 4 * (size_t)ndims;
    uint8_t *buf = malloc(head + body_len);
    if (!buf) return -1;
    put_be32(buf, magic);
    for (int i = 0; i < ndims; i++) put_be32(buf + 4 + 4 * i, dims[i]);
    if (body_len) memcpy(buf + head, body, body_len);
    int rc = cg_test_write_bytes(path, buf, head + body_len, gz);
    free(buf);
    return rc;
}

int cg_test_write_idx_images(const char *path, const uint8_t *images, int count, int rows,
                             int cols, int gz)
{
    if (count < 0 || rows < 0 || cols < 0 || (!images && count && rows && cols)) {
        errno = EINVAL;
        return -1;
    }
    uint32_t dims[3] = {(uint32_t)count, (uint32_t)rows, (uint32_t)cols};
    return write_idx(path, 0x00000803u, dims, 3, images, (size_t)count * rows * cols, gz);
}

int cg_test_write_idx_labels(const char *path, const uint8_t *labels, int count, int gz)
{
    if (count < 0 || (!labels && count)) {
        errno = EINVAL;
        return -1;
    }
    uint32_t dims[1] = {(uint32_t)count};
    return write_idx(path, 0x00000801u, dims, 1, labels, (size_t)count, gz);
}

static int write_split(const char *dir, const char *prefix, int n, uint64_t seed, int gz)
{
    const int side = CG_TEST_MNIST_SIDE;
    uint8_t *images = malloc((size_t)n * side * side), *labels = malloc((size_t)n);
    char path[4096];
    int rc = -1;
    if (images && labels) {
        cg_test_make_digits(images, labels, n, seed);
        snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
        rc = cg_test_write_idx_images(path, images, n, side, side, gz);
        snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
        if (rc == 0) rc = cg_test_write_idx_labels(path, labels, n, gz);
    }
    free(images);
    free(labels);
    return rc;
}

int cg_test_write_mnist_ex(const char *dir, int n_train, int n_test, uint64_t seed, int gz)
{
    if (!dir || n_train < 1 || n_test < 1) {
        errno = EINVAL;
        return -1;
    }
    if (write_split(dir, "train", n_train, seed, gz)) return -1;
    return write_split(dir, "t10k", n_test, seed + 0x1000193ull, gz);
}

int cg_test_write_mnist(const char *dir, int n_train, int n_test, uint64_t seed)
{
    return cg_test_write_mnist_ex(dir, n_train, n_test, seed, 1);
}
