/* The module interface: built-in layers, containers and user-defined layers
 * all implement it, so Sequential, optimizers, checkpoints and gradcheck
 * treat them alike.
 *
 * A module is a struct whose first member is `struct cg_module` (C-style
 * inheritance); its `vtable` gives the behaviour.  Parameters are persistent
 * tensors owned by the module, with requires_grad set; they have stable
 * names like a PyTorch state_dict ("weight", "0.weight", "2.bias").
 *
 * Writing your own layer (see tests/test_nn.c and examples/custom_layer):
 *
 *     struct my_scale { struct cg_module base; struct cg_tensor *scale; };
 *     static const struct cg_module_vtable my_scale_vt = {
 *         .type_name = "MyScale", .forward = my_forward,
 *         .visit_params = my_visit_params, .free = my_free };
 *     ...
 *     struct my_scale *s = calloc(1, sizeof *s);
 *     cg_module_init(&s->base, &my_scale_vt);
 *     s->scale = cg_tensor_ones(NULL, CG_F32, CG_SHAPE(1));
 *     cg_module_init_param(s->scale, "scale");
 *
 * where my_visit_params calls cg_module_visit_param(prefix, "scale",
 * s->scale, visit, user) and my_free frees s->scale and s. */
#ifndef CGRAD_MODULE_H
#define CGRAD_MODULE_H

#include "export.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "tape.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest full parameter name (including the NUL), e.g. "3.1.weight". */
#define CG_PARAM_NAME_MAX 256

struct cg_module;

/* Called once per parameter with its full dotted name. */
typedef void (*cg_param_visitor)(const char *name, struct cg_tensor *param, void *user);

struct cg_module_vtable {
    const char *type_name; /* "Linear", "Sequential", "MyShrink", ... */
    /* Builds the output on `tape`.  Returns NULL after misuse. */
    struct cg_tensor *(*forward)(struct cg_module *self, struct cg_tape *tape,
                                 struct cg_tensor *x);
    /* Calls cg_module_visit_param(prefix, "<local name>", tensor, visit, user) for
     * each own parameter and cg_module_visit_child(...) for each child.  May be
     * NULL for parameter-free modules. */
    void (*visit_params)(struct cg_module *self, const char *prefix, cg_param_visitor visit,
                         void *user);
    /* Calls fn(child, user) for each direct child module.  May be NULL. */
    void (*visit_children)(struct cg_module *self, void (*fn)(struct cg_module *child, void *user),
                           void *user);
    /* Frees the module, its parameters, buffers and children. */
    void (*free)(struct cg_module *self);
    /* Like visit_params, for buffers: persistent state that is saved and
     * converted with the module but never trained (BatchNorm's running
     * statistics, counters).  Call cg_module_visit_param(prefix, "<local
     * name>", tensor, visit, user) for each own buffer and
     * cg_module_visit_child_buffers(...) for each child.  May be NULL. */
    void (*visit_buffers)(struct cg_module *self, const char *prefix, cg_param_visitor visit,
                          void *user);
    /* Writes the layer's arguments for cg_module_print into buf (at most
     * size bytes, NUL-terminated), e.g. "in=784, out=256, bias=true".  May
     * be NULL: the layer prints as "TypeName()". */
    void (*describe)(const struct cg_module *self, char *buf, size_t size);
};

struct cg_module {
    const struct cg_module_vtable *vtable;
    bool training; /* train/eval flag (cg_module_set_training) */
};

/* Sets m->vtable and m->training = true.  Call it first in your constructor.
 * m NULL is ignored.  The vtable is not copied: it must outlive the module
 * (make it static const). */
CG_API void cg_module_init(struct cg_module *m, const struct cg_module_vtable *vtable);
/* Marks a persistent tensor as a parameter: names it, sets CG_PARAMETER and
 * requires_grad (allocating its zeroed grad).  CG_OK, CG_ERR_NOMEM, or
 * CG_ERR_INVALID (misuse: t NULL or on a tape).  t stays owned by the caller
 * (normally the module, which frees it in its free function). */
CG_API enum cg_status cg_module_init_param(struct cg_tensor *t, const char *name);

/* Marks a persistent tensor as a module buffer: names it and sets
 * CG_BUFFER.  A buffer never requires grad (misuse if it does).  CG_OK or
 * CG_ERR_INVALID (misuse: t NULL, on a tape, or requiring grad). */
CG_API enum cg_status cg_module_init_buffer(struct cg_tensor *t, const char *name);

