/* Linear algebra and reductions: matmul (plain and batched), linear (with and
 * without bias), sum/mean/sum_dim/mean_dim/max_dim.  Forward values and
 * gradients are derived by hand for small cases (worked out in the comments);
 * larger odd-sized cases are compared with naive triple loops written here,
 * which catch GEMM leading-dimension and transpose-flag mistakes that square
 * hand cases could hide.  Every case runs in f32 and f64. */
#include "cg_test.h"

#include <math.h>
#include <string.h>

#include <cblas.h>

#include "gemm.h"    /* cg_gemm_one, against BLAS itself */
#include "op_list.h" /* cg_op_max_dim, to drive its backward without saved indices */

static const enum cg_dtype dtypes[2] = {CG_F32, CG_F64};

static double rtol_of(enum cg_dtype dt) { return dt == CG_F32 ? 1e-6 : 1e-14; }

/* Persistent tensor from doubles, optionally requiring grad (zeroed grad). */
static struct cg_tensor *mk(enum cg_dtype dt, int ndim, const int64_t *shape, const double *v,
                            bool grad)
{
    struct cg_tensor *t = cg_tensor_from_doubles(NULL, dt, ndim, shape, v);
    assert_non_null(t);
    if (grad) assert_int_equal(cg_tensor_requires_grad(t, true), CG_OK);
    return t;
}

