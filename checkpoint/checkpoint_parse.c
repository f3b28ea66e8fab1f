
/* The validating checkpoint reader: the whole file is read, every record's
 * bounds, CRC, kind, dtype and size checked, and the records sorted for
 * lookup by (kind, name).  Layout documented in cgrad/checkpoint.h. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "alloc.h"
#include "checkpoint_internal.h"
#include "error_internal.h"
#include "file_io.h"

/* Record names are only trusted after their CRC; print them defanged. */
static const char *printable(const char *name, size_t len, char *buf, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < size; i++) {
        unsigned char c = (unsigned char)name[i];
        buf[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (len > 0 && n < len && n + 4 <= size) memcpy(buf + n, "...", 3), n += 3;
    buf[n] = '\0';
    return buf;
}

static int cmp_key(const struct cg_ckpt_record *r, int kind, const char *a, size_t alen,
                   const char *b, size_t blen)
{
    if (r->kind != kind) return r->kind < kind ? -1 : 1;
    size_t rl = r->name_len, n = rl < alen ? rl : alen;
    int c = n ? memcmp(r->name, a, n) : 0;
    if (c || rl < alen) return c ? c : -1;
    size_t rest = rl - alen;
    n = rest < blen ? rest : blen;
    c = n ? memcmp(r->name + alen, b, n) : 0;
    if (c) return c;
    return rest < blen ? -1 : rest > blen ? 1 : 0;
}

static int cmp_records(const void *pa, const void *pb)
{
    const struct cg_ckpt_record *a = pa, *b = pb;
    return cmp_key(a, b->kind, b->name, b->name_len, "", 0);
}

struct cg_ckpt_record *cg_ckpt_find(struct cg_ckpt_file *f, enum cg_ckpt_kind kind,
                                    const char *prefix, const char *name)
{
    size_t plen = strlen(prefix), nlen = strlen(name), lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_key(&f->recs[mid], (int)kind, prefix, plen, name, nlen);
        if (c == 0) return &f->recs[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

void cg_ckpt_shape(const struct cg_ckpt_record *r, int64_t *shape)
{
    for (int i = 0; i < r->ndim; i++) shape[i] = (int64_t)cg_ckpt_le64(r->shape + 8 * i);
}

const char *cg_ckpt_record_name(const struct cg_ckpt_record *r, char *buf, size_t size)
{
    printable(r->name, r->name_len, buf, size);
    size_t n = strlen(buf);
    if (r->origin) snprintf(buf + n, size - n, ", from version-1 record %s", r->origin);
    return buf;
}

char *cg_ckpt_shape_str(const struct cg_ckpt_record *r, char *buf, size_t size, bool with_dtype)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < r->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ",%" PRIu64 : "%" PRIu64,
                              cg_ckpt_le64(r->shape + 8 * i));
    if (n < size)
        snprintf(buf + n, size - n, "]%s%s", with_dtype ? " " : "",
                 with_dtype ? cg_ckpt_dtype_name(r->dtype) : "");
    return buf;
}

void cg_ckpt_decode(const struct cg_ckpt_record *r, void *dst)
{
    if (r->dtype == CG_CKPT_BYTES) {
        if (r->numel) memcpy(dst, r->payload, (size_t)r->numel);
    } else if (r->dtype == CG_CKPT_F32) {
        float *f = dst;
        for (uint64_t i = 0; i < r->numel; i++) {
            uint32_t u = cg_ckpt_le32(r->payload + 4 * i);
            memcpy(&f[i], &u, 4);
        }
    } else {
        unsigned char *d = dst;
        for (uint64_t i = 0; i < r->numel; i++) {
            uint64_t u = cg_ckpt_le64(r->payload + 8 * i);
            memcpy(d + 8 * i, &u, 8);
        }
    }
}

void cg_ckpt_file_free(struct cg_ckpt_file *f)
{
    cg_free(f->bytes);
    cg_free(f->recs);
    cg_free(f->extra);
    f->bytes = NULL;
    f->recs = NULL;
    f->extra = NULL;
    f->n = 0;
}

/* Kind/dtype/shape rules checked once the CRC vouches for the bytes. */
static enum cg_status check_record(const struct cg_ckpt_file *f, struct cg_ckpt_record *r,
                                   uint64_t payload_len, const char *nm)
{
    int last_kind = f->version == 1 ? CG_CKPT_META : CG_CKPT_BUFFER;
    if (r->kind < CG_CKPT_PARAM || r->kind > last_kind || r->dtype < CG_CKPT_F32 ||
        r->dtype > CG_CKPT_BYTES)
        return cg_fail(CG_ERR_FORMAT, "%s: record '%s': unknown kind %u or dtype %u (written "
                       "by a newer cgrad?)", f->path, nm, r->kind, r->dtype);
    if (memchr(r->name, '\0', r->name_len))
        return cg_fail(CG_ERR_FORMAT, "%s: record '%s': NUL byte in the name", f->path, nm);
    uint64_t numel = 1;
    bool overflow = false;
    for (int i = 0; i < r->ndim; i++) {
        uint64_t d = cg_ckpt_le64(r->shape + 8 * i);
        if (d > (uint64_t)INT64_MAX || (d && numel > UINT64_MAX / d)) overflow = true;
        else numel *= d;
    }
    char shp[160];
    size_t esize = cg_ckpt_dtype_size(r->dtype);
    if (overflow || numel > payload_len / esize || numel * esize != payload_len)
        return cg_fail(CG_ERR_FORMAT, "%s: record '%s': payload of %" PRIu64 " bytes does not "
                       "fit its shape %s", f->path, nm, payload_len,
                       cg_ckpt_shape_str(r, shp, sizeof shp, true));
    r->numel = numel;
    bool tensor = r->dtype == CG_CKPT_F32 || r->dtype == CG_CKPT_F64;
    bool ok = r->kind == CG_CKPT_PARAM || r->kind == CG_CKPT_BUFFER ? tensor
              /* version 2 adds text items (raw bytes, ndim 1) */
              : r->kind == CG_CKPT_OPTIM ? r->dtype != CG_CKPT_BYTES ||
                                               (f->version >= 2 && r->ndim == 1)
              : (r->dtype == CG_CKPT_U64 && r->ndim == 0) ||
                    (r->dtype == CG_CKPT_BYTES && r->ndim == 1);
    static const char *const kinds[] = {"", "parameter", "optimizer", "metadata", "buffer"};
    if (!ok)
        return cg_fail(CG_ERR_FORMAT, "%s: record '%s': %s is not allowed for a %s record",
                       f->path, nm, cg_ckpt_shape_str(r, shp, sizeof shp, true), kinds[r->kind]);
    return CG_OK;
}

static enum cg_status parse(struct cg_ckpt_file *f)
{
    const unsigned char *b = f->bytes;
    size_t size = f->size;
    if (size < 8 || memcmp(b, cg_ckpt_magic, 8) != 0)
        return cg_fail(CG_ERR_FORMAT, "%s: not a cgrad checkpoint (bad magic; expected "
                       "\"CGRADCKP\")", f->path);
    if (size < CG_CKPT_HEADER_SIZE)
        return cg_fail(CG_ERR_CORRUPT, "%s: truncated: %zu bytes, the header alone needs %d",
                       f->path, size, CG_CKPT_HEADER_SIZE);
    uint32_t version = cg_ckpt_le32(b + 8);
    if (version < 1 || version > CG_CHECKPOINT_VERSION)
        return cg_fail(CG_ERR_FORMAT, "%s: checkpoint format version %" PRIu32 " is not "
                       "supported (this cgrad reads versions 1 to %d)", f->path, version,
                       CG_CHECKPOINT_VERSION);
    f->version = version;
    uint32_t stored = cg_ckpt_le32(b + 16), crc = (uint32_t)crc32(0L, b, 16);
    if (stored != crc)
        return cg_fail(CG_ERR_CORRUPT, "%s: header CRC mismatch (stored 0x%08" PRIx32
                       ", computed 0x%08" PRIx32 "): the file is corrupt", f->path, stored, crc);
    uint32_t n = cg_ckpt_le32(b + 12);
    /* Bound the index by what the file can hold before allocating it. */
    size_t room_for = (size - CG_CKPT_HEADER_SIZE) / CG_CKPT_MIN_RECORD;
    if (n > room_for)
        return cg_fail(CG_ERR_CORRUPT, "%s: header announces %" PRIu32 " records but %zu bytes "
                       "hold at most %zu: the file is truncated or corrupt", f->path, n, size,
                       room_for);
    if (!(f->recs = cg_calloc(n, sizeof *f->recs, "checkpoint record index")))
        return CG_ERR_NOMEM;
    f->n = n;
    size_t pos = CG_CKPT_HEADER_SIZE;
    char nm[96];
    for (uint32_t i = 0; i < n; i++) {
        struct cg_ckpt_record *r = &f->recs[i];
        size_t start = pos;
#define CG_NEED(k)                                                                          \
    if (size - pos < (uint64_t)(k))                                                        \
        return cg_fail(CG_ERR_CORRUPT, "%s: truncated: record #%" PRIu32 " (of %" PRIu32     \
                       ", at offset %zu) runs past the end of the file (%zu bytes)",        \
                       f->path, i, n, start, size);
        CG_NEED(2);
        r->name_len = (uint16_t)(b[pos] | b[pos + 1] << 8);
        pos += 2;
        if (r->name_len == 0)
            return cg_fail(CG_ERR_CORRUPT, "%s: record #%" PRIu32 " at offset %zu has an empty "
                           "name: the file is corrupt", f->path, i, start);
        CG_NEED(r->name_len + 3u);
        r->name = (const char *)b + pos;
        pos += r->name_len;
        r->kind = b[pos];
        r->dtype = b[pos + 1];
        r->ndim = b[pos + 2];
        pos += 3;
        printable(r->name, r->name_len, nm, sizeof nm);
        if (r->ndim > CG_MAX_DIMS)
            return cg_fail(CG_ERR_CORRUPT, "%s: record #%" PRIu32 " ('%s') at offset %zu: ndim "
                           "%u > %d: the file is corrupt", f->path, i, nm, start, r->ndim,
                           CG_MAX_DIMS);
        CG_NEED(8u * r->ndim + 8u);
        r->shape = b + pos;
        pos += 8u * r->ndim;
        uint64_t payload_len = cg_ckpt_le64(b + pos);
        pos += 8;
        CG_NEED(payload_len);
        r->payload = b + pos;
        pos += (size_t)payload_len;
        CG_NEED(4);
#undef CG_NEED
        stored = cg_ckpt_le32(b + pos);
        crc = (uint32_t)crc32_z(0L, b + start, pos - start);
        pos += 4;
        if (stored != crc)
            return cg_fail(CG_ERR_CORRUPT, "%s: record '%s' (#%" PRIu32 " at offset %zu): CRC "
                           "mismatch (stored 0x%08" PRIx32 ", computed 0x%08" PRIx32 "): the "
                           "file is corrupt", f->path, nm, i, start, stored, crc);
        r->index = i;
        enum cg_status st = check_record(f, r, payload_len, nm);
        if (st != CG_OK) return st;
    }
    if (pos != size)
        return cg_fail(CG_ERR_CORRUPT, "%s: %zu unexpected bytes after the last of %" PRIu32
                       " records: the file is corrupt", f->path, size - pos, n);
    return cg_ckpt_sort(f);
}

enum cg_status cg_ckpt_sort(struct cg_ckpt_file *f)
{
    qsort(f->recs, f->n, sizeof *f->recs, cmp_records);
    char nm[300];
    for (uint32_t i = 1; i < f->n; i++)
        if (cmp_records(&f->recs[i - 1], &f->recs[i]) == 0)
            return cg_fail(CG_ERR_FORMAT, "%s: duplicate record '%s'", f->path,
                           cg_ckpt_record_name(&f->recs[i], nm, sizeof nm));
    return CG_OK;
}

enum cg_status cg_ckpt_read(struct cg_ckpt_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    enum cg_status status = cg_read_file(path, &f->bytes, &f->size);
    if (status == CG_OK) status = parse(f);
    if (status != CG_OK) cg_ckpt_file_free(f);
    return status;
}