/* Runs the module's forward.  The result is on `tape`.  Misuse (returns NULL)
 * if m, its vtable/forward, or x is NULL. */
CG_API struct cg_tensor *cg_module_forward(struct cg_module *m, struct cg_tape *tape, struct cg_tensor *x);
/* Frees m with its parameters and children, through vtable->free (NULL
 * ignored).  Never free a child that a container owns. */
CG_API void cg_module_free(struct cg_module *m);
/* Type name, e.g. "Linear" ("" if m is NULL); the vtable's string, not a
 * copy. */
CG_API const char *cg_module_type(const struct cg_module *m);
/* Visits every parameter (recursively) with its full name, in a stable order
 * (declaration order; children in index order).  The name passed to visit
 * is valid during the call only.  Nothing happens if m or visit is NULL or
 * the module has no visit_params. */
CG_API void cg_module_visit_params(struct cg_module *m, cg_param_visitor visit, void *user);
/* Visits every buffer (recursively) with its full name ("1.running_mean"),
 * in the same order rules as cg_module_visit_params.  Buffers are not
 * parameters: optimizers never see them; checkpoints, safetensors export
 * and cg_module_to_dtype do. */
CG_API void cg_module_visit_buffers(struct cg_module *m, cg_param_visitor visit, void *user);
/* Number of buffer tensors (0 for m NULL) and the buffer with this full
 * name, or NULL (owned by the module). */
CG_API size_t cg_module_buffer_tensors(struct cg_module *m);
CG_API struct cg_tensor *cg_module_buffer(struct cg_module *m, const char *name);
/* Number of parameter tensors and of scalar parameters (elements); 0 for
 * m NULL. */
CG_API size_t cg_module_param_tensors(struct cg_module *m);
CG_API size_t cg_module_param_elements(struct cg_module *m);
/* Stores up to `cap` parameter tensors in visiting order into out (out may be
 * NULL when cap is 0) and returns the total number of parameter tensors.
 * The tensors stay owned by the module. */
CG_API size_t cg_module_collect_params(struct cg_module *m, struct cg_tensor **out, size_t cap);
/* The parameter with this full name (e.g. "2.bias"), or NULL if there is
 * none (or m or name is NULL; not misuse).  Owned by the module. */
CG_API struct cg_tensor *cg_module_param(struct cg_module *m, const char *name);
/* Zeroes every parameter's grad (m NULL ignored).  Allocates nothing. */
CG_API void cg_module_zero_grad(struct cg_module *m);
/* Sets the training flag on m and all its children (m NULL ignored).  The
 * built-in layers behave the same in both modes; the flag is for your own
 * layers (e.g. dropout). */
CG_API void cg_module_set_training(struct cg_module *m, bool training);
/* Converts every parameter (and grad) and every buffer to dtype in place (e.g. CG_F64 for a
 * strict gradcheck of a whole model).  CG_OK or CG_ERR_NOMEM; after NOMEM
 * some parameters may already be converted (calling again finishes the
 * job).  CG_ERR_INVALID on misuse (m NULL, bad dtype). */
CG_API enum cg_status cg_module_to_dtype(struct cg_module *m, enum cg_dtype dtype);

/* Prints a summary tree in the spirit of PyTorch's print(model): each
 * module's type and arguments ("Linear(in=784, out=256, bias=true)"), its
 * own parameters and buffers with their shapes, children indented under
 * their names, and the total parameter count (tensors, elements) and
 * buffer count.  m NULL prints "(null)".  Nothing is allocated. */
CG_API void cg_module_print(struct cg_module *m, FILE *out);

/* Helpers for implementing visit_params and visit_buffers: build
 * "prefix.local" (just "local" when prefix is "" or NULL) and call visit.  A name longer than
 * CG_PARAM_NAME_MAX - 1 is misuse and is skipped. */
CG_API void cg_module_visit_param(const char *prefix, const char *local, struct cg_tensor *param,
                           cg_param_visitor visit, void *user);
/* Visits a child's parameters under "prefix.local". */
CG_API void cg_module_visit_child(const char *prefix, const char *local, struct cg_module *child,
                           cg_param_visitor visit, void *user);
/* Visits a child's buffers under "prefix.local" (for visit_buffers). */
CG_API void cg_module_visit_child_buffers(const char *prefix, const char *local,
                                          struct cg_module *child, cg_param_visitor visit,
                                          void *user);

#ifdef __cplusplus
}
#endif
#endif
