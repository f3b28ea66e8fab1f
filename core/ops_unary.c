/* Unary elementwise ops and ops with a scalar parameter. */
#include <math.h>
#include <tgmath.h>

#include "error_internal.h"
#include "tanh_f32.h"
#include "multiarch.h"
#include "parallel.h"
#include "op_list.h"
#include "cgrad/ops.h"

/* name, forward(x, a, b), derivative(x, y, a, b).  Semantics at kinks follow
 * PyTorch: relu'(0) = 0, |x|'(0) = 0, clamp passes the gradient on the closed
 * interval, the shrink ops have gradient 0 on the closed band [-a, a]; relu
 * and the shrink ops pass the upstream gradient at NaN. */
/* x outside the closed band [-a, a], NaN included.  Written with < > != and
 * | (not >= <= &&) so GCC vectorizes the select without -ffast-math. */
#define CG_OUTSIDE(x, lo, hi) (((x) < (lo)) | ((x) > (hi)) | ((x) != (x)))

#define CG_UNARY_OPS(X)                                                                    \
    X(add_scalar, x + a, (T)1)                                                             \
    X(mul_scalar, x * a, a)                                                                \
    X(pow_scalar, pow(x, a), a == 0 ? (T)0 : a * pow(x, a - 1))                            \
    X(neg, -x, (T)-1)                                                                      \
    X(abs, fabs(x), (T)((x > 0) - (x < 0)))                                                \
    X(exp, exp(x), y)                                                                      \
    X(log, log(x), 1 / x)                                                                  \
    X(sqrt, sqrt(x), (T)0.5 / y)                                                           \
    X(square, x * x, 2 * x)                                                                \
    X(tanh, CG_TANH(x), 1 - y * y)                                                         \
    X(sigmoid, 1 / (1 + exp(-x)), y * (1 - y))                                             \
    X(relu, ((x > 0) | (x != x)) ? x : (T)0, ((x > 0) | (x != x)) ? (T)1 : (T)0)         \
    X(hardshrink, CG_OUTSIDE(x, -a, a) ? x : (T)0, (T)CG_OUTSIDE(x, -a, a))                \
    X(softshrink, CG_OUTSIDE(x, -a, a) ? (x > 0 ? x - a : x + a) : (T)0,                   \
      (T)CG_OUTSIDE(x, -a, a))                                                             \
    X(tanhshrink, x - CG_TANH(x), CG_TANH(x) * CG_TANH(x))                                 \
    X(clamp, x < a ? a : (x > b ? b : x), CG_OUTSIDE(x, a, b) ? (T)0 : (T)1)               \
    X(erf, erf(x), (T)CG_2_SQRTPI * exp(-x * x))                                           \
    X(leaky_relu, x > 0 ? x : a * x, x > 0 ? (T)1 : a)                                     \
    X(elu, x > 0 ? x : a * expm1(x), x > 0 ? (T)1 : a * exp(x))                            \
    X(gelu, x * (T)0.5 * (1 + erf(x * (T)CG_SQRT1_2)),                                     \
      (T)0.5 * (1 + erf(x * (T)CG_SQRT1_2)) + x * (T)CG_INV_SQRT_2PI * exp(-(T)0.5 * x * x)) \
    X(gelu_tanh, (T)0.5 * x * (1 + CG_TANH(CG_GELU_U(x))),                                 \
      (T)0.5 * (1 + CG_TANH(CG_GELU_U(x))) +                                               \
          (T)0.5 * x * (1 - CG_TANH(CG_GELU_U(x)) * CG_TANH(CG_GELU_U(x))) * (T)CG_SQRT_2_PI * \
              (1 + 3 * (T)0.044715 * x * x))                                               \
    X(silu, x / (1 + exp(-x)), (1 / (1 + exp(-x))) * (1 + x * (1 - 1 / (1 + exp(-x)))))    \
    X(softplus, x * a > b ? x : log1p(exp(x * a)) / a,                                     \
      x * a > b ? (T)1 : exp(x * a) / (exp(x * a) + 1))

/* Constants of erf and GELU (M_* are not ISO C). */
#define CG_2_SQRTPI 1.12837916709551257390     /* 2 / sqrt(pi) */
#define CG_SQRT1_2 0.70710678118654752440      /* 1 / sqrt(2) */
#define CG_INV_SQRT_2PI 0.39894228040143267794 /* 1 / sqrt(2 pi) */
#define CG_SQRT_2_PI 0.79788456080286535588    /* sqrt(2 / pi) */
/* tanh: the vectorizable float version (tanh_f32.h), libm's for double. */
#define CG_TANH(v) _Generic((v), float: cg_tanh_f32, default: cg_tanh_f64)(v)
static inline double cg_tanh_f64(double v) { return tanh(v); }
/* The tanh approximation's argument sqrt(2/pi) (x + 0.044715 x^3). */
#define CG_GELU_U(x) ((T)CG_SQRT_2_PI * ((x) + (T)0.044715 * (x) * (x) * (x)))

