/* IDX file reader (raw or gzip, via zlib's transparent gzread). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <zlib.h>

#include "alloc.h"
#include "idx_internal.h"
#include "cgrad/data.h"
#include "error_internal.h"

enum {
    IDX_TYPE_U8 = 0x08,
    IDX_MAGIC_LABELS = 0x00000801, /* 2049 */
    IDX_MAGIC_IMAGES = 0x00000803, /* 2051 */
    IDX_FIRST_CHUNK = 1 << 20,
    IDX_MAX_READ = 1 << 30 /* gzread takes an unsigned and returns an int */
};

struct idx_file {
    const char *path;
    const char *kind; /* "images" or "labels" */
    gzFile gz;
    bool huge; /* payload onto 2 MB pages (kept for batches) */
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static enum cg_status open_idx(struct idx_file *f)
{
    errno = 0;
    f->gz = gzopen(f->path, "rb");
    if (f->gz) {
        gzbuffer(f->gz, 256 * 1024);
        return CG_OK;
    }
    if (errno == ENOENT) return cg_fail(CG_ERR_NOT_FOUND, "%s: not found", f->path);
    if (errno == 0) return cg_fail(CG_ERR_NOMEM, "%s: out of memory opening the file", f->path);
    return cg_fail(CG_ERR_IO, "%s: cannot open (%s)", f->path, strerror(errno));
}

/* Reads up to n bytes; *got is how many arrived.  A short read is not an
 * error here (the caller knows what it expected), but a zlib or system error
 * is reported, except gzip's "unexpected end of file", which the caller
 * reports as truncation with better detail. */
static enum cg_status read_bytes(struct idx_file *f, void *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        size_t want = n - *got < IDX_MAX_READ ? n - *got : IDX_MAX_READ;
        int r = gzread(f->gz, (unsigned char *)buf + *got, (unsigned)want);
        if (r > 0) *got += (size_t)r;
        if (r < 0 || (size_t)r < want) break;
    }
    int err = Z_OK;
    const char *msg = gzerror(f->gz, &err);
    if (err == Z_OK || err == Z_BUF_ERROR) return CG_OK;
    if (err == Z_ERRNO) return cg_fail(CG_ERR_IO, "%s: read failed (%s)", f->path, strerror(errno));
    if (err == Z_MEM_ERROR) return cg_fail(CG_ERR_NOMEM, "%s: out of memory in zlib", f->path);
    return cg_fail(CG_ERR_CORRUPT, "%s: damaged gzip data (%s)", f->path, msg);
}

static bool gzip_ended_early(struct idx_file *f)
{
    int err = Z_OK;
    gzerror(f->gz, &err);
    return err == Z_BUF_ERROR;
}

static enum cg_status check_magic(const struct idx_file *f, const unsigned char *m, uint32_t want,
                                  int ndim)
{
    uint32_t magic = be32(m);
    if (magic == want) return CG_OK;
    if (m[0] != 0 || m[1] != 0)
        return cg_fail(CG_ERR_FORMAT, "%s: bad magic 0x%08" PRIx32 " (expected %" PRIu32
                       " = 0x%08" PRIx32 " for %s; not an IDX file)", f->path, magic, want, want,
                       f->kind);
    if (m[2] != IDX_TYPE_U8)
        return cg_fail(CG_ERR_FORMAT, "%s: IDX element type 0x%02x is not supported (expected "
                       "0x08, unsigned bytes, for %s)", f->path, m[2], f->kind);
    if (magic == IDX_MAGIC_LABELS || magic == IDX_MAGIC_IMAGES)
        return cg_fail(CG_ERR_FORMAT, "%s: bad magic 0x%08" PRIx32 " (expected %" PRIu32
                       " = 0x%08" PRIx32 " for %s; this looks like an IDX %s file)", f->path,
                       magic, want, want, f->kind, magic == IDX_MAGIC_LABELS ? "label" : "image");
    return cg_fail(CG_ERR_FORMAT, "%s: wrong dimensions: IDX header says %d dimension(s), "
                   "expected %d for %s", f->path, m[3], ndim, f->kind);
}

