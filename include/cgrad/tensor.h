/* Tensors.
 *
 * A tensor is a plain struct: dtype, shape in C/PyTorch order (shape[0] is
 * the batch), contiguous row-major data, an optional gradient and flags.
 *
 * Two lifetimes:
 *  - persistent tensors (tape == NULL when created): parameters, datasets,
 *    optimizer state.  Owned by the caller, freed with cg_tensor_free().
 *  - step tensors (created with a tape, and every op output): live in the
 *    tape's arena and are released all at once by cg_tape_reset() or
 *    cg_tape_free().  Never cg_tensor_free() them.
 *
 * Creation functions take the tape as first argument; pass NULL for a
 * persistent tensor.  They return NULL on out-of-memory (status CG_ERR_NOMEM,
 * see cg_last_error()) and report misuse (bad shape, bad dtype) through the
 * misuse handler, then return NULL.
 *
 * Use CG_SHAPE(...) to pass a shape: cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(3, 4)). */
#ifndef CGRAD_TENSOR_H
#define CGRAD_TENSOR_H

#include "export.h"
#ifdef __cplusplus
#include <initializer_list>
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CG_MAX_DIMS 8
#define CG_NAME_MAX 64

/* Expands to the two arguments `ndim, shape` from a list of sizes.  C++ has
 * no compound literals: there the sizes live in an initializer_list, which
 * lasts until the end of the full expression (the call it is passed to). */
#ifdef __cplusplus
#define CG_SHAPE(...)                                                   \
    (int)std::initializer_list<int64_t>{__VA_ARGS__}.size(),           \
        std::initializer_list<int64_t>{__VA_ARGS__}.begin()
#define CG_INDEX(...) (std::initializer_list<int64_t>{__VA_ARGS__}.begin())
#else
#define CG_SHAPE(...) \
    (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}
/* Expands to a `const int64_t *` index for cg_tensor_get/cg_tensor_set. */
#define CG_INDEX(...) ((const int64_t[]){__VA_ARGS__})
#endif

enum cg_dtype { CG_F32 = 0, CG_F64 = 1 };

enum cg_tensor_flags {
    CG_REQUIRES_GRAD = 1u << 0, /* gradients flow into this tensor */
    CG_PARAMETER = 1u << 1,     /* a module parameter (set by nn) */
    CG_OWNS_DATA = 1u << 2,     /* internal: data freed with the tensor */
    CG_IS_VIEW = 1u << 3,       /* internal: data shared with another tensor */
    CG_BUFFER = 1u << 4,        /* a module buffer (set by cg_module_init_buffer) */
    /* grad holds no gradient: set by zero_grad (grad zeroed) and on the
     * grads a backward allocates for tape tensors (contents undefined until
     * an op writes them), cleared when a backward writes into it.
     * Optimizers skip such a parameter, as PyTorch skips one whose .grad is
     * None.  Clear it yourself after writing a grad by hand. */
    CG_GRAD_NONE = 1u << 5
};

struct cg_tape;

struct cg_tensor {
    enum cg_dtype dtype;
    int ndim;
    int64_t shape[CG_MAX_DIMS];
    int64_t numel;
    void *data;              /* float* (CG_F32) or double* (CG_F64), numel elements */
    struct cg_tensor *grad;  /* same shape/dtype; NULL until needed */
    unsigned flags;          /* enum cg_tensor_flags */
    char name[CG_NAME_MAX];  /* for error messages and checkpoints; may be "" */
    struct cg_tape *tape;    /* owning tape, NULL for persistent tensors */
    uint32_t tape_gen;       /* internal: tape generation at creation */
    int32_t record;          /* internal: index of the producing record, -1 for leaves */
};

/* Size in bytes of one element (4 or 8), and "f32"/"f64" as a static name
 * (never freed).  Never fail: any value other than CG_F64 counts as CG_F32. */
CG_API size_t cg_dtype_size(enum cg_dtype dtype);
CG_API const char *cg_dtype_name(enum cg_dtype dtype);

/* ---- creation (tape NULL: persistent, caller frees) ----
 * Misuse common to all of them (NULL returned): a dtype other than
 * CG_F32/CG_F64, ndim outside 0..CG_MAX_DIMS, shape NULL with ndim > 0, a
 * negative size, or 2^60 elements or more. */
/* Uninitialized data; zeros; ones; every element `value` (rounded to dtype). */
CG_API struct cg_tensor *cg_tensor_empty(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                  const int64_t *shape);
CG_API struct cg_tensor *cg_tensor_zeros(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                  const int64_t *shape);
CG_API struct cg_tensor *cg_tensor_ones(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                 const int64_t *shape);
CG_API struct cg_tensor *cg_tensor_full(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                 const int64_t *shape, double value);
/* Copies numel elements from `data`, which holds elements of `dtype`; the
 * caller keeps `data`.  Misuse if data is NULL and numel > 0. */
CG_API struct cg_tensor *cg_tensor_from_data(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                      const int64_t *shape, const void *data);
/* Copies numel doubles from `values`, converting to `dtype`.  Misuse if
 * values is NULL and numel > 0. */
CG_API struct cg_tensor *cg_tensor_from_doubles(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                         const int64_t *shape, const double *values);
/* 1-D [start, stop) with `step`, like torch.arange.  Misuse if step is 0,
 * any argument is not finite, or the count does not fit. */
CG_API struct cg_tensor *cg_tensor_arange(struct cg_tape *tape, enum cg_dtype dtype, double start,
                                   double stop, double step);
/* 1-D, n evenly spaced points from start to end inclusive.  Misuse if
 * n < 1. */
CG_API struct cg_tensor *cg_tensor_linspace(struct cg_tape *tape, enum cg_dtype dtype, double start,
                                     double end, int64_t n);
