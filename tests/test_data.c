/* IDX reader, MNIST directory loading and the batch iterator.
 *
 * Every file is written by the test itself into a temporary directory: valid
 * raw and gzip files and one broken file per error path, each checked for its
 * status and a message naming the file and the problem.  The iterator is
 * checked on datasets whose sample i has every pixel equal to i, so a batch
 * tells which samples it holds. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif
#include "cg_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "alloc.h"

static char tmpdir[64];

/* ---- file helpers ---- */

struct blob {
    uint8_t *p;
    size_t n;
};

static void blob_put(struct blob *b, const void *d, size_t n)
{
    b->p = realloc(b->p, b->n + n);
    assert_non_null(b->p);
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void blob_u32(struct blob *b, uint32_t v)
{
    uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    blob_put(b, be, 4);
}

/* Pixel k of sample i in the standard test images. */
static uint8_t pixel(int64_t i, int64_t k) { return (uint8_t)(i * 37 + k * 11 + 3); }

/* IDX image file: header (magic, count, rows, cols) + `present` samples. */
static struct blob images_blob(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols,
                               uint32_t present)
{
    struct blob b = {0};
    const uint32_t head[4] = {magic, count, rows, cols};
    for (int i = 0; i < 4; i++) blob_u32(&b, head[i]);
    for (uint32_t i = 0; i < present; i++)
        for (uint32_t k = 0; k < rows * cols; k++) blob_put(&b, &(uint8_t){pixel(i, k)}, 1);
    return b;
}

static struct blob labels_blob(uint32_t count, uint32_t present)
{
    struct blob b = {0};
    blob_u32(&b, 2049);
    blob_u32(&b, count);
    for (uint32_t i = 0; i < present; i++) blob_put(&b, &(uint8_t){(uint8_t)(i * 7 % 10)}, 1);
    return b;
}

static const char *tpath(char *buf, const char *name)
{
    snprintf(buf, 256, "%s/%s", tmpdir, name);
    return buf;
}

static void write_file(const char *path, const void *d, size_t n, bool gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb9");
        assert_true(f && gzwrite(f, d, (unsigned)n) == (int)n && gzclose(f) == Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_true(f && fwrite(d, 1, n, f) == n && fclose(f) == 0);
    }
}

/* Writes the blob (raw or gz) as tmpdir/name, frees it, returns the path. */
static const char *put(char *buf, const char *name, struct blob b, bool gz)
{
    tpath(buf, name);
    write_file(buf, b.p, b.n, gz);
    free(b.p);
    return buf;
}

static void make_subdir(const char *name)
{
    char p[256];
    assert_int_equal(mkdir(tpath(p, name), 0755), 0);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cg_test_data_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    cg_test_remove_tree(tmpdir);
    return 0;
}

#define OK(expr) assert_int_equal((expr), CG_OK)
#define OPTS(...) ((struct cg_batches_options){__VA_ARGS__})

/* Asserts status and that cg_last_error() contains each substring. */
#define EXPECT_FAIL(expr, status, ...) \
    expect_fail((expr), (status), #expr, __LINE__, __VA_ARGS__, (const char *)NULL)
static void expect_fail(enum cg_status got, enum cg_status want, const char *expr, int line, ...)
{
    if (got != want)
        fail_msg("line %d: %s returned %s, expected %s (message: '%s')", line, expr,
                 cg_status_str(got), cg_status_str(want), cg_last_error());
    va_list ap;
    va_start(ap, line);
    for (const char *s; (s = va_arg(ap, const char *));)
        if (!strstr(cg_last_error(), s)) {
            va_end(ap);
            fail_msg("line %d: message '%s' lacks '%s'", line, cg_last_error(), s);
        }
    va_end(ap);
}

static void assert_empty(const struct cg_dataset *ds)
{
    assert_true(!ds->count && !ds->rows && !ds->cols && !ds->images && !ds->labels);
}

/* Reads a whole (small) file into buf; returns its size. */
static size_t read_all(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    assert_true(n > 100 && n < cap);
    return n;
}

static void check_standard(const struct cg_dataset *ds, int64_t count, int rows, int cols)
{
    assert_int_equal(ds->count, count);
    assert_int_equal(ds->rows, rows);
    assert_int_equal(ds->cols, cols);
    for (int64_t i = 0; i < count; i++)
        for (int64_t k = 0; k < rows * cols; k++)
            assert_int_equal(ds->images[i * rows * cols + k], pixel(i, k));
    if (ds->labels)
        for (int64_t i = 0; i < count; i++) assert_int_equal(ds->labels[i], i * 7 % 10);
}

/* ---- reader: valid files ---- */

static void test_valid_raw_and_gz(void **state)
{
    (void)state;
    char ip[256], lp[256];
    for (int gz = 0; gz <= 1; gz++) {
        put(ip, gz ? "ok-images.gz" : "ok-images", images_blob(2051, 5, 3, 4, 5), gz);
        put(lp, gz ? "ok-labels.gz" : "ok-labels", labels_blob(5, 5), gz);
        struct cg_dataset ds;
        OK(cg_idx_load_images(&ds, ip));
        assert_null(ds.labels);
        check_standard(&ds, 5, 3, 4);
        OK(cg_idx_load_labels(&ds, lp));
        assert_non_null(ds.labels);
        check_standard(&ds, 5, 3, 4);
        cg_dataset_free(&ds);
        assert_empty(&ds);
    }
    /* Labels alone make a labels-only dataset. */
    struct cg_dataset lo = {0};
    OK(cg_idx_load_labels(&lo, lp));
    assert_int_equal(lo.count, 5);
    assert_null(lo.images);
    assert_int_equal(lo.labels[3], 1);
    cg_dataset_free(&lo);
}

static void test_mnist_dir_raw_preferred_gz_fallback(void **state)
{
    (void)state;
    char p[256];
    make_subdir("m1");
    /* raw images (5) and a different .gz (6): the raw one must be read */
    put(p, "m1/train-images-idx3-ubyte", images_blob(2051, 5, 2, 3, 5), false);
    put(p, "m1/train-images-idx3-ubyte.gz", images_blob(2051, 6, 2, 3, 6), true);
    put(p, "m1/train-labels-idx1-ubyte.gz", labels_blob(5, 5), true);
    put(p, "m1/t10k-images-idx3-ubyte.gz", images_blob(2051, 2, 2, 3, 2), true);
    put(p, "m1/t10k-labels-idx1-ubyte", labels_blob(2, 2), false);
    struct cg_dataset train, test;
    OK(cg_mnist_load(&train, tpath(p, "m1"), CG_MNIST_TRAIN));
    check_standard(&train, 5, 2, 3);
    assert_non_null(train.labels);
    OK(cg_mnist_load(&test, p, CG_MNIST_TEST));
    check_standard(&test, 2, 2, 3);
    assert_int_equal(test.labels[1], 7);
    cg_dataset_free(&train);
    cg_dataset_free(&test);
}

/* ---- reader: errors ---- */

static void test_not_found(void **state)
{
    (void)state;
    char p[256];
    struct cg_dataset ds;
    EXPECT_FAIL(cg_idx_load_images(&ds, tpath(p, "no-such-file")), CG_ERR_NOT_FOUND, p,
                "not found");
    assert_empty(&ds);
    memset(&ds, 0x5a, sizeof ds); /* garbage in, empty out */
    EXPECT_FAIL(cg_mnist_load(&ds, tpath(p, "nodir"), CG_MNIST_TRAIN), CG_ERR_NOT_FOUND,
                "nodir: not found (looked for train-images-idx3-ubyte and "
                "train-images-idx3-ubyte.gz", "does not exist", "IDX files", "in this directory");
    assert_empty(&ds);
    /* images present, labels missing */
    make_subdir("m2");
    put(p, "m2/t10k-images-idx3-ubyte", images_blob(2051, 2, 2, 2, 2), false);
    EXPECT_FAIL(cg_mnist_load(&ds, tpath(p, "m2"), CG_MNIST_TEST), CG_ERR_NOT_FOUND, "m2",
                "t10k-labels-idx1-ubyte and t10k-labels-idx1-ubyte.gz");
    assert_empty(&ds);
}

/* One broken image file per row, each written raw and gzip'd: the header
 * (magic, count, rows, cols), `present` samples, then `cut` bytes removed. */
static const struct bad_file {
    const char *name;
    uint32_t magic, count, rows, cols, present;
    size_t cut;
    enum cg_status status;
    const char *msg1, *msg2;
} bad_images[] = {
    {"labels-as-images", 2049, 5, 3, 4, 5, 0, CG_ERR_FORMAT,
     "bad magic 0x00000801 (expected 2051 = 0x00000803 for images", "IDX label file"},
    {"gif", 0x47494638, 5, 3, 4, 5, 0, CG_ERR_FORMAT, "bad magic 0x47494638", "not an IDX file"},
    {"floats", 0x00000D03, 5, 3, 4, 5, 0, CG_ERR_FORMAT, "element type 0x0d", "unsigned bytes"},
    {"ndim2", 0x00000802, 5, 12, 0, 0, 0, CG_ERR_FORMAT, "wrong dimensions",
     "2 dimension(s), expected 3"},
    {"rows0", 2051, 5, 0, 4, 0, 0, CG_ERR_FORMAT, "5 images of 0x4", "must be > 0"},
    {"cols0", 2051, 5, 4, 0, 0, 0, CG_ERR_FORMAT, "5 images of 4x0", "must be > 0"},
    {"zero", 2051, 0, 28, 28, 0, 0, CG_ERR_FORMAT, "0 images of 28x28", "must be > 0"},
    {"huge-image", 2051, 1, 65536, 65536, 0, 0, CG_ERR_FORMAT, "65536x65536", "too large"},
    {"empty", 2051, 5, 3, 4, 0, 16, CG_ERR_CORRUPT, "empty file", "header of 16 bytes"},
    {"short-header", 2051, 5, 3, 4, 0, 6, CG_ERR_CORRUPT, "truncated header", "10 of 16 bytes"},
    {"short", 2051, 5, 3, 4, 5, 1, CG_ERR_CORRUPT, "truncated",
     "promises 60 bytes of images but only 59 follow"},
    {"long", 2051, 5, 3, 4, 6, 0, CG_ERR_CORRUPT, "trailing bytes after the 60 bytes of images",
     "wrong count"},
};

static void test_bad_image_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_images / sizeof *bad_images; i++) {
        const struct bad_file *t = &bad_images[i];
        for (int gz = 0; gz <= 1; gz++) {
            char name[64], p[256];
            snprintf(name, sizeof name, "%s%s", t->name, gz ? ".gz" : "");
            struct blob b = images_blob(t->magic, t->count, t->rows, t->cols, t->present);
            b.n -= t->cut;
            put(p, name, b, gz);
            struct cg_dataset ds;
            memset(&ds, 0x5a, sizeof ds); /* garbage in, empty out */
            EXPECT_FAIL(cg_idx_load_images(&ds, p), t->status, p, t->msg1, t->msg2);
            assert_empty(&ds);
        }
    }
}

