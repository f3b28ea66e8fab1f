/* Version-1 checkpoints (cgrad 0.1) stored SGD's state under names of their
 * own.  After parsing, their optimizer records are replaced in memory by the
 * version-2 records that an SGD optimizer with one parameter group yields,
 * so the loader has a single matching path:
 *
 *   "sgd.options" f64[6]          -> "type" = "SGD", "param_groups" = 0 for
 *                                    each parameter (u64 [n_params]),
 *     lr, momentum, dampening,       "group.0.lr", "momentum", "dampening",
 *     weight_decay, nesterov,        "group.0.weight_decay", "nesterov",
 *     maximize                       "maximize" (f64 [1] each)
 *   "sgd.step" u64                -> "step" u64 [1]
 *   "sgd.momentum_buffer.<name>"  -> "state.<name>.momentum_buffer"
 *   "lr_schedule.config" f64[4]   -> "schedule.type" ("StepLR" /
 *     type (1 StepLR, 2 cosine),     "CosineAnnealingLR"), "schedule.base_lrs",
 *     base_lr, step_size | t_max,    "schedule.step_size" + "schedule.gamma" or
 *     gamma | eta_min                "schedule.t_max" + "schedule.eta_min"
 *   "lr_schedule.epoch" u64       -> "schedule.epoch" u64 [1]
 *
 * Other records are kept as they are (an unknown optimizer record then
 * matches no item and the load fails naming it). */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "checkpoint_internal.h"
#include "error_internal.h"

#define V1_BUF_PREFIX "sgd.momentum_buffer."
/* Most records one version-1 record becomes ("sgd.options"). */
#define V1_MAX_OUT 8

struct v1_out {
    struct cg_ckpt_file *f;
    struct cg_ckpt_record *recs; /* the new index */
    uint32_t n;
    unsigned char *arena; /* names, shapes and small payloads */
    size_t used;
    const char *origin; /* NUL-terminated name of the record being translated */
    size_t n_params;
};

static unsigned char *take(struct v1_out *o, size_t n)
{
    unsigned char *p = o->arena + o->used;
    o->used += n;
    return p;
}

/* A new optimizer record named `name` that came from record `from`. */
static struct cg_ckpt_record *add(struct v1_out *o, const struct cg_ckpt_record *from,
                                  const char *prefix, const char *name, size_t name_len)
{
    size_t plen = strlen(prefix);
    char *nm = (char *)take(o, plen + name_len);
    memcpy(nm, prefix, plen);
    memcpy(nm + plen, name, name_len);
    struct cg_ckpt_record *r = &o->recs[o->n++];
    *r = (struct cg_ckpt_record){.name = nm, .name_len = (uint16_t)(plen + name_len),
                                 .kind = CG_CKPT_OPTIM, .index = from->index,
                                 .origin = o->origin};
    return r;
}

/* A one-dimensional record of `count` elements encoded from host values. */
static void add_values(struct v1_out *o, const struct cg_ckpt_record *from, const char *name,
                       enum cg_ckpt_dtype dtype, const void *values, size_t count)
{
    struct cg_ckpt_record *r = add(o, from, "", name, strlen(name));
    r->dtype = (uint8_t)dtype;
    r->ndim = 1;
    r->numel = count;
    unsigned char *shape = take(o, 8);
    cg_ckpt_put_le(shape, count, 8);
    r->shape = shape;
    size_t esize = cg_ckpt_dtype_size(dtype);
    unsigned char *payload = take(o, count * esize);
    for (size_t i = 0; i < count; i++) {
        uint64_t u = 0;
        if (dtype == CG_CKPT_BYTES) u = ((const unsigned char *)values)[i];
        else memcpy(&u, (const unsigned char *)values + 8 * i, 8);
        cg_ckpt_put_le(payload + esize * i, u, (int)esize);
    }
    r->payload = payload;
}

