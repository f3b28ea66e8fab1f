/* Backward of every built-in op by central differences (cg_gradcheck), in
 * f64 with PyTorch's strict defaults and in f32 with the library's f32
 * defaults, at random inputs away from kinks; plus exact gradients and
 * values at the kinks themselves, where finite differences say nothing. */
#include "cg_test.h"
#include "op_list.h"
#include "nn/loss_op_list.h"
#include "op_refs.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Where an input's random values are drawn. */
enum domain {
    ANY,     /* uniform [-2, 2) */
    POS,     /* uniform [0.5, 2): log, sqrt, fractional powers */
    PROB,    /* uniform [0.1, 0.9): probabilities (bce) */
    NONZERO, /* +-[0.5, 2): denominators */
};

struct gc_input {
    int ndim;
    int64_t shape[4];
    enum domain dom;
};

struct gc_row {
    const char *op;
    int n_in;
    struct gc_input in[4];
    int n_s;
    double s[16];
};

/* where's cond is not checked: a fixed 0/1 mask of in[0]'s shape goes first. */
static bool takes_mask(const struct gc_row *r) { return !strcmp(r->op, "where"); }

#define IN1(d0) {1, {d0}, ANY}
#define IN2(d0, d1) {2, {d0, d1}, ANY}
#define IN3(d0, d1, d2) {3, {d0, d1, d2}, ANY}
#define IN4(d0, d1, d2, d3) {4, {d0, d1, d2, d3}, ANY}

