/* Tensors: creation (persistent and on a tape, both dtypes), element access
 * and its bounds checks, copies/conversions/views, names, printing, grads.
 * arange/linspace references were computed with torch 1.13
 * (torch.arange / torch.linspace, printed with repr). */
#include "cg_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const enum cg_dtype dtypes[2] = {CG_F32, CG_F64};

/* Value `v` as stored in a tensor of `dtype`. */
static double stored(enum cg_dtype dtype, double v)
{
    return dtype == CG_F32 ? (double)(float)v : v;
}

static void check_meta(const struct cg_tensor *t, enum cg_dtype dtype, struct cg_tape *tape,
                       int ndim, const int64_t *shape)
{
    assert_non_null(t);
    assert_int_equal(t->dtype, dtype);
    assert_int_equal(t->ndim, ndim);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        assert_int_equal(t->shape[i], shape[i]);
        numel *= shape[i];
    }
    assert_int_equal(t->numel, numel);
    assert_ptr_equal(t->tape, tape);
    assert_null(t->grad);
    assert_false(t->flags & CG_REQUIRES_GRAD);
    assert_int_equal(t->record, -1);
    if (numel) assert_non_null(t->data);
    assert_int_equal((uintptr_t)t->data % 64, 0); /* arena and heap data are 64-byte aligned */
    if (!tape) assert_true(t->flags & CG_OWNS_DATA);
}

/* Exact comparison with the values rounded to the tensor's dtype. */
static void check_values(const struct cg_tensor *t, const double *v, int64_t n)
{
    assert_int_equal(t->numel, n);
    for (int64_t i = 0; i < n; i++) {
        double want = stored(t->dtype, v[i]);
        if (cg_tensor_at(t, i) != want)
            fail_msg("%s element %lld: %.17g, expected %.17g", cg_dtype_name(t->dtype),
                     (long long)i, cg_tensor_at(t, i), want);
    }
}

static void release(struct cg_tensor *t)
{
    if (t && !t->tape) cg_tensor_free(t);
}

static void test_dtype_helpers(void **state)
{
    (void)state;
    assert_int_equal(cg_dtype_size(CG_F32), 4);
    assert_int_equal(cg_dtype_size(CG_F64), 8);
    assert_string_equal(cg_dtype_name(CG_F32), "f32");
    assert_string_equal(cg_dtype_name(CG_F64), "f64");
}

static void test_constant_creation(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    assert_non_null(tape);
    const int64_t shape[3] = {2, 3, 4};
    for (int d = 0; d < 2; d++) {
        enum cg_dtype dt = dtypes[d];
        for (int on_tape = 0; on_tape < 2; on_tape++) {
            struct cg_tape *tp = on_tape ? tape : NULL;
            struct cg_tensor *e = cg_tensor_empty(tp, dt, 3, shape);
            check_meta(e, dt, tp, 3, shape);
            struct cg_tensor *z = cg_tensor_zeros(tp, dt, CG_SHAPE(2, 3, 4));
            check_meta(z, dt, tp, 3, shape);
            struct cg_tensor *o = cg_tensor_ones(tp, dt, CG_SHAPE(2, 3, 4));
            check_meta(o, dt, tp, 3, shape);
            struct cg_tensor *f = cg_tensor_full(tp, dt, CG_SHAPE(2, 3, 4), 0.1);
            check_meta(f, dt, tp, 3, shape);
            for (int64_t i = 0; i < 24; i++) {
                assert_true(cg_tensor_at(z, i) == 0.0);
                assert_true(cg_tensor_at(o, i) == 1.0);
                assert_true(cg_tensor_at(f, i) == stored(dt, 0.1));
            }
            cg_tensor_fill(z, -2.5);
            for (int64_t i = 0; i < 24; i++) assert_true(cg_tensor_at(z, i) == -2.5);

            /* A 0-d tensor has one element; a size-0 dim gives an empty tensor. */
            struct cg_tensor *s = cg_tensor_full(tp, dt, 0, NULL, 7.0);
            check_meta(s, dt, tp, 0, NULL);
            assert_true(cg_tensor_item(s) == 7.0);
            struct cg_tensor *n0 = cg_tensor_zeros(tp, dt, CG_SHAPE(3, 0));
            check_meta(n0, dt, tp, 2, (const int64_t[]){3, 0});
            release(e), release(z), release(o), release(f), release(s), release(n0);
        }
    }
    cg_tape_free(tape);
}

