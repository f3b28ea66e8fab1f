/* Broadcasting and shape semantics of add/sub/mul/div, reshape and
 * transpose: result shapes, forward values, gradients reduced over the
 * broadcast dims and accumulated with +=, views sharing data, and the misuse
 * messages.  Expected numbers are derived by hand in the comments (and agree
 * with torch 1.13); the rank-4 case is checked against a direct index-formula
 * reference. */
#include "cg_test.h"

#include <string.h>

static const enum cg_dtype dtypes[2] = {CG_F32, CG_F64};

/* Tolerance: f32 results of these small exact-ish computations are within
 * a few ulps; f64 far tighter. */
static double rtol_of(enum cg_dtype dt) { return dt == CG_F32 ? 2e-6 : 1e-13; }

/* A persistent leaf with values and a zeroed grad. */
static struct cg_tensor *leaf(enum cg_dtype dt, int ndim, const int64_t *shape, const double *v)
{
    struct cg_tensor *t = cg_tensor_from_doubles(NULL, dt, ndim, shape, v);
    assert_non_null(t);
    assert_int_equal(cg_tensor_requires_grad(t, true), CG_OK);
    return t;
}

static void check_shape(const struct cg_tensor *t, int ndim, const int64_t *shape)
{
    assert_non_null(t);
    assert_int_equal(t->ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(t->shape[i], shape[i]);
}

/* Backpropagates `seed` values (one per element of out). */
static void backward_with(struct cg_tape *tape, struct cg_tensor *out, const double *seed)
{
    struct cg_tensor *s = cg_tensor_from_doubles(tape, out->dtype, out->ndim, out->shape, seed);
    assert_non_null(s);
    assert_int_equal(cg_backward_seed(tape, out, s), CG_OK);
}

/* Same, keeping the records for another backward through them. */
static void backward_retain_with(struct cg_tape *tape, struct cg_tensor *out, const double *seed)
{
    struct cg_tensor *s = cg_tensor_from_doubles(tape, out->dtype, out->ndim, out->shape, seed);
    assert_non_null(s);
    assert_int_equal(cg_backward_seed_retain(tape, out, s), CG_OK);
}

static void seq(double *v, int n, double start)
{
    for (int i = 0; i < n; i++) v[i] = start + i;
}

/* [4,1,3] + [2,1] -> [4,2,3]: out[i,j,k] = a[i,0,k] + b[j,0]. */
static void test_add_3d_with_2d(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    double av[12], gv[24];
    seq(av, 12, 0);
    seq(gv, 24, 0); /* g[i,j,k] = 6i + 3j + k */
    const double bv[2] = {10, 20};
    const double want[24] = {10, 11, 12, 20, 21, 22, 13, 14, 15, 23, 24, 25,
                             16, 17, 18, 26, 27, 28, 19, 20, 21, 29, 30, 31};
    /* ga[i,0,k] = sum_j g = 12i + 2k + 3; gb[j] = sum_{i,k} g = 120 + 36j. */
    const double ga[12] = {3, 5, 7, 15, 17, 19, 27, 29, 31, 39, 41, 43};
    const double gb[2] = {120, 156};
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *a = leaf(dtypes[d], CG_SHAPE(4, 1, 3), av);
        struct cg_tensor *b = leaf(dtypes[d], CG_SHAPE(2, 1), bv);
        struct cg_tensor *y = cg_add(tape, a, b);
        check_shape(y, CG_SHAPE(4, 2, 3));
        assert_true(y->flags & CG_REQUIRES_GRAD);
        CG_ASSERT_TENSOR(y, want, 0, 0);
        backward_with(tape, y, gv);
        CG_ASSERT_TENSOR(a->grad, ga, 0, 0);
        CG_ASSERT_TENSOR(b->grad, gb, 0, 0);
        /* The shapes the other way round broadcast the same way. */
        struct cg_tensor *y2 = cg_sub(tape, b, a);
        check_shape(y2, CG_SHAPE(4, 2, 3));
        assert_true(cg_tensor_get(y2, CG_INDEX(3, 1, 2)) == 20 - 11);
        cg_tensor_free(a), cg_tensor_free(b);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* [2,3] * [3]: b repeats along the leading dim. */
static void test_mul_rows(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    const double av[6] = {1, 2, 3, 4, 5, 6}, bv[3] = {2, -1, 0.5};
    const double g[6] = {1, 2, 3, -1, 0, 2};
    const double want[6] = {2, -2, 1.5, 8, -5, 3};
    const double ga[6] = {2, -2, 1.5, -2, 0, 1};       /* g * b[k] */
    const double gb[3] = {1 - 4, 4 + 0, 9 + 12};       /* sum_i g[i,k] a[i,k] */
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *a = leaf(dtypes[d], CG_SHAPE(2, 3), av);
        struct cg_tensor *b = leaf(dtypes[d], CG_SHAPE(3), bv);
        struct cg_tensor *y = cg_mul(tape, a, b);
        check_shape(y, CG_SHAPE(2, 3));
        CG_ASSERT_TENSOR(y, want, 0, 0);
        backward_with(tape, y, g);
        CG_ASSERT_TENSOR(a->grad, ga, 0, 0);
        CG_ASSERT_TENSOR(b->grad, gb, 0, 0);
        cg_tensor_free(a), cg_tensor_free(b);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* [1] / [2,2] and [2,2] / [1]: a one-element operand against a matrix. */
static void test_div_scalar_shaped(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    const double six[1] = {6}, mv[4] = {1, 2, 3, -4}, two[1] = {2}, ones[4] = {1, 1, 1, 1};
    const double want1[4] = {6, 3, 2, -1.5};
    const double ga1[1] = {1 + 0.5 + 1.0 / 3 - 0.25};            /* sum 1/b */
    const double gb1[4] = {-6, -1.5, -6.0 / 9, -6.0 / 16};       /* -a/b^2 */
    const double want2[4] = {0.5, 1, 1.5, -2};
    const double ga2[4] = {0.5, 0.5, 0.5, 0.5};                  /* 1/b */
    const double gb2[1] = {-(1 + 2 + 3 - 4) / 4.0};              /* -sum a / b^2 */
    for (int d = 0; d < 2; d++) {
        double rt = rtol_of(dtypes[d]);
        struct cg_tensor *s = leaf(dtypes[d], CG_SHAPE(1), six);
        struct cg_tensor *m = leaf(dtypes[d], CG_SHAPE(2, 2), mv);
        struct cg_tensor *y = cg_div(tape, s, m);
        check_shape(y, CG_SHAPE(2, 2));
        CG_ASSERT_TENSOR(y, want1, 0, rt);
        backward_with(tape, y, ones);
        CG_ASSERT_TENSOR(s->grad, ga1, 0, rt);
        CG_ASSERT_TENSOR(m->grad, gb1, 0, rt);

        struct cg_tensor *t = leaf(dtypes[d], CG_SHAPE(1), two);
        cg_tensor_zero_grad(m);
        y = cg_div(tape, m, t);
        check_shape(y, CG_SHAPE(2, 2));
        CG_ASSERT_TENSOR(y, want2, 0, rt);
        backward_with(tape, y, ones);
        CG_ASSERT_TENSOR(m->grad, ga2, 0, rt);
        CG_ASSERT_TENSOR(t->grad, gb2, 0, rt);

        /* A 0-d scalar broadcasts too: [] * [2,2] -> [2,2]. */
        struct cg_tensor *z = cg_tensor_from_doubles(tape, dtypes[d], 0, NULL, two);
        y = cg_mul(tape, z, m);
        check_shape(y, CG_SHAPE(2, 2));
        const double twice[4] = {2, 4, 6, -8};
        CG_ASSERT_TENSOR(y, twice, 0, 0);
        cg_tensor_free(s), cg_tensor_free(m), cg_tensor_free(t);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* sub: b's gradient is minus the reduced upstream gradient. */
static void test_sub_gradients(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    const double av[4] = {1, 2, 3, 4}, bv[2] = {10, 20}, g[4] = {1, 2, 3, 4};
    const double want[4] = {-9, -8, -17, -16};
    const double gb[2] = {-(1 + 2), -(3 + 4)};
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *a = leaf(dtypes[d], CG_SHAPE(2, 2), av);
        struct cg_tensor *b = leaf(dtypes[d], CG_SHAPE(2, 1), bv);
        struct cg_tensor *y = cg_sub(tape, a, b);
        CG_ASSERT_TENSOR(y, want, 0, 0);
        backward_with(tape, y, g);
        CG_ASSERT_TENSOR(a->grad, g, 0, 0);
        CG_ASSERT_TENSOR(b->grad, gb, 0, 0);
        cg_tensor_free(a), cg_tensor_free(b);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* div with equal shapes: da = g/b, db = -g a / b^2; and an input without
 * requires_grad gets no grad. */
static void test_div_and_partial_grad(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    const double av[3] = {1, -2, 3}, bv[3] = {2, 4, -0.5}, g[3] = {1, 2, -1};
    const double want[3] = {0.5, -0.5, -6};
    const double ga[3] = {0.5, 0.5, 2};
    const double gb[3] = {-0.25, 0.25, 12};
    const double gm[3] = {2, 8, 0.5}; /* mul: g * b */
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *a = leaf(dtypes[d], CG_SHAPE(3), av);
        struct cg_tensor *b = leaf(dtypes[d], CG_SHAPE(3), bv);
        struct cg_tensor *y = cg_div(tape, a, b);
        CG_ASSERT_TENSOR(y, want, 0, 0);
        backward_with(tape, y, g);
        CG_ASSERT_TENSOR(a->grad, ga, 0, 0);
        CG_ASSERT_TENSOR(b->grad, gb, 0, 0);

        struct cg_tensor *c = cg_tensor_from_doubles(NULL, dtypes[d], CG_SHAPE(3), bv);
        cg_tensor_zero_grad(a);
        y = cg_mul(tape, a, c);
        backward_with(tape, y, g);
        CG_ASSERT_TENSOR(a->grad, gm, 0, 0);
        assert_null(c->grad);

        /* Nothing requires grad: the result is not recorded. */
        size_t n = cg_tape_record_count(tape);
        y = cg_add(tape, c, c);
        assert_false(y->flags & CG_REQUIRES_GRAD);
        assert_int_equal(cg_tape_record_count(tape), n);
        cg_tensor_free(a), cg_tensor_free(b), cg_tensor_free(c);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* One tensor as both inputs: both contributions land in its grad. */
static void test_same_tensor_both_inputs(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    const double xv[3] = {1, -2, 3}, ones[3] = {1, 1, 1};
    const double sq[3] = {1, 4, 9}, two_x[3] = {2, -4, 6}, four_x[3] = {4, -8, 12};
    const double twos[3] = {2, 2, 2}, zeros[3] = {0, 0, 0};
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *x = leaf(dtypes[d], CG_SHAPE(3), xv);
        struct cg_tensor *y = cg_mul(tape, x, x);
        CG_ASSERT_TENSOR(y, sq, 0, 0);
        backward_retain_with(tape, y, ones);
        CG_ASSERT_TENSOR(x->grad, two_x, 0, 0);
        /* A second backward accumulates into the leaf's grad. */
        backward_with(tape, y, ones);
        CG_ASSERT_TENSOR(x->grad, four_x, 0, 0);

        cg_tensor_zero_grad(x);
        backward_with(tape, cg_add(tape, x, x), ones);
        CG_ASSERT_TENSOR(x->grad, twos, 0, 0);
        cg_tensor_zero_grad(x);
        backward_with(tape, cg_sub(tape, x, x), ones);
        CG_ASSERT_TENSOR(x->grad, zeros, 0, 0);
        cg_tensor_zero_grad(x);
        y = cg_div(tape, x, x); /* 1/x - x/x^2 = 0 */
        CG_ASSERT_TENSOR(y, ones, 0, 0);
        backward_with(tape, y, ones);
        CG_ASSERT_TENSOR(x->grad, zeros, 0, 0);
        cg_tensor_free(x);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* Sums over long stride-0 runs (beyond the 8 partial-sum lanes), both a
 * whole-tensor reduction ([1] vs [1000]) and per-row ones ([3,20] + [3,1]). */
static void test_long_reductions(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    static double g[1000], zero[1000];
    seq(g, 1000, 0);
    const double one[1] = {1}, rows[3] = {0, 0, 0};
    const double sum_all[1] = {499500};       /* 0 + 1 + ... + 999 */
    const double row_sums[3] = {190, 590, 990}; /* sum_j (20i + j) = 400i + 190 */
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *a = leaf(dtypes[d], CG_SHAPE(1000), zero);
        struct cg_tensor *s = leaf(dtypes[d], CG_SHAPE(1), one);
        backward_with(tape, cg_add(tape, a, s), g);
        CG_ASSERT_TENSOR(s->grad, sum_all, 0, 0);
        CG_ASSERT_TENSOR(a->grad, g, 0, 0);

        struct cg_tensor *m = leaf(dtypes[d], CG_SHAPE(3, 20), zero);
        struct cg_tensor *c = leaf(dtypes[d], CG_SHAPE(3, 1), rows);
        backward_with(tape, cg_add(tape, m, c), g);
        CG_ASSERT_TENSOR(c->grad, row_sums, 0, 0);
        cg_tensor_free(a), cg_tensor_free(s), cg_tensor_free(m), cg_tensor_free(c);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* out = a op b for one op id (0 add, 1 sub, 2 mul, 3 div), and partials. */
static double ref_op(int op, double x, double y)
{
    return op == 0 ? x + y : op == 1 ? x - y : op == 2 ? x * y : x / y;
}
static double ref_da(int op, double x, double y)
{
    (void)x;
    return op <= 1 ? 1 : op == 2 ? y : 1 / y;
}
static double ref_db(int op, double x, double y)
{
    return op == 0 ? 1 : op == 1 ? -1 : op == 2 ? x : -x / (y * y);
}

/* Rank 4 with stretching on both sides: [2,1,3,1] op [4,1,2] -> [2,4,3,2],
 * checked element by element against out[i,j,k,l] = a[i,0,k,0] op b[j,0,l]. */
static void test_generic_rank4(void **state)
{
    (void)state;
    struct cg_tensor *(*const fns[4])(struct cg_tape *, struct cg_tensor *,
                                      struct cg_tensor *) = {cg_add, cg_sub, cg_mul, cg_div};
    struct cg_tape *tape = cg_tape_new();
    double av[6], bv[8], g[48];
    for (int i = 0; i < 6; i++) av[i] = 0.5 * i - 1;
    for (int i = 0; i < 8; i++) bv[i] = 1.25 + 0.5 * i;
    for (int i = 0; i < 48; i++) g[i] = (i % 7) - 3;
    for (int d = 0; d < 2; d++) {
        double rt = rtol_of(dtypes[d]);
        for (int op = 0; op < 4; op++) {
            struct cg_tensor *a = leaf(dtypes[d], CG_SHAPE(2, 1, 3, 1), av);
            struct cg_tensor *b = leaf(dtypes[d], CG_SHAPE(4, 1, 2), bv);
            struct cg_tensor *y = fns[op](tape, a, b);
            check_shape(y, CG_SHAPE(2, 4, 3, 2));
            double want[48], ga[6] = {0}, gb[8] = {0};
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 4; j++)
                    for (int k = 0; k < 3; k++)
                        for (int l = 0; l < 2; l++) {
                            int o = ((i * 4 + j) * 3 + k) * 2 + l, ia = i * 3 + k, ib = j * 2 + l;
                            want[o] = ref_op(op, av[ia], bv[ib]);
                            ga[ia] += g[o] * ref_da(op, av[ia], bv[ib]);
                            gb[ib] += g[o] * ref_db(op, av[ia], bv[ib]);
                        }
            CG_ASSERT_TENSOR(y, want, 1e-12, rt);
            backward_with(tape, y, g);
            CG_ASSERT_TENSOR(a->grad, ga, 1e-5, rt * 4);
            CG_ASSERT_TENSOR(b->grad, gb, 1e-5, rt * 4);
            cg_tensor_free(a), cg_tensor_free(b);
        }
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* Reference of the flat (unbroadcast) path, element by element in T:
 * z = x op y and the input grads from upstream g, either assigned (first
 * write: 0 + v) or added to what the grads hold. */
#define CG_REF_FLAT(T)                                                                      \
    static void ref_flat_##T(int op, int n, const T *x, const T *y, const T *g, T *z,      \
                             T *ga, T *gb, bool first)                                     \
    {                                                                                      \
        for (int i = 0; i < n; i++) {                                                      \
            z[i] = op == 0 ? x[i] + y[i] : op == 1 ? x[i] - y[i] : op == 2 ? x[i] * y[i]   \
                                                                     : x[i] / y[i];        \
            T da = op <= 1 ? g[i] : op == 2 ? g[i] * y[i] : g[i] / y[i];                   \
            T db = op == 0 ? g[i] : op == 1 ? -g[i] : op == 2 ? g[i] * x[i]                \
                                                             : -(g[i] * (z[i] / y[i]));    \
            ga[i] = (first ? (T)0 : ga[i]) + da;                                           \
            gb[i] = (first ? (T)0 : gb[i]) + db;                                           \
        }                                                                                  \
    }
CG_REF_FLAT(float)
CG_REF_FLAT(double)

enum { FLAT_MAX = 37 };

/* Reference for one op and size, in the tensors' dtype (as doubles). */
static void ref_flat(enum cg_dtype dt, int op, int n, const double *xd, const double *yd,
                     const double *gd, double *z, double *ga, double *gb, bool first)
{
    if (dt == CG_F64) {
        ref_flat_double(op, n, xd, yd, gd, z, ga, gb, first);
        return;
    }
    float x[FLAT_MAX], y[FLAT_MAX], g[FLAT_MAX], zf[FLAT_MAX], af[FLAT_MAX], bf[FLAT_MAX];
    for (int i = 0; i < n; i++)
        x[i] = (float)xd[i], y[i] = (float)yd[i], g[i] = (float)gd[i], af[i] = (float)ga[i],
        bf[i] = (float)gb[i];
    ref_flat_float(op, n, x, y, g, zf, af, bf, first);
    for (int i = 0; i < n; i++) z[i] = zf[i], ga[i] = af[i], gb[i] = bf[i];
}

/* t's elements (of its dtype) bit for bit equal to want (converted). */
static void assert_bits(const struct cg_tensor *t, const double *want, const char *what, int op,
                        int n, int threads)
{
    for (int i = 0; i < n; i++) {
        double v = cg_tensor_at(t, i);
        bool same = t->dtype == CG_F64 ? memcmp(&v, &want[i], sizeof v) == 0
                                       : memcmp(&(float){(float)v}, &(float){(float)want[i]},
                                                sizeof(float)) == 0;
        if (!same)
            fail_msg("op %d, %s [%d of %d], %s, %d threads: %a, want %a", op, what, i, n,
                     cg_dtype_name(t->dtype), threads, v, want[i]);
    }
}

/* Same-shape inputs take a flat path (no broadcast plan; an unwritten grad
 * assigned, not zeroed and added): forward and both grads bit for bit the
 * element-by-element reference, for persistent grads (assigned, then
 * added) and for intermediates' grads on reused arena memory, at 1 and 2
 * threads.  Zeros in x and negative g make -0 products: an assignment
 * without the 0 + would keep their sign. */
static void test_flat_run_bits(void **state)
{
    (void)state;
    struct cg_tensor *(*const fns[4])(struct cg_tape *, struct cg_tensor *,
                                      struct cg_tensor *) = {cg_add, cg_sub, cg_mul, cg_div};
    static const int sizes[] = {1, 2, 16, 37};
    double xv[FLAT_MAX], yv[FLAT_MAX], g[FLAT_MAX];
    struct cg_rng rng = cg_rng_seed(3);
    for (int i = 0; i < FLAT_MAX; i++) {
        xv[i] = i % 5 == 0 ? 0.0 : cg_rng_normal(&rng);
        yv[i] = 0.5 + cg_rng_uniform(&rng);
        g[i] = cg_rng_normal(&rng);
    }
    struct cg_tape *tape = cg_tape_new();
    for (int threads = 1; threads <= 2; threads++) {
        cg_set_num_threads(threads);
        for (int d = 0; d < 2; d++)
            for (int op = 0; op < 4; op++)
                for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
                    int n = sizes[k];
                    double z[FLAT_MAX], ga[FLAT_MAX], gb[FLAT_MAX];
                    struct cg_tensor *a = leaf(dtypes[d], CG_SHAPE(n), xv);
                    struct cg_tensor *b = leaf(dtypes[d], CG_SHAPE(n), yv);
                    cg_tensor_zero_grad(a), cg_tensor_zero_grad(b);
                    struct cg_tensor *y = fns[op](tape, a, b);
                    backward_with(tape, y, g);
                    ref_flat(dtypes[d], op, n, xv, yv, g, z, ga, gb, true);
                    assert_bits(y, z, "output", op, n, threads);
                    assert_bits(a->grad, ga, "grad a (assigned)", op, n, threads);
                    assert_bits(b->grad, gb, "grad b (assigned)", op, n, threads);
                    backward_with(tape, fns[op](tape, a, b), g);
                    ref_flat(dtypes[d], op, n, xv, yv, g, z, ga, gb, false);
                    assert_bits(a->grad, ga, "grad a (added)", op, n, threads);
                    assert_bits(b->grad, gb, "grad b (added)", op, n, threads);
                    cg_tape_reset(tape);
                    /* intermediates: their grads start on dirty arena memory */
                    assert_non_null(cg_tensor_full(tape, dtypes[d], CG_SHAPE(4096), 1e30));
                    cg_tape_reset(tape);
                    struct cg_tensor *ar = cg_reshape(tape, a, CG_SHAPE(n));
                    struct cg_tensor *br = cg_reshape(tape, b, CG_SHAPE(n));
                    backward_with(tape, fns[op](tape, ar, br), g);
                    ref_flat(dtypes[d], op, n, xv, yv, g, z, ga, gb, true);
                    assert_bits(ar->grad, ga, "intermediate grad a", op, n, threads);
                    assert_bits(br->grad, gb, "intermediate grad b", op, n, threads);
                    cg_tape_reset(tape);
                    cg_tensor_free(a), cg_tensor_free(b);
                }
    }
    cg_set_num_threads(1);
    cg_tape_free(tape);
}

/* Empty tensors broadcast by the same rules: [0,3] + [3] -> [0,3]. */
static void test_empty_broadcast(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *a = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(0, 3));
    struct cg_tensor *b = cg_tensor_ones(tape, CG_F32, CG_SHAPE(3));
    struct cg_tensor *y = cg_mul(tape, a, b);
    check_shape(y, CG_SHAPE(0, 3));
    assert_int_equal(y->numel, 0);
    y = cg_add(tape, cg_tensor_zeros(tape, CG_F32, CG_SHAPE(2, 0)),
               cg_tensor_ones(tape, CG_F32, CG_SHAPE(1)));
    check_shape(y, CG_SHAPE(2, 0));
    cg_tape_free(tape);
}

/* reshape shares data, infers -1, and routes the gradient back flat. */
static void test_reshape_view_and_grad(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    const double av[6] = {1, 2, 3, 4, 5, 6}, wv[2] = {10, 100}, ones[6] = {1, 1, 1, 1, 1, 1};
    const double ga[6] = {10, 100, 10, 100, 10, 100};
    const double gw[2] = {1 + 3 + 5, 2 + 4 + 6};
    const double want[6] = {10, 200, 30, 400, 50, 600};
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *a = leaf(dtypes[d], CG_SHAPE(2, 3), av);
        struct cg_tensor *w = leaf(dtypes[d], CG_SHAPE(2), wv);
        struct cg_tensor *r = cg_reshape(tape, a, CG_SHAPE(-1, 2));
        check_shape(r, CG_SHAPE(3, 2));
        assert_ptr_equal(r->data, a->data);
        assert_true(r->flags & CG_REQUIRES_GRAD);
        struct cg_tensor *y = cg_mul(tape, r, w);
        CG_ASSERT_TENSOR(y, want, 0, 0);
        backward_with(tape, y, ones);
        CG_ASSERT_TENSOR(a->grad, ga, 0, 0);
        CG_ASSERT_TENSOR(w->grad, gw, 0, 0);

        /* Chained views still share the data; grads accumulate through them. */
        struct cg_tensor *r6 = cg_reshape(tape, a, CG_SHAPE(6));
        struct cg_tensor *r2 = cg_reshape(tape, r6, CG_SHAPE(1, 6, 1));
        check_shape(r2, CG_SHAPE(1, 6, 1));
        assert_ptr_equal(r2->data, a->data);
        backward_with(tape, r2, av);
        const double acc[6] = {11, 102, 13, 104, 15, 106};
        CG_ASSERT_TENSOR(a->grad, acc, 0, 0);

        /* One element to a 0-d scalar and back. */
        struct cg_tensor *one = cg_tensor_from_doubles(tape, dtypes[d], CG_SHAPE(1, 1), wv);
        struct cg_tensor *s = cg_reshape(tape, one, 0, NULL);
        check_shape(s, 0, NULL);
        assert_int_equal(s->numel, 1);
        assert_true(cg_tensor_item(s) == 10);
        check_shape(cg_reshape(tape, s, CG_SHAPE(-1)), CG_SHAPE(1));
        cg_tensor_free(a), cg_tensor_free(w);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

/* transpose copies [2,3] -> [3,2]; backward transposes the gradient back. */
static void test_transpose(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    const double av[6] = {1, 2, 3, 4, 5, 6};
    const double want[6] = {1, 4, 2, 5, 3, 6};
    const double g[6] = {1, 2, 3, 4, 5, 6}; /* [[1,2],[3,4],[5,6]] */
    const double ga[6] = {1, 3, 5, 2, 4, 6};
    const double ga2[6] = {2, 6, 10, 4, 8, 12};
    static double big[37 * 45];
    seq(big, 37 * 45, -500);
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *a = leaf(dtypes[d], CG_SHAPE(2, 3), av);
        struct cg_tensor *t = cg_transpose(tape, a);
        check_shape(t, CG_SHAPE(3, 2));
        assert_ptr_not_equal(t->data, a->data);
        CG_ASSERT_TENSOR(t, want, 0, 0);
        backward_retain_with(tape, t, g);
        CG_ASSERT_TENSOR(a->grad, ga, 0, 0);
        backward_with(tape, t, g);
        CG_ASSERT_TENSOR(a->grad, ga2, 0, 0);

        /* Several tiles, ragged edges: t[j,i] == m[i,j]; seeding with t itself
         * gives back m as the gradient. */
        struct cg_tensor *m = leaf(dtypes[d], CG_SHAPE(37, 45), big);
        struct cg_tensor *mt = cg_transpose(tape, m);
        check_shape(mt, CG_SHAPE(45, 37));
        for (int64_t i = 0; i < 37; i++)
            for (int64_t j = 0; j < 45; j++)
                assert_true(cg_tensor_get(mt, CG_INDEX(j, i)) == big[i * 45 + j]);
        struct cg_tensor *seed = cg_tensor_copy(tape, mt);
        assert_int_equal(cg_backward_seed(tape, mt, seed), CG_OK);
        CG_ASSERT_TENSOR(m->grad, big, 0, 0);
        cg_tensor_free(a), cg_tensor_free(m);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

static void test_misuse_messages(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *a43 = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(4, 3));
    struct cg_tensor *b2 = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(2));
    struct cg_tensor *c234 = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(2, 3, 4));
    struct cg_tensor *d54 = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(5, 4));
    struct cg_tensor *e64 = cg_tensor_zeros(tape, CG_F64, CG_SHAPE(4, 3));
    struct cg_tensor *r = (struct cg_tensor *)1;

    CG_EXPECT_MISUSE(r = cg_add(tape, a43, b2), "add: shapes [4,3] and [2] cannot broadcast",
                     "dim -1: 3 vs 2");
    assert_null(r);
    CG_EXPECT_MISUSE(r = cg_mul(tape, c234, d54), "mul", "[2,3,4]", "[5,4]", "dim -2: 3 vs 5");
    assert_null(r);
    CG_EXPECT_MISUSE(r = cg_sub(tape, b2, a43), "sub", "[2] and [4,3]", "dim -1: 2 vs 3");
    assert_null(r);
    CG_EXPECT_MISUSE(r = cg_div(tape, NULL, a43), "div", "NULL");
    assert_null(r);
    CG_EXPECT_MISUSE(r = cg_add(tape, a43, e64), "add", "f64", "f32");
    assert_null(r);

    CG_EXPECT_MISUSE(r = cg_reshape(tape, a43, CG_SHAPE(5, 2)), "reshape", "[5,2]", "[4,3]",
                     "10", "12");
    assert_null(r);
    CG_EXPECT_MISUSE(r = cg_reshape(tape, a43, CG_SHAPE(5, -1)), "reshape", "[5,-1]", "[4,3]",
                     "12 elements");
    assert_null(r);
    CG_EXPECT_MISUSE(r = cg_reshape(tape, a43, CG_SHAPE(-1, -1)), "reshape", "more than one -1");
    assert_null(r);
    CG_EXPECT_MISUSE(r = cg_reshape(tape, a43, CG_SHAPE(-3, -4)), "reshape", "-3", "dim 0");
    assert_null(r);
    CG_EXPECT_MISUSE(r = cg_reshape(tape, a43, CG_SHAPE(0, -1)), "reshape", "[0,-1]");
    assert_null(r);

    CG_EXPECT_MISUSE(r = cg_transpose(tape, c234), "transpose", "[2,3,4]", "3-D");
    assert_null(r);
    CG_EXPECT_MISUSE(r = cg_transpose(tape, b2), "transpose", "[2]", "1-D");
    assert_null(r);
    cg_tape_free(tape);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_3d_with_2d),
        cmocka_unit_test(test_mul_rows),
        cmocka_unit_test(test_div_scalar_shaped),
        cmocka_unit_test(test_sub_gradients),
        cmocka_unit_test(test_div_and_partial_grad),
        cmocka_unit_test(test_same_tensor_both_inputs),
        cmocka_unit_test(test_long_reductions),
        cmocka_unit_test(test_generic_rank4),
        cmocka_unit_test(test_flat_run_bits),
        cmocka_unit_test(test_empty_broadcast),
        cmocka_unit_test(test_reshape_view_and_grad),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_misuse_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
