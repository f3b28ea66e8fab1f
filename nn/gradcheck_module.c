/* cg_gradcheck_module: the input and every parameter of a module, by
 * state_dict name, with the f64 shadow for f32 models (see
 * include/cgrad/gradcheck_module.h). */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "gradcheck_api.h"
#include "cgrad/gradcheck_module.h"

#define FN "cg_gradcheck_module"

/* The module's buffers (running statistics and the like): never perturbed,
 * and put back before every forward, so a layer that updates them in
 * training mode is checked at fixed buffer values and left as it was. */
struct buffers {
    int n, cap;
    struct cg_tensor **t;
    void **orig; /* as found, restored at the end */
    void **cur;  /* in the current dtype, restored before each forward */
};

struct module_fn {
    struct cg_module *model;
    cg_gradcheck_loss_fn loss;
    struct buffers *buf;
};

static void put_back(const struct buffers *b, void *const *copy)
{
    for (int i = 0; i < b->n; i++)
        if (copy[i])
            memcpy(b->t[i]->data, copy[i], (size_t)b->t[i]->numel * cg_dtype_size(b->t[i]->dtype));
}

static enum cg_status capture(const struct buffers *b, void **copy)
{
    for (int i = 0; i < b->n; i++) {
        size_t bytes = (size_t)b->t[i]->numel * cg_dtype_size(b->t[i]->dtype);
        cg_free(copy[i]);
        if (!(copy[i] = cg_malloc(bytes ? bytes : 1, "gradcheck saved buffer")))
            return CG_ERR_NOMEM;
        memcpy(copy[i], b->t[i]->data, bytes);
    }
    return CG_OK;
}

static void collect_buffer(const char *name, struct cg_tensor *t, void *user)
{
    (void)name;
    struct buffers *b = user;
    if (b->n < b->cap) b->t[b->n++] = t;
}

static struct cg_tensor *module_fn(struct cg_tape *tape, struct cg_tensor *const *in, void *user)
{
    const struct module_fn *m = user;
    put_back(m->buf, m->buf->cur);
    struct cg_tensor *out = cg_module_forward(m->model, tape, in[0]);
    return out && m->loss ? m->loss(tape, out, in[0]) : out;
}

/* The inputs of the check: the module input, then each parameter. */
struct targets {
    int n, cap;
    struct cg_tensor **in;
    char (*name)[CG_PARAM_NAME_MAX];
    const char **names;
};

static void collect(const char *name, struct cg_tensor *param, void *user)
{
    struct targets *t = user;
    if (t->n >= t->cap) return;
    t->in[t->n] = param;
    snprintf(t->name[t->n], CG_PARAM_NAME_MAX, "%s", name);
    t->names[t->n] = t->name[t->n];
    t->n++;
}

static bool args_ok(struct cg_module *model, const struct cg_tensor *input, const struct targets *t)
{
    if (!model || !input) {
        cg_misuse(FN, "%s is NULL", model ? "input" : "model");
        return false;
    }
    if (input->tape) {
        cg_misuse(FN, "the input lives on a tape; it must be a persistent tensor (hint: create "
                  "it with tape NULL, or cg_tensor_copy(NULL, x))");
        return false;
    }
    for (int i = 1; i < t->n; i++)
        if (t->in[i]->dtype != input->dtype) {
            cg_misuse(FN, "the input is %s but parameter '%s' is %s (hint: convert one of them: "
                      "cg_module_to_dtype(model, %s) or cg_tensor_to(NULL, x, %s))",
                      cg_dtype_name(input->dtype), t->names[i], cg_dtype_name(t->in[i]->dtype),
                      cg_dtype_name(input->dtype), cg_dtype_name(t->in[i]->dtype));
            return false;
        }
    return true;
}

/* Saved f32 bits of the parameters (data and grad), to undo the round trip
 * through f64 exactly. */
struct saved_param {
    void *data, *grad;
};

static enum cg_status save_params(const struct targets *t, struct saved_param *s)
{
    for (int i = 1; i < t->n; i++) {
        size_t bytes = (size_t)t->in[i]->numel * cg_dtype_size(t->in[i]->dtype);
        s[i].data = cg_malloc(bytes ? bytes : 1, "gradcheck saved parameter");
        if (!s[i].data) return CG_ERR_NOMEM;
        memcpy(s[i].data, t->in[i]->data, bytes);
        if (!t->in[i]->grad) continue;
        if (!(s[i].grad = cg_malloc(bytes ? bytes : 1, "gradcheck saved parameter")))
            return CG_ERR_NOMEM;
        memcpy(s[i].grad, t->in[i]->grad->data, bytes);
    }
    return CG_OK;
}

static void restore_params(const struct targets *t, struct saved_param *s)
{
    for (int i = 1; i < t->n; i++) {
        size_t bytes = (size_t)t->in[i]->numel * cg_dtype_size(t->in[i]->dtype);
        if (s[i].data) memcpy(t->in[i]->data, s[i].data, bytes);
        if (s[i].grad && t->in[i]->grad) memcpy(t->in[i]->grad->data, s[i].grad, bytes);
        cg_free(s[i].data);
        cg_free(s[i].grad);
    }
}