static const struct gc_row rows[] = {
    {"add", 2, {IN3(4, 1, 3), IN2(2, 1)}, 0, {0}},
    {"add", 2, {IN1(3), IN2(2, 3)}, 0, {0}},
    {"sub", 2, {IN3(4, 1, 3), IN2(2, 1)}, 0, {0}},
    {"sub", 2, {IN2(2, 3), IN1(3)}, 0, {0}},
    {"mul", 2, {IN3(4, 1, 3), IN2(2, 1)}, 0, {0}},
    {"mul", 2, {IN2(2, 1), IN2(1, 3)}, 0, {0}},
    {"div", 2, {IN2(2, 3), {1, {3}, NONZERO}}, 0, {0}},
    {"div", 2, {IN3(4, 1, 3), {2, {2, 1}, NONZERO}}, 0, {0}},
    {"add_scalar", 1, {IN2(2, 3)}, 1, {1.5}},
    {"mul_scalar", 1, {IN2(2, 3)}, 1, {-2.5}},
    {"pow_scalar", 1, {IN2(2, 3)}, 1, {3.0}},
    {"pow_scalar", 1, {IN2(2, 3)}, 1, {2.0}},
    {"pow_scalar", 1, {{2, {2, 3}, POS}}, 1, {0.5}},
    {"pow_scalar", 1, {{2, {2, 3}, POS}}, 1, {-1.5}},
    {"neg", 1, {IN2(3, 4)}, 0, {0}},
    {"abs", 1, {IN2(3, 4)}, 0, {0}},
    {"exp", 1, {IN2(3, 4)}, 0, {0}},
    {"log", 1, {{2, {3, 4}, POS}}, 0, {0}},
    {"sqrt", 1, {{2, {3, 4}, POS}}, 0, {0}},
    {"square", 1, {IN2(3, 4)}, 0, {0}},
    {"tanh", 1, {IN2(3, 4)}, 0, {0}},
    {"sigmoid", 1, {IN2(3, 4)}, 0, {0}},
    {"relu", 1, {IN2(3, 4)}, 0, {0}},
    {"hardshrink", 1, {IN2(3, 4)}, 1, {0.5}},
    {"hardshrink", 1, {IN1(8)}, 1, {0.0}},
    {"softshrink", 1, {IN2(3, 4)}, 1, {0.5}},
    {"softshrink", 1, {IN1(8)}, 1, {1.25}},
    {"tanhshrink", 1, {IN2(3, 4)}, 0, {0}},
    {"clamp", 1, {IN2(3, 4)}, 2, {-0.5, 0.75}},
    {"clamp", 1, {IN2(3, 4)}, 2, {-INFINITY, 0.25}},
    {"matmul", 2, {IN2(3, 4), IN2(4, 2)}, 0, {0}},
    {"matmul", 2, {IN3(2, 3, 4), IN3(2, 4, 5)}, 0, {0}},
    {"linear", 3, {IN2(4, 3), IN2(2, 3), IN1(2)}, 0, {0}},
    {"linear", 2, {IN2(5, 3), IN2(4, 3)}, 0, {0}},
    {"sum", 1, {IN3(2, 3, 4)}, 0, {0}},
    {"mean", 1, {IN3(2, 3, 4)}, 0, {0}},
    {"sum_dim", 1, {IN3(2, 3, 4)}, 2, {-1, 1}},
    {"sum_dim", 1, {IN3(2, 3, 4)}, 2, {0, 0}},
    {"mean_dim", 1, {IN3(2, 3, 4)}, 2, {1, 0}},
    {"mean_dim", 1, {IN2(3, 4)}, 2, {-2, 1}},
    {"max_dim", 1, {IN3(2, 3, 4)}, 2, {1, 0}},
    {"max_dim", 1, {IN2(3, 4)}, 2, {-1, 1}},
    {"reshape", 1, {IN3(2, 3, 4)}, 2, {4, -1}},
    {"transpose", 1, {IN2(3, 4)}, 0, {0}},
    /* losses (nn/loss_op_list.h): s[0] is the reduction (0 mean, 1 sum, 2 none) */
    {"mse_loss", 2, {IN2(3, 4), IN2(3, 4)}, 1, {0}},
    {"mse_loss", 2, {IN1(5), IN1(5)}, 1, {2}},
    {"l1_loss", 2, {IN2(3, 4), IN2(3, 4)}, 1, {1}},
    {"bce_loss", 2, {{2, {3, 4}, PROB}, {2, {3, 4}, PROB}}, 1, {0}},
    {"bce_loss", 2, {{1, {5}, PROB}, {1, {5}, PROB}}, 1, {2}},
    {"bce_with_logits_loss", 2, {IN2(3, 4), {2, {3, 4}, PROB}}, 1, {1}},
    {"cross_entropy_loss", 1, {IN2(4, 3)}, 5, {0, 2, 0, 1, 2}},
    {"cross_entropy_loss", 1, {IN2(3, 5)}, 4, {2, 4, 0, 4}},
    {"l1_penalty", 1, {IN2(3, 4)}, 1, {0.75}},
    {"huber_loss", 2, {IN2(3, 4), IN2(3, 4)}, 2, {0, 0.6}},
    {"huber_loss", 2, {IN1(6), IN1(6)}, 2, {2, 1.0}},
    {"smooth_l1_loss", 2, {IN2(3, 4), IN2(3, 4)}, 2, {1, 0.7}},
    {"kl_div_loss", 2, {IN2(3, 4), {2, {3, 4}, PROB}}, 1, {3}},
    {"kl_div_loss", 2, {IN1(5), {1, {5}, PROB}}, 1, {2}},
    /* class losses: reduction, label_smoothing, ignore, ignore_index, targets */
    {"nll_loss", 1, {IN2(4, 3)}, 8, {0, 0, 1, -100, 2, -100, 0, 1}},
    {"nll_loss", 1, {IN2(3, 5)}, 7, {2, 0, 0, 0, 4, 0, 4}},
    {"cross_entropy_loss_with", 1, {IN2(4, 3)}, 8, {0, 0.2, 1, 1, 2, 1, 0, 1}},
    {"cross_entropy_loss_with", 1, {IN2(3, 5)}, 7, {2, 0.1, 0, 0, 4, 0, 3}},
    {"cross_entropy_loss_with", 1, {IN2(3, 4)}, 7, {1, 1.0, 0, 0, 3, 0, 1}},
    /* issue 13's ops */
    {"maximum", 2, {IN2(2, 3), IN2(2, 3)}, 0, {0}},
    {"maximum", 2, {IN3(4, 1, 3), IN2(2, 1)}, 0, {0}},
    {"minimum", 2, {IN2(2, 3), IN1(3)}, 0, {0}},
    {"where", 2, {IN2(3, 4), IN2(3, 4)}, 0, {0}},
    {"erf", 1, {IN2(3, 4)}, 0, {0}},
    {"leaky_relu", 1, {IN2(3, 4)}, 1, {0.01}},
    {"leaky_relu", 1, {IN1(6)}, 1, {-0.5}},
    {"elu", 1, {IN2(3, 4)}, 1, {1.0}},
    {"elu", 1, {IN1(6)}, 1, {0.3}},
    {"gelu", 1, {IN2(3, 4)}, 0, {0}},
    {"gelu_tanh", 1, {IN2(3, 4)}, 0, {0}},
    {"silu", 1, {IN2(3, 4)}, 0, {0}},
    {"softplus", 1, {IN2(3, 4)}, 2, {1, 20}},
    {"softplus", 1, {IN2(3, 4)}, 2, {2, 1}},
    {"var_dim", 1, {IN2(3, 4)}, 3, {1, 1, 0}},
    {"var_dim", 1, {IN3(2, 3, 4)}, 3, {0, 0, 1}},
    {"softmax", 1, {IN2(3, 4)}, 1, {1}},
    {"softmax", 1, {IN3(2, 3, 4)}, 1, {1}},
    {"log_softmax", 1, {IN2(3, 4)}, 1, {-1}},
    {"log_softmax", 1, {IN3(2, 3, 2)}, 1, {0}},
    {"logsumexp", 1, {IN2(3, 4)}, 2, {1, 0}},
    {"logsumexp", 1, {IN3(2, 3, 4)}, 2, {0, 1}},
    {"permute", 1, {IN3(2, 3, 4)}, 3, {2, 0, 1}},
    {"permute", 1, {IN2(3, 4)}, 2, {1, 0}},
    {"cat", 2, {IN2(2, 3), IN2(1, 3)}, 1, {0}},
    {"cat", 3, {IN2(2, 3), IN2(2, 1), IN2(2, 2)}, 1, {-1}},
    {"cat", 4, {IN2(1, 2), IN2(2, 2), IN2(1, 2), IN2(3, 2)}, 1, {0}},
    {"narrow", 1, {IN2(3, 4)}, 3, {1, 1, 2}},
    {"narrow", 1, {IN3(2, 3, 4)}, 3, {2, 0, 3}},
    {"narrow_view", 1, {IN2(4, 3)}, 3, {0, 1, 2}},
    {"index_select", 1, {IN2(4, 3)}, 4, {0, 2, 0, 2}},
    {"index_select", 1, {IN3(2, 3, 2)}, 5, {1, 0, 0, 2, 1}},
    /* padding_idx 3 is not looked up: the padding row's zero gradient is a
     * convention (PyTorch's), not a derivative; op_refs.txt checks it */
    {"embedding", 1, {IN2(5, 3)}, 11, {1, 3, 2, 2, 3, 1, 2, 1, 0, 1, 4}},
    {"embedding", 1, {IN2(4, 2)}, 8, {0, 0, 1, 4, 3, 3, 0, 2}},
    {"gather", 1, {IN2(3, 4)}, 10, {1, 2, 3, 2, 0, 0, 3, 1, 2, 2}},
    {"gather", 1, {IN2(2, 3)}, 10, {0, 2, 2, 3, 1, 0, 1, 0, 1, 1}},
    /* scalars as in tests/gen_conv_refs.py; every reference case of these
     * ops is also gradchecked in test_conv.c */
    {"conv2d", 3, {IN4(1, 2, 5, 4), IN4(3, 2, 3, 3), IN1(3)}, 7, {2, 1, 1, 1, 1, 1, 1}},
    {"conv2d_relu", 3, {IN4(1, 2, 5, 4), IN4(3, 2, 3, 3), IN1(3)}, 7, {1, 1, 1, 1, 1, 1, 1}},
    {"conv2d_relu_max_pool2d", 3, {IN4(1, 2, 6, 5), IN4(3, 2, 3, 3), IN1(3)}, 7,
     {1, 1, 1, 1, 1, 1, 1}},
    {"max_pool2d", 1, {IN4(1, 2, 5, 4)}, 8, {2, 2, 2, 1, 1, 0, 1, 1}},
    {"avg_pool2d", 1, {IN4(1, 2, 5, 4)}, 7, {3, 3, 2, 2, 1, 1, 0}},
    {"adaptive_avg_pool2d", 1, {IN4(1, 2, 5, 4)}, 2, {2, 3}},
    {"batch_norm2d", 3, {IN4(2, 2, 3, 2), IN1(2), IN1(2)}, 0, {0}},
};
#define N_ROWS (int)(sizeof rows / sizeof rows[0])

