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

/* Elementwise max / min (broadcasting).  NaN propagates.  At a tie each
 * input gets half the gradient (as PyTorch); where either is NaN both get
 * all of it. */
CG_API struct cg_tensor *cg_maximum(struct cg_tape *tape, struct cg_tensor *a, struct cg_tensor *b);
CG_API struct cg_tensor *cg_minimum(struct cg_tape *tape, struct cg_tensor *a, struct cg_tensor *b);
/* a where cond != 0, else b.  cond, a and b must have the same shape and
 * dtype (no broadcasting: misuse names the three shapes); cond gets no
 * gradient.  A mask is a tensor of 0s and 1s. */
CG_API struct cg_tensor *cg_where(struct cg_tape *tape, struct cg_tensor *cond, struct cg_tensor *a,
                                  struct cg_tensor *b);

/* ---- with a scalar: a + s, a * s ---- */
CG_API struct cg_tensor *cg_add_scalar(struct cg_tape *tape, struct cg_tensor *a, double s);
CG_API struct cg_tensor *cg_mul_scalar(struct cg_tape *tape, struct cg_tensor *a, double s);
/* x^p; gradient p*x^(p-1) (0 when p == 0). */
CG_API struct cg_tensor *cg_pow_scalar(struct cg_tape *tape, struct cg_tensor *a, double p);

/* ---- unary elementwise ---- */
CG_API struct cg_tensor *cg_neg(struct cg_tape *tape, struct cg_tensor *a);
/* gradient sign(x), 0 at 0 (as PyTorch). */
CG_API struct cg_tensor *cg_abs(struct cg_tape *tape, struct cg_tensor *a);
/* e^x, ln x, sqrt x, x^2, tanh x, 1 / (1 + e^-x).  f32 tanh (also in
 * tanhshrink and the tanh GELU) is cgrad's own vectorized one, within
 * 2 ulp of the exact value (PyTorch's is a 1-ulp approximation too); f64
 * uses the C library's. */
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

/* ---- more activations (PyTorch's torch.nn.functional semantics) ---- */
/* erf(x); gradient 2/sqrt(pi) exp(-x^2). */
CG_API struct cg_tensor *cg_erf(struct cg_tape *tape, struct cg_tensor *a);
/* x if x > 0 else slope * x; gradient slope at 0 (as PyTorch; its default
 * slope is 0.01).  Misuse if slope is not finite. */
CG_API struct cg_tensor *cg_leaky_relu(struct cg_tape *tape, struct cg_tensor *a, double negative_slope);
/* x if x > 0 else alpha (e^x - 1); gradient alpha e^x for x <= 0 (default
 * alpha 1).  Misuse if alpha is not finite. */
CG_API struct cg_tensor *cg_elu(struct cg_tape *tape, struct cg_tensor *a, double alpha);
/* x Phi(x) with the exact normal CDF (erf), or with PyTorch's tanh
 * approximation (approximate='tanh') when tanh_approximation. */
CG_API struct cg_tensor *cg_gelu(struct cg_tape *tape, struct cg_tensor *a, bool tanh_approximation);
/* x sigmoid(x). */
CG_API struct cg_tensor *cg_silu(struct cg_tape *tape, struct cg_tensor *a);
/* log(1 + e^(beta x)) / beta, and x itself where beta x > threshold
 * (PyTorch's defaults: beta 1, threshold 20).  Misuse unless beta is finite
 * and > 0 and threshold is not NaN. */
CG_API struct cg_tensor *cg_softplus(struct cg_tape *tape, struct cg_tensor *a, double beta,
                                     double threshold);

/* ---- along one dim (negative dims count from the end; misuse if out of
 *      range) ---- */
/* exp(x) / sum exp(x) and x - logsumexp(x) over dim, shifted by the
 * maximum of each slice: stable for inputs like +-1000. */
CG_API struct cg_tensor *cg_softmax(struct cg_tape *tape, struct cg_tensor *a, int dim);
CG_API struct cg_tensor *cg_log_softmax(struct cg_tape *tape, struct cg_tensor *a, int dim);
/* log sum exp(x) over dim, stable; all -inf gives -inf, any +inf gives inf. */
CG_API struct cg_tensor *cg_logsumexp(struct cg_tape *tape, struct cg_tensor *a, int dim, bool keepdim);
/* Variance over dim: sum (x - mean)^2 / (d - 1) when unbiased, / d
 * otherwise (d - 1 == 0 gives NaN, as PyTorch); std is its square root. */
