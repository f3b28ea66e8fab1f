/* safetensors writer: JSON header (padded with spaces to a multiple of 8,
 * as the reference writer does), then the data, little-endian. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "file_io.h"
#include "safetensors_internal.h"

struct text {
    char *s;
    size_t len, cap;
    int nomem;
};

static void put(struct text *t, const char *s, size_t n)
{
    if (t->nomem) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *p = cg_realloc(t->s, cap, "safetensors header");
        if (!p) {
            t->nomem = 1;
            return;
        }
        t->s = p;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
}

static void puts_(struct text *t, const char *s) { put(t, s, strlen(s)); }

/* A JSON string: quotes, backslashes and control characters escaped. */
static void put_string(struct text *t, const char *s)
{
    put(t, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            put(t, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(t, esc, 6);
        } else {
            put(t, s, 1);
        }
    }
    put(t, "\"", 1);
}

static void put_u64(struct text *t, unsigned long long v)
{
    char buf[24];
    put(t, buf, (size_t)snprintf(buf, sizeof buf, "%llu", v));
}

static int bad_args(size_t n, const char *const *names, const struct cg_tensor *const *tensors,
                    const char *const *metadata)
{
    const char *fn = "cg_safetensors_save_tensors";
    if (n && (!names || !tensors)) {
        cg_misuse(fn, "names or tensors is NULL with n = %zu", n);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !names[i][0] || !strcmp(names[i], "__metadata__") || !tensors[i]) {
            cg_misuse(fn, "tensor %zu: %s (hint: every tensor needs a non-empty name other than "
                      "__metadata__)", i, !tensors[i] ? "tensor is NULL" : "bad name");
            return 1;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(names[i], names[j])) {
                cg_misuse(fn, "name '%s' given twice (tensors %zu and %zu)", names[i], j, i);
                return 1;
            }
    }
    for (size_t i = 0; metadata && metadata[i]; i += 2)
        if (!metadata[i + 1]) {
            cg_misuse(fn, "metadata key '%s' has no value (hint: the list is key, value, ..., "
                      "NULL)", metadata[i]);
            return 1;
        }
    return 0;
}

static void build_header(struct text *h, size_t n, const char *const *names,
                         const struct cg_tensor *const *tensors, const char *const *metadata)
{
    puts_(h, "{");
    int first = 1;
    if (metadata && metadata[0]) {
        puts_(h, "\"__metadata__\":{");
        for (size_t i = 0; metadata[i]; i += 2) {
            if (i) puts_(h, ",");
            put_string(h, metadata[i]);
            puts_(h, ":");
            put_string(h, metadata[i + 1]);
        }
        puts_(h, "}");
        first = 0;
    }
    unsigned long long offset = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cg_tensor *t = tensors[i];
        if (!first) puts_(h, ",");
        first = 0;
        put_string(h, names[i]);
        puts_(h, t->dtype == CG_F64 ? ":{\"dtype\":\"F64\",\"shape\":[" : ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) puts_(h, ",");
            put_u64(h, (unsigned long long)t->shape[d]);
        }
        puts_(h, "],\"data_offsets\":[");
        put_u64(h, offset);
        puts_(h, ",");
        offset += (unsigned long long)t->numel * cg_dtype_size(t->dtype);
        put_u64(h, offset);
        puts_(h, "]}");
    }
    puts_(h, "}");
    while (h->len % 8) puts_(h, " ");
}

enum cg_status cg_safetensors_save_tensors(const char *path, size_t n, const char *const *names,
                                           const struct cg_tensor *const *tensors,
                                           const char *const *metadata)
{
    if (!path) {
        cg_misuse("cg_safetensors_save_tensors", "path is NULL (hint: pass a file name)");
        return CG_ERR_INVALID;
    }
    if (bad_args(n, names, tensors, metadata)) return CG_ERR_INVALID;
    struct text h = {0};
    build_header(&h, n, names, tensors, metadata);
    if (h.nomem) {
        cg_free(h.s);
        return CG_ERR_NOMEM;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    struct cg_atomic_file a;
    enum cg_status st = cg_atomic_open(&a, path, 1);
    if (st == CG_OK) {
        cg_atomic_write(&a, len8, 8);
        cg_atomic_write(&a, h.s, h.len);
        for (size_t i = 0; i < n; i++)
            cg_atomic_write_le(&a, tensors[i]->data, (size_t)tensors[i]->numel,
                               cg_dtype_size(tensors[i]->dtype));
        st = cg_atomic_commit(&a);
    }
    cg_free(h.s);
    return st;
}

/* ---- a module's state ---- */

struct state {
    char **names;
    const struct cg_tensor **tensors;
    size_t n, cap;
    int nomem;
};

static void collect(const char *name, struct cg_tensor *t, void *user)
{
    struct state *s = user;
    if (s->nomem) return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **nm = cg_realloc(s->names, cap * sizeof *nm, "safetensors names");
        if (nm) s->names = nm;
        const struct cg_tensor **ts = nm ? cg_realloc(s->tensors, cap * sizeof *ts, "safetensors tensors") : NULL;
        if (ts) s->tensors = ts;
        if (!nm || !ts) {
            s->nomem = 1;
            return;
        }
        s->cap = cap;
    }
    size_t len = strlen(name) + 1;
    if (!(s->names[s->n] = cg_malloc(len, "safetensors name"))) {
        s->nomem = 1;
        return;
    }
    memcpy(s->names[s->n], name, len);
    s->tensors[s->n++] = t;
}

enum cg_status cg_safetensors_save(const char *path, struct cg_module *model,
                                   const char *const *metadata)
{
    if (!path || !model) {
        cg_misuse("cg_safetensors_save", "%s is NULL (hint: pass a file name and a model)",
                  !path ? "path" : "model");
        return CG_ERR_INVALID;
    }
    struct state s = {0};
    cg_module_visit_params(model, collect, &s);
    cg_module_visit_buffers(model, collect, &s);
    enum cg_status st = s.nomem ? CG_ERR_NOMEM
                                : cg_safetensors_save_tensors(path, s.n, (const char *const *)s.names,
                                                              s.tensors, metadata);
    for (size_t i = 0; i < s.n; i++) cg_free(s.names[i]);
    cg_free(s.names);
    cg_free(s.tensors);
    return st;
}
