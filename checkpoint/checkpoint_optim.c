/* Optimizer state in checkpoints: one record (kind 2) per item that
 * cg_optimizer_visit_state yields, named like the item.  Nothing here knows
 * a particular optimizer: a new one is checkpointed through its visitor. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "checkpoint_internal.h"
#include "error_internal.h"

static enum cg_ckpt_dtype item_dtype(const struct cg_state_item *it)
{
    switch (it->type) {
    case CG_STATE_TENSOR: return cg_ckpt_tensor_dtype(it->tensor->dtype);
    case CG_STATE_U64: return CG_CKPT_U64;
    case CG_STATE_F64: return CG_CKPT_F64;
    default: return CG_CKPT_BYTES;
    }
}

/* A tensor item is saved once it exists (PyTorch creates such state lazily). */
static bool item_saved(const struct cg_state_item *it)
{
    if (it->type == CG_STATE_TENSOR && !it->tensor) return false;
    return !it->present || *it->present;
}

static const char *type_name(enum cg_state_type t)
{
    switch (t) {
    case CG_STATE_TENSOR: return "a tensor";
    case CG_STATE_U64: return "u64";
    case CG_STATE_F64: return "f64";
    default: return "text";
    }
}

/* ------------------------------------------------------------------ save */

struct count_ctx {
    uint64_t n;
    size_t longest;
};

static void count_item(const struct cg_state_item *it, void *user)
{
    struct count_ctx *c = user;
    if (!item_saved(it)) return;
    size_t len = strlen(it->name);
    c->n++;
    if (len > c->longest) c->longest = len;
}

uint64_t cg_ckpt_optim_count(struct cg_optimizer *opt, size_t *longest)
{
    struct count_ctx c = {0, *longest};
    cg_optimizer_visit_state(opt, count_item, &c);
    *longest = c.longest;
    return c.n;
}

static void write_item(const struct cg_state_item *it, void *user)
{
    struct cg_ckpt_writer *w = user;
    if (!item_saved(it)) return;
    if (it->type == CG_STATE_TENSOR) {
        const struct cg_tensor *t = it->tensor;
        cg_ckpt_write_record(w, CG_CKPT_OPTIM, "", it->name, item_dtype(it), t->ndim, t->shape,
                             t->data);
    } else {
        int64_t count = (int64_t)it->count;
        cg_ckpt_write_record(w, CG_CKPT_OPTIM, "", it->name, item_dtype(it), 1, &count,
                             it->values);
    }
}

void cg_ckpt_optim_write(struct cg_ckpt_writer *w, struct cg_optimizer *opt)
{
    cg_optimizer_visit_state(opt, write_item, w);
}

/* ------------------------------------------------------------------ load */

struct check_ctx {
    struct cg_ckpt_file *f;
    const char *type;
    enum cg_status st;
};