static void test_bad_label_files(void **state)
{
    (void)state;
    char p[256];
    struct cg_dataset img, lo = {0};
    put(p, "img", images_blob(2051, 5, 3, 4, 5), false);
    OK(cg_idx_load_images(&img, p));
    EXPECT_FAIL(cg_idx_load_labels(&img, p), CG_ERR_FORMAT, p,
                "bad magic 0x00000803 (expected 2049 = 0x00000801 for labels", "IDX image file");
    assert_null(img.labels); /* unchanged */
    assert_int_equal(img.count, 5);
    cg_dataset_free(&img);
    put(p, "short-labels.gz", labels_blob(9, 8), true);
    EXPECT_FAIL(cg_idx_load_labels(&lo, p), CG_ERR_CORRUPT, p, "9 bytes of labels but only 8");
    put(p, "long-labels", labels_blob(4, 5), false);
    EXPECT_FAIL(cg_idx_load_labels(&lo, p), CG_ERR_CORRUPT, p, "trailing bytes after the 4 bytes");
    write_file(tpath(p, "empty-labels"), "", 0, false);
    EXPECT_FAIL(cg_idx_load_labels(&lo, p), CG_ERR_CORRUPT, p, "empty file", "8 bytes");
    put(p, "zero-labels", labels_blob(0, 0), false);
    EXPECT_FAIL(cg_idx_load_labels(&lo, p), CG_ERR_FORMAT, p, "0 labels");
    assert_empty(&lo);
}

