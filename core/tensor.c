/* Tensor creation, lifetime, flags and shapes. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "tape_internal.h"
#include "tensor_live.h"

size_t cg_dtype_size(enum cg_dtype dtype) { return dtype == CG_F64 ? sizeof(double) : sizeof(float); }
const char *cg_dtype_name(enum cg_dtype dtype) { return dtype == CG_F64 ? "f64" : "f32"; }

/* numel * size <= INT64_MAX / 8 (under 2^60 elements), without the 64-bit
 * division for the common sizes. */
static bool size_fits(int64_t numel, int64_t size)
{
    const int64_t small = INT64_C(1) << 30; /* both below: the product is below 2^60 */
    if (numel < small && size < small) return true;
    return size == 0 || numel <= INT64_MAX / 8 / size;
}

struct cg_tensor *cg_tensor_alloc(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                  const int64_t *shape, bool alloc_data, const char *fn)
{
    if (dtype != CG_F32 && dtype != CG_F64) {
        cg_misuse(fn, "unknown dtype %d (hint: use CG_F32 or CG_F64)", (int)dtype);
        return NULL;
    }
    if (ndim < 0 || ndim > CG_MAX_DIMS) {
        cg_misuse(fn, "ndim %d out of range 0..%d", ndim, CG_MAX_DIMS);
        return NULL;
    }
    if (ndim > 0 && !shape) {
        cg_misuse(fn, "shape NULL with ndim %d (hint: pass CG_SHAPE(...))", ndim);
        return NULL;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || !size_fits(numel, shape[i])) {
            cg_misuse(fn, "bad size %" PRId64 " in dim %d (sizes must be >= 0, total under "
                      "2^60 elements)", shape[i], i);
            return NULL;
        }
        numel *= shape[i];
    }
    size_t bytes = (size_t)numel * cg_dtype_size(dtype);
    struct cg_tensor *t;
    if (tape) {
        /* Header and data in one arena block (the data stays 64-aligned). */
        size_t head = (sizeof *t + 63) & ~(size_t)63;
        t = cg_arena_alloc(tape, alloc_data ? head + bytes : sizeof *t);
        if (!t) return NULL;
        cg_zero_bytes(t, sizeof *t);
        if (alloc_data) t->data = (unsigned char *)t + head;
        t->tape = tape;
        t->tape_gen = tape->gen;
    } else {
        t = cg_calloc(1, sizeof *t, "tensor header");
        if (!t) return NULL;
        if (alloc_data) {
            if (!(t->data = cg_malloc_aligned(bytes, "tensor data"))) {
                cg_free(t);
                return NULL;
            }
            t->flags |= CG_OWNS_DATA;
        }
    }
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->record = -1;
    return t;
}

bool cg_tensor_is_live(const struct cg_tape *tape, const struct cg_tensor *t)
{
    return cg_tensor_live_on(tape, t);
}

bool cg_tensor_check_live(const struct cg_tensor *t, const char *fn)
{
    if (cg_tensor_is_live(t->tape, t)) return true;
    cg_misuse(fn, "tensor '%s' belongs to a step released by cg_tape_reset, its values are gone "
              "(hint: read step results before cg_tape_reset, or keep them with "
              "cg_tensor_copy(NULL, t))", t->name);
    return false;
}

struct cg_tensor *cg_tensor_empty(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                  const int64_t *shape)
{
    return cg_tensor_alloc(tape, dtype, ndim, shape, true, "cg_tensor_empty");
}

void cg_tensor_fill(struct cg_tensor *t, double value)
{
    if (!t) return;
    if (t->dtype == CG_F64) {
        double *d = t->data;
        for (int64_t i = 0; i < t->numel; i++) d[i] = value;
    } else {
        float *f = t->data;
        float v = (float)value;
        for (int64_t i = 0; i < t->numel; i++) f[i] = v;
    }
}

struct cg_tensor *cg_tensor_full(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                 const int64_t *shape, double value)
{
    struct cg_tensor *t = cg_tensor_alloc(tape, dtype, ndim, shape, true, "cg_tensor_full");
    if (t) cg_tensor_fill(t, value);
    return t;
}

