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
 * The array itself is not kept.  A Conv2d followed by a ReLU (and by
 * another child) runs as one op, cg_conv2d_relu: same results. */
CG_API struct cg_module *cg_sequential_new(int n, struct cg_module *const *modules);
/* cg_sequential(m1, m2, ...): the variadic form, with the count taken at
 * compile time, e.g.
 *     cg_sequential(cg_linear_new(784, 256, true, &rng), cg_hardshrink_new(0.1))
 * There is no terminator: every argument is a module, so a NULL anywhere (a
 * failed constructor, also the last one) is misuse as in cg_sequential_new.
 * At least one module; an empty Sequential is cg_sequential_new(0, NULL).
 * In C++ the same call is a function template (below the C declarations). */
#ifndef __cplusplus
#define cg_sequential(...)                                                       \
    cg_sequential_new((int)(sizeof((struct cg_module *[]){__VA_ARGS__}) /        \
                            sizeof(struct cg_module *)),                         \
                      (struct cg_module *[]){__VA_ARGS__})
#endif
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

/* More activations (modules around the ops of ops.h, PyTorch's type names
 * and defaults in brackets).  Each returns NULL after misuse (the same
 * argument checks as the op) or out-of-memory. */
CG_API struct cg_module *cg_leaky_relu_new(double negative_slope);         /* LeakyReLU [0.01] */
CG_API struct cg_module *cg_elu_new(double alpha);                         /* ELU [1] */
CG_API struct cg_module *cg_gelu_new(bool tanh_approximation);             /* GELU [false] */
CG_API struct cg_module *cg_silu_new(void);                                /* SiLU */
CG_API struct cg_module *cg_softplus_new(double beta, double threshold);   /* Softplus [1, 20] */
/* Softmax / LogSoftmax over dim (checked against each input: misuse in
 * forward when out of range). */
CG_API struct cg_module *cg_softmax_new(int dim);
CG_API struct cg_module *cg_log_softmax_new(int dim);
/* Flatten dims start_dim..end_dim (PyTorch's defaults: 1, -1), a view. */
CG_API struct cg_module *cg_flatten_new(int start_dim, int end_dim);
/* Returns its input. */
CG_API struct cg_module *cg_identity_new(void);

/* Dropout with drop probability p in [0, 1) (misuse otherwise, and for rng
 * NULL).  In training mode each element is kept with probability 1 - p and
 * then multiplied by 1 / (1 - p), as PyTorch (y = x * mask, the mask holding
 * 0 or 1 / (1 - p)); in eval mode, or with p = 0, forward returns its input.
 * The mask is drawn from rng (one 32-bit draw per element), which the module
 * keeps a pointer to: it must outlive the module.  cg_dropout is the same as
 * a function. */
CG_API struct cg_module *cg_dropout_new(double p, struct cg_rng *rng);
CG_API struct cg_tensor *cg_dropout(struct cg_tape *tape, struct cg_tensor *x, double p,
                                    bool training, struct cg_rng *rng);

/* Embedding: weight [num_embeddings, embedding_dim] drawn from N(0, 1) (as
 * PyTorch) with the padding_idx row zeroed (negative counts from the end;
 * CG_NO_PADDING for none).  forward takes a tensor of whole-number indices
 * of any shape and returns [shape..., embedding_dim] (misuse names an index
 * that is not one); the padding row gets no gradient.  Function: cg_embedding
 * in ops.h (int64 indices). */
CG_API struct cg_module *cg_embedding_new(int64_t num_embeddings, int64_t embedding_dim,
                                          int64_t padding_idx, struct cg_rng *rng);
CG_API struct cg_tensor *cg_embedding_weight(struct cg_module *m);

/* LayerNorm over the trailing ndim dims normalized_shape[0..ndim):
 * (x - mean) / sqrt(var + eps) with the biased variance, then * weight + bias
 * (ones and zeros, named "weight" and "bias") if elementwise_affine.  Misuse:
 * ndim out of 1..CG_MAX_DIMS, a size < 1, eps < 0 or not finite (PyTorch's
 * default eps: 1e-5); in forward, an input not ending in normalized_shape. */