CG_API struct cg_tensor *cg_var_dim(struct cg_tape *tape, struct cg_tensor *a, int dim, bool unbiased,
                                    bool keepdim);
CG_API struct cg_tensor *cg_std_dim(struct cg_tape *tape, struct cg_tensor *a, int dim, bool unbiased,
                                    bool keepdim);

/* ---- joining, slicing, indexing ----
 * Indices are plain int64_t arrays (cgrad tensors are f32/f64).  They are
 * bounds-checked (misuse names the position, the value and the size; no
 * negative wrap-around) and copied, so the array may be reused at once.
 * An f32 input dim over 2^24 entries cannot be indexed (misuse: use f64). */
/* Joins n >= 1 tensors of one dtype along dim; all other sizes must match
 * (misuse names the first tensor that does not fit).  Any n: more than
 * CG_MAX_INPUTS are joined in groups. */
CG_API struct cg_tensor *cg_cat(struct cg_tape *tape, int n, struct cg_tensor *const *tensors, int dim);
/* Elements start .. start + length - 1 along dim (PyTorch's narrow).  A view
 * sharing a's data (valid while a is) when the slice is contiguous, i.e.
 * every dim before `dim` has size 1; a copy otherwise.  Misuse if the range
 * does not fit. */
CG_API struct cg_tensor *cg_narrow(struct cg_tape *tape, struct cg_tensor *a, int dim, int64_t start,
                                   int64_t length);
/* out = a with dim replaced by the n rows a[..., index[k], ...]; repeated
 * indices add their gradients. */
CG_API struct cg_tensor *cg_index_select(struct cg_tape *tape, struct cg_tensor *a, int dim,
                                         const int64_t *index, int64_t n);
/* Rows of weight [num, dim] picked by an index of shape index_shape (ndim
 * 0..CG_MAX_DIMS-1): the output is [index_shape..., dim].  The row
 * padding_idx (negative counts from the end, as PyTorch) gets no gradient;
 * pass CG_NO_PADDING for none. */
#define CG_NO_PADDING INT64_MIN
CG_API struct cg_tensor *cg_embedding(struct cg_tape *tape, struct cg_tensor *weight,
                                      const int64_t *index, int ndim, const int64_t *index_shape,
                                      int64_t padding_idx);
/* out[i][j] = a[index[i][j]][j] (dim 0), a[i][index[i][j]] (dim 1), ...:
 * index has shape index_shape (same ndim as a, sizes <= a's except along
 * dim) and out has that shape.  Repeated indices add their gradients. */
CG_API struct cg_tensor *cg_gather(struct cg_tape *tape, struct cg_tensor *a, int dim,
                                   const int64_t *index, int ndim, const int64_t *index_shape);
/* Index of the first maximum (minimum) along dim of every slice into
 * indices[0 .. numel / size(dim)), in the reduced shape's row-major order; a
 * NaN counts as the extreme (as torch.argmax).  No tape, no gradient.
 * CG_OK, or CG_ERR_INVALID after misuse (NULL, dim out of range, empty dim,
 * capacity too small). */
CG_API enum cg_status cg_argmax(const struct cg_tensor *a, int dim, int64_t *indices,
                                int64_t capacity);
CG_API enum cg_status cg_argmin(const struct cg_tensor *a, int dim, int64_t *indices,
                                int64_t capacity);

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

/* Output dim i is input dim perm[i] (perm has a->ndim entries, each dim
 * once; negative entries count from the end).  Copies. */
CG_API struct cg_tensor *cg_permute(struct cg_tape *tape, struct cg_tensor *a, const int *perm);
/* Views through cg_reshape (sharing a's data): a size-1 dim inserted at dim
 * (-ndim-1..ndim), dim removed if it has size 1 (else a's shape), and dims
 * start_dim..end_dim merged into one (PyTorch's flatten; a 0-d tensor gives
 * [1]). */
CG_API struct cg_tensor *cg_unsqueeze(struct cg_tape *tape, struct cg_tensor *a, int dim);
CG_API struct cg_tensor *cg_squeeze(struct cg_tape *tape, struct cg_tensor *a, int dim);
CG_API struct cg_tensor *cg_flatten(struct cg_tape *tape, struct cg_tensor *a, int start_dim, int end_dim);

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