/* "0.5" / "[0.5, 2]" / "'SGD'" of `count` values of type t at v. */
static const char *values_str(enum cg_state_type t, const void *v, size_t count, char *buf,
                              size_t size)
{
    if (t == CG_STATE_TEXT) {
        snprintf(buf, size, "'%.*s'", (int)(count < 200 ? count : 200), (const char *)v);
        return buf;
    }
    size_t n = (size_t)snprintf(buf, size, count == 1 ? "" : "[");
    for (size_t i = 0; i < count && n + 30 < size; i++) {
        const char *sep = i ? ", " : "";
        if (t == CG_STATE_U64)
            n += (size_t)snprintf(buf + n, size - n, "%s%" PRIu64, sep, ((const uint64_t *)v)[i]);
        else n += (size_t)snprintf(buf + n, size - n, "%s%.17g", sep, ((const double *)v)[i]);
    }
    if (count != 1 && n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

static bool same_values(const struct cg_state_item *it, const void *file)
{
    if (it->type != CG_STATE_F64)
        return memcmp(it->values, file, it->count * (it->type == CG_STATE_TEXT ? 1 : 8)) == 0;
    const double *a = it->values, *b = file;
    for (size_t i = 0; i < it->count; i++)
        if (a[i] != b[i] && !(isnan(a[i]) && isnan(b[i]))) return false;
    return true;
}

/* A config item: the record's values must be the item's (a different count
 * -- another text, another number of groups -- is a different value). */
static enum cg_status check_config(struct check_ctx *c, const struct cg_state_item *it,
                                   const struct cg_ckpt_record *r)
{
    unsigned char small[256];
    size_t bytes = (size_t)r->numel * cg_ckpt_dtype_size(r->dtype);
    unsigned char *file = bytes <= sizeof small ? small : cg_malloc(bytes, "checkpoint config");
    if (!file) return CG_ERR_NOMEM;
    cg_ckpt_decode(r, file);
    enum cg_status st = CG_OK;
    if (r->numel != it->count || !same_values(it, file)) {
        char nm[300], a[300], b[300];
        st = cg_fail(CG_ERR_MISMATCH, "%s: record '%s': %s in the file, %s in the %s optimizer "
                     "(hint: create the optimizer with the settings it was saved with)",
                     c->f->path, cg_ckpt_record_name(r, nm, sizeof nm),
                     values_str(it->type, file, (size_t)r->numel, a, sizeof a),
                     values_str(it->type, it->values, it->count, b, sizeof b), c->type);
    }
    if (file != small) cg_free(file);
    return st;
}

/* A bounded item: every value in the file must lie in [min, max]. */
static enum cg_status check_bounds(struct check_ctx *c, const struct cg_state_item *it,
                                   const struct cg_ckpt_record *r)
{
    unsigned char small[256];
    size_t bytes = (size_t)r->numel * 8;
    unsigned char *file = bytes <= sizeof small ? small : cg_malloc(bytes, "checkpoint values");
    if (!file) return CG_ERR_NOMEM;
    cg_ckpt_decode(r, file);
    enum cg_status st = CG_OK;
    for (uint64_t i = 0; i < r->numel && st == CG_OK; i++) {
        double v = it->type == CG_STATE_U64 ? (double)((const uint64_t *)(const void *)file)[i]
                                            : ((const double *)(const void *)file)[i];
        if (!(v >= it->min && v <= it->max)) {
            char nm[300];
            st = cg_fail(CG_ERR_FORMAT, "%s: record '%s': value %.17g is out of range [%g, %g]",
                         c->f->path, cg_ckpt_record_name(r, nm, sizeof nm), v, it->min,
                         it->max);
        }
    }
    if (file != small) cg_free(file);
    return st;
}

/* A config setting added later whose record the file lacks: the file
 * predates it and had it off (0). */
static enum cg_status check_absent_off(struct check_ctx *c, const struct cg_state_item *it)
{
    bool off = it->type == CG_STATE_U64 || it->type == CG_STATE_F64;
    for (size_t i = 0; off && i < it->count; i++)
        off = it->type == CG_STATE_U64 ? ((const uint64_t *)it->values)[i] == 0
                                       : ((const double *)it->values)[i] == 0;
    if (off) return CG_OK;
    char v[300];
    const char *hint = it->absent_hint ? it->absent_hint
                                       : "create the optimizer with it off to resume the file";
    return cg_fail(CG_ERR_MISMATCH, "%s: the file has no '%s' record: it was written before %s "
                   "(off), while the %s optimizer's item is %s (hint: %s)", c->f->path, it->name,
                   it->absent_off, c->type,
                   values_str(it->type, it->values, it->count, v, sizeof v), hint);
}

static void check_item(const struct cg_state_item *it, void *user)
{
    struct check_ctx *c = user;
    if (c->st != CG_OK) return;
    struct cg_ckpt_record *r = cg_ckpt_find(c->f, CG_CKPT_OPTIM, "", it->name);
    if (!r) {
        if (it->present) return; /* starts fresh */
        if (it->config && it->absent_off) {
            c->st = check_absent_off(c, it);
            return;
        }
        bool sched = strncmp(it->name, "schedule.", 9) == 0;
        c->st = cg_fail(CG_ERR_MISMATCH, "%s: the %s optimizer's item '%s' has no record in the "
                        "file%s", c->f->path, c->type, it->name,
                        sched ? " (hint: the optimizer has a learning-rate schedule the file "
                                "does not have; create the schedule it was saved with, or none)"
                              : " (saved from a different optimizer?)");
        return;
    }
    char nm[300], a[200];
    if (r->used) {
        c->st = cg_fail(CG_ERR_INVALID, "%s: the %s optimizer yields two state items named '%s'",
                        c->f->path, c->type, it->name);
        return;
    }
    if (it->type == CG_STATE_TENSOR && !it->tensor) {
        c->st = cg_fail(CG_ERR_INVALID, "%s: the %s optimizer's tensor item '%s' has no tensor",
                        c->f->path, c->type, it->name);
        return;
    }
    if (it->type == CG_STATE_TENSOR) {
        if ((c->st = cg_ckpt_fits(c->f, r, it->tensor, "the optimizer")) != CG_OK) return;
    } else if (r->dtype != item_dtype(it) || r->ndim != 1 ||
               (!it->config && r->numel != it->count)) {
        c->st = cg_fail(CG_ERR_MISMATCH, "%s: record '%s' is %s in the file; the %s optimizer's "
                        "item is [%zu] %s", c->f->path, cg_ckpt_record_name(r, nm, sizeof nm),
                        cg_ckpt_shape_str(r, a, sizeof a, true), c->type, it->count,
                        type_name(it->type));
        return;
    } else if (it->config && (c->st = check_config(c, it, r)) != CG_OK) {
        return;
    } else if (!it->config && it->bounded && (c->st = check_bounds(c, it, r)) != CG_OK) {
        return;
    }
    r->used = true;
}

/* The optimizer's type against the file's "type" record, first, so a file
 * of another optimizer says so instead of naming a missing item. */
static enum cg_status check_type(struct cg_ckpt_file *f, const char *type)
{
    bool any = false;
    for (uint32_t i = 0; i < f->n; i++) any |= f->recs[i].kind == CG_CKPT_OPTIM;
    if (!any)
        return cg_fail(CG_ERR_MISMATCH, "%s: the file holds no optimizer state (saved without "
                       "an optimizer?); pass opt NULL to load only the model", f->path);
    const struct cg_ckpt_record *r = cg_ckpt_find(f, CG_CKPT_OPTIM, "", "type");
    if (!r || r->dtype != CG_CKPT_BYTES) return CG_OK; /* the item check reports it */
    if (r->numel == strlen(type) && memcmp(r->payload, type, r->numel) == 0) return CG_OK;
    char nm[300];
    return cg_fail(CG_ERR_MISMATCH, "%s: record '%s': the file holds the state of a '%.*s' "
                   "optimizer, not of a '%s' one (hint: create the optimizer it was saved with, "
                   "or pass opt NULL to load only the model)", f->path,
                   cg_ckpt_record_name(r, nm, sizeof nm), (int)(r->numel < 100 ? r->numel : 100),
                   (const char *)r->payload, type);
}

enum cg_status cg_ckpt_optim_check(struct cg_ckpt_file *f, struct cg_optimizer *opt)
{
    struct check_ctx c = {f, cg_optimizer_type(opt), CG_OK};
    if ((c.st = check_type(f, c.type)) != CG_OK) return c.st;
    cg_optimizer_visit_state(opt, check_item, &c);
    if (c.st != CG_OK) return c.st;
    char nm[300];
    for (uint32_t i = 0; i < f->n; i++) {
        const struct cg_ckpt_record *r = &f->recs[i];
        if (r->kind != CG_CKPT_OPTIM || r->used) continue;
        bool sched = r->name_len > 9 && memcmp(r->name, "schedule.", 9) == 0;
        return cg_fail(CG_ERR_MISMATCH, "%s: record '%s' is optimizer state this %s optimizer "
                       "does not have (its parameters: %zu)%s", f->path,
                       cg_ckpt_record_name(r, nm, sizeof nm), c.type,
                       cg_optimizer_param_count(opt),
                       sched ? " (hint: create the learning-rate schedule it was saved with "
                               "before loading)" : "");
    }
    return CG_OK;
}

static void apply_item(const struct cg_state_item *it, void *user)
{
    struct cg_ckpt_file *f = user;
    if (it->config) return;
    const struct cg_ckpt_record *r = cg_ckpt_find(f, CG_CKPT_OPTIM, "", it->name);
    if (r) cg_ckpt_decode(r, it->type == CG_STATE_TENSOR ? it->tensor->data : it->values);
    else if (it->type == CG_STATE_TENSOR && it->tensor) cg_tensor_fill(it->tensor, 0);
    if (it->present) *it->present = r != NULL;
}

void cg_ckpt_optim_apply(struct cg_ckpt_file *f, struct cg_optimizer *opt)
{
    cg_optimizer_visit_state(opt, apply_item, f);
}
