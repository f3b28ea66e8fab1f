/* Checkpoint byte format: little-endian encoding and the atomic writer
 * (layout documented in cgrad/checkpoint.h; the reader is checkpoint_parse.c). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "alloc.h"
#include "checkpoint_internal.h"
#include "error_internal.h"

const char cg_ckpt_magic[8] = {'C', 'G', 'R', 'A', 'D', 'C', 'K', 'P'};

void cg_ckpt_put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

uint64_t cg_ckpt_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

uint32_t cg_ckpt_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t cg_ckpt_dtype_size(int dtype)
{
    return dtype == CG_CKPT_F32 ? 4 : dtype == CG_CKPT_BYTES ? 1 : 8;
}

enum cg_ckpt_dtype cg_ckpt_tensor_dtype(enum cg_dtype d)
{
    return d == CG_F64 ? CG_CKPT_F64 : CG_CKPT_F32;
}

const char *cg_ckpt_dtype_name(int dtype)
{
    switch (dtype) {
    case CG_CKPT_F32: return "f32";
    case CG_CKPT_F64: return "f64";
    case CG_CKPT_U64: return "u64";
    case CG_CKPT_BYTES: return "bytes";
    default: return "unknown";
    }
}

/* ---------------------------------------------------------------- writer */

static void crc_catch_up(struct cg_ckpt_writer *w)
{
    if (w->used > w->crc_from)
        w->crc = (uint32_t)crc32(w->crc, w->buf + w->crc_from, (uInt)(w->used - w->crc_from));
    w->crc_from = w->used;
}

static void flush_buf(struct cg_ckpt_writer *w)
{
    crc_catch_up(w);
    if (w->used && !w->err) {
        errno = 0;
        if (fwrite(w->buf, 1, w->used, w->f) != w->used) w->err = errno ? errno : EIO;
    }
    w->used = 0;
    w->crc_from = 0;
}

/* n (<= 8) staged bytes to fill in. */
static unsigned char *room(struct cg_ckpt_writer *w, size_t n)
{
    if (sizeof w->buf - w->used < n) flush_buf(w);
    unsigned char *p = w->buf + w->used;
    w->used += n;
    return p;
}

static void put_bytes(struct cg_ckpt_writer *w, const void *data, size_t n)
{
    const unsigned char *s = data;
    while (n) {
        if (w->used == sizeof w->buf) flush_buf(w);
        size_t k = sizeof w->buf - w->used;
        if (k > n) k = n;
        memcpy(w->buf + w->used, s, k);
        w->used += k;
        s += k;
        n -= k;
    }
}

enum cg_status cg_ckpt_writer_open(struct cg_ckpt_writer *w, const char *path,
                                   uint32_t n_records)
{
    memset(w, 0, offsetof(struct cg_ckpt_writer, buf));
    w->path = path;
    w->announced = n_records;
    size_t len = strlen(path) + 32;
    if (!(w->tmp_path = cg_malloc(len, "checkpoint temp path"))) return CG_ERR_NOMEM;
    snprintf(w->tmp_path, len, "%s.tmp.%ld", path, (long)getpid());
    if (!(w->f = fopen(w->tmp_path, "wb"))) {
        int e = errno;
        enum cg_status st = cg_fail(CG_ERR_IO, "%s: cannot create temporary file '%s': %s", path,
                                    w->tmp_path, strerror(e));
        cg_free(w->tmp_path);
        w->tmp_path = NULL;
        return st;
    }
    unsigned char *h = room(w, CG_CKPT_HEADER_SIZE);
    memcpy(h, cg_ckpt_magic, 8);
    cg_ckpt_put_le(h + 8, CG_CHECKPOINT_VERSION, 4);
    cg_ckpt_put_le(h + 12, n_records, 4);
    cg_ckpt_put_le(h + 16, crc32(0L, h, 16), 4);
    w->crc_from = w->used;
    return CG_OK;
}