static void test_from_data_and_doubles(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    const double vals[6] = {0.1, -2.0, 3.25, 1e-3, 1e30, -0.0};
    const float fvals[6] = {0.1f, -2.0f, 3.25f, 1e-3f, 1e30f, -0.0f};
    for (int d = 0; d < 2; d++) {
        enum cg_dtype dt = dtypes[d];
        for (int on_tape = 0; on_tape < 2; on_tape++) {
            struct cg_tape *tp = on_tape ? tape : NULL;
            const void *raw = dt == CG_F32 ? (const void *)fvals : (const void *)vals;
            struct cg_tensor *a = cg_tensor_from_data(tp, dt, CG_SHAPE(2, 3), raw);
            check_meta(a, dt, tp, 2, (const int64_t[]){2, 3});
            check_values(a, vals, 6);
            assert_ptr_not_equal(a->data, raw); /* copied, not borrowed */
            assert_true(signbit(cg_tensor_at(a, 5)));

            struct cg_tensor *b = cg_tensor_from_doubles(tp, dt, CG_SHAPE(3, 2), vals);
            check_meta(b, dt, tp, 2, (const int64_t[]){3, 2});
            check_values(b, vals, 6);
            /* NULL data is fine for an empty tensor. */
            struct cg_tensor *e = cg_tensor_from_data(tp, dt, CG_SHAPE(0), NULL);
            check_meta(e, dt, tp, 1, (const int64_t[]){0});
            release(a), release(b), release(e);
        }
    }
    cg_tape_free(tape);
}

struct range_case {
    double start, stop, step;
    int n;
    double f32[10], f64[10];
};

static void test_arange_matches_torch(void **state)
{
    (void)state;
    static const struct range_case cases[] = {
        {0, 5, 1, 5, {0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}},
        {1, 2.5, 0.5, 3, {1, 1.5, 2}, {1, 1.5, 2}},
        {5, 0, -1.5, 4, {5, 3.5, 2, 0.5}, {5, 3.5, 2, 0.5}},
        {0, 1, 0.1, 10,
         {0.0, 0.10000000149011612, 0.20000000298023224, 0.30000001192092896,
          0.4000000059604645, 0.5, 0.6000000238418579, 0.699999988079071, 0.800000011920929,
          0.8999999761581421},
         {0.0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5, 0.6000000000000001, 0.7000000000000001,
          0.8, 0.9}},
        {-1, 1, 0.3, 7,
         {-1.0, -0.699999988079071, -0.4000000059604645, -0.10000000149011612,
          0.20000000298023224, 0.5, 0.800000011920929},
         {-1.0, -0.7, -0.4, -0.10000000000000003, 0.19999999999999996, 0.49999999999999994,
          0.7999999999999999}},
        {3, 3, 1, 0, {0}, {0}},
    };
    struct cg_tape *tape = cg_tape_new();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct range_case *k = &cases[c];
        for (int on_tape = 0; on_tape < 2; on_tape++) {
            struct cg_tape *tp = on_tape ? tape : NULL;
            struct cg_tensor *a = cg_tensor_arange(tp, CG_F32, k->start, k->stop, k->step);
            struct cg_tensor *b = cg_tensor_arange(tp, CG_F64, k->start, k->stop, k->step);
            int64_t n = k->n;
            check_meta(a, CG_F32, tp, 1, &n);
            check_meta(b, CG_F64, tp, 1, &n);
            check_values(a, k->f32, n); /* torch rounds the double value: exact */
            /* torch's vectorized kernel adds step to a per-SIMD-chunk base (with
             * FMA contraction), so the last bit depends on the CPU: 2 ulps. */
            CG_ASSERT_TENSOR(b, k->f64, 1e-15, 4.5e-16);
            assert_true(n == 0 || cg_tensor_at(b, 0) == k->start);
            release(a), release(b);
        }
    }
    cg_tape_free(tape);
}

