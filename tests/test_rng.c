/* PCG32 generator: reference stream, bounded integers, uniform and normal
 * doubles, reproducibility.  Expected values come from the published
 * pcg32-demo output (seed 42, sequence 54) and from an independent Python
 * re-implementation of PCG32, Lemire's bounded method and the 53-bit
 * uniform / Box-Muller transforms documented in rng.h. */
#include "cg_test.h"

#include <math.h>
#include <string.h>

/* cg_rng_seed(42) == pcg32_srandom(42, 54): the pcg32-demo's first line. */
static void test_seed42_matches_pcg_reference(void **state)
{
    (void)state;
    static const uint32_t expected[8] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u, 0x83d2f293u,
                                         0xbfa4784bu, 0xcbed606eu, 0xbfc6a3adu, 0x812fff6du};
    struct cg_rng rng = cg_rng_seed(42);
    /* State after seeding, from the reference algorithm: inc = 2*54+1. */
    assert_int_equal(rng.inc, 109u);
    assert_true(rng.state == 1753877967969059832ull);
    for (int i = 0; i < 8; i++) assert_int_equal(cg_rng_u32(&rng), expected[i]);
}

/* The bulk fill is the same stream as one call per value, and leaves the
 * generator where those calls would, for lengths around the lane count. */
static void test_fill_equals_single_draws(void **state)
{
    (void)state;
    static const int64_t lengths[] = {0, 1, 7, 8, 9, 15, 16, 17, 24, 100, 1003, 4099};
    uint32_t got[4099];
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        struct cg_rng a = cg_rng_seed(42 + k), b = a;
        cg_rng_u32(&a), cg_rng_u32(&b); /* not at a fresh seed */
        cg_rng_fill_u32(&a, got, lengths[k]);
        for (int64_t i = 0; i < lengths[k]; i++) assert_int_equal(got[i], cg_rng_u32(&b));
        assert_true(a.state == b.state && a.inc == b.inc);
        assert_int_equal(cg_rng_u32(&a), cg_rng_u32(&b));
    }
    struct cg_rng c = cg_rng_seed(3), d = c;
    cg_rng_fill_u32(&c, got, -5); /* draws nothing */
    assert_true(c.state == d.state);
}

static void test_seed0_reference(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(0);
    assert_int_equal(cg_rng_u32(&rng), 0x47c28b93u);
    assert_int_equal(cg_rng_u32(&rng), 0xb98f6a27u);
    assert_int_equal(cg_rng_u32(&rng), 0x7d3dcb1eu);
    assert_true(rng.inc & 1u);
}

static void test_same_seed_same_stream(void **state)
{
    (void)state;
    struct cg_rng a = cg_rng_seed(12345), b = cg_rng_seed(12345), c = cg_rng_seed(12346);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = cg_rng_u32(&a);
        assert_int_equal(x, cg_rng_u32(&b));
        differ += x != cg_rng_u32(&c);
    }
    assert_true(differ > 990); /* a neighbouring seed gives an unrelated stream */
}

/* The struct is plain data: a copy continues exactly where the original was. */
static void test_struct_copy_resumes_stream(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(7);
    for (int i = 0; i < 37; i++) cg_rng_u32(&rng);
    struct cg_rng saved = rng;
    double u[5], n[5];
    uint32_t k[5];
    for (int i = 0; i < 5; i++) {
        u[i] = cg_rng_uniform(&rng);
        n[i] = cg_rng_normal(&rng);
        k[i] = cg_rng_below(&rng, 1000);
    }
    for (int i = 0; i < 5; i++) {
        assert_true(cg_rng_uniform(&saved) == u[i]);
        assert_true(cg_rng_normal(&saved) == n[i]);
        assert_int_equal(cg_rng_below(&saved, 1000), k[i]);
    }
    assert_memory_equal(&saved, &rng, sizeof rng);
}

static void test_below_reference_values(void **state)
{
    (void)state;
    static const uint32_t six[10] = {3, 2, 4, 3, 4, 4, 4, 3, 5, 5};
    struct cg_rng rng = cg_rng_seed(42);
    for (int i = 0; i < 10; i++) assert_int_equal(cg_rng_below(&rng, 6), six[i]);

    /* n = 3*2^30: threshold 2^30, so one of these five draws is rejected and
     * the five results consume six outputs (the 7th reference output follows). */
    static const uint32_t big[5] = {2030371337u, 1551234822u, 1658729966u, 2411420216u,
                                    2565998674u};
    rng = cg_rng_seed(42);
    for (int i = 0; i < 5; i++) assert_int_equal(cg_rng_below(&rng, 3u << 30), big[i]);
    assert_int_equal(cg_rng_u32(&rng), 0xbfc6a3adu);
}