/* Damaged gzip streams: cut in half, trailer (CRC, length) missing, a byte
 * flipped in the compressed data. */
static void test_broken_gzip(void **state)
{
    (void)state;
    char p[256];
    struct cg_dataset ds;
    put(p, "cut.gz", images_blob(2051, 40, 28, 28, 40), true);
    uint8_t buf[65536];
    size_t n = read_all(p, buf, sizeof buf);
    write_file(p, buf, n / 2, false);
    EXPECT_FAIL(cg_idx_load_images(&ds, p), CG_ERR_CORRUPT, p, "gzip stream ends early");
    write_file(p, buf, n - 8, false); /* all data arrives, the check does not */
    EXPECT_FAIL(cg_idx_load_images(&ds, p), CG_ERR_CORRUPT, p, "truncated gzip stream");
    buf[n / 2] ^= 0x55;
    write_file(p, buf, n, false);
    EXPECT_FAIL(cg_idx_load_images(&ds, p), CG_ERR_CORRUPT, p);
    assert_empty(&ds);
}

static void test_inconsistent_images_and_labels(void **state)
{
    (void)state;
    char ip[256], lp[256];
    struct cg_dataset ds;
    put(ip, "mm-images", images_blob(2051, 5, 3, 4, 5), false);
    put(lp, "mm-labels", labels_blob(4, 4), false);
    OK(cg_idx_load_images(&ds, ip));
    EXPECT_FAIL(cg_idx_load_labels(&ds, lp), CG_ERR_MISMATCH, lp, "4 labels but the images have 5");
    assert_null(ds.labels); /* unchanged */
    check_standard(&ds, 5, 3, 4);
    cg_dataset_free(&ds);

    make_subdir("m3");
    put(ip, "m3/train-images-idx3-ubyte.gz", images_blob(2051, 5, 3, 4, 5), true);
    put(lp, "m3/train-labels-idx1-ubyte.gz", labels_blob(6, 6), true);
    EXPECT_FAIL(cg_mnist_load(&ds, tpath(ip, "m3"), CG_MNIST_TRAIN), CG_ERR_MISMATCH,
                "m3/train-labels-idx1-ubyte.gz: 6 labels but the images have 5",
                "m3/train-images-idx3-ubyte.gz");
    assert_empty(&ds);

    make_subdir("m4"); /* MNIST labels must be digits */
    put(ip, "m4/train-images-idx3-ubyte", images_blob(2051, 3, 2, 2, 3), false);
    struct blob l = {0};
    blob_u32(&l, 2049);
    blob_u32(&l, 3);
    blob_put(&l, (const uint8_t[]){1, 10, 2}, 3);
    put(lp, "m4/train-labels-idx1-ubyte", l, false);
    EXPECT_FAIL(cg_mnist_load(&ds, tpath(ip, "m4"), CG_MNIST_TRAIN), CG_ERR_CORRUPT,
                "m4/train-labels-idx1-ubyte: label 10 at index 1");
    assert_empty(&ds);
}