static void add_f64(struct v1_out *o, const struct cg_ckpt_record *from, const char *name,
                    double v)
{
    add_values(o, from, name, CG_CKPT_F64, &v, 1);
}

static void add_u64(struct v1_out *o, const struct cg_ckpt_record *from, const char *name,
                    uint64_t v)
{
    add_values(o, from, name, CG_CKPT_U64, &v, 1);
}

static void add_text(struct v1_out *o, const struct cg_ckpt_record *from, const char *name,
                     const char *text)
{
    add_values(o, from, name, CG_CKPT_BYTES, text, strlen(text));
}

/* Record r must be `n` f64 values (n > 0) or a u64 scalar (n == 0). */
static enum cg_status want(const struct cg_ckpt_file *f, const struct cg_ckpt_record *r,
                           enum cg_ckpt_dtype dtype, uint64_t n)
{
    bool ok = r->dtype == dtype && (n == 0 ? r->ndim == 0 : r->ndim == 1 && r->numel == n);
    if (ok) return CG_OK;
    char nm[300], a[200], e[64];
    if (n == 0) snprintf(e, sizeof e, "a %s scalar", cg_ckpt_dtype_name(dtype));
    else snprintf(e, sizeof e, "[%" PRIu64 "] %s", n, cg_ckpt_dtype_name(dtype));
    return cg_fail(CG_ERR_FORMAT, "%s: version-1 record '%s' is %s, expected %s", f->path,
                   cg_ckpt_record_name(r, nm, sizeof nm), cg_ckpt_shape_str(r, a, sizeof a, true),
                   e);
}

static bool named(const struct cg_ckpt_record *r, const char *name)
{
    return r->name_len == strlen(name) && memcmp(r->name, name, r->name_len) == 0;
}

static enum cg_status sgd_options(struct v1_out *o, const struct cg_ckpt_record *r)
{
    enum cg_status st = want(o->f, r, CG_CKPT_F64, 6);
    if (st != CG_OK) return st;
    double v[6];
    cg_ckpt_decode(r, v);
    for (int i = 4; i < 6; i++)
        if (v[i] != 0 && v[i] != 1)
            return cg_fail(CG_ERR_FORMAT, "%s: version-1 record 'sgd.options': %s is %.17g, "
                           "expected 0 or 1", o->f->path, i == 4 ? "nesterov" : "maximize",
                           v[i]);
    add_text(o, r, "type", "SGD");
    /* zeros: every parameter in group 0 */
    struct cg_ckpt_record *g = add(o, r, "", "param_groups", strlen("param_groups"));
    g->dtype = CG_CKPT_U64;
    g->ndim = 1;
    g->numel = o->n_params;
    unsigned char *shape = take(o, 8);
    cg_ckpt_put_le(shape, o->n_params, 8);
    g->shape = shape;
    g->payload = memset(take(o, 8 * o->n_params), 0, 8 * o->n_params);
    add_f64(o, r, "group.0.lr", v[0]);
    add_f64(o, r, "momentum", v[1]);
    add_f64(o, r, "dampening", v[2]);
    add_f64(o, r, "group.0.weight_decay", v[3]);
    add_f64(o, r, "nesterov", v[4]);
    add_f64(o, r, "maximize", v[5]);
    return CG_OK;
}

static enum cg_status schedule_config(struct v1_out *o, const struct cg_ckpt_record *r)
{
    enum cg_status st = want(o->f, r, CG_CKPT_F64, 4);
    if (st != CG_OK) return st;
    double v[4];
    cg_ckpt_decode(r, v);
    bool step = v[0] == 1;
    if ((!step && v[0] != 2) || !(v[2] >= 1 && v[2] <= 9007199254740992.0) ||
        v[2] != floor(v[2]))
        return cg_fail(CG_ERR_FORMAT, "%s: version-1 record 'lr_schedule.config': type %.17g "
                       "(expected 1 StepLR or 2 cosine) and period %.17g (expected an integer "
                       ">= 1) are not valid", o->f->path, v[0], v[2]);
    add_text(o, r, "schedule.type", step ? "StepLR" : "CosineAnnealingLR");
    add_f64(o, r, "schedule.base_lrs", v[1]);
    add_u64(o, r, step ? "schedule.step_size" : "schedule.t_max", (uint64_t)v[2]);
    add_f64(o, r, step ? "schedule.gamma" : "schedule.eta_min", v[3]);
    return CG_OK;
}