static void test_linspace_matches_torch(void **state)
{
    (void)state;
    /* start, end (in .step), n */
    static const struct range_case cases[] = {
        {0, 1, 0, 5, {0, 0.25, 0.5, 0.75, 1}, {0, 0.25, 0.5, 0.75, 1}},
        {-1, 1, 0, 7,
         {-1.0, -0.6666666269302368, -0.3333333134651184, -2.9802322387695312e-08,
          0.3333333134651184, 0.6666666269302368, 1.0},
         {-1.0, -0.6666666666666667, -0.33333333333333337, 5.551115123125783e-17,
          0.33333333333333337, 0.6666666666666667, 1.0}},
        {0, 1, 0, 10,
         {0.0, 0.1111111119389534, 0.2222222238779068, 0.3333333432674408, 0.4444444477558136,
          0.5555555820465088, 0.6666666865348816, 0.7777777910232544, 0.8888888955116272, 1.0},
         {0.0, 0.1111111111111111, 0.2222222222222222, 0.3333333333333333, 0.4444444444444444,
          0.5555555555555556, 0.6666666666666666, 0.7777777777777777, 0.8888888888888888, 1.0}},
        {2, 5, 0, 1, {2}, {2}},
        {1, -2, 0, 4, {1, 0, -1, -2}, {1, 0, -1, -2}},
        {0.1, 0.7, 0, 6,
         {0.10000000149011612, 0.2199999988079071, 0.3399999737739563, 0.46000000834465027,
          0.5799999833106995, 0.699999988079071},
         {0.1, 0.22, 0.33999999999999997, 0.45999999999999996, 0.58, 0.7}},
    };
    struct cg_tape *tape = cg_tape_new();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct range_case *k = &cases[c];
        for (int on_tape = 0; on_tape < 2; on_tape++) {
            struct cg_tape *tp = on_tape ? tape : NULL;
            int64_t n = k->n;
            struct cg_tensor *a = cg_tensor_linspace(tp, CG_F32, k->start, k->stop, n);
            struct cg_tensor *b = cg_tensor_linspace(tp, CG_F64, k->start, k->stop, n);
            check_meta(a, CG_F32, tp, 1, &n);
            check_meta(b, CG_F64, tp, 1, &n);
            /* torch computes f32 linspace in float, cgrad in double then rounds:
             * equal to a few float ulps. */
            CG_ASSERT_TENSOR(a, k->f32, 1e-7, 2e-7);
            CG_ASSERT_TENSOR(b, k->f64, 1e-15, 4.5e-16); /* see arange: 2 ulps */
            /* both ends are exact */
            assert_true(cg_tensor_at(b, 0) == k->start);
            assert_true(cg_tensor_at(b, n - 1) == (n > 1 ? k->stop : k->start));
            release(a), release(b);
        }
    }
    cg_tape_free(tape);
}