/* A header claiming 2^31 images of 28x28 (1.7 TB) in a 116-byte file must
 * fail as truncated without allocating anywhere near that. */
static void test_huge_count_no_huge_allocation(void **state)
{
    (void)state;
    char p[256];
    for (int gz = 0; gz <= 1; gz++) {
        struct blob b = images_blob(2051, 0x80000000u, 28, 28, 0);
        blob_put(&b, (const uint8_t[100]){0}, 100);
        put(p, gz ? "huge.gz" : "huge", b, gz);
        size_t before = cg_alloc_bytes();
        struct cg_dataset ds;
        EXPECT_FAIL(cg_idx_load_images(&ds, p), CG_ERR_CORRUPT, p,
                    "promises 1683627180032 bytes of images but only 100 follow");
        assert_true(cg_alloc_bytes() - before <= (size_t)2 << 20);
        assert_empty(&ds);
    }
    struct blob l = labels_blob(0xFFFFFFFFu, 3);
    put(p, "huge-labels", l, false);
    struct cg_dataset lo = {0};
    size_t before = cg_alloc_bytes();
    EXPECT_FAIL(cg_idx_load_labels(&lo, p), CG_ERR_CORRUPT, p, "only 3 follow");
    assert_true(cg_alloc_bytes() - before <= (size_t)2 << 20);
}

/* A data set over 4 MB is moved onto 2 MB pages after reading (Linux): the
 * result is 2 MB aligned and holds every byte, raw and gzip. */
static void test_large_file_on_huge_pages(void **state)
{
    (void)state;
    enum { count = 6000, rows = 28, cols = 28 };
    const size_t n = (size_t)count * rows * cols;
    uint8_t *px = malloc(n);
    assert_non_null(px);
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < rows * cols; k++) px[i * rows * cols + k] = pixel((int64_t)i, (int64_t)k);
    char p[256];
    for (int gz = 0; gz <= 1; gz++) {
        struct blob b = images_blob(2051, count, rows, cols, 0);
        blob_put(&b, px, n);
        put(p, gz ? "large.gz" : "large", b, gz);
        struct cg_dataset ds;
        OK(cg_idx_load_images(&ds, p));
        check_standard(&ds, count, rows, cols);
#if defined(__linux__)
        assert_int_equal((uintptr_t)ds.images % ((uintptr_t)2 << 20), 0);
#endif
        cg_dataset_free(&ds);
    }
    free(px);
}

/* cg_move_to_huge_pages keeps small buffers where they are and moves large
 * ones whole, whatever the source's offset within its pages; cg_malloc_huge
 * gives large buffers 2 MB alignment (Linux). */
static void test_move_to_huge_pages(void **state)
{
    (void)state;
    const size_t huge_sizes[2] = {100, ((size_t)5 << 20) + 3};
    for (int s = 0; s < 2; s++) {
        size_t bytes = huge_sizes[s];
        uint8_t *h = cg_malloc_huge(bytes, "test");
        assert_non_null(h);
        memset(h, 7, bytes);
#if defined(__linux__)
        if (bytes > ((size_t)4 << 20)) assert_int_equal((uintptr_t)h % ((uintptr_t)2 << 20), 0);
#endif
        cg_free(h);
    }
    uint8_t *small = cg_malloc(100, "test");
    assert_non_null(small);
    assert_ptr_equal(cg_move_to_huge_pages(small, 100), small);
    cg_free(small);
    const size_t sizes[3] = {(size_t)4 << 20, ((size_t)9 << 20) + 4097, ((size_t)4 << 20) + 1};
    for (int s = 0; s < 3; s++) {
        uint8_t *p = cg_malloc(sizes[s], "test");
        assert_non_null(p);
        for (size_t k = 0; k < sizes[s]; k++) p[k] = (uint8_t)(k * 131 + k / 4096);
        uint8_t *q = cg_move_to_huge_pages(p, sizes[s]);
        assert_non_null(q);
#if defined(__linux__)
        assert_true(q != p && (uintptr_t)q % ((uintptr_t)2 << 20) == 0);
#endif
        for (size_t k = 0; k < sizes[s]; k++)
            if (q[k] != (uint8_t)(k * 131 + k / 4096)) fail_msg("byte %zu of %zu lost in the move", k, sizes[s]);
        cg_free(q);
    }
}