static void test_below_in_range(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(3);
    static const uint32_t ns[] = {1, 2, 3, 7, 10, 1000, 65537, 0x80000001u, 0xffffffffu};
    for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
        for (int i = 0; i < 2000; i++) assert_true(cg_rng_below(&rng, ns[j]) < ns[j]);
    for (int i = 0; i < 100; i++) assert_int_equal(cg_rng_below(&rng, 1), 0);
}

/* Chi-square over n = 10 buckets and a check that defeats modulo reduction:
 * for n = 3*2^30, `u32 % n` would put half of the mass in [0, 2^30) instead
 * of a third. */
static void test_below_unbiased(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(2024);
    enum { N = 100000, K = 10 };
    int count[K] = {0};
    for (int i = 0; i < N; i++) count[cg_rng_below(&rng, K)]++;
    double chi2 = 0;
    for (int k = 0; k < K; k++) {
        double d = count[k] - (double)N / K;
        chi2 += d * d / ((double)N / K);
    }
    assert_true(chi2 < 27.9); /* 9 degrees of freedom, p = 0.001 */

    int low = 0;
    enum { M = 60000 };
    for (int i = 0; i < M; i++) low += cg_rng_below(&rng, 3u << 30) < (1u << 30);
    /* expected M/3 = 20000, sd ~115; modulo bias would give ~30000 */
    assert_true(fabs(low - M / 3.0) < 600);
}

static void test_uniform_reference_and_range(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(42);
    /* (hi27 * 2^26 + lo26) / 2^53 with the reference outputs. */
    assert_true(cg_rng_uniform(&rng) == 0.6303102186438938);
    assert_true(cg_rng_uniform(&rng) == 0.7270080560068604);
    assert_true(cg_rng_uniform(&rng) == 0.7486033647998483);

    enum { N = 200000 };
    double sum = 0, sum2 = 0, lo = 1, hi = 0;
    for (int i = 0; i < N; i++) {
        double u = cg_rng_uniform(&rng);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        sum2 += u * u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    double mean = sum / N, var = sum2 / N - mean * mean;
    CG_ASSERT_CLOSE(mean, 0.5, 0.004, 0);      /* sd of the mean ~0.00065 */
    CG_ASSERT_CLOSE(var, 1.0 / 12.0, 0.002, 0); /* sd ~0.00019 */
    assert_true(lo < 1e-4 && hi > 1 - 1e-4);
}

static void test_normal_reference_and_moments(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(42);
    /* sqrt(-2 log(1 - u1)) cos(2 pi u2) with the reference uniforms. */
    CG_ASSERT_CLOSE(cg_rng_normal(&rng), -0.20309084013510822, 1e-14, 1e-12);
    CG_ASSERT_CLOSE(cg_rng_normal(&rng), -0.009138601077208498, 1e-14, 1e-12);
    CG_ASSERT_CLOSE(cg_rng_normal(&rng), 0.6786732010857986, 1e-14, 1e-12);

    enum { N = 200000 };
    double sum = 0, sum2 = 0, sum4 = 0;
    int beyond2 = 0;
    for (int i = 0; i < N; i++) {
        double z = cg_rng_normal(&rng);
        assert_true(isfinite(z));
        sum += z;
        sum2 += z * z;
        sum4 += z * z * z * z;
        beyond2 += fabs(z) > 2.0;
    }
    double mean = sum / N, var = sum2 / N - mean * mean;
    CG_ASSERT_CLOSE(mean, 0.0, 0.012, 0); /* 5 sd of the mean */
    CG_ASSERT_CLOSE(var, 1.0, 0.016, 0);  /* 5 sd of the variance */
    CG_ASSERT_CLOSE(sum4 / N, 3.0, 0.11, 0); /* 5 sd */
    /* P(|z| > 2) = 0.0455 */
    CG_ASSERT_CLOSE((double)beyond2 / N, 0.0455, 0.0025, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed42_matches_pcg_reference),
        cmocka_unit_test(test_seed0_reference),
        cmocka_unit_test(test_fill_equals_single_draws),
        cmocka_unit_test(test_same_seed_same_stream),
        cmocka_unit_test(test_struct_copy_resumes_stream),
        cmocka_unit_test(test_below_reference_values),
        cmocka_unit_test(test_below_in_range),
        cmocka_unit_test(test_below_unbiased),
        cmocka_unit_test(test_uniform_reference_and_range),
        cmocka_unit_test(test_normal_reference_and_moments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