/* Random tensors consume the generator exactly like the scalar functions. */
static void test_random_creation(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        enum cg_dtype dt = dtypes[d];
        for (int on_tape = 0; on_tape < 2; on_tape++) {
            struct cg_tape *tp = on_tape ? tape : NULL;
            struct cg_rng rng = cg_rng_seed(42), ref = cg_rng_seed(42);
            struct cg_tensor *r = cg_tensor_rand(tp, dt, CG_SHAPE(3, 5), &rng);
            check_meta(r, dt, tp, 2, (const int64_t[]){3, 5});
            for (int64_t i = 0; i < 15; i++) {
                double want = stored(dt, cg_rng_uniform(&ref));
                assert_true(cg_tensor_at(r, i) == want);
                assert_true(cg_tensor_at(r, i) >= 0.0 && cg_tensor_at(r, i) <= 1.0);
            }
            if (d == 1) assert_true(cg_tensor_at(r, 0) == 0.6303102186438938); /* see test_rng */

            struct cg_tensor *u = cg_tensor_uniform(tp, dt, CG_SHAPE(4, 4), -0.5, 2.0, &rng);
            check_meta(u, dt, tp, 2, (const int64_t[]){4, 4});
            for (int64_t i = 0; i < 16; i++) {
                double want = stored(dt, -0.5 + 2.5 * cg_rng_uniform(&ref));
                assert_true(cg_tensor_at(u, i) == want);
                assert_true(cg_tensor_at(u, i) >= -0.5 && cg_tensor_at(u, i) <= 2.0);
            }
            struct cg_tensor *n = cg_tensor_randn(tp, dt, CG_SHAPE(7), &rng);
            check_meta(n, dt, tp, 1, (const int64_t[]){7});
            for (int64_t i = 0; i < 7; i++)
                assert_true(cg_tensor_at(n, i) == stored(dt, cg_rng_normal(&ref)));
            assert_memory_equal(&rng, &ref, sizeof rng); /* same position afterwards */
            release(r), release(u), release(n);
        }
    }
    /* Large randn: standard normal moments. */
    struct cg_rng rng = cg_rng_seed(1);
    struct cg_tensor *big = cg_tensor_randn(NULL, CG_F64, CG_SHAPE(100, 1000), &rng);
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < big->numel; i++) {
        double z = cg_tensor_at(big, i);
        sum += z;
        sum2 += z * z;
    }
    CG_ASSERT_CLOSE(sum / 1e5, 0.0, 0.016, 0);
    CG_ASSERT_CLOSE(sum2 / 1e5, 1.0, 0.023, 0);
    cg_tensor_free(big);
    cg_tape_free(tape);
}

/* Tape tensors live in the arena: no heap allocation once the first chunk
 * exists, and reset gives the bytes back. */
static void test_tape_creation_uses_arena(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_rng rng = cg_rng_seed(5);
    assert_int_equal(cg_tape_bytes_used(tape), 0);
    assert_non_null(cg_tensor_zeros(tape, CG_F32, CG_SHAPE(4)));
    size_t before = cg_alloc_count();
    for (int i = 0; i < 20; i++) {
        assert_non_null(cg_tensor_empty(tape, CG_F64, CG_SHAPE(8, 8)));
        assert_non_null(cg_tensor_ones(tape, CG_F32, CG_SHAPE(3, 3)));
        assert_non_null(cg_tensor_randn(tape, CG_F32, CG_SHAPE(16), &rng));
        assert_non_null(cg_tensor_linspace(tape, CG_F64, 0, 1, 11));
    }
    assert_int_equal(cg_alloc_count(), before);
    assert_true(cg_tape_bytes_used(tape) >= 20 * (8 * 8 * 8 + 9 * 4 + 16 * 4 + 11 * 8));
    assert_true(cg_tape_bytes_used(tape) <= cg_tape_bytes_reserved(tape));
    size_t reserved = cg_tape_bytes_reserved(tape);
    cg_tape_reset(tape);
    assert_int_equal(cg_tape_bytes_used(tape), 0);
    assert_int_equal(cg_tape_bytes_reserved(tape), reserved);
    cg_tape_free(tape);
}

