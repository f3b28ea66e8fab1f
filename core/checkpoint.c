/* Checkpoint save/load of a model, its optimizer and user metadata.
 * Loading checks the whole file against the model first and only then
 * copies, so a failed load changes nothing. */
#include <inttypes.h>
#include <string.h>

#include "alloc.h"
#include "checkpoint_internal.h"
#include "error_internal.h"
#include "optim/optim_internal.h"

#define BUF_PREFIX "sgd.momentum_buffer."

/* Version-1 schedule codes. */
static int sched_kind(const struct cg_lr_schedule *s)
{
    return strcmp(s->vtable->type_name, "StepLR") == 0 ? 1 : 2;
}

static enum cg_ckpt_dtype disk_dtype(enum cg_dtype d) { return d == CG_F64 ? CG_CKPT_F64 : CG_CKPT_F32; }

/* ------------------------------------------------------------------ save */

struct save_ctx {
    struct cg_ckpt_writer *w;
    uint64_t count;
    size_t longest;
};

static void count_param(const char *name, struct cg_tensor *p, void *user)
{
    (void)p;
    struct save_ctx *c = user;
    size_t len = strlen(name);
    c->count++;
    if (len > c->longest) c->longest = len;
}

static void write_param(const char *name, struct cg_tensor *p, void *user)
{
    struct save_ctx *c = user;
    cg_ckpt_write_record(c->w, CG_CKPT_PARAM, "", name, disk_dtype(p->dtype), p->ndim, p->shape,
                         p->data);
}

static void write_optim(struct cg_ckpt_writer *w, const struct cg_sgd *opt)
{
    const double o[6] = {opt->base.groups[0].lr, opt->momentum, opt->dampening, opt->base.groups[0].weight_decay,
                         opt->nesterov ? 1 : 0, opt->maximize ? 1 : 0};
    cg_ckpt_write_record(w, CG_CKPT_OPTIM, "", "sgd.options", CG_CKPT_F64, CG_SHAPE(6), o);
    cg_ckpt_write_record(w, CG_CKPT_OPTIM, "", "sgd.step", CG_CKPT_U64, 0, NULL, &opt->base.steps);
    for (size_t i = 0; i < opt->base.n_params; i++) {
        const struct cg_tensor *buf = opt->bufs[i];
        if (opt->started[i])
            cg_ckpt_write_record(w, CG_CKPT_OPTIM, BUF_PREFIX, opt->base.params[i].name,
                                 disk_dtype(buf->dtype), buf->ndim, buf->shape, buf->data);
    }
    const struct cg_lr_schedule *sch = opt->base.schedule;
    if (sch) {
        const double cfg[4] = {(double)sched_kind(sch), sch->base_lrs[0], (double)sch->period, sch->param};
        uint64_t epoch = (uint64_t)sch->epoch;
        cg_ckpt_write_record(w, CG_CKPT_OPTIM, "", "lr_schedule.config", CG_CKPT_F64,
                             CG_SHAPE(4), cfg);
        cg_ckpt_write_record(w, CG_CKPT_OPTIM, "", "lr_schedule.epoch", CG_CKPT_U64, 0, NULL,
                             &epoch);
    }
}

static uint64_t optim_records(const struct cg_sgd *opt, size_t *longest)
{
    uint64_t n = 2 + (opt->base.schedule ? 2 : 0);
    for (size_t i = 0; i < opt->base.n_params; i++) {
        n += opt->started[i];
        size_t len = strlen(opt->base.params[i].name) + strlen(BUF_PREFIX);
        if (len > *longest) *longest = len;
    }
    return n;
}