static void test_reader_misuse(void **state)
{
    (void)state;
    char p[256];
    CG_EXPECT_MISUSE(cg_idx_load_images(NULL, "x"), "cg_idx_load_images", "out is NULL");
    struct cg_dataset ds;
    put(p, "ok2-labels", labels_blob(5, 5), false);
    put(p, "ok2-images", images_blob(2051, 5, 3, 4, 5), false);
    OK(cg_idx_load_images(&ds, p));
    OK(cg_idx_load_labels(&ds, tpath(p, "ok2-labels")));
    CG_EXPECT_MISUSE(cg_idx_load_labels(&ds, p), "cg_idx_load_labels", "already has labels");
    CG_EXPECT_MISUSE(cg_mnist_load(&ds, NULL, CG_MNIST_TRAIN), "cg_mnist_load", "dir is NULL");
    cg_dataset_free(&ds);
}

/* ---- batches ---- */

/* count samples of rows x cols; every pixel of sample i is i; label i % 10. */
static struct cg_dataset seq_dataset(int64_t count, int rows, int cols)
{
    struct cg_dataset ds = {count, rows, cols, malloc((size_t)(count * rows * cols)),
                            malloc((size_t)count)};
    for (int64_t i = 0; i < count; i++) {
        memset(ds.images + i * rows * cols, (int)i, (size_t)(rows * cols));
        ds.labels[i] = (uint8_t)(i % 10);
    }
    return ds;
}

static void free_seq(struct cg_dataset *ds)
{
    free(ds->images);
    free(ds->labels);
}

/* Runs one epoch; writes the visited sample ids to order (checking that the
 * tensor, indices and labels agree) and the batch sizes to sizes. */
static int64_t run_epoch(struct cg_batches *it, struct cg_tape *tape, int64_t *order,
                         int64_t *sizes, int *n_batches)
{
    int64_t n = 0;
    int nb = 0;
    for (struct cg_tensor *x; (x = cg_batches_next(it, tape)); cg_tape_reset(tape)) {
        int64_t b = cg_batches_size(it), pixels = x->shape[1];
        assert_int_equal(x->ndim, 2);
        assert_int_equal(x->shape[0], b);
        const int64_t *idx = cg_batches_indices(it);
        const int32_t *lab = cg_batches_labels(it);
        for (int64_t r = 0; r < b; r++) {
            int64_t id = (int64_t)(cg_tensor_at(x, r * pixels) * 255.0 + 0.5);
            assert_int_equal(id, idx[r]);
            assert_true(cg_tensor_at(x, r * pixels + pixels - 1) == cg_tensor_at(x, r * pixels));
            assert_int_equal(lab[r], id % 10);
            order[n++] = id;
        }
        if (sizes) sizes[nb] = b;
        nb++;
    }
    assert_null(cg_batches_labels(it)); /* no current batch at an epoch boundary */
    if (n_batches) *n_batches = nb;
    return n;
}

static void test_sequential_partial_last_batch(void **state)
{
    (void)state;
    struct cg_dataset ds = seq_dataset(10, 2, 3);
    struct cg_tape *tape = cg_tape_new();
    struct cg_batches it;
    OK(cg_batches_init(&it, &ds, OPTS(.batch_size = 4)));
    assert_int_equal(cg_batches_per_epoch(&it), 3);
    for (int epoch = 0; epoch < 2; epoch++) {
        int64_t order[10], sizes[4];
        int nb;
        assert_int_equal(run_epoch(&it, tape, order, sizes, &nb), 10);
        assert_true(nb == 3 && sizes[0] == 4 && sizes[1] == 4 && sizes[2] == 2);
        for (int i = 0; i < 10; i++) assert_int_equal(order[i], i);
        assert_int_equal(cg_batches_state(&it).epoch, epoch + 1);
    }
    cg_batches_free(&it);

    /* drop_last: the 2 left over are skipped. */
    OK(cg_batches_init(&it, &ds, OPTS(.batch_size = 4, .drop_last = true)));
    assert_int_equal(cg_batches_per_epoch(&it), 2);
    int64_t order[10], sizes[4];
    int nb;
    assert_int_equal(run_epoch(&it, tape, order, sizes, &nb), 8);
    assert_true(nb == 2 && sizes[0] == 4 && sizes[1] == 4);
    for (int i = 0; i < 8; i++) assert_int_equal(order[i], i);
    cg_batches_free(&it);
    cg_tape_free(tape);
    free_seq(&ds);
}