static void test_get_set_at_item(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *t = cg_tensor_arange(NULL, dtypes[d], 0, 24, 1);
        struct cg_tensor *m = cg_tensor_zeros(NULL, dtypes[d], CG_SHAPE(2, 3, 4));
        cg_tensor_copy_into(m, t);
        /* row-major: [i,j,k] is element 12i + 4j + k */
        assert_true(cg_tensor_get(m, CG_INDEX(1, 2, 3)) == 23.0);
        assert_true(cg_tensor_get(m, CG_INDEX(1, 0, 2)) == 14.0);
        assert_true(cg_tensor_get(m, CG_INDEX(0, 1, 0)) == 4.0);
        cg_tensor_set(m, CG_INDEX(0, 2, 1), -1.5);
        assert_true(cg_tensor_at(m, 9) == -1.5);
        cg_tensor_set_at(m, 23, 0.1);
        assert_true(cg_tensor_get(m, CG_INDEX(1, 2, 3)) == stored(dtypes[d], 0.1));

        CG_EXPECT_MISUSE(cg_tensor_get(m, CG_INDEX(0, 3, 0)), "cg_tensor_get", "index 3",
                         "dim 1", "[2,3,4]");
        CG_EXPECT_MISUSE(cg_tensor_get(m, CG_INDEX(2, 0, 0)), "cg_tensor_get", "index 2", "dim 0");
        CG_EXPECT_MISUSE(cg_tensor_set(m, CG_INDEX(0, 0, -1), 1.0), "cg_tensor_set", "index -1",
                         "dim 2");
        CG_EXPECT_MISUSE(cg_tensor_get(m, NULL), "cg_tensor_get", "NULL");
        CG_EXPECT_MISUSE(cg_tensor_at(m, 24), "cg_tensor_at", "index 24", "24 elements");
        CG_EXPECT_MISUSE(cg_tensor_at(m, -1), "cg_tensor_at", "index -1");
        CG_EXPECT_MISUSE(cg_tensor_set_at(m, 100, 1.0), "cg_tensor_set_at", "index 100");
        /* misuse changed nothing */
        assert_true(cg_tensor_at(m, 0) == 0.0 && cg_tensor_at(m, 9) == -1.5);

        /* item: exactly one element, any ndim */
        struct cg_tensor *one = cg_tensor_full(NULL, dtypes[d], CG_SHAPE(1, 1, 1), 4.5);
        assert_true(cg_tensor_item(one) == 4.5);
        CG_EXPECT_MISUSE(cg_tensor_item(m), "cg_tensor_item", "[2,3,4]", "24 elements");

        /* a 0-d tensor is indexed by an empty index */
        struct cg_tensor *s = cg_tensor_full(NULL, dtypes[d], 0, NULL, 2.0);
        assert_true(cg_tensor_get(s, NULL) == 2.0);
        cg_tensor_set(s, NULL, 3.0);
        assert_true(cg_tensor_item(s) == 3.0);
        cg_tensor_free(t), cg_tensor_free(m), cg_tensor_free(one), cg_tensor_free(s);
    }
}

static void test_copy_to_detach(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    const double vals[4] = {0.1, 1.0 / 3.0, -7.0, 1e-40};
    struct cg_tensor *x = cg_tensor_from_doubles(NULL, CG_F64, CG_SHAPE(2, 2), vals);
    cg_tensor_set_name(x, "x");
    assert_int_equal(cg_tensor_requires_grad(x, true), CG_OK);

    for (int on_tape = 0; on_tape < 2; on_tape++) {
        struct cg_tape *tp = on_tape ? tape : NULL;
        struct cg_tensor *c = cg_tensor_copy(tp, x);
        check_meta(c, CG_F64, tp, 2, (const int64_t[]){2, 2}); /* no grad, no flag */
        assert_string_equal(c->name, "x");
        assert_ptr_not_equal(c->data, x->data);
        check_values(c, vals, 4);
        cg_tensor_set_at(c, 0, 99.0);
        assert_true(cg_tensor_at(x, 0) == 0.1); /* independent */

        struct cg_tensor *f = cg_tensor_to(tp, x, CG_F32);
        assert_int_equal(f->dtype, CG_F32);
        check_values(f, vals, 4); /* rounded to float; 1e-40 is a float subnormal */
        assert_true(cg_tensor_at(f, 3) != 0.0);
        struct cg_tensor *back = cg_tensor_to(tp, f, CG_F64);
        assert_true(cg_tensor_at(back, 1) == (double)(float)(1.0 / 3.0));
        assert_string_equal(back->name, "x"); /* name travels with copies */

        struct cg_tensor *dt = cg_tensor_detach(tp, x);
        assert_ptr_equal(dt->data, x->data); /* shares data */
        assert_null(dt->grad);
        assert_false(dt->flags & CG_REQUIRES_GRAD);
        assert_true(dt->flags & CG_IS_VIEW);
        assert_false(dt->flags & CG_OWNS_DATA);
        cg_tensor_set_at(dt, 2, 5.0);
        assert_true(cg_tensor_at(x, 2) == 5.0);
        cg_tensor_set_at(dt, 2, -7.0);
        release(c), release(f), release(back), release(dt); /* freeing the view keeps x's data */
    }
    assert_true(cg_tensor_at(x, 2) == -7.0);
    cg_tensor_free(x);
    cg_tape_free(tape);
}