/* Kink points of the row's op: random values are re-drawn within 1e-2 of
 * them (and, for max_dim, of each other) so x +- eps never crosses one. */
static int kinks(const struct gc_row *r, double *k)
{
    if (!strcmp(r->op, "relu") || !strcmp(r->op, "abs") || !strcmp(r->op, "l1_penalty"))
        return k[0] = 0, 1;
    if (!strcmp(r->op, "hardshrink") || !strcmp(r->op, "softshrink"))
        return k[0] = -r->s[0], k[1] = r->s[0], 2;
    if (!strcmp(r->op, "clamp")) return k[0] = r->s[0], k[1] = r->s[1], 2;
    if (!strcmp(r->op, "leaky_relu") || !strcmp(r->op, "elu")) return k[0] = 0, 1;
    if (!strcmp(r->op, "softplus")) return k[0] = r->s[1] / r->s[0], 1;
    return 0;
}

static bool too_close(double v, const double *pts, int n)
{
    for (int i = 0; i < n; i++)
        if (fabs(v - pts[i]) < 1e-2) return true;
    return false;
}

static struct cg_tensor *draw(const struct gc_row *r, int i, struct cg_rng *rng,
                              enum cg_dtype dtype)
{
    const struct gc_input *in = &r->in[i];
    int64_t n = 1;
    for (int d = 0; d < in->ndim; d++) n *= in->shape[d];
    double v[64], k[2];
    assert_true(n <= 64);
    int nk = kinks(r, k);
    bool distinct = !strcmp(r->op, "max_dim") || !strcmp(r->op, "max_pool2d");
    for (int64_t j = 0; j < n;) {
        double u = cg_rng_uniform(rng);
        double x = in->dom == ANY ? 4 * u - 2 : in->dom == PROB ? 0.1 + 0.8 * u : 0.5 + 1.5 * u;
        if (in->dom == NONZERO && cg_rng_uniform(rng) < 0.5) x = -x;
        if (too_close(x, k, nk) || (distinct && too_close(x, v, (int)j))) continue;
        v[j++] = x;
    }
    return cg_tensor_from_doubles(NULL, dtype, in->ndim, in->shape, v);
}

