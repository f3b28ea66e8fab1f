/* Loading safetensors into a module (strict, like load_state_dict) and
 * reading single tensors.  Everything is matched before anything is
 * copied, so a failed load leaves the model as it was. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "safetensors_internal.h"

struct match {
    const struct cg_st_file *f;
    enum cg_status st; /* first failure */
    size_t matched;
    int copy; /* second pass: copy instead of check */
};

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t size)
{
    int n = snprintf(buf, size, "[");
    for (int d = 0; d < ndim && d < CG_MAX_DIMS && (size_t)n < size; d++)
        n += snprintf(buf + n, size - (size_t)n, "%s%lld", d ? "," : "", (long long)shape[d]);
    if ((size_t)n < size) snprintf(buf + n, size - (size_t)n, "%s]", ndim > CG_MAX_DIMS ? ",..." : "");
}

static enum cg_status fits(const struct cg_st_file *f, const struct cg_st_entry *e,
                           const struct cg_tensor *t)
{
    char want[128], got[128];
    shape_text(t->ndim, t->shape, want, sizeof want);
    shape_text(e->ndim, e->shape, got, sizeof got);
    int same = e->ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = e->shape[d] == t->shape[d];
    if (!same)
        return cg_fail(CG_ERR_MISMATCH, "%s: tensor '%s' has shape %s, the model's has %s "
                       "(hint: build the same architecture as the one that was saved)",
                       f->path, e->name, got, want);
    if (strcmp(e->dtype, "F32") && strcmp(e->dtype, "F64"))
        return cg_fail(CG_ERR_MISMATCH, "%s: tensor '%s' is %s; cgrad reads F32 and F64 (hint: "
                       "save it from PyTorch as float32, e.g. {k: v.float() for k, v in "
                       "state_dict.items()})", f->path, e->name, e->dtype);
    return CG_OK;
}

static void match_param(const char *name, struct cg_tensor *t, void *user)
{
    struct match *m = user;
    if (m->st != CG_OK) return;
    const struct cg_st_entry *e = cg_st_find(m->f, name);
    if (!e) {
        m->st = cg_fail(CG_ERR_MISMATCH, "%s: no tensor named '%s' (the model has it; the file "
                        "has %zu tensors; hint: names follow the PyTorch state_dict of the same "
                        "Sequential)", m->f->path, name, m->f->n);
        return;
    }
    if (m->copy) {
        cg_st_decode(m->f, e, t->dtype, t->data);
        return;
    }
    if ((m->st = fits(m->f, e, t)) == CG_OK) m->matched++;
}

/* The module's state: parameters, then buffers (like a state_dict). */
static void visit_state(struct cg_module *model, cg_param_visitor visit, void *user)
{
    cg_module_visit_params(model, visit, user);
    cg_module_visit_buffers(model, visit, user);
}

struct unexpected {
    const struct cg_st_entry *e;
    int found;
};

static void find_name(const char *name, struct cg_tensor *t, void *user)
{
    (void)t;
    struct unexpected *u = user;
    /* By length too: a file name may hold a NUL (JSON "\u0000"). */
    if (strlen(name) == u->e->name_len && !memcmp(name, u->e->name, u->e->name_len)) u->found = 1;
}

enum cg_status cg_safetensors_load(const char *path, struct cg_module *model)
{
    if (!path || !model) {
        cg_misuse("cg_safetensors_load", "%s is NULL (hint: pass a file name and a model)",
                  !path ? "path" : "model");
        return CG_ERR_INVALID;
    }
    struct cg_st_file f;
    enum cg_status st = cg_st_read(&f, path);
    if (st != CG_OK) return st;
    struct match m = {.f = &f, .st = CG_OK};
    visit_state(model, match_param, &m);
    if (m.st == CG_OK && m.matched != f.n) {
        /* Every model name was found, so some file tensor is not the model's. */
        for (size_t i = 0; i < f.n; i++) {
            struct unexpected u = {.e = &f.entries[i]};
            visit_state(model, find_name, &u);
            if (!u.found) {
                m.st = cg_fail(CG_ERR_MISMATCH, "%s: tensor '%s' is not a parameter or buffer "
                               "of the model (%zu in the file, %zu in the model; hint: build the same "
                               "architecture as the one that was saved)", path,
                               f.entries[i].name, f.n, m.matched);
                break;
            }
        }
    }
    if (m.st == CG_OK) {
        m.copy = 1;
        visit_state(model, match_param, &m);
    }
    cg_st_free(&f);
    return m.st;
}

enum cg_status cg_safetensors_read_tensor(const char *path, const char *name,
                                          struct cg_tensor **out)
{
    if (out) *out = NULL;
    if (!path || !name || !out) {
        cg_misuse("cg_safetensors_read_tensor", "%s is NULL (hint: pass a file name, a tensor "
                  "name and where to store the tensor)", !path ? "path" : !name ? "name" : "out");
        return CG_ERR_INVALID;
    }
    struct cg_st_file f;
    enum cg_status st = cg_st_read(&f, path);
    if (st != CG_OK) return st;
    const struct cg_st_entry *e = cg_st_find(&f, name);
    if (!e) {
        st = cg_fail(CG_ERR_NOT_FOUND, "%s: no tensor named '%s' (%zu tensors in the file)", path,
                     name, f.n);
    } else if (e->ndim > CG_MAX_DIMS || (strcmp(e->dtype, "F32") && strcmp(e->dtype, "F64"))) {
        st = cg_fail(CG_ERR_MISMATCH, "%s: tensor '%s' is %s with %d dims; cgrad reads F32/F64 "
                     "with at most %d dims", path, name, e->dtype, e->ndim, CG_MAX_DIMS);
    } else {
        enum cg_dtype dt = strcmp(e->dtype, "F64") ? CG_F32 : CG_F64;
        struct cg_tensor *t = cg_tensor_empty(NULL, dt, e->ndim, e->shape);
        if (!t) {
            st = CG_ERR_NOMEM;
        } else {
            cg_st_decode(&f, e, dt, t->data);
            cg_tensor_set_name(t, name);
            *out = t;
        }
    }
    cg_st_free(&f);
    return st;
}