enum cg_status cg_checkpoint_save(const char *path, struct cg_module *model,
                                  struct cg_optimizer *optimizer,
                                  const struct cg_checkpoint_meta *meta)
{
    const struct cg_sgd *opt = cg_sgd_cast(optimizer);
    if (optimizer && !opt)
        return cg_fail(CG_ERR_INVALID, "%s: cannot save a %s optimizer yet", path,
                       cg_optimizer_type(optimizer));
    if (!path || !model) {
        cg_misuse("cg_checkpoint_save", "%s is NULL", !path ? "path" : "model");
        return CG_ERR_INVALID;
    }
    struct save_ctx c = {0};
    cg_module_visit_params(model, count_param, &c);
    if (opt) c.count += optim_records(opt, &c.longest);
    if (meta) c.count += meta->n;
    if (c.longest > CG_CKPT_NAME_MAX || c.count > UINT32_MAX)
        return cg_fail(CG_ERR_INVALID, "%s: cannot save %" PRIu64 " records with names up to "
                       "%zu bytes (limits: 4294967295 records, %d-byte names)", path, c.count,
                       c.longest, CG_CKPT_NAME_MAX);
    /* The writer's staging buffer is large; keep it off the stack. */
    struct cg_ckpt_writer *w = cg_malloc(sizeof *w, "checkpoint writer");
    if (!w) return CG_ERR_NOMEM;
    enum cg_status st = cg_ckpt_writer_open(w, path, (uint32_t)c.count);
    if (st == CG_OK) {
        c.w = w;
        cg_module_visit_params(model, write_param, &c);
        if (opt) write_optim(w, opt);
        for (size_t i = 0; meta && i < meta->n; i++) {
            const struct cg_meta_entry *e = &meta->entries[i];
            if (e->is_blob) {
                int64_t size = (int64_t)e->size;
                cg_ckpt_write_record(w, CG_CKPT_META, "", e->name, CG_CKPT_BYTES, 1, &size,
                                     e->data);
            } else {
                cg_ckpt_write_record(w, CG_CKPT_META, "", e->name, CG_CKPT_U64, 0, NULL,
                                     &e->value);
            }
        }
        st = cg_ckpt_writer_commit(w);
    }
    cg_free(w);
    return st;
}

/* ------------------------------------------------------------------ load */

struct match {
    struct cg_tensor *t;
    const struct cg_ckpt_record *r;
};