CG_API struct cg_module *cg_layer_norm_new(int ndim, const int64_t *normalized_shape, double eps,
                                           bool elementwise_affine);
/* As a function (PyTorch's F.layer_norm): over the last ndim dims of x, with
 * weight and bias (both or neither: NULL) broadcasting over the leading
 * dims. */
CG_API struct cg_tensor *cg_layer_norm(struct cg_tape *tape, struct cg_tensor *x, int ndim,
                                       struct cg_tensor *weight, struct cg_tensor *bias, double eps);
/* BatchNorm1d over [N, C] or [N, C, L].  Training mode: normalizes with the
 * batch mean and biased variance over N (and L) and, if
 * track_running_stats, updates the buffers running_mean (zeros),
 * running_var (ones, unbiased batch variance) and num_batches_tracked (a
 * 0-d counter) with running = (1 - momentum) running + momentum batch.  Eval
 * mode uses the running statistics (or the batch's without tracking).
 * affine adds "weight" (ones) and "bias" (zeros).  Misuse: num_features < 1,
 * eps < 0, momentum outside [0, 1] (PyTorch's defaults: 1e-5, 0.1; its
 * momentum=None is not supported); in forward, a wrong input shape or one
 * value per channel in training. */
CG_API struct cg_module *cg_batch_norm1d_new(int64_t num_features, double eps, double momentum,
                                             bool affine, bool track_running_stats);
/* As a function (PyTorch's F.batch_norm) on [N, C] or [N, C, L]:
 * running_mean / running_var are persistent [C] tensors (or both NULL),
 * updated in place when training; weight and bias both or neither.  The
 * module also counts num_batches_tracked. */
CG_API struct cg_tensor *cg_batch_norm(struct cg_tape *tape, struct cg_tensor *x,
                                       struct cg_tensor *running_mean,
                                       struct cg_tensor *running_var, struct cg_tensor *weight,
                                       struct cg_tensor *bias, bool training, double momentum,
                                       double eps);

/* ---- weight init, like torch.nn.init (in place, persistent tensors) ----
 * Each returns CG_OK, or CG_ERR_INVALID after misuse (NULL, a tape tensor,
 * bad bounds, fewer than 2 dims for the fan-based ones). */
enum cg_fan_mode { CG_FAN_IN = 0, CG_FAN_OUT };
CG_API enum cg_status cg_init_uniform(struct cg_tensor *t, double a, double b, struct cg_rng *rng);
CG_API enum cg_status cg_init_normal(struct cg_tensor *t, double mean, double std,
                                     struct cg_rng *rng);
CG_API enum cg_status cg_init_constant(struct cg_tensor *t, double value);
/* U(-a, a), a = gain sqrt(6 / (fan_in + fan_out)); N(0, gain sqrt(2 / (fan_in + fan_out))). */
CG_API enum cg_status cg_init_xavier_uniform(struct cg_tensor *t, double gain, struct cg_rng *rng);
CG_API enum cg_status cg_init_xavier_normal(struct cg_tensor *t, double gain, struct cg_rng *rng);
/* std = calculate_gain(nonlinearity, a) / sqrt(fan of mode); uniform uses
 * bound sqrt(3) std.  PyTorch's defaults: a 0, CG_FAN_IN, "leaky_relu". */
CG_API enum cg_status cg_init_kaiming_uniform(struct cg_tensor *t, double a, enum cg_fan_mode mode,
                                              const char *nonlinearity, struct cg_rng *rng);
CG_API enum cg_status cg_init_kaiming_normal(struct cg_tensor *t, double a, enum cg_fan_mode mode,
                                             const char *nonlinearity, struct cg_rng *rng);
/* torch.nn.init.calculate_gain: linear, conv... and sigmoid 1, tanh 5/3, relu
 * sqrt(2), leaky_relu sqrt(2 / (1 + param^2)), selu 3/4; NaN and misuse for
 * anything else. */
CG_API double cg_init_calculate_gain(const char *nonlinearity, double param);

/* Fraction of rows of logits [N, C] whose first maximum is labels[i]; NaN
 * and misuse for bad arguments. */
CG_API double cg_accuracy(const struct cg_tensor *logits, const int64_t *labels);