/* One version-1 optimizer record. */
static enum cg_status translate(struct v1_out *o, const struct cg_ckpt_record *r)
{
    size_t plen = strlen(V1_BUF_PREFIX);
    char *origin = (char *)take(o, (size_t)r->name_len + 1);
    memcpy(origin, r->name, r->name_len);
    origin[r->name_len] = '\0';
    o->origin = origin;
    if (named(r, "sgd.options")) return sgd_options(o, r);
    if (named(r, "lr_schedule.config")) return schedule_config(o, r);
    bool step = named(r, "sgd.step"), epoch = named(r, "lr_schedule.epoch");
    if (step || epoch) {
        enum cg_status st = want(o->f, r, CG_CKPT_U64, 0);
        if (st != CG_OK) return st;
        uint64_t v;
        cg_ckpt_decode(r, &v);
        add_u64(o, r, step ? "step" : "schedule.epoch", v);
        return CG_OK;
    }
    if (r->name_len > plen && memcmp(r->name, V1_BUF_PREFIX, plen) == 0) {
        const char *what = ".momentum_buffer";
        size_t len = r->name_len - plen;
        if (len + strlen("state.") + strlen(what) > CG_CKPT_NAME_MAX)
            return cg_fail(CG_ERR_FORMAT, "%s: version-1 record '" V1_BUF_PREFIX "%.*s...': "
                           "name too long", o->f->path, 40, r->name + plen);
        struct cg_ckpt_record *t = add(o, r, "state.", r->name + plen, len);
        /* the arena is used in order: these bytes extend the name just taken */
        memcpy(take(o, strlen(what)), what, strlen(what));
        t->name_len = (uint16_t)(t->name_len + strlen(what));
        t->dtype = r->dtype;
        t->ndim = r->ndim;
        t->numel = r->numel;
        t->shape = r->shape;
        t->payload = r->payload;
        return CG_OK;
    }
    o->recs[o->n++] = *r;
    return CG_OK;
}

enum cg_status cg_ckpt_v1_translate(struct cg_ckpt_file *f, size_t n_params)
{
    uint32_t n_opt = 0;
    size_t arena = 8 * n_params;
    for (uint32_t i = 0; i < f->n; i++)
        if (f->recs[i].kind == CG_CKPT_OPTIM) {
            n_opt++;
            /* the origin, then per output: name + ".momentum_buffer" + shape +
             * an 8-byte payload */
            arena += (V1_MAX_OUT + 1) * ((size_t)f->recs[i].name_len + 64);
        }
    if (n_opt == 0) return CG_OK;
    struct v1_out o = {.f = f, .n_params = n_params};
    size_t cap = (size_t)f->n - n_opt + (size_t)n_opt * V1_MAX_OUT;
    o.recs = cg_calloc(cap, sizeof *o.recs, "checkpoint version-1 records");
    f->extra = o.arena = cg_malloc(arena, "checkpoint version-1 translation");
    if (!o.recs || !o.arena) {
        cg_free(o.recs);
        return CG_ERR_NOMEM;
    }
    enum cg_status st = CG_OK;
    for (uint32_t i = 0; i < f->n && st == CG_OK; i++) {
        if (f->recs[i].kind == CG_CKPT_OPTIM) st = translate(&o, &f->recs[i]);
        else o.recs[o.n++] = f->recs[i];
    }
    cg_free(f->recs);
    f->recs = o.recs;
    f->n = o.n;
    return st == CG_OK ? cg_ckpt_sort(f) : st;
}
