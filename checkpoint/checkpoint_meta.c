/* User metadata stored in checkpoints: named u64 values and byte blobs. */
#include <string.h>

#include "alloc.h"
#include "checkpoint_internal.h"
#include "error_internal.h"

struct cg_checkpoint_meta *cg_checkpoint_meta_new(void)
{
    return cg_calloc(1, sizeof(struct cg_checkpoint_meta), "checkpoint metadata");
}

void cg_checkpoint_meta_clear(struct cg_checkpoint_meta *meta)
{
    if (!meta) return;
    for (size_t i = 0; i < meta->n; i++) {
        cg_free(meta->entries[i].name);
        cg_free(meta->entries[i].data);
    }
    meta->n = 0;
}

void cg_checkpoint_meta_free(struct cg_checkpoint_meta *meta)
{
    if (!meta) return;
    cg_checkpoint_meta_clear(meta);
    cg_free(meta->entries);
    cg_free(meta);
}

/* Index of name, or where it would go (*found false).  Entries are sorted
 * by bytes, then length. */
static size_t locate(const struct cg_checkpoint_meta *meta, const char *name, size_t len,
                     bool *found)
{
    size_t lo = 0, hi = meta->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *e = meta->entries[mid].name;
        size_t elen = strlen(e), n = elen < len ? elen : len;
        int c = memcmp(e, name, n);
        if (!c) c = elen < len ? -1 : elen > len ? 1 : 0;
        if (!c) {
            *found = true;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

enum cg_status cg_meta_put(struct cg_checkpoint_meta *meta, const char *name, size_t name_len,
                           bool is_blob, uint64_t value, const unsigned char *data, size_t size)
{
    unsigned char *copy = NULL;
    if (is_blob && !(copy = cg_malloc(size, "checkpoint metadata blob"))) return CG_ERR_NOMEM;
    if (size) memcpy(copy, data, size);
    bool found;
    size_t at = locate(meta, name, name_len, &found);
    if (!found) {
        if (meta->n == meta->cap) {
            size_t cap = meta->cap ? 2 * meta->cap : 8;
            struct cg_meta_entry *e =
                cg_realloc(meta->entries, cap * sizeof *e, "checkpoint metadata entries");
            if (!e) goto nomem;
            meta->entries = e;
            meta->cap = cap;
        }
        char *nm = cg_malloc(name_len + 1, "checkpoint metadata name");
        if (!nm) goto nomem;
        memcpy(nm, name, name_len);
        nm[name_len] = '\0';
        memmove(&meta->entries[at + 1], &meta->entries[at],
                (meta->n - at) * sizeof *meta->entries);
        meta->n++;
        meta->entries[at] = (struct cg_meta_entry){.name = nm};
    }
    struct cg_meta_entry *e = &meta->entries[at];
    cg_free(e->data);
    e->is_blob = is_blob;
    e->value = value;
    e->data = copy;
    e->size = is_blob ? size : 0;
    return CG_OK;
nomem:
    cg_free(copy);
    return CG_ERR_NOMEM;
}

static bool args_ok(const char *fn, const void *meta, const char *name)
{
    if (!meta || !name) {
        cg_misuse(fn, "%s is NULL", !meta ? "meta" : "name");
        return false;
    }
    size_t len = strlen(name);
    if (len == 0 || len > CG_CKPT_NAME_MAX) {
        cg_misuse(fn, "metadata name of %zu bytes: must be 1..%d bytes", len, CG_CKPT_NAME_MAX);
        return false;
    }
    return true;
}

enum cg_status cg_checkpoint_meta_set_u64(struct cg_checkpoint_meta *meta, const char *name,
                                          uint64_t value)
{
    if (!args_ok("cg_checkpoint_meta_set_u64", meta, name)) return CG_ERR_INVALID;
    return cg_meta_put(meta, name, strlen(name), false, value, NULL, 0);
}

enum cg_status cg_checkpoint_meta_set_blob(struct cg_checkpoint_meta *meta, const char *name,
                                           const void *data, size_t size)
{
    if (!args_ok("cg_checkpoint_meta_set_blob", meta, name)) return CG_ERR_INVALID;
    if (!data && size) {
        cg_misuse("cg_checkpoint_meta_set_blob", "data is NULL for a blob of %zu bytes", size);
        return CG_ERR_INVALID;
    }
    return cg_meta_put(meta, name, strlen(name), true, 0, data, size);
}

enum cg_status cg_checkpoint_meta_set_rng(struct cg_checkpoint_meta *meta, const char *name,
                                          const struct cg_rng *rng)
{
    if (!args_ok("cg_checkpoint_meta_set_rng", meta, name)) return CG_ERR_INVALID;
    if (!rng) {
        cg_misuse("cg_checkpoint_meta_set_rng", "rng is NULL");
        return CG_ERR_INVALID;
    }
    unsigned char b[16];
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(rng->state >> (8 * i));
        b[8 + i] = (unsigned char)(rng->inc >> (8 * i));
    }
    return cg_checkpoint_meta_set_blob(meta, name, b, sizeof b);
}

/* Call after args_ok. */
static const struct cg_meta_entry *get(const struct cg_checkpoint_meta *meta, const char *name,
                                       const char *fn)
{
    bool found;
    size_t at = locate(meta, name, strlen(name), &found);
    if (!found) {
        cg_fail(CG_ERR_NOT_FOUND, "%s: no metadata entry '%s'", fn, name);
        return NULL;
    }
    return &meta->entries[at];
}

enum cg_status cg_checkpoint_meta_get_u64(const struct cg_checkpoint_meta *meta,
                                          const char *name, uint64_t *out)
{
    if (!out) {
        cg_misuse("cg_checkpoint_meta_get_u64", "out is NULL");
        return CG_ERR_INVALID;
    }
    if (!args_ok("cg_checkpoint_meta_get_u64", meta, name)) return CG_ERR_INVALID;
    const struct cg_meta_entry *e = get(meta, name, "cg_checkpoint_meta_get_u64");
    if (!e) return CG_ERR_NOT_FOUND;
    if (e->is_blob)
        return cg_fail(CG_ERR_MISMATCH, "cg_checkpoint_meta_get_u64: metadata entry '%s' is a "
                       "blob of %zu bytes, not a u64", name, e->size);
    *out = e->value;
    return CG_OK;
}

const void *cg_checkpoint_meta_get_blob(const struct cg_checkpoint_meta *meta, const char *name,
                                        size_t *size)
{
    if (!args_ok("cg_checkpoint_meta_get_blob", meta, name)) return NULL;
    const struct cg_meta_entry *e = get(meta, name, "cg_checkpoint_meta_get_blob");
    if (!e || !e->is_blob) return NULL;
    if (size) *size = e->size;
    return e->data; /* never NULL: cg_malloc(0) still allocates */
}

enum cg_status cg_checkpoint_meta_get_rng(const struct cg_checkpoint_meta *meta,
                                          const char *name, struct cg_rng *out)
{
    if (!out) {
        cg_misuse("cg_checkpoint_meta_get_rng", "out is NULL");
        return CG_ERR_INVALID;
    }
    if (!args_ok("cg_checkpoint_meta_get_rng", meta, name)) return CG_ERR_INVALID;
    const struct cg_meta_entry *e = get(meta, name, "cg_checkpoint_meta_get_rng");
    if (!e) return CG_ERR_NOT_FOUND;
    if (!e->is_blob || e->size != 16)
        return cg_fail(CG_ERR_MISMATCH, "cg_checkpoint_meta_get_rng: metadata entry '%s' is not "
                       "an RNG state (a 16-byte blob)", name);
    uint64_t s = 0, inc = 0;
    for (int i = 7; i >= 0; i--) {
        s = s << 8 | e->data[i];
        inc = inc << 8 | e->data[8 + i];
    }
    out->state = s;
    out->inc = inc;
    return CG_OK;
}

size_t cg_checkpoint_meta_count(const struct cg_checkpoint_meta *meta)
{
    return meta ? meta->n : 0;
}

const char *cg_checkpoint_meta_name(const struct cg_checkpoint_meta *meta, size_t i)
{
    return meta && i < meta->n ? meta->entries[i].name : NULL;
}
