#include "cg_test.h"
#include "conv_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Zen 4, told by /proc/cpuinfo (independently of the library's cpuid). */
static bool cpuinfo_says_zen4(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    char line[4096];
    bool amd = false, family25 = false;
    /* The first processor's block ends at the first empty line. */
    while (fgets(line, sizeof line, f) && line[0] != '\n') {
        if (strncmp(line, "vendor_id", 9) == 0) amd = strstr(line, "AuthenticAMD") != NULL;
        if (strncmp(line, "cpu family", 10) == 0) family25 = atoi(strchr(line, ':') + 1) == 25;
    }
    fclose(f);
    return amd && family25;
}

bool cg_test_own_conv_kernels_expected(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           (!__builtin_cpu_supports("avx512f") || cpuinfo_says_zen4());
#else
    return false;
#endif
}

struct cg_tensor *cg_test_wave(enum cg_dtype dt, int ndim, const int64_t *shape, double scale)
{
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= shape[d];
    double *v = malloc(sizeof *v * (size_t)numel);
    assert_non_null(v);
    for (int64_t i = 0; i < numel; i++) v[i] = scale * sin(0.7 * (double)i + 0.3);
    struct cg_tensor *t = cg_tensor_from_doubles(NULL, dt, ndim, shape, v);
    free(v);
    assert_non_null(t);
    return t;
}

void cg_test_fused_pool_matches(int64_t n, int64_t c, int64_t h, int64_t wd, int64_t o)
{
    struct cg_tensor *x = cg_test_wave(CG_F32, CG_SHAPE(n, c, h, wd), 1.0);
    struct cg_tensor *w = cg_test_wave(CG_F32, CG_SHAPE(o, c, 3, 3), 0.3);
    struct cg_tensor *b = cg_test_wave(CG_F32, CG_SHAPE(o), 0.5);
    struct cg_tape *tape = cg_tape_new();
    assert_non_null(tape);
    struct cg_tensor *fused = cg_conv2d_relu_max_pool2d(tape, x, w, b, NULL);
    struct cg_tensor *unfused = cg_max_pool2d(tape, cg_relu(tape, cg_conv2d(tape, x, w, b, NULL)),
                                              2, 2, 2, 2, 0, 0, 1, 1);
    assert_non_null(fused);
    assert_non_null(unfused);
    size_t numel = 1;
    for (int d = 0; d < 4; d++) {
        assert_int_equal(fused->shape[d], unfused->shape[d]);
        numel *= (size_t)fused->shape[d];
    }
    assert_memory_equal(fused->data, unfused->data, numel * cg_dtype_size(fused->dtype));
    cg_tape_free(tape);
    cg_tensor_free(x);
    cg_tensor_free(w);
    cg_tensor_free(b);
}