struct gc_ctx {
    const struct gc_row *row;
    struct cg_tensor *mask; /* or NULL */
};

static struct cg_tensor *apply_row(struct cg_tape *tape, struct cg_tensor *const *in, void *user)
{
    const struct gc_ctx *c = user;
    const struct gc_row *r = c->row;
    if (!c->mask) return cg_opref_run(tape, r->op, in, r->n_in, r->s, r->n_s);
    struct cg_tensor *all[4] = {c->mask, in[0], in[1], in[2]};
    return cg_opref_run(tape, r->op, all, r->n_in + 1, r->s, r->n_s);
}

/* Alternating 0/1 (starting at 1) with a 0 pair in the middle. */
static struct cg_tensor *make_mask(const struct gc_input *in, enum cg_dtype dtype)
{
    double v[64];
    int64_t n = 1;
    for (int d = 0; d < in->ndim; d++) n *= in->shape[d];
    for (int64_t i = 0; i < n; i++) v[i] = (i % 3) != 1;
    return cg_tensor_from_doubles(NULL, dtype, in->ndim, in->shape, v);
}

static void check_row(int row, enum cg_dtype dtype)
{
    const struct gc_row *r = &rows[row];
    struct cg_rng rng = cg_rng_seed(1000 + (uint64_t)row);
    struct cg_tensor *in[4] = {NULL};
    for (int i = 0; i < r->n_in; i++) assert_non_null(in[i] = draw(r, i, &rng, dtype));
    struct gc_ctx ctx = {r, takes_mask(r) ? make_mask(&r->in[0], dtype) : NULL};
    /* f64: PyTorch's gradcheck defaults spelled out, so the check stays
     * strict whatever the library's defaults become; f32: the defaults. */
    struct cg_gradcheck_options strict = {.eps = 1e-6, .atol = 1e-5, .rtol = 1e-3, .seed = 7};
    struct cg_gradcheck_options loose = {.seed = 7};
    struct cg_gradcheck_report rep;
    enum cg_status st = cg_gradcheck(apply_row, &ctx, r->n_in, in,
                                     dtype == CG_F64 ? &strict : &loose, &rep);
    if (st != CG_OK)
        fail_msg("gradcheck of %s (row %d, %s): %s: %s", r->op, row, cg_dtype_name(dtype),
                 cg_status_str(st), rep.message);
    int64_t total = 0;
    for (int i = 0; i < r->n_in; i++) total += in[i]->numel;
    assert_int_equal(rep.checked, total);
    assert_int_equal(rep.passed, 1);
    for (int i = 0; i < r->n_in; i++) cg_tensor_free(in[i]);
    cg_tensor_free(ctx.mask);
}

