/* safetensors reader: header length, strict JSON header, every entry and
 * the data section checked before anything is used (see
 * cgrad/safetensors.h for the rules). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "file_io.h"
#include "safetensors_internal.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
              {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
              {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};

void cg_st_free(struct cg_st_file *f)
{
    cg_json_free(&f->doc);
    cg_free(f->entries);
    cg_free(f->bytes);
    memset(f, 0, sizeof *f);
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Names in messages: cut to 80 bytes. */
#define NAME_FMT "'%.80s'"

static enum cg_status check_metadata(const struct cg_st_file *f, const struct cg_json_node *v)
{
    if (v->type == CG_JSON_NULL) return CG_OK;
    if (v->type != CG_JSON_OBJECT)
        return cg_fail(CG_ERR_FORMAT, "%s: __metadata__ is not an object of strings", f->path);
    for (const struct cg_json_node *k = cg_json_at(&f->doc, v->first); k;
         k = cg_json_at(&f->doc, k->next))
        if (cg_json_at(&f->doc, k->first)->type != CG_JSON_STRING)
            return cg_fail(CG_ERR_FORMAT, "%s: __metadata__ value of " NAME_FMT " is not a string",
                           f->path, k->str);
    return CG_OK;
}

/* Fills e from the JSON value of one tensor entry. */
static enum cg_status read_entry(const struct cg_st_file *f, const struct cg_json_node *v,
                                 struct cg_st_entry *e)
{
    if (v->type != CG_JSON_OBJECT)
        return cg_fail(CG_ERR_FORMAT, "%s: tensor " NAME_FMT " is not an object", f->path, e->name);
    const struct cg_json_node *dt = cg_json_get(&f->doc, v, "dtype");
    const struct cg_json_node *sh = cg_json_get(&f->doc, v, "shape");
    const struct cg_json_node *off = cg_json_get(&f->doc, v, "data_offsets");
    if (!dt || !sh || !off)
        return cg_fail(CG_ERR_FORMAT, "%s: tensor " NAME_FMT " has no \"%s\"", f->path, e->name,
                       !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (dt->type != CG_JSON_STRING)
        return cg_fail(CG_ERR_FORMAT, "%s: tensor " NAME_FMT ": dtype is not a string", f->path,
                       e->name);
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(dt->str, dtypes[i].name) && strlen(dtypes[i].name) == dt->len)
            e->dtype = dtypes[i].name, e->elem_size = dtypes[i].size;
    if (!e->dtype)
        return cg_fail(CG_ERR_FORMAT, "%s: tensor " NAME_FMT ": unknown dtype \"%.20s\"", f->path,
                       e->name, dt->str);
    if (sh->type != CG_JSON_ARRAY)
        return cg_fail(CG_ERR_FORMAT, "%s: tensor " NAME_FMT ": shape is not an array", f->path,
                       e->name);
    uint64_t numel = 1;
    int overflow = 0;
    for (const struct cg_json_node *d = cg_json_at(&f->doc, sh->first); d;
         d = cg_json_at(&f->doc, d->next)) {
        uint64_t size;
        if (!cg_json_u64(d, &size))
            return cg_fail(CG_ERR_FORMAT, "%s: tensor " NAME_FMT ": shape entry is not a "
                           "non-negative integer", f->path, e->name);
        if (e->ndim < CG_MAX_DIMS) e->shape[e->ndim] = size > INT64_MAX ? INT64_MAX : (int64_t)size;
        e->ndim++;
        if (size && numel > UINT64_MAX / size) overflow = 1;
        numel *= size;
    }
    if (overflow || numel > UINT64_MAX / e->elem_size)
        return cg_fail(CG_ERR_FORMAT, "%s: tensor " NAME_FMT ": shape's byte size overflows",
                       f->path, e->name);
    const struct cg_json_node *b = cg_json_at(&f->doc, off->first);
    const struct cg_json_node *en = b ? cg_json_at(&f->doc, b->next) : NULL;
    if (off->type != CG_JSON_ARRAY || off->count != 2 || !cg_json_u64(b, &e->begin) ||
        !cg_json_u64(en, &e->end))
        return cg_fail(CG_ERR_FORMAT, "%s: tensor " NAME_FMT ": data_offsets is not "
                       "[BEGIN, END] of non-negative integers", f->path, e->name);
    if (e->end < e->begin)
        return cg_fail(CG_ERR_FORMAT, "%s: tensor " NAME_FMT ": data_offsets [%llu, %llu] end "
                       "before they begin", f->path, e->name, (unsigned long long)e->begin,
                       (unsigned long long)e->end);
    if (e->end - e->begin != numel * e->elem_size)
        return cg_fail(CG_ERR_FORMAT, "%s: tensor " NAME_FMT ": data_offsets [%llu, %llu] hold "
                       "%llu bytes but %s with %llu elements needs %llu", f->path, e->name,
                       (unsigned long long)e->begin, (unsigned long long)e->end,
                       (unsigned long long)(e->end - e->begin), e->dtype,
                       (unsigned long long)numel, (unsigned long long)(numel * e->elem_size));
    return CG_OK;
}