/* Reads and checks the header: magic, then ndim big-endian 32-bit sizes. */
static enum cg_status read_header(struct idx_file *f, uint32_t want_magic, int ndim, uint32_t *dims)
{
    unsigned char h[16];
    size_t hlen = 4 + 4 * (size_t)ndim, got;
    enum cg_status s = read_bytes(f, h, 4, &got);
    if (s != CG_OK) return s;
    if (got == 0)
        return cg_fail(CG_ERR_CORRUPT, "%s: empty file (expected an IDX %s header of %zu bytes)",
                       f->path, f->kind, hlen);
    if (got < 4)
        return cg_fail(CG_ERR_CORRUPT, "%s: truncated header: %zu of %zu bytes", f->path, got, hlen);
    if ((s = check_magic(f, h, want_magic, ndim)) != CG_OK) return s;
    if ((s = read_bytes(f, h + 4, hlen - 4, &got)) != CG_OK) return s;
    if (got < hlen - 4)
        return cg_fail(CG_ERR_CORRUPT, "%s: truncated header: %zu of %zu bytes", f->path, 4 + got,
                       hlen);
    for (int i = 0; i < ndim; i++) dims[i] = be32(h + 4 + 4 * i);
    return CG_OK;
}

/* Reads exactly `bytes` bytes of payload into a new buffer.  The buffer
 * grows geometrically with the data actually read, so a header claiming far
 * more than the file holds costs at most twice the real data. */
static enum cg_status read_payload(struct idx_file *f, int64_t bytes, const char *what,
                                   uint8_t **out)
{
    *out = NULL;
    size_t total = (size_t)bytes, have = 0;
    size_t cap = total < IDX_FIRST_CHUNK ? total : IDX_FIRST_CHUNK;
    uint8_t *buf = cg_malloc(cap, what);
    if (!buf) return CG_ERR_NOMEM;
    for (;;) {
        size_t got;
        enum cg_status s = read_bytes(f, buf + have, cap - have, &got);
        if (s != CG_OK) {
            cg_free(buf);
            return s;
        }
        have += got;
        if (have < cap) break; /* the data ended */
        if (have == total) break;
        size_t next = cap <= total / 2 ? 2 * cap : total;
        uint8_t *grown = cg_realloc(buf, next, what);
        if (!grown) {
            cg_free(buf);
            return CG_ERR_NOMEM;
        }
        buf = grown;
        cap = next;
    }
    if (have < total) {
        bool gz_eof = gzip_ended_early(f);
        cg_free(buf);
        return cg_fail(CG_ERR_CORRUPT, "%s: truncated%s: the header promises %" PRId64
                       " bytes of %s but only %zu follow", f->path,
                       gz_eof ? " (gzip stream ends early)" : "", bytes, f->kind, have);
    }
    /* One more byte must not exist; reading it also makes zlib check the
     * gzip trailer (CRC and length). */
    unsigned char extra;
    size_t got;
    enum cg_status s = read_bytes(f, &extra, 1, &got);
    if (s == CG_OK && got)
        s = cg_fail(CG_ERR_CORRUPT, "%s: trailing bytes after the %" PRId64 " bytes of %s the "
                    "header describes (wrong count in the header, or two files joined?)",
                    f->path, bytes, f->kind);
    if (s == CG_OK && gzip_ended_early(f))
        s = cg_fail(CG_ERR_CORRUPT, "%s: truncated gzip stream (its end and checksum are missing)",
                    f->path);
    if (s != CG_OK) {
        cg_free(buf);
        return s;
    }
    /* Shuffled batches read it at random for the whole run. */
    *out = f->huge ? cg_move_to_huge_pages(buf, total) : buf;
    return CG_OK;
}

static enum cg_status close_idx(struct idx_file *f, enum cg_status s)
{
    if (f->gz) {
        int r = gzclose_r(f->gz);
        f->gz = NULL;
        if (s == CG_OK && r != Z_OK)
            s = cg_fail(CG_ERR_IO, "%s: error while closing (zlib code %d)", f->path, r);
    }
    return s;
}