static void test_shuffle_each_sample_once_epochs_differ(void **state)
{
    (void)state;
    enum { N = 100, EPOCHS = 3 };
    struct cg_dataset ds = seq_dataset(N, 3, 3);
    struct cg_tape *tape = cg_tape_new();
    struct cg_rng rng = cg_rng_seed(2024);
    struct cg_batches it;
    OK(cg_batches_init(&it, &ds, OPTS(7, &rng, false, CG_F32)));
    int64_t order[EPOCHS][N], sizes[16];
    for (int e = 0; e < EPOCHS; e++) {
        int nb;
        assert_int_equal(run_epoch(&it, tape, order[e], sizes, &nb), N);
        assert_int_equal(nb, 15); /* 14 of 7 and one of 2 */
        assert_int_equal(sizes[14], 2);
        int seen[N] = {0};
        int in_place = 0;
        for (int i = 0; i < N; i++) {
            seen[order[e][i]]++;
            in_place += order[e][i] == i;
        }
        for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
        assert_true(in_place < 10); /* really shuffled (about 1 expected) */
    }
    assert_true(memcmp(order[0], order[1], sizeof order[0]) != 0);
    assert_true(memcmp(order[1], order[2], sizeof order[0]) != 0);
    cg_batches_free(&it);
    cg_tape_free(tape);
    free_seq(&ds);
}

/* First-epoch order of a shuffled iterator seeded with `seed`. */
static void first_epoch(const struct cg_dataset *ds, uint64_t seed, int64_t batch, int64_t *order)
{
    struct cg_tape *tape = cg_tape_new();
    struct cg_rng rng = cg_rng_seed(seed);
    struct cg_batches it;
    OK(cg_batches_init(&it, ds, OPTS(batch, &rng, false, CG_F32)));
    assert_int_equal(run_epoch(&it, tape, order, NULL, NULL), ds->count);
    cg_batches_free(&it);
    cg_tape_free(tape);
}

/* The order is the documented one: a generator seeded from two draws of the
 * caller's, then Fisher-Yates from the top down on the identity each epoch. */
static void test_shuffle_is_documented_fisher_yates(void **state)
{
    (void)state;
    enum { N = 37 };
    struct cg_dataset ds = seq_dataset(N, 1, 2);
    struct cg_tape *tape = cg_tape_new();
    struct cg_rng rng = cg_rng_seed(5), ref = rng;
    struct cg_batches it;
    OK(cg_batches_init(&it, &ds, OPTS(6, &rng, false, CG_F32)));
    uint64_t hi = cg_rng_u32(&ref), lo = cg_rng_u32(&ref);
    assert_memory_equal(&rng, &ref, sizeof rng); /* caller's rng advanced by two */
    struct cg_rng own = cg_rng_seed(hi << 32 | lo);
    int64_t expect[N], got[N], other[N];
    for (int e = 0; e < 2; e++) {
        for (int i = 0; i < N; i++) expect[i] = i;
        for (int i = N - 1; i > 0; i--) {
            uint32_t j = cg_rng_below(&own, (uint32_t)i + 1);
            int64_t t = expect[i];
            expect[i] = expect[j];
            expect[j] = t;
        }
        assert_int_equal(run_epoch(&it, tape, got, NULL, NULL), N);
        assert_memory_equal(got, expect, sizeof got);
    }
    /* Same seed, same order whatever the batch size; another seed, another. */
    first_epoch(&ds, 5, 4, got);
    first_epoch(&ds, 5, 9, other);
    assert_memory_equal(got, other, sizeof got);
    first_epoch(&ds, 6, 4, other);
    assert_true(memcmp(got, other, sizeof got) != 0);
    cg_batches_free(&it);
    cg_tape_free(tape);
    free_seq(&ds);
}

