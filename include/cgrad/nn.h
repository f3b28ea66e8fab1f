/* Layers (modules) and loss functions.
 *
 * Every layer is a struct cg_module (see module.h) created by a *_new
 * constructor; free it with cg_module_free (a Sequential frees its
 * children).  Constructors return NULL after misuse (bad sizes, lambda < 0)
 * or out-of-memory (cg_last_error() says which).  Each layer also exists as a
 * plain function: cg_linear, cg_relu, cg_hardshrink, ... in ops.h.
 *
 * Losses are fused ops with their own forward and backward, f32 and f64.
 * They return a tensor on the tape: shape [] (one element) for
 * CG_REDUCTION_MEAN / CG_REDUCTION_SUM, the per-element (or per-sample)
 * losses for CG_REDUCTION_NONE; or NULL after misuse.  Semantics follow
 * PyTorch's torch.nn.functional losses except where noted.  The target
 * normally does not require grad; if it does, it gets its gradient too. */
#ifndef CGRAD_NN_H
#define CGRAD_NN_H

#include "export.h"
#include <stdbool.h>
#include <stdint.h>

#include "module.h"
#include "ops.h"
#include "rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- containers ---- */

/* Runs n modules in order, feeding each one's output to the next (an empty
 * Sequential returns its input).  Takes ownership of the modules, also on
 * failure: if any is NULL (its constructor failed) the others are freed,
 * misuse is reported naming the position, and NULL is returned.  Children
 * are named "0", "1", ..., so parameters are "0.weight", "2.bias", ...
 * The array itself is not kept. */
CG_API struct cg_module *cg_sequential_new(int n, struct cg_module *const *modules);
/* As cg_sequential_new, except that a NULL last entry is a terminator. */
CG_API struct cg_module *cg_sequential_list(int n, struct cg_module *const *modules);
/* cg_sequential(m1, m2, ..., NULL): the variadic form, e.g.
 *     cg_sequential(cg_linear_new(784, 256, true, &rng), cg_hardshrink_new(0.1), NULL)
 * A NULL before the terminating NULL (a failed constructor) is caught: the
 * other modules are freed and the result is NULL. */
#define cg_sequential(...)                                                       \
    cg_sequential_list((int)(sizeof((struct cg_module *[]){__VA_ARGS__}) /       \
                             sizeof(struct cg_module *)),                        \
                       (struct cg_module *[]){__VA_ARGS__})
/* Number of children (0 and misuse if seq is not a Sequential) and child i
 * (NULL and misuse if seq is not a Sequential or i is out of range).  The
 * child stays owned by seq. */
CG_API int cg_sequential_size(const struct cg_module *seq);
CG_API struct cg_module *cg_sequential_child(struct cg_module *seq, int i);

/* ---- layers ---- */

/* y = x W^T + b.  weight [out, in] and bias [out] (if `bias`) are drawn
 * uniformly from [-1/sqrt(in), 1/sqrt(in)) with `rng`, weight first, then
 * bias (PyTorch's default init, with cgrad's RNG); named "weight"/"bias",
 * requires_grad set.  dtype CG_F32.  Misuse if in or out < 1 or rng NULL.
 * forward: x [N, in] -> [N, out] (misuse names both sizes on mismatch). */
CG_API struct cg_module *cg_linear_new(int64_t in, int64_t out, bool bias, struct cg_rng *rng);
/* Same with an explicit dtype (CG_F32 or CG_F64); the same seed gives the
 * same values in both dtypes (up to f32 rounding). */
CG_API struct cg_module *cg_linear_new_dtype(int64_t in, int64_t out, bool bias, enum cg_dtype dtype,
                                      struct cg_rng *rng);
/* A Linear's weight / bias (NULL without bias).  Owned by the module.  Misuse
 * (NULL) if m is not a Linear.  Same as cg_module_param(m, "weight"). */
CG_API struct cg_tensor *cg_linear_weight(struct cg_module *m);
CG_API struct cg_tensor *cg_linear_bias(struct cg_module *m);

/* Default lambda of the shrink layers, as PyTorch. */
#define CG_SHRINK_DEFAULT_LAMBDA 0.5

/* Activations: parameter-free modules around the ops of the same name in
 * ops.h (same semantics, also at the kinks).  Type names as in PyTorch:
 * "ReLU", "Hardshrink", "Softshrink", "Tanhshrink", "Sigmoid", "Tanh".
 * Each returns a new module (free with cg_module_free, or give it to a
 * Sequential), or NULL on out-of-memory. */