/* ---- losses ---- */

/* BATCHMEAN (sum / batch size) is accepted by cg_kl_div_loss only. */
enum cg_reduction {
    CG_REDUCTION_MEAN = 0,
    CG_REDUCTION_SUM,
    CG_REDUCTION_NONE,
    CG_REDUCTION_BATCHMEAN
};

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

/* Huber loss: 0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere
 * (d = x - t); gradient d clipped to [-delta, delta].  Misuse unless delta
 * is finite and > 0.  PyTorch's default delta: 1. */
CG_API struct cg_tensor *cg_huber_loss(struct cg_tape *tape, struct cg_tensor *input,
                                       struct cg_tensor *target, enum cg_reduction reduction,
                                       double delta);
/* Smooth L1: 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere;
 * beta == 0 is the L1 loss (as PyTorch).  Misuse unless beta is finite and
 * >= 0.  PyTorch's default beta: 1. */
CG_API struct cg_tensor *cg_smooth_l1_loss(struct cg_tape *tape, struct cg_tensor *input,
                                           struct cg_tensor *target, enum cg_reduction reduction,
                                           double beta);
/* KL divergence with log-probabilities as input and probabilities as target
 * (PyTorch's kl_div, log_target=False): t (log t - x), 0 where t == 0.
 * CG_REDUCTION_BATCHMEAN divides the sum by the batch size (dim 0): the
 * mathematically correct KL; MEAN divides by the element count, as PyTorch.
 * Gradients: -t for x, log t + 1 - x for the target. */
CG_API struct cg_tensor *cg_kl_div_loss(struct cg_tape *tape, struct cg_tensor *input,
                                        struct cg_tensor *target, enum cg_reduction reduction);

/* Options of the class-index losses below; {0} (or NULL) is PyTorch's
 * default except ignore_index, which is off unless .ignore is set. */
struct cg_class_loss_options {
    enum cg_reduction reduction; /* MEAN divides by the rows not ignored */
    double label_smoothing;      /* cross entropy only: 0 <= eps <= 1 */
    bool ignore;                 /* skip rows whose target is ignore_index */
    int64_t ignore_index;        /* e.g. -100, PyTorch's default value */
};
/* NLL of log-probabilities [N, C] (e.g. from cg_log_softmax over dim 1):
 * loss_n = -x[n, t_n]; log_softmax + nll_loss = cross entropy.  targets[N]
 * is copied.  Misuse: input not 2-D, a target outside [0, C) that is not
 * the ignore_index (the message names its index and value), label_smoothing
 * != 0, a bad reduction. */
CG_API struct cg_tensor *cg_nll_loss(struct cg_tape *tape, struct cg_tensor *log_probs,
                                     const int64_t *targets,
                                     const struct cg_class_loss_options *opts);
/* Cross entropy of logits [N, C] with PyTorch's label_smoothing and
 * ignore_index: loss_n = (1 - eps) CE(x_n, t_n) + eps / C sum_j CE(x_n, j).
 * Misuse as cg_nll_loss, and label_smoothing outside [0, 1]. */
CG_API struct cg_tensor *cg_cross_entropy_loss_with(struct cg_tape *tape, struct cg_tensor *logits,
                                                    const int64_t *targets,
                                                    const struct cg_class_loss_options *opts);

/* L1 activity penalty for sparse codes: weight * sum(|x|) / B, where B =
 * x->shape[0] is the batch size (B = 1 for a 0-d tensor): the mean over the
 * batch of each sample's L1 norm, times weight.  Unlike mean(|x|) it does not
 * shrink as the code gets wider.  Gradient weight * sign(x) / B, 0 at 0.
 * Returns shape [].  Misuse if weight < 0 or not finite, or B == 0. */
CG_API struct cg_tensor *cg_l1_penalty(struct cg_tape *tape, struct cg_tensor *x, double weight);

#ifdef __cplusplus
}

/* C++ form of cg_sequential (C's compound literal is not C++). */
template <typename... Modules>
inline struct cg_module *cg_sequential(Modules *...modules)
{
    struct cg_module *list[] = {modules...};
    return cg_sequential_new((int)sizeof...(modules), list);
}
#endif
#endif