static enum cg_status load_images(struct cg_dataset *out, struct idx_file *f)
{
    uint32_t d[3] = {0};
    enum cg_status s = read_header(f, IDX_MAGIC_IMAGES, 3, d);
    if (s != CG_OK) return s;
    if (d[0] == 0 || d[1] == 0 || d[2] == 0)
        return cg_fail(CG_ERR_FORMAT, "%s: header says %" PRIu32 " images of %" PRIu32 "x%" PRIu32
                       " (every size must be > 0)", f->path, d[0], d[1], d[2]);
    if ((uint64_t)d[1] * d[2] > INT_MAX)
        return cg_fail(CG_ERR_FORMAT, "%s: images of %" PRIu32 "x%" PRIu32 " are too large "
                       "(more than %d pixels)", f->path, d[1], d[2], INT_MAX);
    int64_t bytes = (int64_t)d[0] * (int64_t)d[1] * (int64_t)d[2];
    uint8_t *images;
    if ((s = read_payload(f, bytes, "IDX images", &images)) != CG_OK) return s;
    *out = (struct cg_dataset){.count = d[0], .rows = (int)d[1], .cols = (int)d[2],
                               .images = images};
    return CG_OK;
}

static enum cg_status load_images_file(struct cg_dataset *out, const char *path, bool huge,
                                       const char *fn)
{
    if (!out || !path) {
        cg_misuse(fn, "%s is NULL", !out ? "out" : "path");
        return CG_ERR_INVALID;
    }
    *out = (struct cg_dataset){0};
    struct idx_file f = {path, "images", NULL, huge};
    enum cg_status s = open_idx(&f);
    if (s == CG_OK) s = load_images(out, &f);
    s = close_idx(&f, s);
    if (s != CG_OK) cg_dataset_free(out);
    return s;
}

enum cg_status cg_idx_load_images(struct cg_dataset *out, const char *path)
{
    return load_images_file(out, path, true, "cg_idx_load_images");
}

enum cg_status cg_idx_load_images_transient(struct cg_dataset *out, const char *path)
{
    return load_images_file(out, path, false, "cg_tensor_dataset_from_idx");
}

static enum cg_status load_labels(struct cg_dataset *ds, struct idx_file *f)
{
    uint32_t n = 0;
    enum cg_status s = read_header(f, IDX_MAGIC_LABELS, 1, &n);
    if (s != CG_OK) return s;
    if (n == 0) return cg_fail(CG_ERR_FORMAT, "%s: header says 0 labels (must be > 0)", f->path);
    /* Check before reading so a mismatched pair fails fast. */
    if (ds->images && (int64_t)n != ds->count)
        return cg_fail(CG_ERR_MISMATCH, "%s: %" PRIu32 " labels but the images have %" PRId64
                       " (files from different sets?)", f->path, n, ds->count);
    uint8_t *labels;
    if ((s = read_payload(f, n, "IDX labels", &labels)) != CG_OK) return s;
    ds->labels = labels;
    ds->count = n;
    return CG_OK;
}

enum cg_status cg_idx_load_labels(struct cg_dataset *ds, const char *path)
{
    if (!ds || !path) {
        cg_misuse("cg_idx_load_labels", "%s is NULL", !ds ? "ds" : "path");
        return CG_ERR_INVALID;
    }
    if (ds->labels) {
        cg_misuse("cg_idx_load_labels", "dataset already has labels (hint: cg_dataset_free it or "
                  "load the labels into a fresh dataset)");
        return CG_ERR_INVALID;
    }
    struct idx_file f = {path, "labels", NULL, false};
    enum cg_status s = open_idx(&f);
    if (s == CG_OK) s = load_labels(ds, &f);
    s = close_idx(&f, s);
    if (s != CG_OK && ds->labels) { /* only a failed close gets here */
        cg_free(ds->labels);
        ds->labels = NULL;
        if (!ds->images) ds->count = 0;
    }
    return s;
}

void cg_dataset_free(struct cg_dataset *ds)
{
    if (!ds) return;
    cg_free(ds->images);
    cg_free(ds->labels);
    *ds = (struct cg_dataset){0};
}
