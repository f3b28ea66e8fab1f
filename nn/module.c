/* The generic module functions: everything here goes through the vtable, so
 * built-in and user-defined layers behave the same. */
#include <stdio.h>
#include <string.h>

#include "error_internal.h"
#include "cgrad/module.h"

void cg_module_init(struct cg_module *m, const struct cg_module_vtable *vtable)
{
    if (!m) return;
    m->vtable = vtable;
    m->training = true;
}

enum cg_status cg_module_init_param(struct cg_tensor *t, const char *name)
{
    if (!t || t->tape) {
        cg_misuse("cg_module_init_param", "%s (hint: parameters are persistent tensors, created "
                  "with tape NULL)", t ? "tensor belongs to a tape" : "tensor is NULL");
        return CG_ERR_INVALID;
    }
    cg_tensor_set_name(t, name);
    t->flags |= CG_PARAMETER;
    return cg_tensor_requires_grad(t, true);
}

enum cg_status cg_module_init_buffer(struct cg_tensor *t, const char *name)
{
    if (!t || t->tape || (t->flags & CG_REQUIRES_GRAD)) {
        cg_misuse("cg_module_init_buffer", "%s (hint: buffers are persistent tensors, created "
                  "with tape NULL, that are never trained)",
                  !t ? "tensor is NULL" : t->tape ? "tensor belongs to a tape"
                                                  : "tensor requires grad (make it a parameter)");
        return CG_ERR_INVALID;
    }
    cg_tensor_set_name(t, name);
    t->flags |= CG_BUFFER;
    return CG_OK;
}

struct cg_tensor *cg_module_forward(struct cg_module *m, struct cg_tape *tape, struct cg_tensor *x)
{
    if (!m || !m->vtable || !m->vtable->forward) {
        cg_misuse("cg_module_forward", "%s (hint: the module's constructor failed, see "
                  "cg_last_error(); or set vtable->forward)",
                  !m ? "module is NULL" : "module has no vtable or no forward");
        return NULL;
    }
    if (!x) {
        cg_misuse("cg_module_forward", "input of %s is NULL (hint: an earlier op failed; check "
                  "cg_last_error())", cg_module_type(m));
        return NULL;
    }
    return m->vtable->forward(m, tape, x);
}

void cg_module_free(struct cg_module *m)
{
    if (m && m->vtable && m->vtable->free) m->vtable->free(m);
}

const char *cg_module_type(const struct cg_module *m)
{
    return m && m->vtable && m->vtable->type_name ? m->vtable->type_name : "";
}

void cg_module_visit_params(struct cg_module *m, cg_param_visitor visit, void *user)
{
    if (!m || !visit || !m->vtable || !m->vtable->visit_params) return;
    m->vtable->visit_params(m, "", visit, user);
}

void cg_module_visit_buffers(struct cg_module *m, cg_param_visitor visit, void *user)
{
    if (!m || !visit || !m->vtable || !m->vtable->visit_buffers) return;
    m->vtable->visit_buffers(m, "", visit, user);
}

/* Writes "prefix.local" (or "local") into buf; false if it does not fit. */
static bool join_name(char *buf, size_t size, const char *prefix, const char *local)
{
    if (!local) local = "";
    int n = prefix && prefix[0] ? snprintf(buf, size, "%s.%s", prefix, local)
                                : snprintf(buf, size, "%s", local);
    if (n >= 0 && (size_t)n < size) return true;
    cg_misuse("cg_module_visit_param", "name '%s.%s' is longer than CG_PARAM_NAME_MAX - 1 = %d "
              "characters (hint: use shorter local names or a flatter model)",
              prefix ? prefix : "", local, CG_PARAM_NAME_MAX - 1);
    return false;
}

void cg_module_visit_param(const char *prefix, const char *local, struct cg_tensor *param,
                           cg_param_visitor visit, void *user)
{
    char name[CG_PARAM_NAME_MAX];
    if (!visit || !param || !join_name(name, sizeof name, prefix, local)) return;
    visit(name, param, user);
}

void cg_module_visit_child(const char *prefix, const char *local, struct cg_module *child,
                           cg_param_visitor visit, void *user)
{
    char name[CG_PARAM_NAME_MAX];
    if (!visit || !child || !child->vtable || !child->vtable->visit_params) return;
    if (!join_name(name, sizeof name, prefix, local)) return;
    child->vtable->visit_params(child, name, visit, user);
}

