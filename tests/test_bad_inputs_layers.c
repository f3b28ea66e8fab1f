/* Bad inputs to the ops, losses, modules, init helpers and dataset of the
 * layer set (issue 13), table driven like test_bad_inputs.c: every row is one
 * bad call that must make exactly one misuse report naming the function and
 * the values, and return NULL / CG_ERR_INVALID / NaN.  Dims out of range,
 * indices out of bounds, p outside [0, 1), a negative eps, ... */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bad_rows.h"
#include "cg_test.h"

static struct {
    struct cg_tape *tape;
    struct cg_tensor *x23, *y23, *x234, *f34, *v4, *logits, *idx_bad, *e0, *s0, *z0;
    struct cg_module *bn, *ln, *emb, *sm;
    struct cg_rng rng;
    int64_t out[16];
} G;

#define T G.tape
#define X G.x23
#define OPT(...) (&(struct cg_class_loss_options){__VA_ARGS__})
#define I64(...) ((const int64_t[]){__VA_ARGS__})
#define IN2(a, b) ((struct cg_tensor *const[]){(a), (b)})

#define ROWS_OPS(X_) \
X_(softmax_dim, 1, !cg_softmax(T, X, 2), "softmax", "dim 2", "-2..1") \
X_(log_softmax_dim, 1, !cg_log_softmax(T, X, -3), "log_softmax", "dim -3") \
X_(logsumexp_dim, 1, !cg_logsumexp(T, X, 5, false), "logsumexp", "dim 5") \
X_(logsumexp_null, 1, !cg_logsumexp(T, NULL, 0, false), "logsumexp", "NULL") \
X_(var_dim, 1, !cg_var_dim(T, X, 2, true, false), "var_dim", "dim 2") \
X_(std_dim, 1, !cg_std_dim(T, X, -3, true, false), "var_dim", "dim -3") \
X_(cat_none, 1, !cg_cat(T, 0, IN2(X, X), 0), "cat", "n = 0") \
X_(cat_shape, 1, !cg_cat(T, 2, IN2(X, G.f34), 0), "cat", "tensor 1", "dim 0") \
X_(cat_dim, 1, !cg_cat(T, 2, IN2(X, X), 2), "cat", "dim 2") \
X_(cat_null, 1, !cg_cat(T, 2, IN2(X, NULL), 0), "cat", "tensor 1 of 2") \
X_(cat_scalar, 1, !cg_cat(T, 2, IN2(G.z0, G.z0), 0), "cat", "0-dimensional") \
X_(narrow_range, 1, !cg_narrow(T, X, 1, 2, 2), "narrow", "start 2", "length 2", "<= 3") \
X_(narrow_neg, 1, !cg_narrow(T, X, 0, -1, 1), "narrow", "start -1") \
X_(narrow_dim, 1, !cg_narrow(T, X, 2, 0, 1), "narrow", "dim 2") \
X_(index_select_oob, 1, !cg_index_select(T, X, 1, I64(0, 3), 2), "index_select", "index[1] = 3", \
   "size 3") \
X_(index_select_neg, 1, !cg_index_select(T, X, 0, I64(-1), 1), "index_select", "index[0] = -1") \
X_(index_select_dim, 1, !cg_index_select(T, X, 2, I64(0), 1), "index_select", "dim 2") \
X_(index_select_null, 1, !cg_index_select(T, X, 0, NULL, 2), "index_select", "NULL") \
X_(gather_oob, 1, !cg_gather(T, X, 1, I64(0, 4), 2, I64(2, 1)), "gather", "index[1] = 4") \
X_(gather_shape, 1, !cg_gather(T, X, 1, I64(0, 0, 0), 2, I64(3, 1)), "gather", "[3,1]", \
   "[2,3]") \
X_(gather_rank, 1, !cg_gather(T, X, 0, I64(0, 0), 1, I64(2)), "gather", "same number of dims") \
X_(embedding_oob, 1, !cg_embedding(T, G.f34, I64(1, 3), 1, I64(2), CG_NO_PADDING), "embedding", \
   "index[1] = 3") \