struct cg_tensor *cg_tensor_zeros(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                  const int64_t *shape)
{
    struct cg_tensor *t = cg_tensor_alloc(tape, dtype, ndim, shape, true, "cg_tensor_zeros");
    if (t) memset(t->data, 0, (size_t)t->numel * cg_dtype_size(dtype));
    return t;
}

struct cg_tensor *cg_tensor_ones(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                 const int64_t *shape)
{
    struct cg_tensor *t = cg_tensor_alloc(tape, dtype, ndim, shape, true, "cg_tensor_ones");
    if (t) cg_tensor_fill(t, 1.0);
    return t;
}

/* A tensor holding numel elements of `src` (of src_dtype), converted to
 * `dtype`; `what` names the source argument in the misuse message. */
static struct cg_tensor *tensor_from(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                     const int64_t *shape, const void *src, enum cg_dtype src_dtype,
                                     const char *fn, const char *what)
{
    struct cg_tensor *t = cg_tensor_alloc(tape, dtype, ndim, shape, true, fn);
    if (!t) return NULL;
    if (!src && t->numel) {
        cg_misuse(fn, "%s is NULL for a tensor of %" PRId64 " elements", what, t->numel);
        if (!tape) cg_tensor_free(t);
        return NULL;
    }
    if (t->numel) cg_convert_data(t->data, dtype, src, src_dtype, t->numel);
    return t;
}

struct cg_tensor *cg_tensor_from_data(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                      const int64_t *shape, const void *data)
{
    return tensor_from(tape, dtype, ndim, shape, data, dtype, "cg_tensor_from_data", "data");
}

struct cg_tensor *cg_tensor_from_doubles(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                         const int64_t *shape, const double *values)
{
    return tensor_from(tape, dtype, ndim, shape, values, CG_F64, "cg_tensor_from_doubles",
                       "values");
}

struct cg_tensor *cg_tensor_arange(struct cg_tape *tape, enum cg_dtype dtype, double start,
                                   double stop, double step)
{
    if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step)) {
        cg_misuse("cg_tensor_arange", "start %g, stop %g, step %g: step must be non-zero and all finite",
                  start, stop, step);
        return NULL;
    }
    double span = ceil((stop - start) / step);
    if (!(span < 0x1p62)) { /* converting a larger double to int64_t is undefined */
        cg_misuse("cg_tensor_arange", "start %g, stop %g, step %g give %g elements: too many",
                  start, stop, step, span);
        return NULL;
    }
    int64_t n = span > 0 ? (int64_t)span : 0;
    struct cg_tensor *t = cg_tensor_alloc(tape, dtype, 1, &n, true, "cg_tensor_arange");
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) cg_tensor_set_at(t, i, start + (double)i * step);
    return t;
}

struct cg_tensor *cg_tensor_linspace(struct cg_tape *tape, enum cg_dtype dtype, double start,
                                     double end, int64_t n)
{
    if (n < 1) {
        cg_misuse("cg_tensor_linspace", "n = %" PRId64 ": need at least 1 point", n);
        return NULL;
    }
    struct cg_tensor *t = cg_tensor_alloc(tape, dtype, 1, &n, true, "cg_tensor_linspace");
    if (!t) return NULL;
    double step = n > 1 ? (end - start) / (double)(n - 1) : 0.0;
    /* Fill from both ends (as torch.linspace) so the last point is exactly end;
     * a single point is start, as in torch. */
    int64_t half = n > 1 ? n / 2 : 1;
    for (int64_t i = 0; i < n; i++)
        cg_tensor_set_at(t, i, i < half ? start + step * (double)i : end - step * (double)(n - 1 - i));
    return t;
}

static struct cg_tensor *random_tensor(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                       const int64_t *shape, double lo, double hi,
                                       struct cg_rng *rng, bool normal, const char *fn)
{
    if (!rng) {
        cg_misuse(fn, "rng is NULL (hint: struct cg_rng rng = cg_rng_seed(0); pass &rng)");
        return NULL;
    }
    struct cg_tensor *t = cg_tensor_alloc(tape, dtype, ndim, shape, true, fn);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = normal ? cg_rng_normal(rng) : lo + (hi - lo) * cg_rng_uniform(rng);
        cg_tensor_set_at(t, i, v);
    }
    return t;
}