#define CG_KERNELS_INC "unary_kernels.inc"
#include "per_dtype.inc"

/* One part of an op's pass, cut over the pool (cg_parallel_parts): at 2
 * threads the helper otherwise waits through every activation. */
struct unary_job {
    struct cg_record *r;
    bool set; /* backward: the first write of x's grad */
    int parts;
};

static void unary_range(const struct unary_job *j, int part, int64_t *lo, int64_t *hi)
{
    cg_split_map(j->r->in[0]->numel, j->parts, part, lo, hi);
}

#define CG_UNARY_WRAPPERS(name, fwd, deriv)                                                \
    static void name##_forward_part(void *ctx, int part)                                   \
    {                                                                                      \
        const struct unary_job *j = ctx;                                                   \
        struct cg_record *r = j->r;                                                        \
        struct cg_tensor *x = r->in[0], *y = r->out;                                       \
        int64_t lo, hi;                                                                    \
        unary_range(j, part, &lo, &hi);                                                    \
        if (y->dtype == CG_F64)                                                            \
            name##_fwd_f64((double *)y->data + lo, (const double *)x->data + lo, hi - lo,  \
                           r->scalar[0], r->scalar[1]);                                    \
        else                                                                               \
            name##_fwd_f32((float *)y->data + lo, (const float *)x->data + lo, hi - lo,    \
                           (float)r->scalar[0], (float)r->scalar[1]);                      \
    }                                                                                      \
    static void name##_forward(struct cg_record *r)                                        \
    {                                                                                      \
        struct unary_job j = {r, false, cg_parallel_parts(r->in[0]->numel)};               \
        cg_parallel_map(j.parts, name##_forward_part, &j);                                 \
    }                                                                                      \
    static void name##_backward_part(void *ctx, int part)                                  \
    {                                                                                      \
        const struct unary_job *j = ctx;                                                   \
        struct cg_record *r = j->r;                                                        \
        struct cg_tensor *x = r->in[0], *y = r->out;                                       \
        int64_t lo, hi;                                                                    \
        unary_range(j, part, &lo, &hi);                                                    \
        if (y->dtype == CG_F64)                                                            \
            (j->set ? name##_bwd_set_f64 : name##_bwd_f64)(                                \
                (double *)x->grad->data + lo, (const double *)y->grad->data + lo,          \
                (const double *)x->data + lo, (const double *)y->data + lo, hi - lo,       \
                r->scalar[0], r->scalar[1]);                                               \
        else                                                                               \
            (j->set ? name##_bwd_set_f32 : name##_bwd_f32)(                                \
                (float *)x->grad->data + lo, (const float *)y->grad->data + lo,            \
                (const float *)x->data + lo, (const float *)y->data + lo, hi - lo,         \
                (float)r->scalar[0], (float)r->scalar[1]);                                 \
    }                                                                                      \
    static void name##_backward(struct cg_record *r)                                       \
    {                                                                                      \
        struct cg_tensor *x = r->in[0];                                                    \
        if (!x->grad) return;                                                              \
        struct unary_job j = {r, cg_grad_assign(x), cg_parallel_parts(x->numel)};          \
        cg_parallel_map(j.parts, name##_backward_part, &j);                                \
    }                                                                                      \
    const struct cg_op cg_op_##name = {#name, name##_forward, name##_backward,             \
                                       CG_OP_ASSIGNS_GRAD};

CG_UNARY_OPS(CG_UNARY_WRAPPERS)

static struct cg_tensor *unary(struct cg_tape *tape, const struct cg_op *op, struct cg_tensor *x,
                               double a, double b)
{
    if (!x) {
        cg_misuse(op->name, "input is NULL (hint: an earlier op failed; check cg_last_error())");
        return NULL;
    }
    double s[2] = {a, b};
    return cg_op_apply(tape, op, 1, &x, x->dtype, x->ndim, x->shape, s, 2);
}

struct cg_tensor *cg_add_scalar(struct cg_tape *t, struct cg_tensor *a, double s) { return unary(t, &cg_op_add_scalar, a, s, 0); }
struct cg_tensor *cg_mul_scalar(struct cg_tape *t, struct cg_tensor *a, double s) { return unary(t, &cg_op_mul_scalar, a, s, 0); }
struct cg_tensor *cg_pow_scalar(struct cg_tape *t, struct cg_tensor *a, double p) { return unary(t, &cg_op_pow_scalar, a, p, 0); }
struct cg_tensor *cg_neg(struct cg_tape *t, struct cg_tensor *a) { return unary(t, &cg_op_neg, a, 0, 0); }
struct cg_tensor *cg_abs(struct cg_tape *t, struct cg_tensor *a) { return unary(t, &cg_op_abs, a, 0, 0); }
struct cg_tensor *cg_exp(struct cg_tape *t, struct cg_tensor *a) { return unary(t, &cg_op_exp, a, 0, 0); }
struct cg_tensor *cg_log(struct cg_tape *t, struct cg_tensor *a) { return unary(t, &cg_op_log, a, 0, 0); }
struct cg_tensor *cg_sqrt(struct cg_tape *t, struct cg_tensor *a) { return unary(t, &cg_op_sqrt, a, 0, 0); }
struct cg_tensor *cg_square(struct cg_tape *t, struct cg_tensor *a) { return unary(t, &cg_op_square, a, 0, 0); }
struct cg_tensor *cg_tanh(struct cg_tape *t, struct cg_tensor *a) { return unary(t, &cg_op_tanh, a, 0, 0); }
struct cg_tensor *cg_sigmoid(struct cg_tape *t, struct cg_tensor *a) { return unary(t, &cg_op_sigmoid, a, 0, 0); }
struct cg_tensor *cg_relu(struct cg_tape *t, struct cg_tensor *a) { return unary(t, &cg_op_relu, a, 0, 0); }
struct cg_tensor *cg_tanhshrink(struct cg_tape *t, struct cg_tensor *a) { return unary(t, &cg_op_tanhshrink, a, 0, 0); }
struct cg_tensor *cg_erf(struct cg_tape *t, struct cg_tensor *a) { return unary(t, &cg_op_erf, a, 0, 0); }
struct cg_tensor *cg_silu(struct cg_tape *t, struct cg_tensor *a) { return unary(t, &cg_op_silu, a, 0, 0); }

struct cg_tensor *cg_gelu(struct cg_tape *t, struct cg_tensor *a, bool tanh_approximation)
{
    return unary(t, tanh_approximation ? &cg_op_gelu_tanh : &cg_op_gelu, a, 0, 0);
}

static bool finite_ok(const char *fn, const char *what, double v)
{
    if (isfinite(v)) return true;
    cg_misuse(fn, "%s = %g: must be finite", what, v);
    return false;
}

struct cg_tensor *cg_leaky_relu(struct cg_tape *t, struct cg_tensor *a, double negative_slope)
{
    return finite_ok("leaky_relu", "negative_slope", negative_slope)
               ? unary(t, &cg_op_leaky_relu, a, negative_slope, 0) : NULL;
}

struct cg_tensor *cg_elu(struct cg_tape *t, struct cg_tensor *a, double alpha)
{
    return finite_ok("elu", "alpha", alpha) ? unary(t, &cg_op_elu, a, alpha, 0) : NULL;
}

struct cg_tensor *cg_softplus(struct cg_tape *t, struct cg_tensor *a, double beta, double threshold)
{
    if (!(beta > 0) || isinf(beta) || isnan(threshold)) {
        cg_misuse("softplus", "beta = %g, threshold = %g: need a finite beta > 0 and a threshold "
                  "that is not NaN (PyTorch's defaults: beta 1, threshold 20)", beta, threshold);
        return NULL;
    }
    return unary(t, &cg_op_softplus, a, beta, threshold);
}

static bool lambda_ok(const char *fn, double lambda)
{
    if (lambda >= 0) return true; /* also rejects NaN */
    cg_misuse(fn, "lambda = %g: must be >= 0 (PyTorch accepts a negative lambda for hardshrink "
              "and silently computes nonsense; cgrad refuses it)", lambda);
    return false;
}

struct cg_tensor *cg_hardshrink(struct cg_tape *t, struct cg_tensor *a, double lambda)
{
    return lambda_ok("hardshrink", lambda) ? unary(t, &cg_op_hardshrink, a, lambda, 0) : NULL;
}

struct cg_tensor *cg_softshrink(struct cg_tape *t, struct cg_tensor *a, double lambda)
{
    return lambda_ok("softshrink", lambda) ? unary(t, &cg_op_softshrink, a, lambda, 0) : NULL;
}

struct cg_tensor *cg_clamp(struct cg_tape *t, struct cg_tensor *a, double lo, double hi)
{
    if (!(lo <= hi)) {
        cg_misuse("clamp", "lo = %g, hi = %g: need lo <= hi (use -INFINITY/INFINITY for an "
                  "open side)", lo, hi);
        return NULL;
    }
    return unary(t, &cg_op_clamp, a, lo, hi);
}