static void expect_shape(const struct cg_tensor *t, int ndim, const int64_t *shape)
{
    assert_non_null(t);
    assert_int_equal(t->ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(t->shape[i], shape[i]);
}

static void expect_values(const struct cg_tensor *t, const double *v, int64_t n)
{
    assert_non_null(t);
    assert_int_equal(t->numel, n);
    CG_ASSERT_TENSOR(t, v, 0, rtol_of(t->dtype));
}

/* Backpropagates from `out` with the upstream gradient `seed_v`, keeping the
 * records (some tests backward twice to check accumulation). */
static void backward_seed(struct cg_tape *tape, struct cg_tensor *out, const double *seed_v)
{
    struct cg_tensor *seed =
        cg_tensor_from_doubles(tape, out->dtype, out->ndim, out->shape, seed_v);
    assert_non_null(seed);
    assert_int_equal(cg_backward_seed_retain(tape, out, seed), CG_OK);
}

/* ------------------------------------------------------------------ matmul */

/* A = [[1,2,3],[4,5,6]], B = [[7,8],[9,10],[11,12]]:
 * C = A B = [[58,64],[139,154]].  With upstream G = [[1,2],[3,4]]:
 * dA = G B^T = [[1*7+2*8, 1*9+2*10, 1*11+2*12], [3*7+4*8, ...]] = [[23,29,35],[53,67,81]]
 * dB = A^T G = [[1+12, 2+16],[2+15, 4+20],[3+18, 6+24]] = [[13,18],[17,24],[21,30]].
 * A second backward doubles both (GEMM with beta = 1 accumulates). */
static void test_matmul_2x3_3x2(void **state)
{
    (void)state;
    static const double av[] = {1, 2, 3, 4, 5, 6}, bv[] = {7, 8, 9, 10, 11, 12};
    static const double cv[] = {58, 64, 139, 154}, gv[] = {1, 2, 3, 4};
    static const double dav[] = {23, 29, 35, 53, 67, 81}, dbv[] = {13, 18, 17, 24, 21, 30};
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *a = mk(dtypes[d], CG_SHAPE(2, 3), av, true);
        struct cg_tensor *b = mk(dtypes[d], CG_SHAPE(3, 2), bv, true);
        struct cg_tensor *c = cg_matmul(tape, a, b);
        expect_shape(c, CG_SHAPE(2, 2));
        assert_int_equal(c->dtype, dtypes[d]);
        expect_values(c, cv, 4);
        backward_seed(tape, c, gv);
        expect_values(a->grad, dav, 6);
        expect_values(b->grad, dbv, 6);
        backward_seed(tape, c, gv);
        double da2[6], db2[6];
        for (int i = 0; i < 6; i++) da2[i] = 2 * dav[i], db2[i] = 2 * dbv[i];
        expect_values(a->grad, da2, 6);
        expect_values(b->grad, db2, 6);
        cg_tensor_free(a);
        cg_tensor_free(b);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* Batched [2,2,2] x [2,2,1]:
 * a0 = [[1,2],[3,4]], b0 = [[5],[6]]  -> [[17],[39]]
 * a1 = [[-1,0],[2,1]], b1 = [[1],[-2]] -> [[-1],[0]]
 * upstream G0 = [[1],[2]], G1 = [[3],[4]]:
 * dA0 = G0 b0^T = [[5,6],[10,12]],   dA1 = G1 b1^T = [[3,-6],[4,-8]]
 * dB0 = a0^T G0 = [[1+6],[2+8]],     dB1 = a1^T G1 = [[-3+8],[0+4]]
 * Only b requires grad in the second round: a->grad must stay untouched. */
static void test_matmul_batched(void **state)
{
    (void)state;
    static const double av[] = {1, 2, 3, 4, -1, 0, 2, 1}, bv[] = {5, 6, 1, -2};
    static const double cv[] = {17, 39, -1, 0}, gv[] = {1, 2, 3, 4};
    static const double dav[] = {5, 6, 10, 12, 3, -6, 4, -8}, dbv[] = {7, 10, 5, 4};
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *a = mk(dtypes[d], CG_SHAPE(2, 2, 2), av, true);
        struct cg_tensor *b = mk(dtypes[d], CG_SHAPE(2, 2, 1), bv, true);
        struct cg_tensor *c = cg_matmul(tape, a, b);
        expect_shape(c, CG_SHAPE(2, 2, 1));
        expect_values(c, cv, 4);
        backward_seed(tape, c, gv);
        expect_values(a->grad, dav, 8);
        expect_values(b->grad, dbv, 4);
        cg_tape_reset(tape);

        struct cg_tensor *a2 = mk(dtypes[d], CG_SHAPE(2, 2, 2), av, false);
        cg_tensor_zero_grad(b);
        c = cg_matmul(tape, a2, b);
        backward_seed(tape, c, gv);
        assert_null(a2->grad);
        expect_values(b->grad, dbv, 4);
        cg_tensor_free(a);
        cg_tensor_free(a2);
        cg_tensor_free(b);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* Odd sizes (B=3, M=2, K=4, N=5) against naive loops, forward and backward. */
static void test_matmul_naive(void **state)
{
    (void)state;
    enum { B = 3, M = 2, K = 4, N = 5 };
    struct cg_rng rng = cg_rng_seed(7);
    double av[B * M * K], bv[B * K * N], gv[B * M * N];
    for (int i = 0; i < B * M * K; i++) av[i] = cg_rng_uniform(&rng) * 2 - 1;
    for (int i = 0; i < B * K * N; i++) bv[i] = cg_rng_uniform(&rng) * 2 - 1;
    for (int i = 0; i < B * M * N; i++) gv[i] = cg_rng_uniform(&rng) * 2 - 1;
    double cv[B * M * N] = {0}, dav[B * M * K] = {0}, dbv[B * K * N] = {0};
    for (int p = 0; p < B; p++)
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++)
                for (int k = 0; k < K; k++) {
                    double x = av[(p * M + m) * K + k], y = bv[(p * K + k) * N + n];
                    double g = gv[(p * M + m) * N + n];
                    cv[(p * M + m) * N + n] += x * y;
                    dav[(p * M + m) * K + k] += g * y;
                    dbv[(p * K + k) * N + n] += x * g;
                }
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        double tol = dtypes[d] == CG_F32 ? 1e-5 : 1e-13;
        /* batched */
        struct cg_tensor *a = mk(dtypes[d], CG_SHAPE(B, M, K), av, true);
        struct cg_tensor *b = mk(dtypes[d], CG_SHAPE(B, K, N), bv, true);
        struct cg_tensor *c = cg_matmul(tape, a, b);
        expect_shape(c, CG_SHAPE(B, M, N));
        CG_ASSERT_TENSOR(c, cv, tol, tol);
        backward_seed(tape, c, gv);
        CG_ASSERT_TENSOR(a->grad, dav, tol, tol);
        CG_ASSERT_TENSOR(b->grad, dbv, tol, tol);
        cg_tensor_free(a);
        cg_tensor_free(b);
        cg_tape_reset(tape);
        /* the first batch entry as a plain 2-D product */
        a = mk(dtypes[d], CG_SHAPE(M, K), av, true);
        b = mk(dtypes[d], CG_SHAPE(K, N), bv, true);
        c = cg_matmul(tape, a, b);
        expect_shape(c, CG_SHAPE(M, N));
        CG_ASSERT_TENSOR(c, cv, tol, tol);
        backward_seed(tape, c, gv);
        CG_ASSERT_TENSOR(a->grad, dav, tol, tol);
        CG_ASSERT_TENSOR(b->grad, dbv, tol, tol);
        cg_tensor_free(a);
        cg_tensor_free(b);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* K = 0: the product of [2,0] and [0,3] is a [2,3] matrix of zeros. */
static void test_matmul_empty_inner(void **state)
{
    (void)state;
    static const double zeros[6] = {0};
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *a = cg_tensor_empty(tape, dtypes[d], CG_SHAPE(2, 0));
        struct cg_tensor *b = cg_tensor_empty(tape, dtypes[d], CG_SHAPE(0, 3));
        struct cg_tensor *c = cg_matmul(tape, a, b);
        expect_shape(c, CG_SHAPE(2, 3));
        expect_values(c, zeros, 6);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

static void test_matmul_misuse(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *a = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(2, 3));
    struct cg_tensor *b = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(2, 3));
    struct cg_tensor *b3 = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(2, 3, 4));
    struct cg_tensor *a3 = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(4, 2, 3));
    struct cg_tensor *b64 = cg_tensor_zeros(tape, CG_F64, CG_SHAPE(3, 2));
    struct cg_tensor *c = NULL;
    CG_EXPECT_MISUSE(c = cg_matmul(tape, a, b), "matmul", "a [2,3] f32 does not match b [2,3] f32",
                     "3 columns", "2 rows");
    assert_null(c);
    CG_EXPECT_MISUSE(c = cg_matmul(tape, a, b3), "matmul", "[2,3]", "[2,3,4]", "[B,M,K]");
    CG_EXPECT_MISUSE(c = cg_matmul(tape, a3, b3), "matmul", "[4,2,3]", "[2,3,4]",
                     "batch sizes 4 and 2");
    CG_EXPECT_MISUSE(c = cg_matmul(tape, a, NULL), "matmul", "b is NULL");
    CG_EXPECT_MISUSE(c = cg_matmul(tape, a, b64), "matmul", "f64", "f32");
    assert_null(c);
    cg_tape_free(tape);
}