static int by_begin(const void *a, const void *b)
{
    const struct cg_st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

static int by_name(const void *a, const void *b)
{
    const struct cg_st_entry *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* Offsets must tile the data section exactly, in some order. */
static enum cg_status check_layout(struct cg_st_file *f, uint64_t data_size)
{
    qsort(f->entries, f->n, sizeof *f->entries, by_begin);
    uint64_t expect = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct cg_st_entry *e = &f->entries[i];
        if (e->begin != expect)
            return cg_fail(CG_ERR_FORMAT, "%s: tensor " NAME_FMT " starts at data offset %llu, "
                           "but the previous tensor ends at %llu (%s)", f->path, e->name,
                           (unsigned long long)e->begin, (unsigned long long)expect,
                           e->begin < expect ? "overlap" : "gap");
        expect = e->end;
    }
    if (expect != data_size)
        return cg_fail(CG_ERR_CORRUPT, "%s: the data section is %llu bytes but the tensors' "
                       "offsets cover %llu (file %s)", f->path, (unsigned long long)data_size,
                       (unsigned long long)expect, data_size < expect ? "truncated" :
                       "has extra bytes");
    qsort(f->entries, f->n, sizeof *f->entries, by_name);
    return CG_OK;
}

static enum cg_status parse_header(struct cg_st_file *f, const unsigned char *bytes, size_t size)
{
    if (size < 8)
        return cg_fail(CG_ERR_CORRUPT, "%s: %zu bytes, too short for the 8-byte header length "
                       "(not a safetensors file?)", f->path, size);
    uint64_t n = le64(bytes);
    if (n > CG_SAFETENSORS_MAX_HEADER)
        return cg_fail(CG_ERR_FORMAT, "%s: header length %llu is over the limit of %u bytes "
                       "(not a safetensors file?)", f->path, (unsigned long long)n,
                       CG_SAFETENSORS_MAX_HEADER);
    if (n > size - 8)
        return cg_fail(CG_ERR_CORRUPT, "%s: header length %llu runs past the end of the "
                       "%zu-byte file (truncated?)", f->path, (unsigned long long)n, size);
    const char *text = (const char *)bytes + 8;
    if (n == 0 || text[0] != '{')
        return cg_fail(CG_ERR_FORMAT, "%s: header does not start with '{' (not a safetensors "
                       "file?)", f->path);
    char err[160];
    enum cg_status st = cg_json_parse(&f->doc, text, (size_t)n, err, sizeof err);
    if (st == CG_ERR_NOMEM) return cg_fail(st, "%s: out of memory parsing the header", f->path);
    if (st != CG_OK) return cg_fail(st, "%s: header is not valid JSON: %s", f->path, err);
    const struct cg_json_node *root = &f->doc.nodes[0];
    if (root->type != CG_JSON_OBJECT)
        return cg_fail(CG_ERR_FORMAT, "%s: header is not a JSON object", f->path);
    f->entries = cg_calloc(root->count ? root->count : 1, sizeof *f->entries, "safetensors entries");
    if (!f->entries) return CG_ERR_NOMEM;
    for (const struct cg_json_node *k = cg_json_at(&f->doc, root->first); k;
         k = cg_json_at(&f->doc, k->next)) {
        const struct cg_json_node *v = cg_json_at(&f->doc, k->first);
        if (!strcmp(k->str, "__metadata__") && k->len == 12) {
            if ((st = check_metadata(f, v)) != CG_OK) return st;
            continue;
        }
        struct cg_st_entry *e = &f->entries[f->n++];
        e->name = k->str;
        e->name_len = k->len;
        if ((st = read_entry(f, v, e)) != CG_OK) return st;
    }
    f->data = bytes + 8 + n;
    return check_layout(f, size - 8 - n);
}

enum cg_status cg_st_parse(struct cg_st_file *f, const char *path, const unsigned char *bytes,
                           size_t size)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    enum cg_status st = parse_header(f, bytes, size);
    if (st != CG_OK) cg_st_free(f);
    else f->size = size;
    return st;
}

enum cg_status cg_st_read(struct cg_st_file *f, const char *path)
{
    unsigned char *bytes;
    size_t size;
    memset(f, 0, sizeof *f);
    enum cg_status st = cg_read_file(path, &bytes, &size);
    if (st != CG_OK) return st;
    if ((st = cg_st_parse(f, path, bytes, size)) != CG_OK) {
        cg_free(bytes);
        return st;
    }
    f->bytes = bytes;
    return CG_OK;
}

const struct cg_st_entry *cg_st_find(const struct cg_st_file *f, const char *name)
{
    struct cg_st_entry key = {.name = name, .name_len = strlen(name)};
    return bsearch(&key, f->entries, f->n, sizeof *f->entries, by_name);
}

int cg_st_decode(const struct cg_st_file *f, const struct cg_st_entry *e, enum cg_dtype dtype,
                 void *dst)
{
    int is64 = !strcmp(e->dtype, "F64");
    if (!is64 && strcmp(e->dtype, "F32")) return -1;
    const unsigned char *p = f->data + e->begin;
    size_t n = (size_t)((e->end - e->begin) / e->elem_size);
    for (size_t i = 0; i < n; i++, p += e->elem_size) {
        double v;
        if (is64) {
            uint64_t bits = le64(p);
            memcpy(&v, &bits, 8);
        } else {
            uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                            (uint32_t)p[3] << 24;
            float x;
            memcpy(&x, &bits, 4);
            v = x;
        }
        if (dtype == CG_F64) ((double *)dst)[i] = v;
        else ((float *)dst)[i] = (float)v;
    }
    return 0;
}