struct cg_tensor *cg_tensor_rand(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                 const int64_t *shape, struct cg_rng *rng)
{
    return random_tensor(tape, dtype, ndim, shape, 0.0, 1.0, rng, false, "cg_tensor_rand");
}

struct cg_tensor *cg_tensor_uniform(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                    const int64_t *shape, double lo, double hi,
                                    struct cg_rng *rng)
{
    if (!(lo <= hi)) {
        cg_misuse("cg_tensor_uniform", "lo %g > hi %g", lo, hi);
        return NULL;
    }
    return random_tensor(tape, dtype, ndim, shape, lo, hi, rng, false, "cg_tensor_uniform");
}

struct cg_tensor *cg_tensor_randn(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                  const int64_t *shape, struct cg_rng *rng)
{
    return random_tensor(tape, dtype, ndim, shape, 0.0, 1.0, rng, true, "cg_tensor_randn");
}

void cg_tensor_free(struct cg_tensor *t)
{
    if (!t) return;
    if (t->tape) {
        cg_misuse("cg_tensor_free",
                  "tensor '%s' belongs to a tape (hint: tape tensors are released by "
                  "cg_tape_reset/cg_tape_free)", t->name);
        return;
    }
    if (t->grad) cg_tensor_free(t->grad);
    if (t->flags & CG_OWNS_DATA) cg_free_aligned(t->data);
    cg_free(t);
}

enum cg_status cg_tensor_requires_grad(struct cg_tensor *t, bool requires_grad)
{
    if (!t) {
        cg_misuse("cg_tensor_requires_grad", "tensor is NULL");
        return CG_ERR_INVALID;
    }
    if (!requires_grad) {
        t->flags &= ~(unsigned)CG_REQUIRES_GRAD;
        if (!t->tape && t->grad) {
            cg_tensor_free(t->grad);
        }
        t->grad = NULL;
        return CG_OK;
    }
    if (!t->tape && !t->grad) {
        t->grad = cg_tensor_zeros(NULL, t->dtype, t->ndim, t->shape);
        if (!t->grad) return CG_ERR_NOMEM;
    }
    t->flags |= CG_REQUIRES_GRAD;
    return CG_OK;
}

void cg_tensor_zero_grad(struct cg_tensor *t)
{
    if (!t || !t->grad) return;
    memset(t->grad->data, 0, (size_t)t->grad->numel * cg_dtype_size(t->dtype));
    t->flags |= CG_GRAD_NONE;
}

struct cg_tensor *cg_tensor_set_name(struct cg_tensor *t, const char *name)
{
    if (!t) return NULL;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    return t;
}

bool cg_tensor_same_shape(const struct cg_tensor *a, const struct cg_tensor *b)
{
    if (!a || !b) {
        cg_misuse("cg_tensor_same_shape", "tensor %s is NULL (hint: an earlier op failed; check "
                  "cg_last_error())", !a ? "a" : "b");
        return false;
    }
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

char *cg_tensor_shape_str(const struct cg_tensor *t, char *buf, size_t size)
{
    if (!buf || size == 0) return buf;
    if (!t) {
        snprintf(buf, size, "(null)");
        return buf;
    }
    cg_format_shape(buf, size, t->ndim, t->shape);
    size_t n = strlen(buf);
    if (n + 1 < size) snprintf(buf + n, size - n, " %s", cg_dtype_name(t->dtype));
    return buf;
}

char *cg_format_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    if (!buf || size == 0) return buf;
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ",%" PRId64 : "%" PRId64, shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

bool cg_tensor_all_finite(const struct cg_tensor *t)
{
    if (t->dtype == CG_F64) {
        const double *d = t->data;
        for (int64_t i = 0; i < t->numel; i++)
            if (!isfinite(d[i])) return false;
    } else {
        const float *f = t->data;
        for (int64_t i = 0; i < t->numel; i++)
            if (!isfinite(f[i])) return false;
    }
    return true;
}