/* Uniform in [0,1), uniform in [lo,hi), standard normal; drawn from `rng`
 * (advanced), element by element in row-major order.  Misuse if rng is
 * NULL, or (uniform) lo > hi. */
CG_API struct cg_tensor *cg_tensor_rand(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                 const int64_t *shape, struct cg_rng *rng);
CG_API struct cg_tensor *cg_tensor_uniform(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                    const int64_t *shape, double lo, double hi,
                                    struct cg_rng *rng);
CG_API struct cg_tensor *cg_tensor_randn(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                  const int64_t *shape, struct cg_rng *rng);

/* Frees a persistent tensor, its data (unless a view) and its grad.
 * NULL is ignored.  Misuse if `t` belongs to a tape. */
CG_API void cg_tensor_free(struct cg_tensor *t);

/* ---- copies and conversions (results on `tape`, or persistent if NULL;
 *      never recorded for autograd) ----
 * copy, to and detach return NULL after misuse (t NULL, a bad dtype) or
 * on out-of-memory (CG_ERR_NOMEM in cg_last_error()); a persistent result is
 * the caller's, freed with cg_tensor_free (for detach: frees only the view,
 * never t's data). */
/* Independent copy of data, no grad; the name is kept. */
CG_API struct cg_tensor *cg_tensor_copy(struct cg_tape *tape, const struct cg_tensor *t);
/* Copy converted to `dtype`. */
CG_API struct cg_tensor *cg_tensor_to(struct cg_tape *tape, const struct cg_tensor *t,
                               enum cg_dtype dtype);
/* A tensor sharing t's data with no grad and no history (like
 * torch.detach).  The view must not outlive `t`. */
CG_API struct cg_tensor *cg_tensor_detach(struct cg_tape *tape, struct cg_tensor *t);
/* Copies src's data into dst (same numel, any shapes; dtypes may differ,
 * values are converted).  Not recorded for autograd.  Returns dst, or NULL
 * after misuse (NULL argument, numel mismatch), leaving dst unchanged. */
CG_API struct cg_tensor *cg_tensor_copy_into(struct cg_tensor *dst, const struct cg_tensor *src);
/* Converts a persistent tensor (and its grad) to `dtype` (CG_F32 or CG_F64)
 * in place: t->data is replaced by a new buffer, so views of t (detach,
 * reshape results) must not be used afterwards.  CG_OK (also when t already
 * has that dtype); CG_ERR_NOMEM with t unchanged; CG_ERR_INVALID after
 * misuse (t NULL, on a tape, or itself a view; dtype not CG_F32/CG_F64). */
CG_API enum cg_status cg_tensor_convert(struct cg_tensor *t, enum cg_dtype dtype);
/* Sets every element to value (rounded to the dtype).  NULL is ignored. */
CG_API void cg_tensor_fill(struct cg_tensor *t, double value);

/* ---- element access (index has ndim entries, bounds checked) ----
 * Values are passed as double whatever the dtype.  Misuse: t or index NULL,
 * an index out of range (the message names the dim and the shape), a tape
 * tensor whose step cg_tape_reset has released; getters then return 0.0 and
 * setters change nothing.  (In AddressSanitizer builds the released memory
 * is poisoned, so ASan reports such a use first.) */
CG_API double cg_tensor_get(const struct cg_tensor *t, const int64_t *index);
CG_API void cg_tensor_set(struct cg_tensor *t, const int64_t *index, double value);
/* Flat (row-major) element i. */
CG_API double cg_tensor_at(const struct cg_tensor *t, int64_t i);
CG_API void cg_tensor_set_at(struct cg_tensor *t, int64_t i, double value);
/* The single element of a 1-element tensor (misuse otherwise). */
CG_API double cg_tensor_item(const struct cg_tensor *t);

/* ---- autograd flags ---- */
/* Marks t as a leaf that receives gradients.  For a persistent tensor this
 * allocates its zeroed grad now (so training steps do not allocate; the
 * grad is owned by t and freed with it); a tape tensor gets its grad on the
 * arena during backward.  requires_grad false clears the flag and frees a
 * persistent tensor's grad.  Returns CG_OK, CG_ERR_NOMEM (t unchanged), or
 * CG_ERR_INVALID after misuse (t NULL). */
CG_API enum cg_status cg_tensor_requires_grad(struct cg_tensor *t, bool requires_grad);
/* Zeroes t->grad if present and flags it CG_GRAD_NONE (optimizers skip t
 * until a backward writes its grad).  NULL is ignored. */
CG_API void cg_tensor_zero_grad(struct cg_tensor *t);
/* Copies `name` (truncated to CG_NAME_MAX-1; NULL gives "").  Returns t
 * (NULL if t is NULL). */
CG_API struct cg_tensor *cg_tensor_set_name(struct cg_tensor *t, const char *name);

/* ---- shapes ---- */
/* True if a and b have the same ndim and sizes (dtypes are not compared).
 * Misuse (false) if either is NULL. */
CG_API bool cg_tensor_same_shape(const struct cg_tensor *a, const struct cg_tensor *b);
/* Writes e.g. "[4,1,3] f32" into buf (always NUL-terminated, truncated to
 * size; "(null)" for t NULL); returns buf.  buf NULL or size 0: nothing
 * written. */
CG_API char *cg_tensor_shape_str(const struct cg_tensor *t, char *buf, size_t size);
/* Debug print of name, shape and the first max_elems values (all if
 * max_elems < 0) to `f`.  f NULL is ignored; t NULL prints "(null)"; a
 * tensor released by cg_tape_reset is misuse (no values printed). */
CG_API void cg_tensor_print(const struct cg_tensor *t, FILE *f, int64_t max_elems);

#ifdef __cplusplus
}
#endif
#endif