/* f32 model: snapshot in f32, check and snapshot in f64, compare, back. */
static enum cg_status shadow_check(struct targets *t, struct module_fn *mf,
                                   const struct cg_gradcheck_options *o,
                                   struct cg_gradcheck_report *r)
{
    double *out32 = NULL, *grad32 = NULL, *out64 = NULL, *grad64 = NULL;
    int64_t n32 = 0, n64 = 0;
    struct cg_tensor *x32 = t->in[0], *x64 = NULL;
    struct saved_param *saved = cg_calloc((size_t)t->n, sizeof *saved, "gradcheck shadow");
    enum cg_status st = saved ? save_params(t, saved) : CG_ERR_NOMEM;
    if (st == CG_OK)
        st = cg_gradcheck_snapshot(module_fn, mf, t->n, t->in, o->seed, &out32, &n32, &grad32);
    bool converted = false;
    if (st == CG_OK && (st = cg_module_to_dtype(mf->model, CG_F64)) == CG_OK) converted = true;
    if (st == CG_OK && !(x64 = cg_tensor_to(NULL, x32, CG_F64))) st = CG_ERR_NOMEM;
    if (st == CG_OK) st = capture(mf->buf, mf->buf->cur);
    if (st == CG_OK) {
        t->in[0] = x64;
        struct cg_gradcheck_options o64 = *o;
        o64.eps = o64.atol = o64.rtol = 0;
        st = cg_gradcheck_run(module_fn, mf, t->n, t->in, &o64, r);
        if (st == CG_OK || st == CG_ERR_GRADCHECK) {
            enum cg_status snap =
                cg_gradcheck_snapshot(module_fn, mf, t->n, t->in, o->seed, &out64, &n64, &grad64);
            if (snap != CG_OK) st = snap;
        }
        r->shadow = 2; /* 1 once compared */
        if (st == CG_OK && n32 == n64 &&
            !cg_gradcheck_shadow_compare(t->n, t->in, t->names, out32, out64, n32, grad32,
                                         grad64, r))
            st = CG_ERR_GRADCHECK;
        t->in[0] = x32;
    }
    /* Back to f32 even after a failure; the saved bits make it exact. */
    if (converted) {
        enum cg_status back = cg_module_to_dtype(mf->model, CG_F32);
        if (back != CG_OK) st = back;
    }
    if (saved) restore_params(t, saved);
    put_back(mf->buf, mf->buf->orig);
    cg_tensor_free(x64);
    cg_free(saved);
    cg_free(out32);
    cg_free(out64);
    cg_free(grad32);
    cg_free(grad64);
    return st;
}

enum cg_status cg_gradcheck_module(struct cg_module *model, struct cg_tensor *input,
                                   cg_gradcheck_loss_fn loss_fn,
                                   const struct cg_gradcheck_options *opts,
                                   struct cg_gradcheck_report *report)
{
    struct cg_gradcheck_report local;
    struct cg_gradcheck_report *r = report ? report : &local;
    memset(r, 0, sizeof *r);
    r->input = -1;
    struct targets t = {0};
    if (!model || !input) {
        args_ok(model, input, &t);
        snprintf(r->message, sizeof r->message, "%s", cg_last_error());
        return CG_ERR_INVALID;
    }
    t.cap = 1 + (int)cg_module_param_tensors(model);
    t.in = cg_calloc((size_t)t.cap, sizeof *t.in, "gradcheck module inputs");
    t.name = cg_calloc((size_t)t.cap, sizeof *t.name, "gradcheck module names");
    t.names = cg_calloc((size_t)t.cap, sizeof *t.names, "gradcheck module names");
    enum cg_status st = CG_ERR_NOMEM;
    if (t.in && t.name && t.names) {
        t.in[0] = input;
        t.names[0] = "input";
        t.n = 1;
        cg_module_visit_params(model, collect, &t);
        st = CG_OK;
        if (!args_ok(model, input, &t) || !cg_gradcheck_options_ok(FN, opts)) st = CG_ERR_INVALID;
    }
    struct buffers b = {.cap = (int)cg_module_buffer_tensors(model)};
    if (st == CG_OK) {
        b.t = cg_calloc((size_t)b.cap + 1, sizeof *b.t, "gradcheck buffers");
        b.orig = cg_calloc((size_t)b.cap + 1, sizeof *b.orig, "gradcheck buffers");
        b.cur = cg_calloc((size_t)b.cap + 1, sizeof *b.cur, "gradcheck buffers");
        if (!b.t || !b.orig || !b.cur) st = CG_ERR_NOMEM;
    }
    if (st == CG_OK) {
        cg_module_visit_buffers(model, collect_buffer, &b);
        if ((st = capture(&b, b.orig)) == CG_OK) st = capture(&b, b.cur);
    }
    if (st == CG_OK) {
        struct cg_gradcheck_options o = opts ? *opts : (struct cg_gradcheck_options){0};
        o.input_names = t.names;
        struct module_fn mf = {model, loss_fn, &b};
        if (input->dtype == CG_F32 && o.f64_shadow != -1)
            st = shadow_check(&t, &mf, &o, r);
        else
            st = cg_gradcheck_run(module_fn, &mf, t.n, t.in, &o, r);
        put_back(&b, b.orig);
    }
    for (int i = 0; i < b.n; i++) {
        cg_free(b.orig[i]);
        cg_free(b.cur[i]);
    }
    cg_free(b.t);
    cg_free(b.orig);
    cg_free(b.cur);
    cg_free(t.in);
    cg_free(t.name);
    cg_free(t.names);
    r->passed = st == CG_OK;
    if (st == CG_ERR_GRADCHECK) return cg_fail(st, "%s", r->message);
    if (st != CG_OK && st != CG_ERR_INVALID)
        snprintf(r->message, sizeof r->message, "%s", cg_last_error());
    if (st == CG_ERR_INVALID && !r->message[0])
        snprintf(r->message, sizeof r->message, "%s", cg_last_error());
    return st;
}