X_(embedding_pad, 1, !cg_embedding(T, G.f34, I64(1), 1, I64(1), 3), "embedding", "padding_idx 3") \
X_(embedding_weight, 1, !cg_embedding(T, G.v4, I64(1), 1, I64(1), CG_NO_PADDING), "embedding", \
   "2-D weight") \
X_(argmax_dim, 1, cg_argmax(X, 2, G.out, 16) == CG_ERR_INVALID, "argmax", "dim 2") \
X_(argmin_null, 1, cg_argmin(X, 0, NULL, 16) == CG_ERR_INVALID, "argmin", "indices") \
X_(argmax_empty, 1, cg_argmax(G.e0, 1, G.out, 16) == CG_ERR_INVALID, "argmax", "non-empty") \
X_(where_shape, 1, !cg_where(T, X, X, G.f34), "where", "[3,4]") \
X_(where_null, 1, !cg_where(T, NULL, X, X), "where", "cond") \
X_(permute_repeat, 1, !cg_permute(T, G.x234, (const int[]){0, 0, 1}), "permute", "perm[1] = 0", \
   "repeated") \
X_(permute_range, 1, !cg_permute(T, X, (const int[]){0, 2}), "permute", "perm[1] = 2", \
   "out of range") \
X_(unsqueeze_dim, 1, !cg_unsqueeze(T, X, 3), "unsqueeze", "dim 3") \
X_(squeeze_dim, 1, !cg_squeeze(T, X, -3), "squeeze", "dim -3") \
X_(flatten_order, 1, !cg_flatten(T, G.x234, 2, 1), "flatten", "start_dim 2", "end_dim 1") \
X_(leaky_nan, 1, !cg_leaky_relu(T, X, NAN), "leaky_relu", "negative_slope") \
X_(elu_inf, 1, !cg_elu(T, X, INFINITY), "elu", "alpha = inf") \
X_(softplus_beta, 1, !cg_softplus(T, X, 0, 20), "softplus", "beta = 0") \
X_(softplus_thr, 1, !cg_softplus(T, X, 1, NAN), "softplus", "threshold = nan")

#define ROWS_LOSSES(X_) \
X_(nll_target, 1, !cg_nll_loss(T, G.logits, I64(0, 4), NULL), "nll_loss", "targets[1] = 4", \
   "C = 4") \
X_(nll_smoothing, 1, !cg_nll_loss(T, G.logits, I64(0, 1), OPT(.label_smoothing = 0.1)), \
   "nll_loss", "label_smoothing = 0.1") \
X_(nll_rank, 1, !cg_nll_loss(T, G.v4, I64(0), NULL), "nll_loss", "[N, C]") \
X_(ce_smoothing, 1, !cg_cross_entropy_loss_with(T, G.logits, I64(0, 1), \
                                                OPT(.label_smoothing = 1.5)), \
   "cross_entropy_loss_with", "label_smoothing = 1.5") \
X_(ce_ignore_off, 1, !cg_cross_entropy_loss_with(T, G.logits, I64(-100, 1), NULL), \
   "cross_entropy_loss_with", "targets[0] = -100", ".ignore") \
X_(ce_reduction, 1, !cg_cross_entropy_loss_with(T, G.logits, I64(0, 1), \
                                                OPT(.reduction = CG_REDUCTION_BATCHMEAN)), \
   "cross_entropy_loss_with", "reduction 3", "kl_div") \
X_(ce_null, 1, !cg_cross_entropy_loss_with(T, G.logits, NULL, NULL), "cross_entropy_loss_with", \
   "targets") \
X_(huber_delta, 1, !cg_huber_loss(T, X, G.y23, CG_REDUCTION_MEAN, 0), "huber_loss", "delta = 0") \
X_(smooth_l1_beta, 1, !cg_smooth_l1_loss(T, X, G.y23, CG_REDUCTION_MEAN, -1), "smooth_l1_loss", \
   "beta = -1") \