static void test_copy_into(void **state)
{
    (void)state;
    struct cg_tensor *src = cg_tensor_arange(NULL, CG_F64, 1, 7, 1);
    struct cg_tensor *dst = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(2, 3));
    assert_ptr_equal(cg_tensor_copy_into(dst, src), dst); /* same numel, other shape and dtype */
    const double want[6] = {1, 2, 3, 4, 5, 6};
    check_values(dst, want, 6);
    assert_int_equal(dst->dtype, CG_F32);
    assert_int_equal(dst->ndim, 2);

    struct cg_tensor *small = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(5));
    cg_tensor_set_name(small, "small");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_copy_into(small, src)), "cg_tensor_copy_into", "[5] f32",
                     "[6] f64", "element count");
    assert_true(cg_tensor_at(small, 0) == 0.0);
    CG_EXPECT_MISUSE(cg_tensor_copy_into(NULL, src), "cg_tensor_copy_into", "dst is NULL");
    CG_EXPECT_MISUSE(cg_tensor_copy_into(dst, NULL), "cg_tensor_copy_into", "src is NULL");
    cg_tensor_free(src), cg_tensor_free(dst), cg_tensor_free(small);
}

static void test_convert_in_place(void **state)
{
    (void)state;
    const double vals[3] = {0.1, 2.5, -1.0 / 3.0};
    struct cg_tensor *p = cg_tensor_from_doubles(NULL, CG_F64, CG_SHAPE(3), vals);
    assert_int_equal(cg_tensor_requires_grad(p, true), CG_OK);
    cg_tensor_fill(p->grad, 0.25);
    assert_int_equal(cg_tensor_convert(p, CG_F32), CG_OK);
    assert_int_equal(p->dtype, CG_F32);
    assert_int_equal(p->grad->dtype, CG_F32);
    check_values(p, vals, 3);
    assert_true(cg_tensor_at(p->grad, 2) == 0.25);
    assert_true(p->flags & CG_REQUIRES_GRAD);
    assert_int_equal(cg_tensor_convert(p, CG_F32), CG_OK); /* no-op */
    assert_int_equal(cg_tensor_convert(p, CG_F64), CG_OK);
    assert_true(cg_tensor_at(p, 0) == (double)0.1f);

    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *t = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(2));
    CG_EXPECT_MISUSE(cg_tensor_convert(t, CG_F64), "cg_tensor_convert", "persistent");
    assert_int_equal(t->dtype, CG_F32);
    struct cg_tensor *view = cg_tensor_detach(NULL, p);
    cg_test_capture_misuse();
    assert_int_equal(cg_tensor_convert(view, CG_F32), CG_ERR_INVALID);
    cg_test_release_misuse();
    assert_int_equal(view->dtype, CG_F64);
    cg_tensor_free(view);
    cg_tensor_free(p);
    cg_tape_free(tape);
}

/* cg_reshape returns a view on the tape sharing the input's data. */
static void test_reshape_is_view(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *x = cg_tensor_arange(NULL, dtypes[d], 0, 12, 1);
        struct cg_tensor *r = cg_reshape(tape, x, CG_SHAPE(3, -1));
        assert_non_null(r);
        assert_int_equal(r->ndim, 2);
        assert_int_equal(r->shape[0], 3);
        assert_int_equal(r->shape[1], 4);
        assert_int_equal(r->numel, 12);
        assert_ptr_equal(r->data, x->data);
        assert_ptr_equal(r->tape, tape);
        assert_true(cg_tensor_get(r, CG_INDEX(2, 1)) == 9.0);
        cg_tensor_set(r, CG_INDEX(1, 0), -4.0);
        assert_true(cg_tensor_at(x, 4) == -4.0);
        struct cg_tensor *r2 = cg_reshape(tape, r, CG_SHAPE(2, 2, 3));
        assert_ptr_equal(r2->data, x->data);
        CG_EXPECT_MISUSE(cg_reshape(tape, x, CG_SHAPE(5, 2)), "reshape", "[12]", "[5,2]");
        cg_tensor_free(x);
    }
    cg_tape_free(tape);
}