/* ------------------------------------------------------------------ linear */

/* x = [[1,2,3],[4,5,6]], W = [[1,0,-1],[0.5,1,2]], b = [10,-1]:
 * x W^T = [[1-3, 0.5+2+6],[4-6, 2+5+12]] = [[-2,8.5],[-2,19]], + b = [[8,7.5],[8,18]].
 * Upstream G = [[1,2],[3,4]]:
 * dx = G W   = [[1+1, 0+2, -1+4],[3+2, 0+4, -3+8]] = [[2,2,3],[5,4,5]]
 * dW = G^T x = [[1+12, 2+15, 3+18],[2+16, 4+20, 6+24]] = [[13,17,21],[18,24,30]]
 * db = column sums of G = [4,6]. */
static const double lin_x[] = {1, 2, 3, 4, 5, 6}, lin_w[] = {1, 0, -1, 0.5, 1, 2};
static const double lin_b[] = {10, -1}, lin_g[] = {1, 2, 3, 4};
static const double lin_dx[] = {2, 2, 3, 5, 4, 5}, lin_dw[] = {13, 17, 21, 18, 24, 30};

static void test_linear_bias(void **state)
{
    (void)state;
    static const double yv[] = {8, 7.5, 8, 18}, dbv[] = {4, 6};
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *x = mk(dtypes[d], CG_SHAPE(2, 3), lin_x, true);
        struct cg_tensor *w = mk(dtypes[d], CG_SHAPE(2, 3), lin_w, true);
        struct cg_tensor *b = mk(dtypes[d], CG_SHAPE(2), lin_b, true);
        struct cg_tensor *y = cg_linear(tape, x, w, b);
        expect_shape(y, CG_SHAPE(2, 2));
        expect_values(y, yv, 4);
        assert_int_equal(cg_tape_record_count(tape), 1);
        backward_seed(tape, y, lin_g);
        expect_values(x->grad, lin_dx, 6);
        expect_values(w->grad, lin_dw, 6);
        expect_values(b->grad, dbv, 2);
        backward_seed(tape, y, lin_g); /* accumulates */
        static const double db2[] = {8, 12};
        expect_values(b->grad, db2, 2);
        assert_true(cg_tensor_at(w->grad, 0) == 26 && cg_tensor_at(x->grad, 5) == 10);
        cg_tensor_free(x);
        cg_tensor_free(w);
        cg_tensor_free(b);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* No bias: y = [[-2,8.5],[-2,19]]; x is an input batch without grad, so only
 * dW is computed and x->grad stays NULL. */
static void test_linear_no_bias(void **state)
{
    (void)state;
    static const double yv[] = {-2, 8.5, -2, 19};
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *x = cg_tensor_from_doubles(tape, dtypes[d], CG_SHAPE(2, 3), lin_x);
        struct cg_tensor *w = mk(dtypes[d], CG_SHAPE(2, 3), lin_w, true);
        struct cg_tensor *y = cg_linear(tape, x, w, NULL);
        expect_shape(y, CG_SHAPE(2, 2));
        expect_values(y, yv, 4);
        backward_seed(tape, y, lin_g);
        assert_null(x->grad);
        expect_values(w->grad, lin_dw, 6);
        cg_tensor_free(w);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* N=4, in=5, out=3 (all different) against naive loops, with and without bias;
 * only the bias requires grad in one round (x and W skipped). */
static void test_linear_naive(void **state)
{
    (void)state;
    enum { N = 4, IN = 5, OUT = 3 };
    struct cg_rng rng = cg_rng_seed(11);
    double xv[N * IN], wv[OUT * IN], bv[OUT], gv[N * OUT];
    for (int i = 0; i < N * IN; i++) xv[i] = cg_rng_uniform(&rng) * 2 - 1;
    for (int i = 0; i < OUT * IN; i++) wv[i] = cg_rng_uniform(&rng) * 2 - 1;
    for (int i = 0; i < OUT; i++) bv[i] = cg_rng_uniform(&rng) * 2 - 1;
    for (int i = 0; i < N * OUT; i++) gv[i] = cg_rng_uniform(&rng) * 2 - 1;
    double yv[N * OUT], ynb[N * OUT], dx[N * IN] = {0}, dw[OUT * IN] = {0}, db[OUT] = {0};
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double s = 0, g = gv[n * OUT + o];
            for (int i = 0; i < IN; i++) {
                s += xv[n * IN + i] * wv[o * IN + i];
                dx[n * IN + i] += g * wv[o * IN + i];
                dw[o * IN + i] += g * xv[n * IN + i];
            }
            ynb[n * OUT + o] = s;
            yv[n * OUT + o] = s + bv[o];
            db[o] += g;
        }
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        double tol = dtypes[d] == CG_F32 ? 1e-5 : 1e-13;
        struct cg_tensor *x = mk(dtypes[d], CG_SHAPE(N, IN), xv, true);
        struct cg_tensor *w = mk(dtypes[d], CG_SHAPE(OUT, IN), wv, true);
        struct cg_tensor *b = mk(dtypes[d], CG_SHAPE(OUT), bv, true);
        struct cg_tensor *y = cg_linear(tape, x, w, b);
        expect_shape(y, CG_SHAPE(N, OUT));
        CG_ASSERT_TENSOR(y, yv, tol, tol);
        backward_seed(tape, y, gv);
        CG_ASSERT_TENSOR(x->grad, dx, tol, tol);
        CG_ASSERT_TENSOR(w->grad, dw, tol, tol);
        CG_ASSERT_TENSOR(b->grad, db, tol, tol);
        cg_tape_reset(tape);

        y = cg_linear(tape, x, w, NULL);
        CG_ASSERT_TENSOR(y, ynb, tol, tol);
        cg_tape_reset(tape);

        cg_tensor_requires_grad(x, false);
        cg_tensor_requires_grad(w, false);
        cg_tensor_zero_grad(b);
        y = cg_linear(tape, x, w, b);
        backward_seed(tape, y, gv);
        assert_null(x->grad);
        assert_null(w->grad);
        CG_ASSERT_TENSOR(b->grad, db, tol, tol);
        cg_tensor_free(x);
        cg_tensor_free(w);
        cg_tensor_free(b);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* in_features = 0: x W^T is empty, so y is the bias in every row (zeros without). */
static void test_linear_empty_in(void **state)
{
    (void)state;
    static const double bv[] = {1.5, -2}, yb[] = {1.5, -2, 1.5, -2}, y0[4] = {0};
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *x = cg_tensor_empty(tape, dtypes[d], CG_SHAPE(2, 0));
        struct cg_tensor *w = cg_tensor_empty(tape, dtypes[d], CG_SHAPE(2, 0));
        struct cg_tensor *b = cg_tensor_from_doubles(tape, dtypes[d], CG_SHAPE(2), bv);
        expect_values(cg_linear(tape, x, w, b), yb, 4);
        expect_values(cg_linear(tape, x, w, NULL), y0, 4);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

static void test_linear_misuse(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(64, 784));
    struct cg_tensor *w = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(256, 700));
    struct cg_tensor *w_ok = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(256, 784));
    struct cg_tensor *b = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(255));
    struct cg_tensor *x3 = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(64, 28, 28));
    struct cg_tensor *w64 = cg_tensor_zeros(tape, CG_F64, CG_SHAPE(256, 784));
    struct cg_tensor *y = NULL;
    CG_EXPECT_MISUSE(y = cg_linear(tape, x, w, NULL), "linear",
                     "x [64,784] f32 does not match weight [256,700] f32", "in_features 700");
    assert_null(y);
    CG_EXPECT_MISUSE(y = cg_linear(tape, x, w_ok, b), "linear", "bias [255] f32", "need [256]");
    CG_EXPECT_MISUSE(y = cg_linear(tape, x3, w_ok, NULL), "linear", "[64,28,28]", "2-D");
    CG_EXPECT_MISUSE(y = cg_linear(tape, x, b, NULL), "linear", "weight [255] f32", "2-D");
    CG_EXPECT_MISUSE(y = cg_linear(tape, NULL, w_ok, NULL), "linear", "x is NULL");
    CG_EXPECT_MISUSE(y = cg_linear(tape, x, w64, NULL), "linear", "f64", "f32");
    assert_null(y);
    cg_tape_free(tape);
}