X_(kl_shape, 1, !cg_kl_div_loss(T, X, G.f34, CG_REDUCTION_BATCHMEAN), "kl_div_loss", "[3,4]") \
X_(mse_batchmean, 1, !cg_mse_loss(T, X, G.y23, CG_REDUCTION_BATCHMEAN), "mse_loss", \
   "CG_REDUCTION_BATCHMEAN")

#define ROWS_MODULES(X_) \
X_(dropout_p1, 1, !cg_dropout_new(1.0, &G.rng), "cg_dropout_new", "p = 1", "[0, 1)") \
X_(dropout_neg, 1, !cg_dropout_new(-0.1, &G.rng), "cg_dropout_new", "p = -0.1") \
X_(dropout_rng, 1, !cg_dropout_new(0.5, NULL), "cg_dropout_new", "rng") \
X_(dropout_fn_p, 1, !cg_dropout(T, X, 1.5, true, &G.rng), "dropout", "p = 1.5") \
X_(dropout_fn_rng, 1, !cg_dropout(T, X, 0.5, true, NULL), "dropout", "rng") \
X_(ln_eps, 1, !cg_layer_norm_new(1, I64(4), -1e-5, true), "cg_layer_norm_new", "eps = -1e-05") \
X_(ln_size, 1, !cg_layer_norm_new(1, I64(0), 1e-5, true), "cg_layer_norm_new", \
   "normalized_shape[0] = 0") \
X_(ln_ndim, 1, !cg_layer_norm_new(0, I64(4), 1e-5, true), "cg_layer_norm_new", "0 dims") \
X_(ln_forward, 1, !cg_module_forward(G.ln, T, X), "LayerNorm", "[2,3]") \
X_(bn_eps, 1, !cg_batch_norm1d_new(3, -1, 0.1, true, true), "cg_batch_norm1d_new", "eps -1") \
X_(bn_momentum, 1, !cg_batch_norm1d_new(3, 1e-5, 1.5, true, true), "cg_batch_norm1d_new", \
   "momentum 1.5") \
X_(bn_features, 1, !cg_batch_norm1d_new(0, 1e-5, 0.1, true, true), "cg_batch_norm1d_new", \
   "num_features 0") \
X_(bn_forward, 1, !cg_module_forward(G.bn, T, G.f34), "BatchNorm1d", "BatchNorm1d(3)", "[3,4]") \
X_(bn_one_value, 1, !cg_module_forward(G.bn, T, G.s0), "batch_norm", "1 value per channel") \
X_(bn_fn_stats, 1, !cg_batch_norm(T, G.f34, G.v4, NULL, NULL, NULL, true, 0.1, 1e-5), \
   "batch_norm", "[3,4]", "both or neither") \
X_(bn_fn_eps, 1, !cg_batch_norm(T, X, NULL, NULL, NULL, NULL, true, 0.1, -1), "batch_norm", \
   "eps -1") \
X_(ln_fn_eps, 1, !cg_layer_norm(T, X, 1, NULL, NULL, -0.5), "layer_norm", "eps -0.5") \
X_(ln_fn_dims, 1, !cg_layer_norm(T, X, 3, NULL, NULL, 1e-5), "layer_norm", "3 normalized dims") \
X_(emb_sizes, 1, !cg_embedding_new(0, 3, CG_NO_PADDING, &G.rng), "cg_embedding_new", \
   "num_embeddings 0") \
X_(emb_pad, 1, !cg_embedding_new(5, 3, 5, &G.rng), "cg_embedding_new", "padding_idx 5") \
X_(emb_index, 1, !cg_module_forward(G.emb, T, G.idx_bad), "Embedding", "element 1 = 5", \
   "5 embeddings") \
