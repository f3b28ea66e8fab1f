/* Helpers shared by the convolution kernel tests (test_conv_rows.c,
 * test_conv_winograd.c).  Include after cmocka's headers. */
#ifndef CG_TEST_CONV_CHECK_H
#define CG_TEST_CONV_CHECK_H

#include <cgrad.h>

/* A persistent tensor whose element i is scale sin(0.7 i + 0.3): values
 * that differ everywhere, so a misplaced index shows.  Fails the test if
 * it cannot be made. */
struct cg_tensor *cg_test_wave(enum cg_dtype dt, int ndim, const int64_t *shape, double scale);

/* Asserts that cg_conv2d_relu_max_pool2d of wave-filled x [n, c, h, wd],
 * weights [o, c, 3, 3] and bias [o] (default geometry) equals
 * max_pool2d(relu(conv2d(x, w, b)), 2) bit for bit: the fused op takes
 * the same kernel as the unfused convolution. */
void cg_test_fused_pool_matches(int64_t n, int64_t c, int64_t h, int64_t wd, int64_t o);

/* Whether cgrad's own AVX2 convolution kernels should run on this CPU: AVX2
 * and FMA, and no AVX-512 or only Zen 4's half-width one (read from
 * /proc/cpuinfo where it exists: vendor AuthenticAMD, cpu family 25). */
bool cg_test_own_conv_kernels_expected(void);

#endif
