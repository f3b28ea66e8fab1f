/* Differentiable ops.
 *
 * Every op takes the tape first and returns a new tensor owned by the tape
 * (released by cg_tape_reset), or NULL after reporting misuse (NULL input,
 * dtype mismatch, incompatible shapes, bad parameter) through the misuse
 * handler.  Out-of-memory also returns NULL (CG_ERR_NOMEM in
 * cg_last_error()).  Inputs are never modified.  All ops support CG_F32 and
 * CG_F64; inputs of one call must share a dtype.  Inputs must be persistent
 * or from the tape's current step (a tensor released by cg_tape_reset, or
 * from another tape, is misuse).  Semantics follow PyTorch except where
 * noted; in particular values outside a function's domain are not misuse
 * (log(-1), sqrt(-1) and 0/0 give NaN, 1/0 gives Inf, as in C): anomaly mode
 * (cg_tape_set_anomaly) finds where they appear. */
#ifndef CGRAD_OPS_H
#define CGRAD_OPS_H

#include "export.h"
#include <stdbool.h>

#include "tape.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- binary elementwise, NumPy broadcasting ([4,1,3] + [2,1] -> [4,2,3]) ----
 * a + b, a - b, a * b, a / b; misuse if the shapes cannot broadcast (the
 * message names both shapes and the dim).  The gradient of a broadcast input
 * is summed over the broadcast dims. */
CG_API struct cg_tensor *cg_add(struct cg_tape *tape, struct cg_tensor *a, struct cg_tensor *b);
CG_API struct cg_tensor *cg_sub(struct cg_tape *tape, struct cg_tensor *a, struct cg_tensor *b);
CG_API struct cg_tensor *cg_mul(struct cg_tape *tape, struct cg_tensor *a, struct cg_tensor *b);
CG_API struct cg_tensor *cg_div(struct cg_tape *tape, struct cg_tensor *a, struct cg_tensor *b);

/* ---- with a scalar: a + s, a * s ---- */
CG_API struct cg_tensor *cg_add_scalar(struct cg_tape *tape, struct cg_tensor *a, double s);
CG_API struct cg_tensor *cg_mul_scalar(struct cg_tape *tape, struct cg_tensor *a, double s);
/* x^p; gradient p*x^(p-1) (0 when p == 0). */
CG_API struct cg_tensor *cg_pow_scalar(struct cg_tape *tape, struct cg_tensor *a, double p);

/* ---- unary elementwise ---- */
CG_API struct cg_tensor *cg_neg(struct cg_tape *tape, struct cg_tensor *a);
/* gradient sign(x), 0 at 0 (as PyTorch). */
CG_API struct cg_tensor *cg_abs(struct cg_tape *tape, struct cg_tensor *a);
/* e^x, ln x, sqrt x, x^2, tanh x, 1 / (1 + e^-x). */
CG_API struct cg_tensor *cg_exp(struct cg_tape *tape, struct cg_tensor *a);
CG_API struct cg_tensor *cg_log(struct cg_tape *tape, struct cg_tensor *a);
CG_API struct cg_tensor *cg_sqrt(struct cg_tape *tape, struct cg_tensor *a);
CG_API struct cg_tensor *cg_square(struct cg_tape *tape, struct cg_tensor *a);
CG_API struct cg_tensor *cg_tanh(struct cg_tape *tape, struct cg_tensor *a);
CG_API struct cg_tensor *cg_sigmoid(struct cg_tape *tape, struct cg_tensor *a);
/* max(x, 0); gradient 0 at x == 0 (as PyTorch). */
CG_API struct cg_tensor *cg_relu(struct cg_tape *tape, struct cg_tensor *a);
/* x if |x| > lambda else 0; gradient 1 outside the closed band [-l, l], 0 on
 * it.  Improvement over PyTorch: lambda < 0 (or NaN) is misuse. */
CG_API struct cg_tensor *cg_hardshrink(struct cg_tape *tape, struct cg_tensor *a, double lambda);
/* x - l if x > l, x + l if x < -l, else 0; gradient as hardshrink.
 * Improvements over PyTorch: lambda < 0 is misuse; NaN propagates (PyTorch
 * returns 0). */
CG_API struct cg_tensor *cg_softshrink(struct cg_tape *tape, struct cg_tensor *a, double lambda);
/* x - tanh(x); gradient tanh(x)^2. */
CG_API struct cg_tensor *cg_tanhshrink(struct cg_tape *tape, struct cg_tensor *a);
/* min(max(x, lo), hi); gradient 1 where lo <= x <= hi (as PyTorch).  Misuse if
 * lo > hi.  Pass -INFINITY/INFINITY for a one-sided clamp. */
CG_API struct cg_tensor *cg_clamp(struct cg_tape *tape, struct cg_tensor *a, double lo, double hi);

/* ---- linear algebra (OpenBLAS GEMM) ---- */
/* [M,K] x [K,N] -> [M,N]; batched: [B,M,K] x [B,K,N] -> [B,M,N].  Misuse:
 * other ranks (no broadcasting of the batch), K or B mismatch, a size over
 * INT32_MAX. */
CG_API struct cg_tensor *cg_matmul(struct cg_tape *tape, struct cg_tensor *a, struct cg_tensor *b);
/* y = x W^T + b in one GEMM (bias fused).  x [N,in], w [out,in], b [out] or
 * NULL.  Misuse names the mismatching sizes (x not 2-D, in differs, bias not
 * [out]). */
CG_API struct cg_tensor *cg_linear(struct cg_tape *tape, struct cg_tensor *x, struct cg_tensor *w,
                            struct cg_tensor *b);

/* ---- reductions ---- */
/* Sum / mean of all elements -> shape [] (scalar, numel 1). */
CG_API struct cg_tensor *cg_sum(struct cg_tape *tape, struct cg_tensor *a);
CG_API struct cg_tensor *cg_mean(struct cg_tape *tape, struct cg_tensor *a);
/* Over one dim (negative counts from the end); keepdim keeps it as size 1.
 * Misuse if dim is out of range. */
CG_API struct cg_tensor *cg_sum_dim(struct cg_tape *tape, struct cg_tensor *a, int dim, bool keepdim);
CG_API struct cg_tensor *cg_mean_dim(struct cg_tape *tape, struct cg_tensor *a, int dim, bool keepdim);
/* Maximum over one dim; the gradient goes to the first maximal element.
 * Misuse if dim is out of range or has size 0. */
CG_API struct cg_tensor *cg_max_dim(struct cg_tape *tape, struct cg_tensor *a, int dim, bool keepdim);

/* ---- shape ---- */
/* Same data, new shape (numel must match; one size may be -1).  The result
 * shares a's data (no copy), so it is valid only while a is; gradients flow
 * back to a.  Misuse: ndim out of range, more than one -1, another negative
 * size, or a different element count. */
CG_API struct cg_tensor *cg_reshape(struct cg_tape *tape, struct cg_tensor *a, int ndim,
                             const int64_t *shape);
/* 2-D transpose (copies).  Misuse if a is not 2-D. */
CG_API struct cg_tensor *cg_transpose(struct cg_tape *tape, struct cg_tensor *a);

/* ---- the op table, for tools and tests ---- */
struct cg_op;
/* Number of built-in ops and the i-th one (NULL if out of range).  The
 * descriptors are static: never free or modify them. */
CG_API int cg_builtin_op_count(void);
CG_API const struct cg_op *cg_builtin_op(int i);

#ifdef __cplusplus
}
#endif
#endif