X_(emb_weight, 1, !cg_embedding_weight(G.bn), "cg_embedding_weight", "BatchNorm1d") \
X_(softmax_forward, 1, !cg_module_forward(G.sm, T, X), "softmax", "dim 3") \
X_(leaky_new, 1, !cg_leaky_relu_new(NAN), "cg_leaky_relu_new") \
X_(elu_new, 1, !cg_elu_new(INFINITY), "cg_elu_new") \
X_(softplus_new, 1, !cg_softplus_new(-1, 20), "cg_softplus_new", "beta = -1")

#define ROWS_INIT(X_) \
X_(uniform_bounds, 1, cg_init_uniform(G.f34, 1, -1, &G.rng) == CG_ERR_INVALID, "cg_init_uniform", \
   "a = 1", "b = -1") \
X_(normal_std, 1, cg_init_normal(G.f34, 0, -1, &G.rng) == CG_ERR_INVALID, "cg_init_normal", \
   "std = -1") \
X_(normal_rng, 1, cg_init_normal(G.f34, 0, 1, NULL) == CG_ERR_INVALID, "cg_init_normal", "rng") \
X_(xavier_1d, 1, cg_init_xavier_uniform(G.v4, 1, &G.rng) == CG_ERR_INVALID, \
   "cg_init_xavier_uniform", "fewer than 2 dims") \
X_(kaiming_mode, 1, cg_init_kaiming_normal(G.f34, 0, (enum cg_fan_mode)5, "relu", &G.rng) == \
   CG_ERR_INVALID, "cg_init_kaiming_normal", "mode 5") \
X_(kaiming_nl, 1, cg_init_kaiming_uniform(G.f34, 0, CG_FAN_IN, "swish", &G.rng) == CG_ERR_INVALID, \
   "cg_init_calculate_gain", "'swish'") \
X_(gain_null, 1, isnan(cg_init_calculate_gain(NULL, 0)), "cg_init_calculate_gain", "NULL") \
X_(constant_tape, 1, cg_init_constant(G.logits, 0) == CG_ERR_INVALID, "cg_init_constant", \
   "tape") \
X_(accuracy_rank, 1, isnan(cg_accuracy(G.v4, I64(0))), "cg_accuracy", "[4]")

CG_ROW_AREA("bad_inputs_layers", OPS)
CG_ROW_AREA("bad_inputs_layers", LOSSES)
CG_ROW_AREA("bad_inputs_layers", MODULES)
CG_ROW_AREA("bad_inputs_layers", INIT)

static int setup(void **state)
{
    (void)state;
    G.rng = cg_rng_seed(1);
    G.tape = cg_tape_new();
    G.x23 = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(2, 3), -1, 1, &G.rng);
    G.y23 = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(2, 3), -1, 1, &G.rng);
    G.x234 = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(2, 3, 4));
    G.f34 = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(3, 4));
    G.v4 = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(4));
    G.e0 = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(2, 0));
    G.s0 = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(1, 3));
    G.z0 = cg_tensor_zeros(NULL, CG_F32, 0, NULL);
    G.logits = cg_tensor_zeros(G.tape, CG_F32, CG_SHAPE(2, 4));
    G.idx_bad = cg_tensor_from_doubles(NULL, CG_F32, CG_SHAPE(2), (const double[]){1, 5});
    G.bn = cg_batch_norm1d_new(3, 1e-5, 0.1, true, true);
    G.ln = cg_layer_norm_new(1, (const int64_t[]){4}, 1e-5, true);
    G.emb = cg_embedding_new(5, 3, CG_NO_PADDING, &G.rng);
    G.sm = cg_softmax_new(3);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    struct cg_tensor *ts[] = {G.x23, G.y23, G.x234, G.f34, G.v4, G.e0, G.s0, G.z0, G.idx_bad};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) cg_tensor_free(ts[i]);
    cg_module_free(G.bn);
    cg_module_free(G.ln);
    cg_module_free(G.emb);
    cg_module_free(G.sm);
    cg_tape_free(G.tape);
    printf("bad-input rows run: %d\n", cg_test_rows_total());
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_OPS),
        cmocka_unit_test(test_LOSSES),
        cmocka_unit_test(test_MODULES),
        cmocka_unit_test(test_INIT),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
