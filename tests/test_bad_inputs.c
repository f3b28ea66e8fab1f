/* Bad inputs to the in-memory API (tensor, tape, op, ops, module, nn, optim,
 * gradcheck, error, rng, memory headers), table driven: every row is one bad
 * call (NULL pointer, wrong shape or dtype, out-of-range argument) with the
 * expected outcome -- exactly one misuse report whose message names the
 * function (plus the values involved) -- and a check on the return value
 * (NULL, CG_ERR_INVALID, NaN, unchanged state).  Rows expecting 0 misuses are
 * documented "ignored" cases (NULL to a free function, ...) that must stay
 * silent.  Nothing may crash: in the sanitizer build a bad read or write
 * fails the test.  The number of rows is printed.  Checkpoint, data and
 * image functions, and bad files: test_bad_files.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bad_rows.h"
#include "cg_test.h"

/* ---- fixture: one set of objects shared by all rows ---- */

static struct {
    struct cg_tape *tape, *tape2;
    struct cg_tensor *a, *b, *d, *v4, *m34, *m54, *b234, *b334, *w43, *bias4, *bias5, *e03;
    struct cg_tensor *big, *on_tape, *other, *view, *p, *p64, *y, *loss, *nograd_loss;
    struct cg_tensor *tgt_frac, *tgt_big, *tgt3, *tgt_d;
    struct cg_module *lin, *relu, *seq, *conv;
    struct cg_optimizer *opt, *opt_plain, *opt_sched, *opt_conv;
    struct cg_lr_schedule *sched;
    struct cg_rng rng;
    char buf[64];
} G;

static char g_long_name[70000];

#define T G.tape
#define A G.a
#define B G.b
#define D G.d
#define V4 G.v4
#define BAD_DT ((enum cg_dtype)7)
#define BAD_RED ((enum cg_reduction)7)
#define MEAN CG_REDUCTION_MEAN
#define IN1(x) ((struct cg_tensor *const[]){(x)})
#define IN2(x, y) ((struct cg_tensor *const[]){(x), (y)})
#define SH2 ((const int64_t[]){2, 3})
#define SH9 ((const int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1})
#define SGD(...) ((struct cg_sgd_options){__VA_ARGS__})

static int ok_free(struct cg_tensor *t)
{
    int ok = t != NULL;
    cg_tensor_free(t);
    return ok;
}

static int all_equal(const struct cg_tensor *t, double v)
{
    for (int64_t i = 0; i < t->numel; i++)
        if (cg_tensor_at(t, i) != v) return 0;
    return 1;
}

static int print_shows(const struct cg_tensor *t, const char *needle)
{
    FILE *f = tmpfile();
    if (!f) return 0;
    cg_tensor_print(t, f, 3);
    rewind(f);
    char text[256] = {0};
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    return strstr(text, needle) != NULL;
}

/* A custom op and modules for the cg_op_apply / module rows. */
static void copy_fwd(struct cg_record *rec)
{
    size_t bytes = (size_t)rec->out->numel * cg_dtype_size(rec->out->dtype);
    memcpy(rec->out->data, rec->in[0]->data, bytes);
}
static const struct cg_op op_ok = {"bad_inputs_copy", copy_fwd, NULL, 0};
static const struct cg_op op_nofwd = {"bad_inputs_nofwd", NULL, NULL, 0};
static const struct cg_module_vtable vt_noforward = {.type_name = "NoForward"};
static struct cg_module g_noforward = {&vt_noforward, true};

static int count_visits;
static void count_visitor(const char *name, struct cg_tensor *t, void *user)
{
    (void)name, (void)t, (void)user;
    count_visits++;
}

/* Gradcheck functions. */
static struct cg_tensor *gc_sum(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)u;
    return cg_sum(t, in[0]);
}
static struct cg_tensor *gc_null(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)t, (void)in, (void)u;
    return NULL;
}
static struct cg_tensor *gc_elsewhere(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)t, (void)in, (void)u;
    return G.other;
}
static struct cg_gradcheck_report g_rep;
#define GC_OPTS(...) (&(struct cg_gradcheck_options){__VA_ARGS__})

/* ---- the rows ---- */

/* Tensors: creation, copies, element access, flags, shapes. */
#define ROWS_TENSOR(X) \
X(empty_bad_dtype, 1, !cg_tensor_empty(NULL, BAD_DT, CG_SHAPE(2)), "cg_tensor_empty", "dtype 7") \
X(zeros_ndim_neg, 1, !cg_tensor_zeros(NULL, CG_F32, -1, SH2), "cg_tensor_zeros", "ndim -1") \
X(ones_ndim_9, 1, !cg_tensor_ones(NULL, CG_F32, 9, SH9), "cg_tensor_ones", "ndim 9") \
X(full_shape_null, 1, !cg_tensor_full(NULL, CG_F32, 2, NULL, 1.0), "cg_tensor_full", "NULL") \
X(zeros_neg_size, 1, !cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(2, -3)), "cg_tensor_zeros", "-3") \
X(zeros_huge, 1, !cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(1LL << 40, 1LL << 30)), \
  "cg_tensor_zeros") \
X(zeros_2_pow_60, 1, !cg_tensor_zeros(T, CG_F32, CG_SHAPE(1LL << 30, 1LL << 30)), \
  "cg_tensor_zeros", "2^60") \
X(zeros_tape_bad_dtype, 1, !cg_tensor_zeros(T, BAD_DT, CG_SHAPE(2)), "cg_tensor_zeros", "dtype") \
X(from_data_null, 1, !cg_tensor_from_data(NULL, CG_F32, CG_SHAPE(2), NULL), \
  "cg_tensor_from_data") \
X(from_doubles_null, 1, !cg_tensor_from_doubles(T, CG_F64, CG_SHAPE(2), NULL), \
  "cg_tensor_from_doubles") \
