/* cg_checkpoint_save: a model's parameters and buffers, an optimizer's
 * state items and user metadata, counted first and then written in one
 * pass through the atomic writer. */
#include <inttypes.h>
#include <string.h>

#include "alloc.h"
#include "checkpoint_internal.h"
#include "error_internal.h"

struct save_ctx {
    struct cg_ckpt_writer *w;
    enum cg_ckpt_kind kind;
    uint64_t count;
    size_t longest;
};

static void count_tensor(const char *name, struct cg_tensor *t, void *user)
{
    (void)t;
    struct save_ctx *c = user;
    size_t len = strlen(name);
    c->count++;
    if (len > c->longest) c->longest = len;
}

static void write_tensor(const char *name, struct cg_tensor *t, void *user)
{
    struct save_ctx *c = user;
    cg_ckpt_write_record(c->w, c->kind, "", name, cg_ckpt_tensor_dtype(t->dtype), t->ndim,
                         t->shape, t->data);
}

static void write_meta(struct cg_ckpt_writer *w, const struct cg_checkpoint_meta *meta)
{
    for (size_t i = 0; meta && i < meta->n; i++) {
        const struct cg_meta_entry *e = &meta->entries[i];
        if (e->is_blob) {
            int64_t size = (int64_t)e->size;
            cg_ckpt_write_record(w, CG_CKPT_META, "", e->name, CG_CKPT_BYTES, 1, &size, e->data);
        } else {
            cg_ckpt_write_record(w, CG_CKPT_META, "", e->name, CG_CKPT_U64, 0, NULL, &e->value);
        }
    }
}

enum cg_status cg_checkpoint_save(const char *path, struct cg_module *model,
                                  struct cg_optimizer *opt, const struct cg_checkpoint_meta *meta)
{
    if (!path || (!model && !opt)) {
        cg_misuse("cg_checkpoint_save", "%s", !path ? "path is NULL"
                  : "model and opt are both NULL: give the model, the optimizer or both");
        return CG_ERR_INVALID;
    }
    struct save_ctx c = {0};
    cg_module_visit_params(model, count_tensor, &c);
    cg_module_visit_buffers(model, count_tensor, &c);
    if (opt) c.count += cg_ckpt_optim_count(opt, &c.longest);
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
        c.kind = CG_CKPT_PARAM;
        cg_module_visit_params(model, write_tensor, &c);
        c.kind = CG_CKPT_BUFFER;
        cg_module_visit_buffers(model, write_tensor, &c);
        if (opt) cg_ckpt_optim_write(w, opt);
        write_meta(w, meta);
        st = cg_ckpt_writer_commit(w);
    }
    cg_free(w);
    return st;
}