static void test_shape_str(void **state)
{
    (void)state;
    char buf[128];
    struct cg_tensor *t = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(4, 1, 3));
    assert_string_equal(cg_tensor_shape_str(t, buf, sizeof buf), "[4,1,3] f32");
    struct cg_tensor *s = cg_tensor_zeros(NULL, CG_F64, 0, NULL);
    assert_string_equal(cg_tensor_shape_str(s, buf, sizeof buf), "[] f64");
    assert_string_equal(cg_tensor_shape_str(NULL, buf, sizeof buf), "(null)");
    /* Truncation keeps the string terminated. */
    char small[6];
    memset(small, 'x', sizeof small);
    assert_string_equal(cg_tensor_shape_str(t, small, sizeof small), "[4,1,");
    char one[1] = {'x'};
    assert_string_equal(cg_tensor_shape_str(t, one, 1), "");
    /* The longest shape fits a 128-byte buffer (used by the error messages). */
    struct cg_tensor big = {.dtype = CG_F64, .ndim = CG_MAX_DIMS};
    for (int i = 0; i < CG_MAX_DIMS; i++) big.shape[i] = 1000000000000LL;
    cg_tensor_shape_str(&big, buf, sizeof buf);
    assert_int_equal(strlen(buf), 1 + 8 * 13 + 7 + 5);
    assert_string_equal(buf + strlen(buf) - 5, "] f64");
    cg_tensor_free(t), cg_tensor_free(s);
}

static char *print_to_string(const struct cg_tensor *t, int64_t max_elems, char *buf, size_t size)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    cg_tensor_print(t, f, max_elems);
    rewind(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_print(void **state)
{
    (void)state;
    char buf[512];
    const double vals[6] = {1, 2.5, -3, 0.125, 1e-7, 123456789};
    struct cg_tensor *w = cg_tensor_from_doubles(NULL, CG_F64, CG_SHAPE(2, 3), vals);
    cg_tensor_set_name(w, "w");
    assert_string_equal(print_to_string(w, -1, buf, sizeof buf),
                        "tensor 'w' [2,3] f64 = [1, 2.5, -3\n   0.125, 1e-07, 1.23457e+08]\n");
    assert_string_equal(print_to_string(w, 4, buf, sizeof buf),
                        "tensor 'w' [2,3] f64 = [1, 2.5, -3\n   0.125, ...]\n");
    assert_string_equal(print_to_string(w, 0, buf, sizeof buf), "tensor 'w' [2,3] f64 = [...]\n");
    struct cg_tensor *s = cg_tensor_full(NULL, CG_F32, 0, NULL, 0.5);
    assert_string_equal(print_to_string(s, 10, buf, sizeof buf), "tensor '' [] f32 = [0.5]\n");
    assert_string_equal(print_to_string(NULL, 10, buf, sizeof buf), "tensor '' (null)\n");
    cg_tensor_print(w, NULL, 3); /* NULL stream: ignored */
    cg_tensor_free(w), cg_tensor_free(s);
}

static void test_set_name(void **state)
{
    (void)state;
    struct cg_tensor *t = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(1));
    assert_ptr_equal(cg_tensor_set_name(t, "0.weight"), t);
    assert_string_equal(t->name, "0.weight");
    char longname[100];
    memset(longname, 'a', sizeof longname - 1);
    longname[99] = '\0';
    cg_tensor_set_name(t, longname);
    assert_int_equal(strlen(t->name), CG_NAME_MAX - 1); /* truncated, terminated */
    assert_memory_equal(t->name, longname, CG_NAME_MAX - 1);
    cg_tensor_set_name(t, NULL);
    assert_string_equal(t->name, "");
    assert_null(cg_tensor_set_name(NULL, "x"));
    cg_tensor_free(t);
}