/* -------------------------------------------------------------- reductions */

/* x = [[1,2,3],[4,5,6]]: sum 21, mean 3.5 (0-dim results); with upstream 2,
 * d sum/dx = 2 everywhere, d mean/dx = 2/6 = 1/3. */
static void test_sum_mean_all(void **state)
{
    (void)state;
    static const double xv[] = {1, 2, 3, 4, 5, 6};
    static const double two[6] = {2, 2, 2, 2, 2, 2}, third[6] = {1. / 3, 1. / 3, 1. / 3,
                                                                 1. / 3, 1. / 3, 1. / 3};
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *x = mk(dtypes[d], CG_SHAPE(2, 3), xv, true);
        struct cg_tensor *s = cg_sum(tape, x), *m = cg_mean(tape, x);
        assert_non_null(s);
        assert_non_null(m);
        assert_int_equal(s->ndim, 0);
        assert_int_equal(s->numel, 1);
        assert_int_equal(m->ndim, 0);
        assert_true(cg_tensor_item(s) == 21);
        assert_true(cg_tensor_item(m) == 3.5);
        static const double seed = 2;
        backward_seed(tape, s, &seed);
        expect_values(x->grad, two, 6);
        cg_tensor_zero_grad(x);
        backward_seed(tape, m, &seed);
        expect_values(x->grad, third, 6);
        cg_tensor_free(x);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* f32 sums accumulate in double: 1e8 + 1 - 1e8 is 1 (float accumulation
 * would round 1e8 + 1 to 1e8 and give 0).  0..19 covers the unrolled loop
 * and its tail: sum 190, mean 9.5.  Empty: sum 0, mean NaN (as PyTorch). */
static void test_sum_accuracy_and_edges(void **state)
{
    (void)state;
    static const double big[] = {1e8, 1, -1e8};
    double ramp[20];
    for (int i = 0; i < 20; i++) ramp[i] = i;
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *x = cg_tensor_from_doubles(tape, dtypes[d], CG_SHAPE(3), big);
        assert_true(cg_tensor_item(cg_sum(tape, x)) == 1);
        assert_true(cg_tensor_item(cg_sum_dim(tape, x, 0, false)) == 1);
        struct cg_tensor *r = cg_tensor_from_doubles(tape, dtypes[d], CG_SHAPE(20), ramp);
        assert_true(cg_tensor_item(cg_sum(tape, r)) == 190);
        assert_true(cg_tensor_item(cg_mean(tape, r)) == 9.5);
        struct cg_tensor *e = cg_tensor_empty(tape, dtypes[d], CG_SHAPE(0, 4));
        assert_true(cg_tensor_item(cg_sum(tape, e)) == 0);
        assert_true(isnan(cg_tensor_item(cg_mean(tape, e))));
        static const double zeros[4] = {0};
        expect_values(cg_sum_dim(tape, e, 0, false), zeros, 4);
        struct cg_tensor *md = cg_mean_dim(tape, e, 0, false);
        for (int i = 0; i < 4; i++) assert_true(isnan(cg_tensor_at(md, i)));
        /* a 0-dim tensor reduces over dim 0 / -1 like shape [1] */
        struct cg_tensor *s0 = cg_sum(tape, r);
        struct cg_tensor *s1 = cg_sum_dim(tape, s0, -1, true);
        assert_int_equal(s1->ndim, 0);
        assert_true(cg_tensor_item(s1) == 190);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* x = [[1,2,3],[4,5,6]]:
 * sum_dim 0 = [5,7,9]; upstream [1,2,3] -> grad [[1,2,3],[1,2,3]]
 * sum_dim 1 = [6,15];  upstream [1,2]   -> grad [[1,1,1],[2,2,2]]
 * mean_dim 0 = [2.5,3.5,4.5]; upstream [1,2,3] -> [[.5,1,1.5],[.5,1,1.5]]
 * mean_dim -1 = [2,5];        upstream [3,6]   -> [[1,1,1],[2,2,2]]
 * keepdim gives [1,3] / [2,1] with the same values; dim -2 is dim 0. */
static void test_sum_mean_dim(void **state)
{
    (void)state;
    static const double xv[] = {1, 2, 3, 4, 5, 6};
    static const double s0[] = {5, 7, 9}, s1[] = {6, 15}, m0[] = {2.5, 3.5, 4.5}, m1[] = {2, 5};
    static const double g3[] = {1, 2, 3}, g2[] = {1, 2}, g36[] = {3, 6};
    static const double gs0[] = {1, 2, 3, 1, 2, 3}, gs1[] = {1, 1, 1, 2, 2, 2};
    static const double gm0[] = {.5, 1, 1.5, .5, 1, 1.5};
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        for (int keep = 0; keep < 2; keep++) {
            struct cg_tensor *x = mk(dtypes[d], CG_SHAPE(2, 3), xv, true);
            struct cg_tensor *y;

            y = cg_sum_dim(tape, x, 0, keep);
            if (keep) expect_shape(y, CG_SHAPE(1, 3)); else expect_shape(y, CG_SHAPE(3));
            expect_values(y, s0, 3);
            backward_seed(tape, y, g3);
            expect_values(x->grad, gs0, 6);

            cg_tensor_zero_grad(x);
            y = cg_sum_dim(tape, x, 1, keep);
            if (keep) expect_shape(y, CG_SHAPE(2, 1)); else expect_shape(y, CG_SHAPE(2));
            expect_values(y, s1, 2);
            backward_seed(tape, y, g2);
            expect_values(x->grad, gs1, 6);

            cg_tensor_zero_grad(x);
            y = cg_mean_dim(tape, x, -2, keep);
            if (keep) expect_shape(y, CG_SHAPE(1, 3)); else expect_shape(y, CG_SHAPE(3));
            expect_values(y, m0, 3);
            backward_seed(tape, y, g3);
            expect_values(x->grad, gm0, 6);

            cg_tensor_zero_grad(x);
            y = cg_mean_dim(tape, x, -1, keep);
            if (keep) expect_shape(y, CG_SHAPE(2, 1)); else expect_shape(y, CG_SHAPE(2));
            expect_values(y, m1, 2);
            backward_seed(tape, y, g36);
            expect_values(x->grad, gs1, 6);

            cg_tensor_free(x);
            cg_tape_reset(tape);
        }
    }
    cg_tape_free(tape);
}

/* Middle dim of x = arange(12) as [2,3,2]: out[o,i] = sum_k x[o,k,i] =
 * [[0+2+4, 1+3+5],[6+8+10, 7+9+11]] = [[6,9],[24,27]].  Over dim 0 of
 * arange(900) as [3,300] (more than one stack block): out[i] = 900 + 3i.
 * arange(30) as [2,5,3] over dim 1 (rows taken four at a time, then one):
 * sum_k (15o + 3k + i) = 75o + 30 + 5i = [[30,35,40],[105,110,115]], mean
 * [[6,7,8],[21,22,23]].  Columns [1e8,1,-1e8] and [1,2,3] of a [3,2] f32
 * tensor sum to [1,6] (double accumulation here too). */
static void test_sum_dim_inner(void **state)
{
    (void)state;
    static const double s1[] = {6, 9, 24, 27}, g[] = {1, 2, 3, 4};
    static const double gx[] = {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4};
    double big[900], want[300];
    for (int i = 0; i < 900; i++) big[i] = i;
    for (int i = 0; i < 300; i++) want[i] = 900 + 3 * i;
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        double xv[12];
        for (int i = 0; i < 12; i++) xv[i] = i;
        struct cg_tensor *x = mk(dtypes[d], CG_SHAPE(2, 3, 2), xv, true);
        struct cg_tensor *y = cg_sum_dim(tape, x, 1, false);
        expect_shape(y, CG_SHAPE(2, 2));
        expect_values(y, s1, 4);
        backward_seed(tape, y, g);
        expect_values(x->grad, gx, 12);
        struct cg_tensor *b = cg_tensor_from_doubles(tape, dtypes[d], CG_SHAPE(3, 300), big);
        expect_values(cg_sum_dim(tape, b, 0, true), want, 300);
        static const double s5[] = {30, 35, 40, 105, 110, 115}, m5[] = {6, 7, 8, 21, 22, 23};
        struct cg_tensor *r = cg_tensor_from_doubles(tape, dtypes[d], CG_SHAPE(2, 5, 3), big);
        expect_values(cg_sum_dim(tape, r, 1, false), s5, 6);
        expect_values(cg_mean_dim(tape, r, -2, true), m5, 6);
        static const double cv[] = {1e8, 1, 1, 2, -1e8, 3}, cs[] = {1, 6};
        struct cg_tensor *c = cg_tensor_from_doubles(tape, dtypes[d], CG_SHAPE(3, 2), cv);
        expect_values(cg_sum_dim(tape, c, 0, false), cs, 2);
        cg_tensor_free(x);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* x = [[1,5,7],[7,-2,7]] with ties; the gradient goes to the first maximum.
 * max_dim 1 = [7,7] at columns 2 and 0; upstream [1,2] -> [[0,0,1],[2,0,0]]
 * max_dim 0 = [7,5,7] at rows 1,0,0;     upstream [1,2,3] -> [[0,2,3],[1,0,0]]
 * (indices confirmed with torch 1.13's x.max(dim)). */
static void test_max_dim(void **state)
{
    (void)state;
    static const double xv[] = {1, 5, 7, 7, -2, 7};
    static const double m1[] = {7, 7}, m0[] = {7, 5, 7}, g2[] = {1, 2}, g3[] = {1, 2, 3};
    static const double gx1[] = {0, 0, 1, 2, 0, 0}, gx0[] = {0, 2, 3, 1, 0, 0};
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        for (int keep = 0; keep < 2; keep++) {
            struct cg_tensor *x = mk(dtypes[d], CG_SHAPE(2, 3), xv, true);
            struct cg_tensor *y = cg_max_dim(tape, x, -1, keep);
            if (keep) expect_shape(y, CG_SHAPE(2, 1)); else expect_shape(y, CG_SHAPE(2));
            expect_values(y, m1, 2);
            backward_seed(tape, y, g2);
            expect_values(x->grad, gx1, 6);
            cg_tensor_zero_grad(x);
            y = cg_max_dim(tape, x, 0, keep);
            if (keep) expect_shape(y, CG_SHAPE(1, 3)); else expect_shape(y, CG_SHAPE(3));
            expect_values(y, m0, 3);
            backward_seed(tape, y, g3);
            expect_values(x->grad, gx0, 6);
            cg_tensor_free(x);
            cg_tape_reset(tape);
        }
    }
    cg_tape_free(tape);
}

/* NaN wins, and the first NaN gets the gradient (as PyTorch):
 * rows of [[1,NaN,3,NaN],[NaN,9,NaN,-inf]] -> [NaN,NaN] at columns 1 and 0;
 * columns of [[1,2],[NaN,5],[4,NaN]] -> [NaN,NaN] at rows 1 and 2.
 * All -inf: the max is -inf at index 0.  (NaN results and indices confirmed
 * with torch 1.13's x.max(dim).) */
static void test_max_dim_nan(void **state)
{
    (void)state;
    const double qnan = NAN, inf = INFINITY;
    const double rows[] = {1, qnan, 3, qnan, qnan, 9, qnan, -inf};
    const double cols[] = {1, 2, qnan, 5, 4, qnan};
    static const double g2[] = {1, 1}, grows[] = {0, 1, 0, 0, 1, 0, 0, 0};
    static const double gcols[] = {0, 0, 1, 0, 0, 1};
    const double ninf[] = {-inf, -inf, -inf};
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *x = mk(dtypes[d], CG_SHAPE(2, 4), rows, true);
        struct cg_tensor *y = cg_max_dim(tape, x, 1, false);
        assert_true(isnan(cg_tensor_at(y, 0)) && isnan(cg_tensor_at(y, 1)));
        backward_seed(tape, y, g2);
        expect_values(x->grad, grows, 8);
        cg_tensor_free(x);

        x = mk(dtypes[d], CG_SHAPE(3, 2), cols, true);
        y = cg_max_dim(tape, x, 0, true);
        expect_shape(y, CG_SHAPE(1, 2));
        assert_true(isnan(cg_tensor_at(y, 0)) && isnan(cg_tensor_at(y, 1)));
        backward_seed(tape, y, g2);
        expect_values(x->grad, gcols, 6);
        cg_tensor_free(x);

        x = mk(dtypes[d], CG_SHAPE(3), ninf, true);
        y = cg_max_dim(tape, x, 0, false);
        assert_true(cg_tensor_item(y) == -inf);
        static const double one = 1, g0[] = {1, 0, 0};
        backward_seed(tape, y, &one);
        expect_values(x->grad, g0, 3);
        cg_tensor_free(x);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* Rows of 300 (long enough for the vectorized lane scan, whose last 12
 * elements form the scalar tail) with background -(i mod 7) <= 0:
 * row 0: 5 at 200 and 250            -> 5 at 200 (first of the tie)
 * row 1: 9 at 10, NaN at 290 (tail)  -> NaN at 290
 * row 2: NaN at 100 and 150          -> NaN at 100
 * row 3: 3 at 299 (last, in the tail) -> 3 at 299
 * row 4: all 2                        -> 2 at 0
 * row 5: -0.0 at 40, +0.0 at 0, 7, 14, ... (the background) -> 0 at 0
 * Upstream [1..6] lands at those positions; the same again through the
 * index-recomputing backward. */
static void test_max_dim_long_rows(void **state)
{
    (void)state;
    enum { R = 6, D = 300 };
    static double xv[R * D], gx[R * D];
    static const double g[R] = {1, 2, 3, 4, 5, 6};
    const int64_t at[R] = {200, 290, 100, 299, 0, 0};
    for (int r = 0; r < R; r++)
        for (int i = 0; i < D; i++) /* +0.0 (not -0.0) where i % 7 == 0 */
            xv[r * D + i] = r == 4 ? 2 : (double)-(i % 7);
    xv[0 * D + 200] = xv[0 * D + 250] = 5;
    xv[1 * D + 10] = 9;
    xv[1 * D + 290] = NAN;
    xv[2 * D + 100] = xv[2 * D + 150] = NAN;
    xv[3 * D + 299] = 3;
    xv[5 * D + 40] = -0.0;
    memset(gx, 0, sizeof gx);
    for (int r = 0; r < R; r++) gx[r * D + at[r]] = g[r];
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *x = mk(dtypes[d], CG_SHAPE(R, D), xv, true);
        struct cg_tensor *y = cg_max_dim(tape, x, 1, false);
        expect_shape(y, CG_SHAPE(R));
        assert_true(cg_tensor_at(y, 0) == 5);
        assert_true(isnan(cg_tensor_at(y, 1)) && isnan(cg_tensor_at(y, 2)));
        assert_true(cg_tensor_at(y, 3) == 3 && cg_tensor_at(y, 4) == 2);
        assert_true(cg_tensor_at(y, 5) == 0 && !signbit(cg_tensor_at(y, 5)));
        backward_seed(tape, y, g);
        expect_values(x->grad, gx, R * D);

        cg_tensor_zero_grad(x);
        y->grad = cg_tensor_from_doubles(tape, dtypes[d], CG_SHAPE(R), g);
        struct cg_record rec = {.op = &cg_op_max_dim, .tape = tape, .out = y, .n_in = 1,
                                .in = {x}, .scalar = {1, 0}, .aux = NULL};
        cg_op_max_dim.backward(&rec);
        expect_values(x->grad, gx, R * D);
        cg_tensor_free(x);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* Backward without saved indices (forward ran in grad-off mode, or the
 * scratch allocation failed) recomputes the first argmax from the input. */
static void test_max_dim_backward_recomputes(void **state)
{
    (void)state;
    static const double xv[] = {1, 5, 7, 7, -2, 7}, g3[] = {1, 2, 3}, gx0[] = {0, 2, 3, 1, 0, 0};
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *x = mk(dtypes[d], CG_SHAPE(2, 3), xv, true);
        cg_tape_set_grad_enabled(tape, false);
        struct cg_tensor *y = cg_max_dim(tape, x, 0, false);
        cg_tape_set_grad_enabled(tape, true);
        assert_int_equal(cg_tape_record_count(tape), 0);
        y->grad = cg_tensor_from_doubles(tape, dtypes[d], CG_SHAPE(3), g3);
        struct cg_record rec = {.op = &cg_op_max_dim, .tape = tape, .out = y, .n_in = 1,
                                .in = {x}, .scalar = {0, 0}, .aux = NULL};
        cg_op_max_dim.backward(&rec);
        expect_values(x->grad, gx0, 6);
        cg_tensor_free(x);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

static void test_reduce_misuse(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(2, 3));
    struct cg_tensor *e = cg_tensor_zeros(tape, CG_F64, CG_SHAPE(4, 0));
    struct cg_tensor *y = NULL;
    CG_EXPECT_MISUSE(y = cg_sum_dim(tape, x, 2, false), "sum_dim", "dim 2", "[2,3] f32", "-2..1");
    assert_null(y);
    CG_EXPECT_MISUSE(y = cg_mean_dim(tape, x, -3, true), "mean_dim", "dim -3", "[2,3]");
    CG_EXPECT_MISUSE(y = cg_max_dim(tape, x, 5, false), "max_dim", "dim 5", "[2,3]");
    CG_EXPECT_MISUSE(y = cg_max_dim(tape, e, -1, false), "max_dim", "dim 1", "[4,0] f64",
                     "size 0");
    CG_EXPECT_MISUSE(y = cg_sum(tape, NULL), "sum", "NULL");
    CG_EXPECT_MISUSE(y = cg_mean_dim(tape, NULL, 0, false), "mean_dim", "NULL");
    assert_null(y);
    cg_tape_free(tape);
}

/* cg_gemm_one with beta 0 zeroes C itself and has BLAS add the product
 * (faster than BLAS's own zeroing pass): the result must be BLAS's beta-0
 * result bit for bit, whatever C held before (NaN here), and the gap
 * between C's rows (ldc > n) must stay untouched. */
static void test_gemm_beta0_is_blas_beta0(void **state)
{
    (void)state;
    enum { M = 37, N = 29, K = 19, LDC = N + 3 };
    for (int d = 0; d < 2; d++)
        for (int tr = 0; tr < 4; tr++) {
            bool ta = tr & 1, tb = tr & 2, f64 = dtypes[d] == CG_F64;
            double a[M * K], b[K * N], got[M * LDC], want[M * LDC];
            float af[M * K], bf[K * N], gotf[M * LDC], wantf[M * LDC];
            for (int i = 0; i < M * K; i++) af[i] = (float)(a[i] = sin(i * 0.37) * (1 + i % 5));
            for (int i = 0; i < K * N; i++) bf[i] = (float)(b[i] = cos(i * 0.91) * (1 + i % 3));
            for (int i = 0; i < M * LDC; i++) {
                got[i] = want[i] = NAN;
                gotf[i] = wantf[i] = NAN;
            }
            int lda = ta ? M : K, ldb = tb ? K : N;
            struct cg_gemm_job job = {dtypes[d], ta, tb, M, N, K, f64 ? (void *)a : (void *)af,
                                      lda, f64 ? (void *)b : (void *)bf, ldb, 0.0,
                                      f64 ? (void *)got : (void *)gotf, LDC, CG_SPLIT_ROWS};
            cg_gemm_one(&job);
            enum CBLAS_TRANSPOSE cta = ta ? CblasTrans : CblasNoTrans;
            enum CBLAS_TRANSPOSE ctb = tb ? CblasTrans : CblasNoTrans;
            if (f64)
                cblas_dgemm(CblasRowMajor, cta, ctb, M, N, K, 1.0, a, lda, b, ldb, 0.0, want,
                            LDC);
            else
                cblas_sgemm(CblasRowMajor, cta, ctb, M, N, K, 1.0f, af, lda, bf, ldb, 0.0f,
                            wantf, LDC);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < LDC; j++) {
                    int e = i * LDC + j;
                    bool same = f64 ? !memcmp(&got[e], &want[e], sizeof got[e])
                                    : !memcmp(&gotf[e], &wantf[e], sizeof gotf[e]);
                    if (j >= N) /* the gap: still NaN */
                        same = f64 ? isnan(got[e]) : isnan(gotf[e]);
                    if (!same)
                        fail_msg("%s ta %d tb %d C[%d][%d]: %.9g, BLAS %.9g", f64 ? "f64" : "f32",
                                 ta, tb, i, j, f64 ? got[e] : gotf[e], f64 ? want[e] : wantf[e]);
                }
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_2x3_3x2),
        cmocka_unit_test(test_matmul_batched),
        cmocka_unit_test(test_matmul_naive),
        cmocka_unit_test(test_matmul_empty_inner),
        cmocka_unit_test(test_matmul_misuse),
        cmocka_unit_test(test_linear_bias),
        cmocka_unit_test(test_linear_no_bias),
        cmocka_unit_test(test_linear_naive),
        cmocka_unit_test(test_linear_empty_in),
        cmocka_unit_test(test_linear_misuse),
        cmocka_unit_test(test_sum_mean_all),
        cmocka_unit_test(test_sum_accuracy_and_edges),
        cmocka_unit_test(test_sum_mean_dim),
        cmocka_unit_test(test_sum_dim_inner),
        cmocka_unit_test(test_max_dim),
        cmocka_unit_test(test_max_dim_nan),
        cmocka_unit_test(test_max_dim_long_rows),
        cmocka_unit_test(test_max_dim_backward_recomputes),
        cmocka_unit_test(test_reduce_misuse),
        cmocka_unit_test(test_gemm_beta0_is_blas_beta0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
