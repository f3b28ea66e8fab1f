/* The float tanh of the unary kernels (core/tanh_f32.h): within 2 ulp of
 * double tanh on a sample of all floats and every float near its branch
 * points, exact special values, and the vectorized kernel behind cg_tanh
 * equal to the inline function bit for bit.  `test_tanh_f32 --all` checks
 * all 2^32 floats instead (a few minutes). */
#include "cg_test.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tanh_f32.h"

static bool all_floats;

static float from_bits(uint32_t b)
{
    float x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* |got - tanh(x)| in units of the last place of the float nearest tanh(x). */
static double ulp_error(float x, float got)
{
    double ref = tanh((double)x);
    int e;
    frexp(fabs(ref), &e);
    double ulp = ldexp(1.0, e - 24 < -149 ? -149 : e - 24);
    return fabs((double)got - ref) / ulp;
}

struct worst {
    double ulps;
    float x;
    uint64_t checked;
};

static void check_one(struct worst *w, float x)
{
    float y = cg_tanh_f32(x);
    w->checked++;
    if (x != x) {
        if (y == y) fail_msg("tanh(%a) = %a, want NaN", (double)x, (double)y);
        return;
    }
    double e = ulp_error(x, y);
    if (e > w->ulps) w->ulps = e, w->x = x;
    if (e > 2.0)
        fail_msg("tanh(%a) = %a is %.2f ulp from %a", (double)x, (double)y, e, tanh((double)x));
}

static void test_special_values(void **state)
{
    (void)state;
    assert_true(cg_tanh_f32(0.0f) == 0.0f && !signbit(cg_tanh_f32(0.0f)));
    assert_true(cg_tanh_f32(-0.0f) == 0.0f && signbit(cg_tanh_f32(-0.0f)));
    assert_true(cg_tanh_f32(INFINITY) == 1.0f && cg_tanh_f32(-INFINITY) == -1.0f);
    assert_true(cg_tanh_f32(FLT_MAX) == 1.0f && cg_tanh_f32(-FLT_MAX) == -1.0f);
    assert_true(isnan(cg_tanh_f32(NAN)) && isnan(cg_tanh_f32(-NAN)));
    float sub = from_bits(0x00000005u); /* subnormal: tanh x = x */
    assert_true(cg_tanh_f32(sub) == sub && cg_tanh_f32(-sub) == -sub);
    assert_true(cg_tanh_f32(FLT_MIN) == FLT_MIN);
    for (float x = 9.0f; x < 12.0f; x += 0.25f)
        assert_true(cg_tanh_f32(x) == (float)tanh((double)x));
}

/* Every float within `radius` ulp of c, both signs. */
static void check_window(struct worst *w, float c, uint32_t radius)
{
    uint32_t b;
    memcpy(&b, &c, sizeof b);
    for (uint32_t u = b - radius; u != b + radius; u++) {
        check_one(w, from_bits(u));
        check_one(w, from_bits(u | 0x80000000u));
    }
}

static void test_within_two_ulp(void **state)
{
    (void)state;
    struct worst w = {0, 0, 0};
    if (all_floats) {
        for (uint64_t u = 0; u <= UINT32_MAX; u++) check_one(&w, from_bits((uint32_t)u));
    } else {
        /* A stride prime to every power of two meets every exponent and
         * mantissa pattern; the windows cover the two branch points. */
        for (uint64_t u = 0; u <= UINT32_MAX; u += 4099) check_one(&w, from_bits((uint32_t)u));
        check_window(&w, CG_TANH_POLY_MAX, 1u << 16);
        check_window(&w, CG_TANH_ONE_FROM, 1u << 16);
        check_window(&w, 1.0f, 1u << 12);
    }
    printf("tanh f32: worst %.3f ulp at %a over %llu floats\n", w.ulps, (double)w.x,
           (unsigned long long)w.checked);
}

/* The unary op's kernel (built per ISA, vectorized) gives the inline
 * function's bits, and tanhshrink is x - tanh(x) with it. */
static void test_kernel_equals_inline(void **state)
{
    (void)state;
    enum { N = 1037 };
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_empty(tape, CG_F32, CG_SHAPE(N));
    assert_non_null(x);
    float *xs = x->data;
    for (int i = 0; i < N; i++) xs[i] = (float)(i - N / 2) * 0.0123f;
    xs[0] = -0.0f;
    xs[1] = NAN;
    xs[2] = INFINITY;
    struct cg_tensor *y = cg_tanh(tape, x), *s = cg_tanhshrink(tape, x);
    assert_non_null(y);
    assert_non_null(s);
    for (int i = 0; i < N; i++) {
        float want = cg_tanh_f32(xs[i]), got = ((float *)y->data)[i];
        assert_memory_equal(&got, &want, sizeof got);
        float shrink = xs[i] - want, got_s = ((float *)s->data)[i];
        if (i != 1) assert_memory_equal(&got_s, &shrink, sizeof got_s);
    }
    cg_tape_free(tape);
}

int main(int argc, char **argv)
{
    all_floats = argc > 1 && !strcmp(argv[1], "--all");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_within_two_ulp),
        cmocka_unit_test(test_kernel_equals_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