static void check_op(const char *op, enum cg_dtype dtype)
{
    int n = 0;
    for (int row = 0; row < N_ROWS; row++)
        if (!strcmp(rows[row].op, op)) check_row(row, dtype), n++;
    if (n == 0) fail_msg("op '%s' has no gradcheck row (add one to rows[])", op);
}

/* gradcheck_<op>_f64 / gradcheck_<op>_f32 for every op in the built-in list. */
#define CG_GRADCHECK_TESTS(name)                                               \
    static void gradcheck_##name##_f64(void **state)                           \
    {                                                                          \
        (void)state;                                                           \
        check_op(#name, CG_F64);                                               \
    }                                                                          \
    static void gradcheck_##name##_f32(void **state)                           \
    {                                                                          \
        (void)state;                                                           \
        check_op(#name, CG_F32);                                               \
    }
CG_BUILTIN_OPS(CG_GRADCHECK_TESTS)
CG_LOSS_OPS(CG_GRADCHECK_TESTS)
#undef CG_GRADCHECK_TESTS

/* Every op of both lists (core's table, nn's losses) by name. */
static const char *const loss_ops[] = {
#define CG_LOSS_NAME(name) #name,
    CG_LOSS_OPS(CG_LOSS_NAME)
#undef CG_LOSS_NAME
};
#define N_LOSS_OPS (int)(sizeof loss_ops / sizeof loss_ops[0])

static const char *op_name(int i)
{
    int n = cg_builtin_op_count();
    return i < n ? cg_builtin_op(i)->name : loss_ops[i - n];
}

static void test_table_covers_every_builtin_op(void **state)
{
    (void)state;
    int n = cg_builtin_op_count() + N_LOSS_OPS;
    for (int i = 0; i < n; i++) {
        const char *name = op_name(i);
        int found = 0;
        for (int row = 0; row < N_ROWS; row++) found += !strcmp(rows[row].op, name);
        if (!found) fail_msg("op '%s' has no gradcheck row", name);
    }
    for (int row = 0; row < N_ROWS; row++) {
        int found = 0;
        for (int i = 0; i < n; i++) found += !strcmp(rows[row].op, op_name(i));
        if (!found) fail_msg("gradcheck row %d names unknown op '%s'", row, rows[row].op);
    }
}

/* ---- exact values at kinks ---- */

static double in_dtype(double v, enum cg_dtype dtype)
{
    return dtype == CG_F64 ? v : (double)(float)v;
}

/* The next representable value of `dtype` after v towards `to`. */
static double next(double v, double to, enum cg_dtype dtype)
{
    return dtype == CG_F64 ? nextafter(v, to) : (double)nextafterf((float)v, (float)to);
}

struct kink_case {
    const char *op;
    int n_s;
    double s[2];
    int ndim;
    int64_t shape[2];
    int out_ndim;
    int64_t out_shape[2];
    double x[8], gout[8], y[8], g[8];
};

/* Runs the op on x, backpropagates gout, and requires y and g bit-exactly
 * (== so -0 and 0 are equal). */
static void check_exact(const struct kink_case *k, enum cg_dtype dtype)
{
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_from_doubles(NULL, dtype, k->ndim, k->shape, k->x);
    assert_int_equal(cg_tensor_requires_grad(x, true), CG_OK);
    struct cg_tensor *seed = cg_tensor_from_doubles(NULL, dtype, k->out_ndim, k->out_shape, k->gout);
    struct cg_tensor *y = cg_opref_run(tape, k->op, &x, 1, k->s, k->n_s);
    assert_non_null(y);
    assert_int_equal(y->ndim, k->out_ndim);
    for (int d = 0; d < y->ndim; d++) assert_int_equal(y->shape[d], k->out_shape[d]);
    for (int64_t i = 0; i < y->numel; i++)
        if (!(cg_tensor_at(y, i) == k->y[i]))
            fail_msg("%s (%s): forward element %lld at x = %.9g is %.17g, expected %.17g", k->op,
                     cg_dtype_name(dtype), (long long)i, k->x[i], cg_tensor_at(y, i), k->y[i]);
    assert_int_equal(cg_backward_seed(tape, y, seed), CG_OK);
    for (int64_t i = 0; i < x->numel; i++)
        if (!(cg_tensor_at(x->grad, i) == k->g[i]))
            fail_msg("%s (%s): gradient element %lld at x = %.17g is %.17g, expected %.17g",
                     k->op, cg_dtype_name(dtype), (long long)i, k->x[i],
                     cg_tensor_at(x->grad, i), k->g[i]);
    cg_tensor_free(x);
    cg_tensor_free(seed);
    cg_tape_free(tape);
}

static const enum cg_dtype dtypes[2] = {CG_F64, CG_F32};

/* relu'(0) = 0 (also at -0); abs'(0) = 0; as PyTorch. */
static void test_kink_relu_abs(void **state)
{
    (void)state;
    for (int t = 0; t < 2; t++) {
        enum cg_dtype dt = dtypes[t];
        double tiny = next(0, 1, dt);
        struct kink_case relu = {"relu", 0, {0}, 1, {5}, 1, {5},
                                 {-1, -0.0, 0.0, tiny, 2}, {2, 3, 4, 5, 6},
                                 {0, 0, 0, tiny, 2}, {0, 0, 0, 5, 6}};
        check_exact(&relu, dt);
        struct kink_case abs = {"abs", 0, {0}, 1, {5}, 1, {5},
                                {-2, -0.0, 0.0, tiny, -tiny}, {2, 3, 4, 5, 6},
                                {2, 0, 0, tiny, tiny}, {-2, 0, 0, 5, -6}};
        check_exact(&abs, dt);
    }
}

/* Gradient 0 on the closed band [-l, l], 1 just outside; forward 0 on the
 * band and x (hardshrink) or x -+ l (softshrink, exact) just outside. */
static void test_kink_shrink(void **state)
{
    (void)state;
    const double lambdas[3] = {0.5, 0.25, 0.0};
    for (int t = 0; t < 2; t++) {
        enum cg_dtype dt = dtypes[t];
        for (int li = 0; li < 3; li++) {
            double l = lambdas[li], up = next(l, 1, dt), in = next(l, -1, dt);
            double lo = -up; /* just below -l */
            struct kink_case h = {"hardshrink", 1, {l}, 1, {7}, 1, {7},
                                  {-l, l, 0, up, lo, in, -in}, {2, 3, 4, 5, 6, 7, 8},
                                  {0, 0, 0, up, lo, 0, 0}, {0, 0, 0, 5, 6, 0, 0}};
            if (l == 0) h.y[5] = in, h.y[6] = -in, h.g[5] = 7, h.g[6] = 8; /* in = -tiny */
            check_exact(&h, dt);
            struct kink_case s = h;
            s.op = "softshrink";
            s.y[3] = up - l; /* exact: Sterbenz */
            s.y[4] = lo + l;
            if (l == 0) s.y[5] = in, s.y[6] = -in;
            check_exact(&s, dt);
        }
    }
}

/* Gradient 1 on the closed interval [lo, hi] (also lo == hi), 0 outside. */
static void test_kink_clamp(void **state)
{
    (void)state;
    for (int t = 0; t < 2; t++) {
        enum cg_dtype dt = dtypes[t];
        double a = -0.5, b = 0.75;
        struct kink_case c = {"clamp", 2, {a, b}, 1, {7}, 1, {7},
                              {a, b, next(a, -1, dt), next(b, 1, dt), 0, next(a, 1, dt),
                               next(b, -1, dt)},
                              {2, 3, 4, 5, 6, 7, 8},
                              {a, b, a, b, 0, next(a, 1, dt), next(b, -1, dt)},
                              {2, 3, 0, 0, 6, 7, 8}};
        check_exact(&c, dt);
        struct kink_case p = {"clamp", 2, {0.25, 0.25}, 1, {3}, 1, {3},
                              {0.25, next(0.25, 1, dt), -1}, {2, 3, 4},
                              {0.25, 0.25, 0.25}, {2, 0, 0}};
        check_exact(&p, dt);
        struct kink_case u = {"clamp", 2, {-INFINITY, 0.25}, 1, {3}, 1, {3},
                              {-1e30, 0.25, 1}, {2, 3, 4},
                              {in_dtype(-1e30, dt), 0.25, 0.25}, {2, 3, 0}};
        check_exact(&u, dt);
    }
}

/* A tie sends the whole gradient to the first maximal element. */
static void test_kink_max_dim_tie(void **state)
{
    (void)state;
    for (int t = 0; t < 2; t++) {
        enum cg_dtype dt = dtypes[t];
        struct kink_case rows2 = {"max_dim", 2, {1, 0}, 2, {2, 3}, 1, {2},
                                  {2, 7, 7, 4, 4, -1}, {3, 5},
                                  {7, 4}, {0, 3, 0, 5, 0, 0}};
        check_exact(&rows2, dt);
        struct kink_case cols = {"max_dim", 2, {0, 1}, 2, {2, 2}, 2, {1, 2},
                                 {3, 1, 3, 5}, {3, 5},
                                 {3, 5}, {3, 0, 0, 5}};
        check_exact(&cols, dt);
        struct kink_case all = {"max_dim", 2, {-1, 0}, 1, {4}, 0, {0},
                                {-0.5, -0.5, -0.5, -0.5}, {2},
                                {-0.5}, {2, 0, 0, 0}};
        check_exact(&all, dt);
    }
}

/* x^0 = 1 with gradient 0 even at 0; x^1 and x^2 at 0. */
static void test_kink_pow_at_zero(void **state)
{
    (void)state;
    for (int t = 0; t < 2; t++) {
        enum cg_dtype dt = dtypes[t];
        struct kink_case p0 = {"pow_scalar", 1, {0}, 1, {2}, 1, {2}, {0, -2}, {3, 4},
                               {1, 1}, {0, 0}};
        check_exact(&p0, dt);
        struct kink_case p1 = {"pow_scalar", 1, {1}, 1, {2}, 1, {2}, {0, -2}, {3, 4},
                               {0, -2}, {3, 4}};
        check_exact(&p1, dt);
        struct kink_case p2 = {"pow_scalar", 1, {2}, 1, {2}, 1, {2}, {0, -2}, {3, 4},
                               {0, 4}, {0, -16}};
        check_exact(&p2, dt);
    }
}

#define CG_GRADCHECK_ENTRIES(name) \
    cmocka_unit_test(gradcheck_##name##_f64), cmocka_unit_test(gradcheck_##name##_f32),

int main(void)
{
    const struct CMUnitTest tests[] = {
        CG_BUILTIN_OPS(CG_GRADCHECK_ENTRIES)
        CG_LOSS_OPS(CG_GRADCHECK_ENTRIES)
        cmocka_unit_test(test_table_covers_every_builtin_op),
        cmocka_unit_test(test_kink_relu_abs),
        cmocka_unit_test(test_kink_shrink),
        cmocka_unit_test(test_kink_clamp),
        cmocka_unit_test(test_kink_max_dim_tie),
        cmocka_unit_test(test_kink_pow_at_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