X(from_data_null_empty, 0, ok_free(cg_tensor_from_data(NULL, CG_F32, CG_SHAPE(0), NULL)), NULL) \
X(arange_step0, 1, !cg_tensor_arange(NULL, CG_F32, 0, 1, 0), "cg_tensor_arange", "step") \
X(arange_nan, 1, !cg_tensor_arange(NULL, CG_F32, NAN, 1, 1), "cg_tensor_arange") \
X(arange_inf, 1, !cg_tensor_arange(NULL, CG_F32, 0, INFINITY, 1), "cg_tensor_arange") \
X(arange_too_many, 1, !cg_tensor_arange(NULL, CG_F32, 0, 1e30, 1e-30), "cg_tensor_arange") \
X(arange_bad_dtype, 1, !cg_tensor_arange(NULL, BAD_DT, 0, 3, 1), "cg_tensor_arange") \
X(linspace_n0, 1, !cg_tensor_linspace(NULL, CG_F32, 0, 1, 0), "cg_tensor_linspace", "0") \
X(linspace_neg, 1, !cg_tensor_linspace(NULL, CG_F32, 0, 1, -5), "cg_tensor_linspace", "-5") \
X(rand_null_rng, 1, !cg_tensor_rand(NULL, CG_F32, CG_SHAPE(2), NULL), "cg_tensor_rand", "NULL") \
X(uniform_lo_gt_hi, 1, !cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(2), 1, 0, &G.rng), \
  "cg_tensor_uniform") \
X(uniform_null_rng, 1, !cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(2), 0, 1, NULL), \
  "cg_tensor_uniform") \
X(randn_null_rng, 1, !cg_tensor_randn(NULL, CG_F64, CG_SHAPE(2), NULL), "cg_tensor_randn") \
X(free_tape_tensor, 1, (cg_tensor_free(G.on_tape), 1), "cg_tensor_free", "tape") \
X(free_null, 0, (cg_tensor_free(NULL), 1), NULL) \
X(copy_null, 1, !cg_tensor_copy(NULL, NULL), "cg_tensor_copy") \
X(to_null, 1, !cg_tensor_to(NULL, NULL, CG_F64), "cg_tensor_to") \
X(to_bad_dtype, 1, !cg_tensor_to(T, A, BAD_DT), "cg_tensor_to", "dtype") \
X(detach_null, 1, !cg_tensor_detach(NULL, NULL), "cg_tensor_detach") \
X(copy_into_null_dst, 1, !cg_tensor_copy_into(NULL, A), "cg_tensor_copy_into") \
X(copy_into_null_src, 1, !cg_tensor_copy_into(B, NULL), "cg_tensor_copy_into") \
X(copy_into_numel, 1, !cg_tensor_copy_into(V4, A) && all_equal(V4, 1), "cg_tensor_copy_into", \
  "[4]", "[2,3]") \
X(convert_null, 1, cg_tensor_convert(NULL, CG_F64) == CG_ERR_INVALID, "cg_tensor_convert") \
X(convert_tape, 1, cg_tensor_convert(G.on_tape, CG_F64) == CG_ERR_INVALID, "cg_tensor_convert") \
X(convert_view, 1, cg_tensor_convert(G.view, CG_F64) == CG_ERR_INVALID, "cg_tensor_convert") \
X(convert_bad_dtype, 1, cg_tensor_convert(B, BAD_DT) == CG_ERR_INVALID && B->dtype == CG_F32, \
  "cg_tensor_convert", "dtype 7") \
X(fill_null, 0, (cg_tensor_fill(NULL, 1), 1), NULL) \
X(get_null, 1, cg_tensor_get(NULL, CG_INDEX(0, 0)) == 0.0, "cg_tensor_get") \
X(get_null_index, 1, cg_tensor_get(A, NULL) == 0.0, "cg_tensor_get") \
X(get_oob, 1, cg_tensor_get(A, CG_INDEX(0, 3)) == 0.0, "cg_tensor_get", "3") \
X(get_negative, 1, cg_tensor_get(A, CG_INDEX(-1, 0)) == 0.0, "cg_tensor_get", "-1") \
X(set_oob, 1, (cg_tensor_set(A, CG_INDEX(2, 0), 9), all_equal(A, 0.5)), "cg_tensor_set", "2") \
X(set_null, 1, (cg_tensor_set(NULL, CG_INDEX(0), 1), 1), "cg_tensor_set") \
X(set_null_index, 1, (cg_tensor_set(A, NULL, 1), all_equal(A, 0.5)), "cg_tensor_set") \
X(at_neg, 1, cg_tensor_at(A, -1) == 0.0, "cg_tensor_at", "-1") \
X(at_numel, 1, cg_tensor_at(A, 6) == 0.0, "cg_tensor_at", "6") \
X(at_null, 1, cg_tensor_at(NULL, 0) == 0.0, "cg_tensor_at") \
X(set_at_oob, 1, (cg_tensor_set_at(A, 6, 9), all_equal(A, 0.5)), "cg_tensor_set_at", "6") \
X(set_at_null, 1, (cg_tensor_set_at(NULL, 0, 9), 1), "cg_tensor_set_at") \
X(item_multi, 1, cg_tensor_item(A) == 0.0, "cg_tensor_item", "[2,3]") \
X(item_null, 1, cg_tensor_item(NULL) == 0.0, "cg_tensor_item") \
X(requires_grad_null, 1, cg_tensor_requires_grad(NULL, true) == CG_ERR_INVALID, \
  "cg_tensor_requires_grad") \