static void test_requires_grad_allocates_grad(void **state)
{
    (void)state;
    struct cg_tensor *p = cg_tensor_ones(NULL, CG_F64, CG_SHAPE(3, 2));
    size_t before = cg_alloc_count();
    assert_int_equal(cg_tensor_requires_grad(p, true), CG_OK);
    assert_int_equal(cg_alloc_count(), before + 2); /* grad header + data, now, not in the step */
    assert_true(p->flags & CG_REQUIRES_GRAD);
    assert_non_null(p->grad);
    assert_int_equal(p->grad->dtype, CG_F64);
    assert_true(cg_tensor_same_shape(p, p->grad));
    assert_null(p->grad->tape);
    for (int64_t i = 0; i < 6; i++) assert_true(cg_tensor_at(p->grad, i) == 0.0);
    struct cg_tensor *g = p->grad;
    assert_int_equal(cg_tensor_requires_grad(p, true), CG_OK); /* idempotent */
    assert_ptr_equal(p->grad, g);
    assert_int_equal(cg_alloc_count(), before + 2);
    cg_tensor_fill(p->grad, 3.0);
    cg_tensor_zero_grad(p);
    for (int64_t i = 0; i < 6; i++) assert_true(cg_tensor_at(p->grad, i) == 0.0);
    assert_int_equal(cg_tensor_requires_grad(p, false), CG_OK);
    assert_null(p->grad);
    assert_false(p->flags & CG_REQUIRES_GRAD);
    cg_tensor_zero_grad(p); /* no grad: nothing to do */

    /* A tape tensor gets its grad during backward, not here. */
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *t = cg_tensor_ones(tape, CG_F32, CG_SHAPE(2));
    assert_int_equal(cg_tensor_requires_grad(t, true), CG_OK);
    assert_true(t->flags & CG_REQUIRES_GRAD);
    assert_null(t->grad);
    CG_EXPECT_MISUSE(cg_tensor_requires_grad(NULL, true), "cg_tensor_requires_grad", "NULL");
    cg_tensor_free(p);
    cg_tape_free(tape);
}

static void test_free_tape_tensor_is_misuse(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *t = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(2, 2));
    cg_tensor_set_name(t, "activations");
    CG_EXPECT_MISUSE(cg_tensor_free(t), "cg_tensor_free", "'activations'", "belongs to a tape",
                     "cg_tape_reset");
    cg_tensor_free(NULL); /* ignored, no misuse */
    assert_true(cg_tensor_at(t, 3) == 0.0); /* still alive */
    cg_tape_free(tape);
}

static void test_same_shape(void **state)
{
    (void)state;
    struct cg_tensor *a = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(2, 3));
    struct cg_tensor *b = cg_tensor_zeros(NULL, CG_F64, CG_SHAPE(2, 3));
    struct cg_tensor *c = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(3, 2));
    struct cg_tensor *d = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(2, 3, 1));
    assert_true(cg_tensor_same_shape(a, b)); /* dtype is not part of the shape */
    assert_false(cg_tensor_same_shape(a, c));
    assert_false(cg_tensor_same_shape(a, d));
    cg_tensor_free(a), cg_tensor_free(b), cg_tensor_free(c), cg_tensor_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_helpers),
        cmocka_unit_test(test_constant_creation),
        cmocka_unit_test(test_from_data_and_doubles),
        cmocka_unit_test(test_arange_matches_torch),
        cmocka_unit_test(test_linspace_matches_torch),
        cmocka_unit_test(test_random_creation),
        cmocka_unit_test(test_tape_creation_uses_arena),
        cmocka_unit_test(test_get_set_at_item),
        cmocka_unit_test(test_copy_to_detach),
        cmocka_unit_test(test_copy_into),
        cmocka_unit_test(test_convert_in_place),
        cmocka_unit_test(test_reshape_is_view),
        cmocka_unit_test(test_shape_str),
        cmocka_unit_test(test_print),
        cmocka_unit_test(test_set_name),
        cmocka_unit_test(test_requires_grad_allocates_grad),
        cmocka_unit_test(test_free_tape_tensor_is_misuse),
        cmocka_unit_test(test_same_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