static void test_conversion_values(void **state)
{
    (void)state;
    uint8_t px[6] = {0, 1, 127, 128, 254, 255};
    struct cg_dataset ds = {1, 2, 3, px, NULL};
    /* pixel/255 to 17 digits */
    const double want[6] = {0.0, 0.0039215686274509803, 0.49803921568627452,
                            0.50196078431372548, 0.99607843137254903, 1.0};
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        enum cg_dtype dt = d ? CG_F64 : CG_F32;
        struct cg_batches it;
        OK(cg_batches_init(&it, &ds, OPTS(.batch_size = 8, .dtype = dt)));
        struct cg_tensor *x = cg_batches_next(&it, tape);
        assert_non_null(x);
        assert_true(x->dtype == dt && x->ndim == 2 && x->shape[0] == 1 && x->shape[1] == 6);
        assert_true(x->tape == tape && !(x->flags & CG_REQUIRES_GRAD));
        assert_null(cg_batches_labels(&it)); /* dataset without labels */
        for (int k = 0; k < 6; k++) {
            if (dt == CG_F32) /* correctly rounded: the float nearest to p/255 */
                assert_true(((float *)x->data)[k] == (float)want[k]);
            else
                assert_true(((double *)x->data)[k] == want[k]);
        }
        assert_null(cg_batches_next(&it, tape));
        cg_batches_free(&it);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* Batches big enough to be converted on 2 threads (each thread its rows)
 * hold every pixel as p/255, in f32 and f64, the last batch partial. */
static void test_two_thread_conversion(void **state)
{
    (void)state;
    enum { COUNT = 150, ROWS = 28, COLS = 28, PIX = ROWS * COLS };
    struct cg_dataset ds = {COUNT, ROWS, COLS, malloc(COUNT * PIX), malloc(COUNT)};
    assert_non_null(ds.images);
    for (int64_t i = 0; i < COUNT; i++) {
        ds.labels[i] = (uint8_t)(i % 10);
        for (int64_t k = 0; k < PIX; k++) ds.images[i * PIX + k] = pixel(i, k);
    }
    cg_set_num_threads(2);
    struct cg_tape *tape = cg_tape_new();
    struct cg_rng rng = cg_rng_seed(5);
    for (int d = 0; d < 2; d++) {
        enum cg_dtype dt = d ? CG_F64 : CG_F32;
        struct cg_batches it;
        OK(cg_batches_init(&it, &ds, OPTS(.batch_size = 64, .dtype = dt, .rng = &rng)));
        int64_t seen = 0;
        for (struct cg_tensor *x; (x = cg_batches_next(&it, tape)); cg_tape_reset(tape)) {
            const int64_t *idx = cg_batches_indices(&it);
            for (int64_t r = 0; r < cg_batches_size(&it); r++, seen++)
                for (int64_t k = 0; k < PIX; k++) {
                    uint8_t p = pixel(idx[r], k);
                    if (dt == CG_F32)
                        assert_true(((float *)x->data)[r * PIX + k] == (float)p / 255.0f);
                    else
                        assert_true(((double *)x->data)[r * PIX + k] == (double)p / 255.0);
                }
        }
        assert_int_equal(seen, COUNT);
        cg_batches_free(&it);
    }
    cg_set_num_threads(1);
    cg_tape_free(tape);
    free(ds.images);
    free(ds.labels);
}

static void test_zero_allocations_per_batch(void **state)
{
    (void)state;
    struct cg_dataset ds = seq_dataset(200, 28, 28);
    struct cg_tape *tape = cg_tape_new();
    struct cg_rng rng = cg_rng_seed(1);
    struct cg_batches it;
    OK(cg_batches_init(&it, &ds, OPTS(.batch_size = 64, .rng = &rng)));
    assert_non_null(cg_batches_next(&it, tape)); /* the arena grows once */
    cg_tape_reset(tape);
    size_t allocs = cg_alloc_count(), reserved = cg_tape_bytes_reserved(tape);
    int batches = 0;
    for (int e = 0; e < 3; e++) /* includes the reshuffles between epochs */
        for (struct cg_tensor *x; (x = cg_batches_next(&it, tape)); cg_tape_reset(tape)) batches++;
    assert_int_equal(batches, 3 + 4 + 4); /* rest of epoch 0, then two full epochs */
    assert_int_equal(cg_alloc_count(), allocs);
    assert_int_equal(cg_tape_bytes_reserved(tape), reserved);
    cg_batches_free(&it);
    cg_tape_free(tape);
    free_seq(&ds);
}

static void test_save_restore_exact(void **state)
{
    (void)state;
    enum { N = 50, REST = 26 + N };
    struct cg_dataset ds = seq_dataset(N, 2, 2);
    struct cg_tape *tape = cg_tape_new();
    struct cg_rng rng = cg_rng_seed(11);
    struct cg_batches it;
    struct cg_batches_options opt = {.batch_size = 8, .rng = &rng};
    OK(cg_batches_init(&it, &ds, opt));
    int64_t tmp[N];
    run_epoch(&it, tape, tmp, NULL, NULL);
    for (int i = 0; i < 3; i++, cg_tape_reset(tape)) assert_non_null(cg_batches_next(&it, tape));
    struct cg_batches_state saved = cg_batches_state(&it);
    assert_int_equal(saved.epoch, 1);
    assert_int_equal(saved.position, 24);
    int64_t rest[REST], again[REST];
    assert_int_equal(run_epoch(&it, tape, rest, NULL, NULL), 26);
    assert_int_equal(run_epoch(&it, tape, rest + 26, NULL, NULL), N);

    /* A new iterator with an unrelated seed continues exactly the same. */
    struct cg_rng other = cg_rng_seed(999);
    struct cg_batches resumed;
    opt.rng = &other;
    OK(cg_batches_init(&resumed, &ds, opt));
    OK(cg_batches_restore(&resumed, &saved));
    assert_int_equal(run_epoch(&resumed, tape, again, NULL, NULL), 26);
    assert_int_equal(run_epoch(&resumed, tape, again + 26, NULL, NULL), N);
    assert_memory_equal(rest, again, sizeof rest);
    assert_int_equal(cg_batches_state(&resumed).epoch, 3);

    /* Restoring at the end of an epoch: next returns NULL, then epoch+1. */
    struct cg_batches_state end = saved;
    end.position = N;
    OK(cg_batches_restore(&resumed, &end));
    assert_null(cg_batches_next(&resumed, tape));
    assert_int_equal(cg_batches_state(&resumed).epoch, 2);
    assert_int_equal(run_epoch(&resumed, tape, again, NULL, NULL), N);
    assert_memory_equal(rest + 26, again, N * sizeof(int64_t));
    cg_batches_free(&it);
    cg_batches_free(&resumed);
    cg_tape_free(tape);
    free_seq(&ds);
}

static void test_batches_misuse(void **state)
{
    (void)state;
    struct cg_dataset ds = seq_dataset(10, 2, 2);
    struct cg_batches it;
    CG_EXPECT_MISUSE(cg_batches_init(&it, &ds, OPTS(.batch_size = 0)),
                     "cg_batches_init", "batch_size 0 must be >= 1");
    struct cg_dataset labels_only = {10, 0, 0, NULL, ds.labels};
    CG_EXPECT_MISUSE(cg_batches_init(&it, &labels_only, OPTS(.batch_size = 2)),
                     "cg_batches_init", "no images");
    struct cg_rng rng = cg_rng_seed(0);
    struct cg_dataset big = {(int64_t)1 << 32, 1, 1, ds.images, NULL}; /* checked before use */
    CG_EXPECT_MISUSE(cg_batches_init(&it, &big, OPTS(.batch_size = 2, .rng = &rng)),
                     "cg_batches_init", "cannot shuffle 4294967296 samples");
    OK(cg_batches_init(&it, &ds, OPTS(.batch_size = 4)));
    struct cg_batches_state bad = cg_batches_state(&it);
    bad.position = 5;
    assert_int_equal(cg_batches_restore(&it, &bad), CG_ERR_MISMATCH);
    assert_non_null(strstr(cg_last_error(), "position 5"));
    assert_non_null(strstr(cg_last_error(), "not a batch boundary"));
    assert_int_equal(cg_batches_state(&it).position, 0); /* unchanged */
    cg_batches_free(&it);
    CG_EXPECT_MISUSE(cg_batches_next(&it, NULL), "cg_batches_next", "not initialized");
    free_seq(&ds);
}

/* Real data when Debian's dataset-fashion-mnist is installed: the standard
 * files have 60,000 + 10,000 28x28 images, 6,000 / 1,000 per class. */
static void test_fashion_mnist_if_installed(void **state)
{
    (void)state;
    const char *dir = "/usr/share/datasets/fashion-mnist";
    struct stat st;
    if (stat(dir, &st) != 0) skip();
    for (int s = 0; s < 2; s++) {
        struct cg_dataset ds;
        enum cg_status status = cg_mnist_load(&ds, dir, s ? CG_MNIST_TEST : CG_MNIST_TRAIN);
        if (status != CG_OK) fail_msg("%s", cg_last_error());
        assert_int_equal(ds.count, s ? 10000 : 60000);
        assert_int_equal(ds.rows, 28);
        assert_int_equal(ds.cols, 28);
        int64_t per[10] = {0};
        for (int64_t i = 0; i < ds.count; i++) per[ds.labels[i]]++;
        for (int c = 0; c < 10; c++) assert_int_equal(per[c], s ? 1000 : 6000);
        cg_dataset_free(&ds);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_raw_and_gz),
        cmocka_unit_test(test_mnist_dir_raw_preferred_gz_fallback),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_bad_image_files),
        cmocka_unit_test(test_bad_label_files),
        cmocka_unit_test(test_broken_gzip),
        cmocka_unit_test(test_inconsistent_images_and_labels),
        cmocka_unit_test(test_huge_count_no_huge_allocation),
        cmocka_unit_test(test_large_file_on_huge_pages),
        cmocka_unit_test(test_move_to_huge_pages),
        cmocka_unit_test(test_reader_misuse),
        cmocka_unit_test(test_sequential_partial_last_batch),
        cmocka_unit_test(test_shuffle_each_sample_once_epochs_differ),
        cmocka_unit_test(test_shuffle_is_documented_fisher_yates),
        cmocka_unit_test(test_two_thread_conversion),
        cmocka_unit_test(test_conversion_values),
        cmocka_unit_test(test_zero_allocations_per_batch),
        cmocka_unit_test(test_save_restore_exact),
        cmocka_unit_test(test_batches_misuse),
        cmocka_unit_test(test_fashion_mnist_if_installed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