X(zero_grad_null, 0, (cg_tensor_zero_grad(NULL), 1), NULL) \
X(set_name_null_t, 0, cg_tensor_set_name(NULL, "x") == NULL, NULL) \
X(set_name_null, 0, cg_tensor_set_name(B, NULL) == B && B->name[0] == 0, NULL) \
X(set_name_long, 0, strlen(cg_tensor_set_name(B, g_long_name)->name) == CG_NAME_MAX - 1, NULL) \
X(same_shape_null_a, 1, !cg_tensor_same_shape(NULL, A), "cg_tensor_same_shape", "NULL") \
X(same_shape_null_b, 1, !cg_tensor_same_shape(A, NULL), "cg_tensor_same_shape", "NULL") \
X(shape_str_null, 0, !strcmp(cg_tensor_shape_str(NULL, G.buf, sizeof G.buf), "(null)"), NULL) \
X(shape_str_null_buf, 0, cg_tensor_shape_str(A, NULL, 10) == NULL, NULL) \
X(shape_str_size0, 0, (G.buf[0] = 'x', cg_tensor_shape_str(A, G.buf, 0), G.buf[0] == 'x'), NULL) \
X(shape_str_short, 0, strlen(cg_tensor_shape_str(A, G.buf, 4)) == 3, NULL) \
X(print_null_file, 0, (cg_tensor_print(A, NULL, 3), 1), NULL) \
X(print_null_tensor, 0, print_shows(NULL, "(null)"), NULL) \
X(dtype_size_bad, 0, cg_dtype_size(BAD_DT) == 4, NULL) \
X(dtype_name_bad, 0, !strcmp(cg_dtype_name(BAD_DT), "f32"), NULL) \
X(status_str_bad, 0, !strcmp(cg_status_str((enum cg_status)99), "CG_ERR_UNKNOWN"), NULL) \
X(status_str_neg, 0, !strcmp(cg_status_str((enum cg_status)-1), "CG_ERR_UNKNOWN"), NULL) \
X(misuse_null_fn, 1, (cg_misuse(NULL, "user layer %d", 7), 1), "user layer 7") \
X(rng_below_zero, 0, cg_rng_below(&G.rng, 0) == 0, NULL) \
X(threads_nonpositive, 0, (cg_set_num_threads(-3), cg_get_num_threads() >= 1), NULL)

/* The tape, backward and cg_op_apply. */
#define ROWS_TAPE(X) \
X(set_grad_null, 1, !cg_tape_set_grad_enabled(NULL, false), "cg_tape_set_grad_enabled", "NULL") \
X(grad_enabled_null, 1, !cg_tape_grad_enabled(NULL), "cg_tape_grad_enabled", "NULL") \
X(set_anomaly_null, 1, !cg_tape_set_anomaly(NULL, true), "cg_tape_set_anomaly", "NULL") \
X(anomaly_status_null, 1, cg_tape_anomaly_status(NULL) == CG_ERR_INVALID, \
  "cg_tape_anomaly_status") \
X(record_count_null, 1, cg_tape_record_count(NULL) == 0, "cg_tape_record_count", "NULL") \
X(bytes_used_null, 1, cg_tape_bytes_used(NULL) == 0, "cg_tape_bytes_used") \
X(bytes_reserved_null, 1, cg_tape_bytes_reserved(NULL) == 0, "cg_tape_bytes_reserved") \
X(alloc_null, 1, !cg_tape_alloc(NULL, 16), "cg_tape_alloc", "NULL") \
X(reset_null, 0, (cg_tape_reset(NULL), 1), NULL) \
X(tape_free_null, 0, (cg_tape_free(NULL), 1), NULL) \
X(backward_null_tape, 1, cg_backward(NULL, G.loss) == CG_ERR_INVALID, "cg_backward") \
X(backward_null_loss, 1, cg_backward(T, NULL) == CG_ERR_INVALID, "cg_backward") \
X(backward_not_scalar, 1, cg_backward(T, G.y) == CG_ERR_INVALID && all_equal(G.p->grad, 0), \
  "cg_backward", "[2,3]") \
X(backward_other_tape, 1, cg_backward(G.tape2, G.loss) == CG_ERR_INVALID, "cg_backward") \
X(backward_no_grad, 1, cg_backward(T, G.nograd_loss) == CG_ERR_INVALID, "cg_backward") \
X(backward_seed_null, 1, cg_backward_seed(T, G.y, NULL) == CG_ERR_INVALID, "cg_backward_seed") \
X(backward_seed_shape, 1, cg_backward_seed(T, G.y, V4) == CG_ERR_INVALID, "cg_backward_seed", \
  "[4]") \
X(backward_seed_dtype, 1, cg_backward_seed(T, G.y, D) == CG_ERR_INVALID, "cg_backward_seed", \
  "f64") \
X(backward_seed_null_out, 1, cg_backward_seed(T, NULL, A) == CG_ERR_INVALID, "cg_backward_seed") \
X(apply_null_tape, 1, !cg_op_apply(NULL, &op_ok, 1, IN1(A), CG_F32, 2, SH2, NULL, 0), \
  "bad_inputs_copy", "tape is NULL") \
X(apply_null_op, 1, !cg_op_apply(T, NULL, 1, IN1(A), CG_F32, 2, SH2, NULL, 0), "cg_op_apply") \
X(apply_no_forward, 1, !cg_op_apply(T, &op_nofwd, 1, IN1(A), CG_F32, 2, SH2, NULL, 0), \
  "cg_op_apply", "forward") \
X(apply_n_in_0, 1, !cg_op_apply(T, &op_ok, 0, IN1(A), CG_F32, 2, SH2, NULL, 0), \
  "bad_inputs_copy", "0 inputs") \
X(apply_n_in_5, 1, !cg_op_apply(T, &op_ok, 5, ((struct cg_tensor *const[]){A, A, A, A, A}), \
  CG_F32, 2, SH2, NULL, 0), "bad_inputs_copy", "5 inputs") \
X(apply_inputs_null, 1, !cg_op_apply(T, &op_ok, 1, NULL, CG_F32, 2, SH2, NULL, 0), \
  "bad_inputs_copy", "inputs is NULL") \
X(apply_input_null, 1, !cg_op_apply(T, &op_ok, 1, IN1(NULL), CG_F32, 2, SH2, NULL, 0), \
  "bad_inputs_copy") \
X(apply_mixed_dtypes, 1, !cg_op_apply(T, &op_ok, 2, IN2(A, D), CG_F32, 2, SH2, NULL, 0), \
  "bad_inputs_copy", "f64") \
X(apply_bad_dtype, 1, !cg_op_apply(T, &op_ok, 1, IN1(A), BAD_DT, 2, SH2, NULL, 0), \
  "bad_inputs_copy", "dtype 7") \
X(apply_ndim_neg, 1, !cg_op_apply(T, &op_ok, 1, IN1(A), CG_F32, -1, SH2, NULL, 0), \
  "bad_inputs_copy", "ndim -1") \
X(apply_ndim_9, 1, !cg_op_apply(T, &op_ok, 1, IN1(A), CG_F32, 9, SH9, NULL, 0), \
  "bad_inputs_copy", "ndim 9") \
