#include "cg_test.h"
#include "conv_check.h"

#include <math.h>
#include <stdlib.h>

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