CG_API struct cg_module *cg_relu_new(void);
/* Misuse (NULL) if lambda < 0 or NaN. */
CG_API struct cg_module *cg_hardshrink_new(double lambda);
CG_API struct cg_module *cg_softshrink_new(double lambda);
CG_API struct cg_module *cg_tanhshrink_new(void);
CG_API struct cg_module *cg_sigmoid_new(void);
CG_API struct cg_module *cg_tanh_new(void);
/* The lambda of a Hardshrink/Softshrink module (misuse and NaN otherwise). */
CG_API double cg_shrink_lambda(const struct cg_module *m);

/* ---- losses ---- */

enum cg_reduction { CG_REDUCTION_MEAN = 0, CG_REDUCTION_SUM, CG_REDUCTION_NONE };

/* Elementwise losses.  input and target must have the same shape and dtype
 * (misuse otherwise: cgrad does not broadcast the target).
 *   mse:  (x - t)^2
 *   l1:   |x - t|; gradient sign(x - t), 0 where x == t (as PyTorch)
 *   bce:  -(t log x + (1 - t) log(1 - x)) with each log clamped to >= -100
 *         (as PyTorch), so x = 0 or 1 gives a finite loss.  x must lie in
 *         [0, 1] (misuse names the first offending index; NaN passes through).
 *         d/dx = (x - t) / max(x (1 - x), 1e-12) (PyTorch's formula);
 *         d/dt = log(1 - x) - log(x) with the same clamping (finite).
 *   bce_with_logits: max(x, 0) - x t + log1p(exp(-|x|)), stable for any x;
 *         d/dx = sigmoid(x) - t, d/dt = -x. */
CG_API struct cg_tensor *cg_mse_loss(struct cg_tape *tape, struct cg_tensor *input,
                              struct cg_tensor *target, enum cg_reduction reduction);
/* cg_mse_loss(tape, a, b, CG_REDUCTION_MEAN). */
CG_API struct cg_tensor *cg_mse_loss_mean(struct cg_tape *tape, struct cg_tensor *a, struct cg_tensor *b);
CG_API struct cg_tensor *cg_l1_loss(struct cg_tape *tape, struct cg_tensor *input,
                             struct cg_tensor *target, enum cg_reduction reduction);
CG_API struct cg_tensor *cg_bce_loss(struct cg_tape *tape, struct cg_tensor *input,
                              struct cg_tensor *target, enum cg_reduction reduction);
CG_API struct cg_tensor *cg_bce_with_logits_loss(struct cg_tape *tape, struct cg_tensor *input,
                                          struct cg_tensor *target, enum cg_reduction reduction);

/* Cross entropy of logits [N, C] against class indices targets[N] in [0, C),
 * with a fused, stable log-softmax: loss_n = logsumexp(x_n) - x_n[t_n].
 * MEAN divides by N.  NONE gives [N].  The targets are copied (the array may
 * be reused right away).  Misuse if logits is not 2-D, targets is NULL, or a
 * target is out of range (the message names the index, the value and C).
 * No ignore_index: PyTorch's default -100 is out of range here. */
CG_API struct cg_tensor *cg_cross_entropy_loss(struct cg_tape *tape, struct cg_tensor *logits,
                                        const int32_t *targets, enum cg_reduction reduction);
/* Same, with the class indices as a tensor of N whole numbers (any shape
 * with N elements, logits' dtype), e.g. labels from a dataset.  The target
 * tensor never receives a gradient. */
CG_API struct cg_tensor *cg_cross_entropy_loss_tensor(struct cg_tape *tape, struct cg_tensor *logits,
                                               struct cg_tensor *targets,
                                               enum cg_reduction reduction);

/* L1 activity penalty for sparse codes: weight * sum(|x|) / B, where B =
 * x->shape[0] is the batch size (B = 1 for a 0-d tensor): the mean over the
 * batch of each sample's L1 norm, times weight.  Unlike mean(|x|) it does not
 * shrink as the code gets wider.  Gradient weight * sign(x) / B, 0 at 0.
 * Returns shape [].  Misuse if weight < 0 or not finite, or B == 0. */
CG_API struct cg_tensor *cg_l1_penalty(struct cg_tape *tape, struct cg_tensor *x, double weight);

#ifdef __cplusplus
}
#endif
#endif