X(apply_neg_size, 1, !cg_op_apply(T, &op_ok, 1, IN1(A), CG_F32, CG_SHAPE(-2), NULL, 0), \
  "bad_inputs_copy", "-2") \
X(apply_5_scalars, 1, !cg_op_apply(T, &op_ok, 1, IN1(A), CG_F32, 2, SH2, \
  ((const double[]){1, 2, 3, 4, 5}), 5), "bad_inputs_copy", "5 scalars") \
X(apply_scalars_null, 1, !cg_op_apply(T, &op_ok, 1, IN1(A), CG_F32, 2, SH2, NULL, 2), \
  "bad_inputs_copy", "scalars is NULL") \
X(apply_no_backward, 1, !cg_op_apply(T, &op_ok, 1, IN1(G.p), CG_F32, 2, SH2, NULL, 0), \
  "bad_inputs_copy", "backward") \
X(apply_other_tape, 1, !cg_op_apply(T, &op_ok, 1, IN1(G.other), CG_F32, 2, SH2, NULL, 0), \
  "bad_inputs_copy", "another tape") \
X(builtin_op_neg, 0, cg_builtin_op(-1) == NULL, NULL) \
X(builtin_op_count, 0, cg_builtin_op(cg_builtin_op_count()) == NULL, NULL)

