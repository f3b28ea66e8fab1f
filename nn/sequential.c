/* Sequential: runs its children in order; children are named "0", "1", ... */
#include <stdio.h>

#include "alloc.h"
#include "error_internal.h"
#include "fused_internal.h"
#include "cgrad/nn.h"

struct sequential {
    struct cg_module base;
    int n;
    struct cg_module **children;
};

static struct cg_tensor *seq_forward(struct cg_module *self, struct cg_tape *tape,
                                     struct cg_tensor *x)
{
    struct sequential *s = (struct sequential *)self;
    for (int i = 0; i < s->n && x; i++) {
        /* Conv2d + ReLU + MaxPool2d(2) as one op: the conv output lives
         * only in per-sample scratch (cg_conv2d_relu_max_pool2d). */
        if (i + 2 < s->n && cg_nn_fuses_conv_relu(s->children[i], s->children[i + 1]) &&
            cg_nn_is_max_pool2(s->children[i + 2])) {
            x = cg_nn_conv2d_relu_pool_forward(s->children[i], s->children[i + 1],
                                               s->children[i + 2], tape, x);
            i += 2;
            continue;
        }
        /* Conv2d + ReLU as one op: the conv output is never stored apart.
         * Not as the last pair: the fused op's backward overwrites its
         * output's grad, which the caller may read (cg_conv2d_relu). */
        if (i + 2 < s->n && cg_nn_fuses_conv_relu(s->children[i], s->children[i + 1])) {
            x = cg_nn_conv2d_relu_forward(s->children[i], tape, x);
            i++;
            continue;
        }
        x = cg_module_forward(s->children[i], tape, x);
    }
    return x;
}

static void seq_visit_params(struct cg_module *self, const char *prefix, cg_param_visitor visit,
                             void *user)
{
    struct sequential *s = (struct sequential *)self;
    for (int i = 0; i < s->n; i++) {
        char local[16];
        snprintf(local, sizeof local, "%d", i);
        cg_module_visit_child(prefix, local, s->children[i], visit, user);
    }
}

static void seq_visit_children(struct cg_module *self,
                               void (*fn)(struct cg_module *child, void *user), void *user)
{
    struct sequential *s = (struct sequential *)self;
    for (int i = 0; i < s->n; i++) fn(s->children[i], user);
}

static void seq_free(struct cg_module *self)
{
    struct sequential *s = (struct sequential *)self;
    for (int i = 0; i < s->n; i++) cg_module_free(s->children[i]);
    cg_free(s->children);
    cg_free(s);
}

static void seq_visit_buffers(struct cg_module *self, const char *prefix, cg_param_visitor visit,
                              void *user)
{
    struct sequential *s = (struct sequential *)self;
    for (int i = 0; i < s->n; i++) {
        char local[16];
        snprintf(local, sizeof local, "%d", i);
        cg_module_visit_child_buffers(prefix, local, s->children[i], visit, user);
    }
}

static const struct cg_module_vtable seq_vtable = {
    .type_name = "Sequential",
    .forward = seq_forward,
    .visit_params = seq_visit_params,
    .visit_buffers = seq_visit_buffers,
    .visit_children = seq_visit_children,
    .free = seq_free,
};

/* Frees each distinct module once (a list may repeat one by mistake). */
static void free_all(int n, struct cg_module *const *modules)
{
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = modules[j] == modules[i];
        if (!seen) cg_module_free(modules[i]);
    }
}

static struct cg_module *build(int n, struct cg_module *const *modules, const char *fn)
{
    if (n < 0 || (n > 0 && !modules)) {
        cg_misuse(fn, "n = %d with modules %s: need n >= 0 and a modules array", n,
                  modules ? "set" : "NULL");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!modules[i]) {
            free_all(n, modules);
            cg_misuse(fn, "module %d of %d is NULL (hint: its constructor failed, see the "
                      "error reported before this one; the other modules were freed. "
                      "cg_sequential takes no NULL terminator)", i, n);
            return NULL;
        }
        for (int j = 0; j < i; j++) {
            if (modules[j] == modules[i]) {
                free_all(n, modules);
                cg_misuse(fn, "module %d is the same object as module %d (hint: a module can "
                          "have only one owner; create one per position)", i, j);
                return NULL;
            }
        }
    }
    struct sequential *s = cg_calloc(1, sizeof *s, "Sequential");
    struct cg_module **children = cg_calloc((size_t)n, sizeof *children, "Sequential children");
    if (!s || !children) {
        cg_free(s);
        cg_free(children);
        free_all(n, modules);
        return NULL;
    }
    cg_module_init(&s->base, &seq_vtable);
    s->n = n;
    s->children = children;
    for (int i = 0; i < n; i++) children[i] = modules[i];
    return &s->base;
}

struct cg_module *cg_sequential_new(int n, struct cg_module *const *modules)
{
    return build(n, modules, "cg_sequential_new");
}

static struct sequential *as_sequential(const struct cg_module *m, const char *fn)
{
    if (m && m->vtable == &seq_vtable) return (struct sequential *)m;
    cg_misuse(fn, "module is %s%s, not a Sequential", m ? "a " : "NULL", cg_module_type(m));
    return NULL;
}

int cg_sequential_size(const struct cg_module *seq)
{
    struct sequential *s = as_sequential(seq, "cg_sequential_size");
    return s ? s->n : 0;
}

struct cg_module *cg_sequential_child(struct cg_module *seq, int i)
{
    struct sequential *s = as_sequential(seq, "cg_sequential_child");
    if (!s) return NULL;
    if (i < 0 || i >= s->n) {
        cg_misuse("cg_sequential_child", "index %d out of range for a Sequential of %d modules",
                  i, s->n);
        return NULL;
    }
    return s->children[i];
}