struct load_ctx {
    struct cg_ckpt_file *f;
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

/* Record r must hold a tensor like t ("model" or "optimizer" in messages). */
static enum cg_status fits(const struct cg_ckpt_file *f, const struct cg_ckpt_record *r,
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
    if (r->dtype != disk_dtype(t->dtype))
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

static void match_param(const char *name, struct cg_tensor *p, void *user)
{
    struct load_ctx *c = user;
    if (c->st != CG_OK) return;
    if (c->n == c->cap) {
        c->st = cg_fail(CG_ERR_INVALID, "%s: the model's parameters changed while loading",
                        c->f->path);
        return;
    }
    struct cg_ckpt_record *r = cg_ckpt_find(c->f, CG_CKPT_PARAM, "", name);
    char shp[200];
    if (!r) {
        c->st = cg_fail(CG_ERR_MISMATCH, "%s: parameter '%s' %s of the model has no record in "
                        "the file (saved from a different model?)", c->f->path, name,
                        cg_tensor_shape_str(p, shp, sizeof shp));
        return;
    }
    if (r->used) {
        c->st = cg_fail(CG_ERR_MISMATCH, "%s: the model has two parameters named '%s'",
                        c->f->path, name);
        return;
    }
    if ((c->st = fits(c->f, r, p, "model")) != CG_OK) return;
    r->used = true;
    c->m[c->n++] = (struct match){p, r};
}

/* What a successful load will write into the optimizer. */
struct opt_state {
    double lr;
    uint64_t steps;
    const struct cg_ckpt_record **bufs; /* per slot, NULL: start fresh */
    int64_t epoch;
};

static enum cg_status want(const struct cg_ckpt_file *f, const struct cg_ckpt_record *r,
                           const char *name, enum cg_ckpt_dtype dtype, int64_t n)
{
    if (!r) return cg_fail(CG_ERR_FORMAT, "%s: record '%s' is missing", f->path, name);
    bool ok = r->dtype == dtype && (n < 0 ? r->ndim == 0 : r->ndim == 1 && (int64_t)r->numel == n);
    if (ok) return CG_OK;
    char a[200], e[64];
    if (n < 0) snprintf(e, sizeof e, "a %s scalar", cg_ckpt_dtype_name(dtype));
    else snprintf(e, sizeof e, "[%" PRId64 "] %s", n, cg_ckpt_dtype_name(dtype));
    return cg_fail(CG_ERR_FORMAT, "%s: record '%s' is %s, expected %s", f->path, name,
                   cg_ckpt_shape_str(r, a, sizeof a, true), e);
}

static enum cg_status match_schedule(struct cg_ckpt_file *f, const struct cg_sgd *opt,
                                     struct opt_state *s)
{
    struct cg_ckpt_record *rc = cg_ckpt_find(f, CG_CKPT_OPTIM, "", "lr_schedule.config");
    struct cg_ckpt_record *re = cg_ckpt_find(f, CG_CKPT_OPTIM, "", "lr_schedule.epoch");
    const struct cg_lr_schedule *sch = opt->base.schedule;
    if (!rc && !re && !sch) return CG_OK;
    if (!sch)
        return cg_fail(CG_ERR_MISMATCH, "%s: the file has a learning-rate schedule but the "
                       "optimizer has none (hint: create the same schedule before loading)",
                       f->path);
    if (!rc && !re)
        return cg_fail(CG_ERR_MISMATCH, "%s: the optimizer has a learning-rate schedule but the "
                       "file has none", f->path);
    enum cg_status st = want(f, rc, "lr_schedule.config", CG_CKPT_F64, 4);
    if (st == CG_OK) st = want(f, re, "lr_schedule.epoch", CG_CKPT_U64, -1);
    if (st != CG_OK) return st;
    double cfg[4];
    uint64_t epoch;
    cg_ckpt_decode(rc, cfg);
    cg_ckpt_decode(re, &epoch);
    if (cfg[0] != (double)sched_kind(sch) || cfg[1] != sch->base_lrs[0] || cfg[2] != (double)sch->period ||
        cfg[3] != sch->param)
        return cg_fail(CG_ERR_MISMATCH, "%s: record 'lr_schedule.config': type %g, base_lr %.17g, "
                       "period %g, %s %.17g in file; the optimizer's schedule has type %d, "
                       "base_lr %.17g, period %" PRIu64 ", %s %.17g", f->path, cfg[0], cfg[1],
                       cfg[2], cfg[0] == 1 ? "gamma" : "eta_min", cfg[3], sched_kind(sch),
                       sch->base_lrs[0], sch->period, sched_kind(sch) == 1 ? "gamma" : "eta_min",
                       sch->param);
    if (epoch > (uint64_t)INT64_MAX)
        return cg_fail(CG_ERR_FORMAT, "%s: record 'lr_schedule.epoch': %" PRIu64 " is out of "
                       "range", f->path, epoch);
    rc->used = re->used = true;
    s->epoch = (int64_t)epoch;
    return CG_OK;
}

static enum cg_status match_optim(struct cg_ckpt_file *f, const struct cg_sgd *opt,
                                  struct opt_state *s)
{
    struct cg_ckpt_record *ro = cg_ckpt_find(f, CG_CKPT_OPTIM, "", "sgd.options");
    if (!ro)
        return cg_fail(CG_ERR_MISMATCH, "%s: the file holds no SGD state (saved without an "
                       "optimizer?); pass opt NULL to load only the parameters", f->path);
    struct cg_ckpt_record *rs = cg_ckpt_find(f, CG_CKPT_OPTIM, "", "sgd.step");
    enum cg_status st = want(f, ro, "sgd.options", CG_CKPT_F64, 6);
    if (st == CG_OK) st = want(f, rs, "sgd.step", CG_CKPT_U64, -1);
    if (st != CG_OK) return st;
    double o[6];
    cg_ckpt_decode(ro, o);
    cg_ckpt_decode(rs, &s->steps);
    static const char *const names[5] = {"momentum", "dampening", "weight_decay", "nesterov",
                                         "maximize"};
    const double mine[5] = {opt->momentum, opt->dampening, opt->base.groups[0].weight_decay,
                            opt->nesterov ? 1 : 0, opt->maximize ? 1 : 0};
    for (int k = 0; k < 5; k++)
        if (o[k + 1] != mine[k])
            return cg_fail(CG_ERR_MISMATCH, "%s: record 'sgd.options': %s %.17g in file, %.17g "
                           "in the optimizer (hint: create the optimizer with the options it "
                           "was saved with)", f->path, names[k], o[k + 1], mine[k]);
    if (!(o[0] >= 0))
        return cg_fail(CG_ERR_FORMAT, "%s: record 'sgd.options': invalid lr %g", f->path, o[0]);
    s->lr = o[0];
    ro->used = rs->used = true;
    for (size_t i = 0; i < opt->base.n_params; i++) {
        const char *slot_name = opt->base.params[i].name;
        struct cg_ckpt_record *r = cg_ckpt_find(f, CG_CKPT_OPTIM, BUF_PREFIX, slot_name);
        if (!r) continue;
        if (!opt->bufs[i])
            return cg_fail(CG_ERR_MISMATCH, "%s: record '" BUF_PREFIX "%s': the optimizer has "
                           "no momentum", f->path, slot_name);
        if ((st = fits(f, r, opt->bufs[i], "optimizer")) != CG_OK) return st;
        r->used = true;
        s->bufs[i] = r;
    }
    if ((st = match_schedule(f, opt, s)) != CG_OK) return st;
    char nm[300];
    for (uint32_t i = 0; i < f->n; i++)
        if (f->recs[i].kind == CG_CKPT_OPTIM && !f->recs[i].used)
            return cg_fail(CG_ERR_MISMATCH, "%s: record '%s' is optimizer state this optimizer "
                           "does not have (its parameters: %zu)", f->path,
                           cg_ckpt_record_name(&f->recs[i], nm, sizeof nm), opt->base.n_params);
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
static void apply(struct load_ctx *c, struct cg_sgd *opt, const struct opt_state *s,
                  struct cg_checkpoint_meta *meta_out, struct cg_checkpoint_meta *meta)
{
    for (size_t i = 0; i < c->n; i++) cg_ckpt_decode(c->m[i].r, c->m[i].t->data);
    if (opt) {
        opt->base.groups[0].lr = s->lr;
        opt->base.steps = s->steps;
        for (size_t i = 0; i < opt->base.n_params; i++) {
            if (s->bufs[i]) cg_ckpt_decode(s->bufs[i], opt->bufs[i]->data);
            else if (opt->bufs[i]) cg_tensor_fill(opt->bufs[i], 0);
            opt->started[i] = s->bufs[i] != NULL;
        }
        if (opt->base.schedule) opt->base.schedule->epoch = s->epoch;
    }
    if (meta_out) {
        struct cg_checkpoint_meta old = *meta_out;
        *meta_out = *meta;
        *meta = old;
    }
}

enum cg_status cg_checkpoint_load(const char *path, struct cg_module *model,
                                  struct cg_optimizer *optimizer,
                                  struct cg_checkpoint_meta *meta_out)
{
    struct cg_sgd *opt = cg_sgd_cast(optimizer);
    if (optimizer && !opt)
        return cg_fail(CG_ERR_INVALID, "%s: cannot load a %s optimizer yet", path,
                       cg_optimizer_type(optimizer));
    if (!path || !model) {
        cg_misuse("cg_checkpoint_load", "%s is NULL", !path ? "path" : "model");
        return CG_ERR_INVALID;
    }
    struct cg_ckpt_file f;
    enum cg_status st = cg_ckpt_read(&f, path);
    if (st != CG_OK) return st;
    struct load_ctx c = {.f = &f};
    struct opt_state s = {0};
    struct cg_checkpoint_meta *meta = NULL;
    cg_module_visit_params(model, count_only, &c);
    c.m = cg_calloc(c.cap, sizeof *c.m, "checkpoint parameter matches");
    if (opt) s.bufs = cg_calloc(opt->base.n_params, sizeof *s.bufs, "checkpoint buffer matches");
    if (meta_out) meta = cg_checkpoint_meta_new();
    if (!c.m || (opt && !s.bufs) || (meta_out && !meta)) {
        st = CG_ERR_NOMEM;
        goto done;
    }
    cg_module_visit_params(model, match_param, &c);
    if ((st = c.st) != CG_OK) goto done;
    char nm[300];
    for (uint32_t i = 0; i < f.n; i++)
        if (f.recs[i].kind == CG_CKPT_PARAM && !f.recs[i].used) {
            st = cg_fail(CG_ERR_MISMATCH, "%s: record '%s' matches no parameter of the model "
                         "(the model has %zu parameters)", path,
                         cg_ckpt_record_name(&f.recs[i], nm, sizeof nm), c.n);
            goto done;
        }
    if (opt && (st = match_optim(&f, opt, &s)) != CG_OK) goto done;
    if (meta && (st = read_meta(&f, meta)) != CG_OK) goto done;
    apply(&c, opt, &s, meta_out, meta);
done:
    cg_checkpoint_meta_free(meta);
    cg_free(s.bufs);
    cg_free(c.m);
    cg_ckpt_file_free(&f);
    return st;
}