/* Built-in ops: NULL operands, dtype and shape mismatches, bad parameters. */
#define UNARY_ROWS(X, op) \
X(op##_null, 1, !cg_##op(T, NULL), #op, "NULL") \
X(op##_null_tape, 1, !cg_##op(NULL, A), #op, "tape") \
X(op##_other_tape, 1, !cg_##op(T, G.other), #op, "another tape")
#define BINARY_ROWS(X, op) \
X(op##_null_a, 1, !cg_##op(T, NULL, B), #op, "NULL") \
X(op##_null_b, 1, !cg_##op(T, A, NULL), #op, "NULL") \
X(op##_null_tape, 1, !cg_##op(NULL, A, B), #op) \
X(op##_dtypes, 1, !cg_##op(T, A, D), #op, "f32", "f64") \
X(op##_broadcast, 1, !cg_##op(T, A, V4), #op, "[2,3]", "[4]")
#define ROWS_OPS(X) \
UNARY_ROWS(X, neg) UNARY_ROWS(X, abs) UNARY_ROWS(X, exp) UNARY_ROWS(X, log) \
UNARY_ROWS(X, sqrt) UNARY_ROWS(X, square) UNARY_ROWS(X, tanh) UNARY_ROWS(X, sigmoid) \
UNARY_ROWS(X, relu) UNARY_ROWS(X, tanhshrink) UNARY_ROWS(X, sum) UNARY_ROWS(X, mean) \
UNARY_ROWS(X, transpose) \
BINARY_ROWS(X, add) BINARY_ROWS(X, sub) BINARY_ROWS(X, mul) BINARY_ROWS(X, div) \
X(add_scalar_null, 1, !cg_add_scalar(T, NULL, 1), "add_scalar") \
X(mul_scalar_null, 1, !cg_mul_scalar(T, NULL, 2), "mul_scalar") \
X(pow_scalar_null, 1, !cg_pow_scalar(T, NULL, 2), "pow_scalar") \
X(hardshrink_neg, 1, !cg_hardshrink(T, A, -0.5), "hardshrink", "-0.5") \
X(hardshrink_nan, 1, !cg_hardshrink(T, A, NAN), "hardshrink", "nan") \
X(hardshrink_null, 1, !cg_hardshrink(T, NULL, 0.5), "hardshrink") \
X(softshrink_neg, 1, !cg_softshrink(T, A, -1), "softshrink", "-1") \
X(softshrink_null, 1, !cg_softshrink(T, NULL, 0.5), "softshrink") \
X(clamp_lo_gt_hi, 1, !cg_clamp(T, A, 1, 0), "clamp") \
X(clamp_null, 1, !cg_clamp(T, NULL, 0, 1), "clamp") \
X(matmul_null_a, 1, !cg_matmul(T, NULL, G.m34), "matmul") \
X(matmul_1d, 1, !cg_matmul(T, V4, G.m34), "matmul", "[4]") \
X(matmul_k, 1, !cg_matmul(T, A, G.m54), "matmul", "[2,3]", "[5,4]") \
X(matmul_ranks, 1, !cg_matmul(T, A, G.b234), "matmul") \
X(matmul_batch, 1, !cg_matmul(T, G.b234, G.b334), "matmul") \
X(matmul_dtypes, 1, !cg_matmul(T, D, G.m34), "matmul", "f64") \
X(linear_null_x, 1, !cg_linear(T, NULL, G.w43, NULL), "linear", "x is NULL") \
X(linear_null_w, 1, !cg_linear(T, A, NULL, NULL), "linear", "weight is NULL") \
X(linear_1d, 1, !cg_linear(T, V4, G.w43, NULL), "linear", "[4]") \
X(linear_in, 1, !cg_linear(T, A, G.m34, NULL), "linear", "3", "4") \
X(linear_bias, 1, !cg_linear(T, A, G.w43, G.bias5), "linear", "[5]") \
X(linear_dtypes, 1, !cg_linear(T, D, G.w43, G.bias4), "linear", "f64") \
X(sum_dim_2, 1, !cg_sum_dim(T, A, 2, false), "sum", "2") \
X(sum_dim_neg3, 1, !cg_sum_dim(T, A, -3, true), "sum", "-3") \
X(sum_dim_null, 1, !cg_sum_dim(T, NULL, 0, false), "sum") \
X(mean_dim_5, 1, !cg_mean_dim(T, A, 5, false), "mean", "5") \
X(max_dim_2, 1, !cg_max_dim(T, A, 2, false), "max", "2") \
X(max_dim_empty, 1, !cg_max_dim(T, G.e03, 0, false), "max") \
X(max_dim_null, 1, !cg_max_dim(T, NULL, 0, false), "max") \
X(reshape_null, 1, !cg_reshape(T, NULL, CG_SHAPE(6)), "reshape") \
X(reshape_ndim_neg, 1, !cg_reshape(T, A, -1, SH2), "reshape") \
X(reshape_ndim_9, 1, !cg_reshape(T, A, 9, SH9), "reshape") \
X(reshape_shape_null, 1, !cg_reshape(T, A, 2, NULL), "reshape") \
X(reshape_two_free, 1, !cg_reshape(T, A, CG_SHAPE(-1, -1)), "reshape") \
X(reshape_minus2, 1, !cg_reshape(T, A, CG_SHAPE(-2, -3)), "reshape") \
X(reshape_numel, 1, !cg_reshape(T, A, CG_SHAPE(4, 2)), "reshape", "[4,2]") \
X(transpose_1d, 1, !cg_transpose(T, V4), "transpose", "[4]") \
X(transpose_3d, 1, !cg_transpose(T, G.b234), "transpose", "[2,3,4]")

/* Modules, layers, losses. */
#define ROWS_NN(X) \
X(seq_negative, 1, !cg_sequential_new(-1, NULL), "cg_sequential") \
X(seq_array_null, 1, !cg_sequential_new(2, NULL), "cg_sequential") \
X(seq_null_entry, 1, !cg_sequential_new(2, ((struct cg_module *const[]){cg_relu_new(), NULL})), \
  "cg_sequential", "1") \
X(seq_list_null_mid, 1, !cg_sequential(cg_relu_new(), NULL, cg_relu_new()), "cg_sequential", \
  "1 of 3") \
X(seq_size_null, 1, cg_sequential_size(NULL) == 0, "cg_sequential_size") \
X(seq_size_not_seq, 1, cg_sequential_size(G.lin) == 0, "cg_sequential_size", "Linear") \
X(seq_child_not_seq, 1, !cg_sequential_child(G.relu, 0), "cg_sequential_child", "ReLU") \
X(seq_child_oob, 1, !cg_sequential_child(G.seq, 2), "cg_sequential_child", "2") \
X(seq_child_neg, 1, !cg_sequential_child(G.seq, -1), "cg_sequential_child", "-1") \
X(linear_new_in0, 1, !cg_linear_new(0, 4, true, &G.rng), "cg_linear_new", "0") \
X(linear_new_out0, 1, !cg_linear_new(3, 0, true, &G.rng), "cg_linear_new", "0") \
X(linear_new_neg, 1, !cg_linear_new(-3, 4, false, &G.rng), "cg_linear_new", "-3") \
X(linear_new_rng, 1, !cg_linear_new(3, 4, true, NULL), "cg_linear_new", "rng") \
X(linear_new_dtype, 1, !cg_linear_new_dtype(3, 4, true, BAD_DT, &G.rng), "cg_linear_new") \
X(linear_weight_relu, 1, !cg_linear_weight(G.relu), "cg_linear_weight", "ReLU") \
X(linear_weight_null, 1, !cg_linear_weight(NULL), "cg_linear_weight") \
X(linear_bias_relu, 1, !cg_linear_bias(G.relu), "cg_linear_bias") \
X(hardshrink_new_neg, 1, !cg_hardshrink_new(-0.1), "ardshrink", "-0.1") \
X(hardshrink_new_nan, 1, !cg_hardshrink_new(NAN), "ardshrink") \
X(softshrink_new_neg, 1, !cg_softshrink_new(-2), "oftshrink", "-2") \
X(softshrink_new_nan, 1, !cg_softshrink_new(NAN), "oftshrink") \
X(shrink_lambda_relu, 1, isnan(cg_shrink_lambda(G.relu)), "cg_shrink_lambda", "ReLU") \
X(shrink_lambda_null, 1, isnan(cg_shrink_lambda(NULL)), "cg_shrink_lambda") \
X(forward_width, 1, !cg_module_forward(G.lin, T, V4), "Linear", "[4]") \
X(forward_null_module, 1, !cg_module_forward(NULL, T, A), "cg_module_forward", "NULL") \
X(forward_null_x, 1, !cg_module_forward(G.lin, T, NULL), "cg_module_forward", "Linear") \
X(forward_no_forward, 1, !cg_module_forward(&g_noforward, T, A), "cg_module_forward") \
X(init_param_null, 1, cg_module_init_param(NULL, "w") == CG_ERR_INVALID, "cg_module_init_param") \
X(init_param_tape, 1, cg_module_init_param(G.on_tape, "w") == CG_ERR_INVALID, \
  "cg_module_init_param", "tape") \
X(to_dtype_null, 1, cg_module_to_dtype(NULL, CG_F64) == CG_ERR_INVALID, "cg_module_to_dtype") \
X(to_dtype_bad, 1, cg_module_to_dtype(G.lin, BAD_DT) == CG_ERR_INVALID, "cg_module_to_dtype") \
X(visit_param_long, 1, (count_visits = 0, cg_module_visit_param("p", g_long_name, A, \
  count_visitor, NULL), count_visits == 0), "cg_module_visit_param") \
X(module_free_null, 0, (cg_module_free(NULL), 1), NULL) \
X(module_type_null, 0, !strcmp(cg_module_type(NULL), ""), NULL) \
X(visit_params_null, 0, (count_visits = 0, cg_module_visit_params(NULL, count_visitor, NULL), \
  count_visits == 0), NULL) \
X(param_tensors_null, 0, cg_module_param_tensors(NULL) == 0, NULL) \
X(param_elements_null, 0, cg_module_param_elements(NULL) == 0, NULL) \
X(collect_params_null_out, 0, cg_module_collect_params(G.lin, NULL, 5) == 2, NULL) \
X(param_null_name, 0, !cg_module_param(G.lin, NULL), NULL) \
X(param_unknown, 0, !cg_module_param(G.lin, "nope"), NULL) \
X(module_zero_grad_null, 0, (cg_module_zero_grad(NULL), 1), NULL) \
X(set_training_null, 0, (cg_module_set_training(NULL, false), 1), NULL) \
X(mse_null_input, 1, !cg_mse_loss(T, NULL, B, MEAN), "mse") \
X(mse_null_target, 1, !cg_mse_loss(T, A, NULL, MEAN), "mse") \
X(mse_null_tape, 1, !cg_mse_loss(NULL, A, B, MEAN), "mse") \
X(mse_shapes, 1, !cg_mse_loss(T, A, G.m34, MEAN), "mse", "[2,3]", "[3,4]") \
X(mse_dtypes, 1, !cg_mse_loss(T, A, D, MEAN), "mse", "f64") \
X(mse_reduction, 1, !cg_mse_loss(T, A, B, BAD_RED), "mse", "7") \
X(mse_mean_shapes, 1, !cg_mse_loss_mean(T, A, V4), "mse") \
X(l1_shapes, 1, !cg_l1_loss(T, A, V4, MEAN), "l1") \
X(l1_reduction, 1, !cg_l1_loss(T, A, B, BAD_RED), "l1") \
X(bce_range, 1, !cg_bce_loss(T, G.big, B, MEAN), "bce", "2") \
X(bce_shapes, 1, !cg_bce_loss(T, A, V4, MEAN), "bce") \
X(bce_reduction, 1, !cg_bce_loss(T, A, B, BAD_RED), "bce") \
X(bce_logits_dtypes, 1, !cg_bce_with_logits_loss(T, A, D, MEAN), "bce_with_logits") \
X(bce_logits_null, 1, !cg_bce_with_logits_loss(T, A, NULL, MEAN), "bce_with_logits") \
X(ce_1d, 1, !cg_cross_entropy_loss(T, V4, (const int32_t[]){0}, MEAN), "cross_entropy", "[4]") \
X(ce_targets_null, 1, !cg_cross_entropy_loss(T, A, NULL, MEAN), "cross_entropy", "NULL") \
X(ce_target_neg, 1, !cg_cross_entropy_loss(T, A, (const int32_t[]){0, -1}, MEAN), \
  "cross_entropy", "-1") \
X(ce_target_c, 1, !cg_cross_entropy_loss(T, A, (const int32_t[]){3, 0}, MEAN), \
  "cross_entropy", "3") \
X(ce_reduction, 1, !cg_cross_entropy_loss(T, A, (const int32_t[]){0, 1}, BAD_RED), \
  "cross_entropy") \
X(ce_logits_null, 1, !cg_cross_entropy_loss(T, NULL, (const int32_t[]){0, 1}, MEAN), \
  "cross_entropy") \
X(ce_tensor_null, 1, !cg_cross_entropy_loss_tensor(T, A, NULL, MEAN), "cross_entropy") \
X(ce_tensor_count, 1, !cg_cross_entropy_loss_tensor(T, A, G.tgt3, MEAN), "cross_entropy", "3") \
X(ce_tensor_frac, 1, !cg_cross_entropy_loss_tensor(T, A, G.tgt_frac, MEAN), "cross_entropy", \
  "0.5") \
X(ce_tensor_range, 1, !cg_cross_entropy_loss_tensor(T, A, G.tgt_big, MEAN), "cross_entropy", \
  "3") \
X(ce_tensor_dtype, 1, !cg_cross_entropy_loss_tensor(T, A, G.tgt_d, MEAN), "cross_entropy") \
X(l1_penalty_neg, 1, !cg_l1_penalty(T, A, -1), "l1_penalty", "-1") \
X(l1_penalty_nan, 1, !cg_l1_penalty(T, A, NAN), "l1_penalty") \
X(l1_penalty_inf, 1, !cg_l1_penalty(T, A, INFINITY), "l1_penalty") \
X(l1_penalty_b0, 1, !cg_l1_penalty(T, G.e03, 0.1), "l1_penalty") \
X(l1_penalty_null, 1, !cg_l1_penalty(T, NULL, 0.1), "l1_penalty")

/* SGD, schedules, clipping. */
#define ROWS_OPTIM(X) \
X(sgd_null_model, 1, !cg_sgd_new(NULL, SGD(.lr = 0.1)), "cg_sgd_new") \
X(sgd_lr_neg, 1, !cg_sgd_new(G.lin, SGD(.lr = -0.1)), "cg_sgd_new", "-0.1") \
X(sgd_lr_nan, 1, !cg_sgd_new(G.lin, SGD(.lr = NAN)), "cg_sgd_new") \
X(sgd_momentum_neg, 1, !cg_sgd_new(G.lin, SGD(.lr = 0.1, .momentum = -1)), "cg_sgd_new", "-1") \
X(sgd_decay_neg, 1, !cg_sgd_new(G.lin, SGD(.lr = 0.1, .weight_decay = -2)), "cg_sgd_new", "-2") \
X(sgd_dampening_nan, 1, !cg_sgd_new(G.lin, SGD(.lr = 0.1, .dampening = NAN)), "cg_sgd_new") \
X(sgd_nesterov_no_momentum, 1, !cg_sgd_new(G.lin, SGD(.lr = 0.1, .nesterov = true)), \
  "cg_sgd_new", "Nesterov") \
X(sgd_nesterov_dampening, 1, !cg_sgd_new(G.lin, SGD(.lr = 0.1, .momentum = 0.9, \
  .dampening = 0.1, .nesterov = true)), "cg_sgd_new", "Nesterov", "0.1") \
X(sgd_params_null, 1, !cg_sgd_new_params(NULL, 2, SGD(.lr = 0.1)), "cg_sgd_new_params") \
X(sgd_params_null_entry, 1, !cg_sgd_new_params(IN2(G.p, NULL), 2, SGD(.lr = 0.1)), \
  "cg_sgd_new_params", "1") \
X(sgd_params_tape, 1, !cg_sgd_new_params(IN1(G.on_tape), 1, SGD(.lr = 0.1)), \
  "cg_sgd_new_params", "tape") \
X(sgd_params_lr, 1, !cg_sgd_new_params(IN1(G.p), 1, SGD(.lr = -1)), "cg_sgd_new_params") \
X(sgd_free_null, 0, (cg_optimizer_free(NULL), 1), NULL) \
X(sgd_step_null, 1, cg_optimizer_step(NULL) == CG_ERR_INVALID, "cg_optimizer_step") \
X(sgd_step_converted, 1, cg_optimizer_step(G.opt_conv) == CG_ERR_INVALID, "cg_optimizer_step", "f64") \
X(sgd_zero_grad_null, 1, (cg_optimizer_zero_grad(NULL), 1), "cg_optimizer_zero_grad") \
X(sgd_get_lr_null, 1, isnan(cg_optimizer_get_lr(NULL)), "cg_optimizer_get_lr") \
X(sgd_set_lr_null, 1, (cg_optimizer_set_lr(NULL, 0.1), 1), "cg_optimizer_set_lr") \
X(sgd_set_lr_neg, 1, (cg_optimizer_set_lr(G.opt, -1), cg_optimizer_get_lr(G.opt) == 0.1), "cg_optimizer_set_lr", \
  "-1") \
X(sgd_set_lr_nan, 1, (cg_optimizer_set_lr(G.opt, NAN), cg_optimizer_get_lr(G.opt) == 0.1), "cg_optimizer_set_lr") \
X(sgd_get_options_null, 1, cg_sgd_get_options(NULL).lr == 0, "cg_sgd_get_options") \
X(sgd_step_count_null, 0, cg_optimizer_step_count(NULL) == 0, NULL) \
X(sgd_param_count_null, 0, cg_optimizer_param_count(NULL) == 0, NULL) \
X(sgd_param_oob, 0, !cg_optimizer_param(G.opt, 99) && !cg_optimizer_param(NULL, 0), NULL) \
X(sgd_param_name_oob, 0, !cg_optimizer_param_name(G.opt, 99) && !cg_optimizer_param_name(NULL, 0), NULL) \
X(sgd_momentum_oob, 0, !cg_sgd_momentum_buffer(G.opt, 99) && !cg_sgd_momentum_buffer(NULL, 0), \
  NULL) \
X(step_new_null, 1, !cg_lr_step_new(NULL, 2, 0.5), "cg_lr_step_new") \
X(step_new_size0, 1, !cg_lr_step_new(G.opt_plain, 0, 0.5), "cg_lr_step_new", "0") \
X(step_new_gamma_neg, 1, !cg_lr_step_new(G.opt_plain, 2, -0.5), "cg_lr_step_new", "-0.5") \
X(step_new_gamma_nan, 1, !cg_lr_step_new(G.opt_plain, 2, NAN), "cg_lr_step_new") \
X(step_new_gamma_inf, 1, !cg_lr_step_new(G.opt_plain, 2, INFINITY), "cg_lr_step_new") \
X(step_new_twice, 1, !cg_lr_step_new(G.opt_sched, 2, 0.5), "cg_lr_step_new", "schedule") \
X(cosine_new_null, 1, !cg_lr_cosine_new(NULL, 10, 0), "cg_lr_cosine_new") \
X(cosine_new_tmax0, 1, !cg_lr_cosine_new(G.opt_plain, 0, 0), "cg_lr_cosine_new", "0") \
X(cosine_new_eta_neg, 1, !cg_lr_cosine_new(G.opt_plain, 10, -1), "cg_lr_cosine_new", "-1") \
X(cosine_new_eta_nan, 1, !cg_lr_cosine_new(G.opt_plain, 10, NAN), "cg_lr_cosine_new") \
X(cosine_new_twice, 1, !cg_lr_cosine_new(G.opt_sched, 10, 0), "cg_lr_cosine_new") \
X(schedule_step_null, 1, isnan(cg_lr_schedule_step(NULL)), "cg_lr_schedule_step") \
X(schedule_epoch_null, 0, cg_lr_schedule_epoch(NULL) == 0, NULL) \
X(schedule_lr_at_null, 1, isnan(cg_lr_schedule_lr_at(NULL, 0)), "cg_lr_schedule_lr_at") \
X(schedule_lr_at_neg, 1, isnan(cg_lr_schedule_lr_at(G.sched, -1)), "cg_lr_schedule_lr_at", "-1") \
X(sgd_schedule_null, 0, !cg_optimizer_schedule(NULL) && !cg_optimizer_schedule(G.opt_plain), NULL) \
X(clip_null, 1, isnan(cg_clip_grad_norm(NULL, 1)), "cg_clip_grad_norm") \
X(clip_neg, 1, isnan(cg_clip_grad_norm(G.seq, -1)), "cg_clip_grad_norm", "-1") \
X(clip_nan, 1, isnan(cg_clip_grad_norm(G.seq, NAN)), "cg_clip_grad_norm") \
X(clip_params_null, 1, isnan(cg_clip_grad_norm_params(NULL, 2, 1)), "cg_clip_grad_norm_params") \
X(clip_params_neg, 1, isnan(cg_clip_grad_norm_params(IN1(G.p), 1, -3)), \
  "cg_clip_grad_norm_params", "-3") \
X(sgd_clip_null, 1, isnan(cg_optimizer_clip_grad_norm(NULL, 1)), "cg_optimizer_clip_grad_norm") \
X(sgd_clip_neg, 1, isnan(cg_optimizer_clip_grad_norm(G.opt, -1)), "clip_grad_norm")

/* cg_gradcheck arguments. */
#define ROWS_GRADCHECK(X) \
X(gc_null_fn, 1, cg_gradcheck(NULL, NULL, 1, IN1(G.p64), NULL, &g_rep) == CG_ERR_INVALID && \
  !g_rep.passed, "cg_gradcheck") \
X(gc_null_inputs, 1, cg_gradcheck(gc_sum, NULL, 1, NULL, NULL, &g_rep) == CG_ERR_INVALID, \
  "cg_gradcheck") \
X(gc_n0, 1, cg_gradcheck(gc_sum, NULL, 0, IN1(G.p64), NULL, NULL) == CG_ERR_INVALID, \
  "cg_gradcheck", "0") \
X(gc_input_null, 1, cg_gradcheck(gc_sum, NULL, 1, IN1(NULL), NULL, NULL) == CG_ERR_INVALID, \
  "cg_gradcheck") \
X(gc_on_tape, 1, cg_gradcheck(gc_sum, NULL, 1, IN1(G.on_tape), NULL, NULL) == CG_ERR_INVALID, \
  "cg_gradcheck", "tape") \
X(gc_mixed, 1, cg_gradcheck(gc_sum, NULL, 2, IN2(G.p64, A), NULL, NULL) == CG_ERR_INVALID, \
  "cg_gradcheck", "f32") \
X(gc_eps_neg, 1, cg_gradcheck(gc_sum, NULL, 1, IN1(G.p64), GC_OPTS(.eps = -1), NULL) == \
  CG_ERR_INVALID, "cg_gradcheck") \
X(gc_atol_nan, 1, cg_gradcheck(gc_sum, NULL, 1, IN1(G.p64), GC_OPTS(.atol = NAN), NULL) == \
  CG_ERR_INVALID, "cg_gradcheck") \
X(gc_rtol_inf, 1, cg_gradcheck(gc_sum, NULL, 1, IN1(G.p64), GC_OPTS(.rtol = INFINITY), NULL) == \
  CG_ERR_INVALID, "cg_gradcheck") \
X(gc_elsewhere, 1, cg_gradcheck(gc_elsewhere, NULL, 1, IN1(G.p64), NULL, &g_rep) == \
  CG_ERR_INVALID && !g_rep.passed, "cg_gradcheck") \
X(gc_fn_null, 0, cg_gradcheck(gc_null, NULL, 1, IN1(G.p64), NULL, &g_rep) == CG_ERR_INVALID && \
  !g_rep.passed && all_equal(G.p64, 0.25), NULL)

CG_ROW_AREA("bad_inputs", TENSOR)
CG_ROW_AREA("bad_inputs", TAPE)
CG_ROW_AREA("bad_inputs", OPS)
CG_ROW_AREA("bad_inputs", NN)
CG_ROW_AREA("bad_inputs", OPTIM)
CG_ROW_AREA("bad_inputs", GRADCHECK)

/* ---- fixture ---- */

static struct cg_tensor *full(enum cg_dtype dt, int ndim, const int64_t *shape, double v)
{
    return cg_tensor_full(NULL, dt, ndim, shape, v);
}

static int setup(void **state)
{
    (void)state;
    memset(g_long_name, 'n', sizeof g_long_name - 1);
    G.rng = cg_rng_seed(1);
    T = cg_tape_new();
    G.tape2 = cg_tape_new();
    A = full(CG_F32, CG_SHAPE(2, 3), 0.5);
    B = full(CG_F32, CG_SHAPE(2, 3), 0.5);
    D = full(CG_F64, CG_SHAPE(2, 3), 0.5);
    V4 = full(CG_F32, CG_SHAPE(4), 1);
    G.m34 = full(CG_F32, CG_SHAPE(3, 4), 1);
    G.m54 = full(CG_F32, CG_SHAPE(5, 4), 1);
    G.b234 = full(CG_F32, CG_SHAPE(2, 3, 4), 1);
    G.b334 = full(CG_F32, CG_SHAPE(3, 4, 4), 1);
    G.w43 = full(CG_F32, CG_SHAPE(4, 3), 1);
    G.bias4 = full(CG_F32, CG_SHAPE(4), 1);
    G.bias5 = full(CG_F32, CG_SHAPE(5), 1);
    G.e03 = full(CG_F32, CG_SHAPE(0, 3), 1);
    G.big = full(CG_F32, CG_SHAPE(2, 3), 2);
    G.p = full(CG_F32, CG_SHAPE(2, 3), 1);
    G.p64 = full(CG_F64, CG_SHAPE(2, 3), 0.25);
    cg_tensor_requires_grad(G.p, true);
    G.tgt3 = full(CG_F32, CG_SHAPE(3), 0);
    G.tgt_d = full(CG_F64, CG_SHAPE(2), 0);
    G.tgt_frac = cg_tensor_from_doubles(NULL, CG_F32, CG_SHAPE(2), (const double[]){0.5, 1});
    G.tgt_big = cg_tensor_from_doubles(NULL, CG_F32, CG_SHAPE(2), (const double[]){0, 3});
    G.view = cg_tensor_detach(NULL, A);
    G.on_tape = cg_add(T, A, B);
    G.other = cg_add(G.tape2, A, B);
    G.y = cg_mul(T, G.p, A);
    G.loss = cg_sum(T, G.y);
    G.nograd_loss = cg_sum(T, A);
    G.lin = cg_linear_new(3, 4, true, &G.rng);
    G.relu = cg_relu_new();
    G.seq = cg_sequential(cg_linear_new(3, 4, true, &G.rng), cg_relu_new());
    G.opt = cg_sgd_new(G.seq, SGD(.lr = 0.1, .momentum = 0.9));
    G.opt_plain = cg_sgd_new(G.lin, SGD(.lr = 0.1));
    G.opt_sched = cg_sgd_new(G.lin, SGD(.lr = 0.1));
    G.sched = cg_lr_step_new(G.opt_sched, 2, 0.5);
    G.conv = cg_linear_new(2, 2, true, &G.rng);
    G.opt_conv = cg_sgd_new(G.conv, SGD(.lr = 0.1));
    cg_module_to_dtype(G.conv, CG_F64);
    if (!G.loss || !G.other || !G.opt || !G.sched || !G.view)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    struct cg_tensor *ts[] = {A, B, D, V4, G.m34, G.m54, G.b234, G.b334, G.w43, G.bias4,
                              G.bias5, G.e03, G.big, G.p, G.p64, G.tgt3, G.tgt_d, G.tgt_frac,
                              G.tgt_big, G.view};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) cg_tensor_free(ts[i]);
    struct cg_optimizer *os[] = {G.opt, G.opt_plain, G.opt_sched, G.opt_conv};
    for (size_t i = 0; i < sizeof os / sizeof os[0]; i++) cg_optimizer_free(os[i]);
    struct cg_module *ms[] = {G.lin, G.relu, G.seq, G.conv};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) cg_module_free(ms[i]);
    cg_tape_free(G.tape);
    cg_tape_free(G.tape2);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_TENSOR),     cmocka_unit_test(test_TAPE),
        cmocka_unit_test(test_OPS),        cmocka_unit_test(test_NN),
        cmocka_unit_test(test_OPTIM),      cmocka_unit_test(test_GRADCHECK),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    printf("bad_inputs: %d rows in total\n", cg_test_rows_total());
    return rc;
}