void cg_module_visit_child_buffers(const char *prefix, const char *local,
                                   struct cg_module *child, cg_param_visitor visit, void *user)
{
    char name[CG_PARAM_NAME_MAX];
    if (!visit || !child || !child->vtable || !child->vtable->visit_buffers) return;
    if (!join_name(name, sizeof name, prefix, local)) return;
    child->vtable->visit_buffers(child, name, visit, user);
}

/* ---- counting and lookup ---- */

struct collect_ctx {
    size_t count, elements, cap;
    struct cg_tensor **out;
};

static void collect_visitor(const char *name, struct cg_tensor *p, void *user)
{
    (void)name;
    struct collect_ctx *c = user;
    if (c->out && c->count < c->cap) c->out[c->count] = p;
    c->count++;
    c->elements += (size_t)p->numel;
}

size_t cg_module_collect_params(struct cg_module *m, struct cg_tensor **out, size_t cap)
{
    struct collect_ctx c = {0, 0, out ? cap : 0, out};
    cg_module_visit_params(m, collect_visitor, &c);
    return c.count;
}

size_t cg_module_param_tensors(struct cg_module *m) { return cg_module_collect_params(m, NULL, 0); }

size_t cg_module_param_elements(struct cg_module *m)
{
    struct collect_ctx c = {0, 0, 0, NULL};
    cg_module_visit_params(m, collect_visitor, &c);
    return c.elements;
}

struct find_ctx {
    const char *name;
    struct cg_tensor *found;
};

static void find_visitor(const char *name, struct cg_tensor *p, void *user)
{
    struct find_ctx *f = user;
    if (!f->found && strcmp(name, f->name) == 0) f->found = p;
}

struct cg_tensor *cg_module_param(struct cg_module *m, const char *name)
{
    if (!name) return NULL;
    struct find_ctx f = {name, NULL};
    cg_module_visit_params(m, find_visitor, &f);
    return f.found;
}

size_t cg_module_buffer_tensors(struct cg_module *m)
{
    struct collect_ctx c = {0, 0, 0, NULL};
    cg_module_visit_buffers(m, collect_visitor, &c);
    return c.count;
}

struct cg_tensor *cg_module_buffer(struct cg_module *m, const char *name)
{
    if (!name) return NULL;
    struct find_ctx f = {name, NULL};
    cg_module_visit_buffers(m, find_visitor, &f);
    return f.found;
}

/* ---- whole-model operations ---- */

static void zero_grad_visitor(const char *name, struct cg_tensor *p, void *user)
{
    (void)name;
    (void)user;
    cg_tensor_zero_grad(p);
}

void cg_module_zero_grad(struct cg_module *m) { cg_module_visit_params(m, zero_grad_visitor, NULL); }

static void set_training_child(struct cg_module *child, void *user)
{
    cg_module_set_training(child, *(const bool *)user);
}

void cg_module_set_training(struct cg_module *m, bool training)
{
    if (!m) return;
    m->training = training;
    if (m->vtable && m->vtable->visit_children)
        m->vtable->visit_children(m, set_training_child, &training);
}

struct dtype_ctx {
    enum cg_dtype dtype;
    enum cg_status status;
};

static void to_dtype_visitor(const char *name, struct cg_tensor *p, void *user)
{
    (void)name;
    struct dtype_ctx *c = user;
    if (c->status == CG_OK) c->status = cg_tensor_convert(p, c->dtype);
}

enum cg_status cg_module_to_dtype(struct cg_module *m, enum cg_dtype dtype)
{
    if (!m || (dtype != CG_F32 && dtype != CG_F64)) {
        cg_misuse("cg_module_to_dtype", "%s (hint: pass a module and CG_F32 or CG_F64)",
                  !m ? "module is NULL" : "unknown dtype");
        return CG_ERR_INVALID;
    }
    struct dtype_ctx c = {dtype, CG_OK};
    cg_module_visit_params(m, to_dtype_visitor, &c);
    cg_module_visit_buffers(m, to_dtype_visitor, &c);
    return c.status;
}
