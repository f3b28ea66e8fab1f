/* cg_checkpoint_load: the whole file is checked against the model's
 * parameters and buffers and the optimizer's state items first, and only
 * then copied, so a failed load changes nothing. */
#include <inttypes.h>
#include <string.h>

#include "alloc.h"
#include "checkpoint_internal.h"
#include "error_internal.h"

struct match {
    struct cg_tensor *t;
    const struct cg_ckpt_record *r;
};

struct load_ctx {
    struct cg_ckpt_file *f;
    enum cg_ckpt_kind kind; /* parameters or buffers */
    struct match *m;
    size_t n, cap;
    enum cg_status st;
};

static void shape_only(const struct cg_tensor *t, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ",%" PRId64 : "%" PRId64, t->shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

enum cg_status cg_ckpt_fits(const struct cg_ckpt_file *f, const struct cg_ckpt_record *r,
                            const struct cg_tensor *t, const char *where)
{
    char nm[300], a[200], b[200];
    int64_t shape[CG_MAX_DIMS];
    cg_ckpt_shape(r, shape);
    bool same = r->ndim == t->ndim;
    for (int i = 0; same && i < t->ndim; i++) same = shape[i] == t->shape[i];
    if (!same) {
        shape_only(t, b, sizeof b);
        return cg_fail(CG_ERR_MISMATCH, "%s: record '%s': shape %s in file, %s in %s", f->path,
                       cg_ckpt_record_name(r, nm, sizeof nm),
                       cg_ckpt_shape_str(r, a, sizeof a, false), b, where);
    }
    if (r->dtype != cg_ckpt_tensor_dtype(t->dtype))
        return cg_fail(CG_ERR_MISMATCH, "%s: record '%s': dtype %s in file, %s in %s (hint: "
                       "convert with cg_module_to_dtype before loading)", f->path,
                       cg_ckpt_record_name(r, nm, sizeof nm), cg_ckpt_dtype_name(r->dtype),
                       cg_dtype_name(t->dtype), where);
    return CG_OK;
}

static void count_only(const char *name, struct cg_tensor *p, void *user)
{
    (void)name;
    (void)p;
    ((struct load_ctx *)user)->cap++;
}

static const char *what(enum cg_ckpt_kind kind)
{
    return kind == CG_CKPT_PARAM ? "parameter" : "buffer";
}

static void match_tensor(const char *name, struct cg_tensor *p, void *user)
{
    struct load_ctx *c = user;
    if (c->st != CG_OK) return;
    if (c->n == c->cap) {
        c->st = cg_fail(CG_ERR_INVALID, "%s: the model's %ss changed while loading", c->f->path,
                        what(c->kind));
        return;
    }
    struct cg_ckpt_record *r = cg_ckpt_find(c->f, c->kind, "", name);
    char shp[200];
    if (!r) {
        c->st = cg_fail(CG_ERR_MISMATCH, "%s: %s '%s' %s of the model has no record in the "
                        "file (saved from a different model?)", c->f->path, what(c->kind), name,
                        cg_tensor_shape_str(p, shp, sizeof shp));
        return;
    }
    if (r->used) {
        c->st = cg_fail(CG_ERR_MISMATCH, "%s: the model has two %ss named '%s'", c->f->path,
                        what(c->kind), name);
        return;
    }
    if ((c->st = cg_ckpt_fits(c->f, r, p, "model")) != CG_OK) return;
    r->used = true;
    c->m[c->n++] = (struct match){p, r};
}

/* Every parameter (or buffer) of the model has its record and every such
 * record belongs to the model. */
static enum cg_status match_kind(struct load_ctx *c, struct cg_module *model,
                                 enum cg_ckpt_kind kind)
{
    size_t before = c->n;
    c->kind = kind;
    if (c->kind == CG_CKPT_PARAM) cg_module_visit_params(model, match_tensor, c);
    else cg_module_visit_buffers(model, match_tensor, c);
    if (c->st != CG_OK) return c->st;
    char nm[300];
    for (uint32_t i = 0; i < c->f->n; i++)
        if (c->f->recs[i].kind == c->kind && !c->f->recs[i].used)
            return cg_fail(CG_ERR_MISMATCH, "%s: record '%s' matches no %s of the model (the "
                           "model has %zu %ss)", c->f->path,
                           cg_ckpt_record_name(&c->f->recs[i], nm, sizeof nm), what(c->kind),
                           c->n - before, what(c->kind));
    return CG_OK;
}

static enum cg_status read_meta(struct cg_ckpt_file *f, struct cg_checkpoint_meta *meta)
{
    for (uint32_t i = 0; i < f->n; i++) {
        const struct cg_ckpt_record *r = &f->recs[i];
        if (r->kind != CG_CKPT_META) continue;
        bool blob = r->dtype == CG_CKPT_BYTES;
        uint64_t v = 0;
        if (!blob) cg_ckpt_decode(r, &v);
        enum cg_status st = cg_meta_put(meta, r->name, r->name_len, blob, v, r->payload,
                                        blob ? (size_t)r->numel : 0);
        if (st != CG_OK) return st;
    }
    return CG_OK;
}

/* Everything is checked: copy.  Nothing here can fail. */
static void apply(struct load_ctx *c, struct cg_ckpt_file *f, struct cg_optimizer *opt,
                  struct cg_checkpoint_meta *meta_out, struct cg_checkpoint_meta *meta)
{
    for (size_t i = 0; i < c->n; i++) cg_ckpt_decode(c->m[i].r, c->m[i].t->data);
    if (opt) cg_ckpt_optim_apply(f, opt);
    if (meta_out) {
        struct cg_checkpoint_meta old = *meta_out;
        *meta_out = *meta;
        *meta = old;
    }
}

enum cg_status cg_checkpoint_load(const char *path, struct cg_module *model,
                                  struct cg_optimizer *opt, struct cg_checkpoint_meta *meta_out)
{
    if (!path || (!model && !opt)) {
        cg_misuse("cg_checkpoint_load", "%s", !path ? "path is NULL"
                  : "model and opt are both NULL: give the model, the optimizer or both");
        return CG_ERR_INVALID;
    }
    struct cg_ckpt_file f;
    enum cg_status st = cg_ckpt_read(&f, path);
    if (st != CG_OK) return st;
    struct load_ctx c = {.f = &f};
    struct cg_checkpoint_meta *meta = NULL;
    cg_module_visit_params(model, count_only, &c);
    cg_module_visit_buffers(model, count_only, &c);
    c.m = cg_calloc(c.cap, sizeof *c.m, "checkpoint tensor matches");
    if (meta_out) meta = cg_checkpoint_meta_new();
    if (!c.m || (meta_out && !meta)) {
        st = CG_ERR_NOMEM;
        goto done;
    }
    /* Before any match: translating replaces the record index. */
    if (opt && f.version == 1 &&
        (st = cg_ckpt_v1_translate(&f, cg_optimizer_param_count(opt))) != CG_OK)
        goto done;
    /* model NULL: only the optimizer is restored; the file's tensors are ignored */
    if (model && ((st = match_kind(&c, model, CG_CKPT_PARAM)) != CG_OK ||
                  (st = match_kind(&c, model, CG_CKPT_BUFFER)) != CG_OK))
        goto done;
    if (opt && (st = cg_ckpt_optim_check(&f, opt)) != CG_OK) goto done;
    if (meta && (st = read_meta(&f, meta)) != CG_OK) goto done;
    apply(&c, &f, opt, meta_out, meta);
done:
    cg_checkpoint_meta_free(meta);
    cg_free(c.m);
    cg_ckpt_file_free(&f);
    return st;
}