void cg_ckpt_write_record(struct cg_ckpt_writer *w, enum cg_ckpt_kind kind, const char *prefix,
                          const char *name, enum cg_ckpt_dtype dtype, int ndim,
                          const int64_t *shape, const void *data)
{
    size_t plen = strlen(prefix), nlen = strlen(name);
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= (uint64_t)shape[i];
    crc_catch_up(w);
    w->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    cg_ckpt_put_le(room(w, 2), plen + nlen, 2); /* callers keep names <= CG_CKPT_NAME_MAX */
    put_bytes(w, prefix, plen);
    put_bytes(w, name, nlen);
    unsigned char *p = room(w, 3);
    p[0] = (unsigned char)kind;
    p[1] = (unsigned char)dtype;
    p[2] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) cg_ckpt_put_le(room(w, 8), (uint64_t)shape[i], 8);
    cg_ckpt_put_le(room(w, 8), numel * cg_ckpt_dtype_size(dtype), 8);
    if (dtype == CG_CKPT_BYTES) {
        put_bytes(w, data, (size_t)numel);
    } else if (dtype == CG_CKPT_F32) {
        const float *f = data;
        for (uint64_t i = 0; i < numel; i++) {
            uint32_t u;
            memcpy(&u, &f[i], 4);
            cg_ckpt_put_le(room(w, 4), u, 4);
        }
    } else {
        /* f64 and u64 are both 8-byte words. */
        const unsigned char *d = data;
        for (uint64_t i = 0; i < numel; i++) {
            uint64_t u;
            memcpy(&u, d + 8 * i, 8);
            cg_ckpt_put_le(room(w, 8), u, 8);
        }
    }
    crc_catch_up(w);
    uint32_t crc = w->crc;
    cg_ckpt_put_le(room(w, 4), crc, 4);
    w->crc_from = w->used;
    w->written++;
}

static void drop_temp(struct cg_ckpt_writer *w)
{
    if (w->f) fclose(w->f);
    w->f = NULL;
    if (w->tmp_path) remove(w->tmp_path);
    cg_free(w->tmp_path);
    w->tmp_path = NULL;
}

void cg_ckpt_writer_abort(struct cg_ckpt_writer *w) { drop_temp(w); }

/* The directory holding path (heap), or NULL on out-of-memory. */
static char *dir_of(const char *path)
{
    size_t len = strlen(path);
    char *dir = cg_malloc(len + 2, "checkpoint directory name");
    if (!dir) return NULL;
    memcpy(dir, path, len + 1);
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    return dir;
}

/* fsync the directory so the rename itself is durable; frees dir. */
static int sync_dir(char *dir)
{
    int err = 0;
    int fd = open(dir, O_RDONLY);
    if (fd < 0) {
        err = errno;
    } else {
        /* Some file systems cannot sync directories; that is not a failure. */
        if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) err = errno;
        close(fd);
    }
    cg_free(dir);
    return err;
}

enum cg_status cg_ckpt_writer_commit(struct cg_ckpt_writer *w)
{
    flush_buf(w);
    if (w->written != w->announced) {
        drop_temp(w);
        return cg_fail(CG_ERR_INVALID, "%s: the model reported %u records while counting but "
                       "%u while writing (parameters changed during save?); nothing written",
                       w->path, w->announced, w->written);
    }
    int err = w->err;
    if (!err && fflush(w->f) != 0) err = errno ? errno : EIO;
    if (!err && fsync(fileno(w->f)) != 0) err = errno;
    if (fclose(w->f) != 0 && !err) err = errno ? errno : EIO;
    w->f = NULL;
    if (err) {
        enum cg_status st = cg_fail(CG_ERR_IO, "%s: cannot write checkpoint (temporary file "
                                    "'%s'): %s; the previous file is left unchanged",
                                    w->path, w->tmp_path, strerror(err));
        drop_temp(w);
        return st;
    }
    /* Allocated before the rename: once the new file is in place, nothing
     * may fail for want of memory. */
    char *dir = dir_of(w->path);
    if (!dir) {
        drop_temp(w);
        return cg_fail(CG_ERR_NOMEM, "%s: out of memory before replacing the file; the "
                       "previous file is left unchanged", w->path);
    }
    if (rename(w->tmp_path, w->path) != 0) {
        err = errno;
        enum cg_status st = cg_fail(CG_ERR_IO, "%s: cannot rename '%s' over it: %s; the "
                                    "previous file is left unchanged",
                                    w->path, w->tmp_path, strerror(err));
        cg_free(dir);
        drop_temp(w);
        return st;
    }
    cg_free(w->tmp_path);
    w->tmp_path = NULL;
    if ((err = sync_dir(dir)) != 0)
        return cg_fail(CG_ERR_IO, "%s: written, but syncing its directory failed: %s", w->path,
                       strerror(err));
    return CG_OK;
}
