/* im2col against its definition, element by element, over row lengths
 * that cover its short-row copy (shorter than, equal to and longer than a
 * 32-byte block, with and without a partial last block) and the padding
 * and stride paths; then col2im's one-pass path for 3-wide, stride-1 windows against the general
 * loop's order of additions (kernel row, kernel column, output position),
 * bit for bit, in f32 and f64 and over a few row geometries. */
#include "cg_test.h"
#include "im2col.h"

#include <stdlib.h>
#include <string.h>

/* dx [c, h, w] += col2im(col), the additions in the general loop's order. */
static void reference(double *dx, const double *col, int64_t c, int64_t h, int64_t w,
                      const struct cg_window *k, int64_t oh, int64_t ow, bool f32)
{
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t i = 0; i < k->kh; i++)
            for (int64_t j = 0; j < k->kw; j++)
                for (int64_t oy = 0; oy < oh; oy++) {
                    int64_t iy = oy * k->sh - k->ph + i * k->dh;
                    if (iy < 0 || iy >= h) continue;
                    for (int64_t ox = 0; ox < ow; ox++) {
                        double *d = &dx[(ci * h + iy) * w + ox + j];
                        double v = col[(((ci * k->kh + i) * k->kw + j) * oh + oy) * ow + ox];
                        *d = f32 ? (double)((float)*d + (float)v) : *d + v;
                    }
                }
}

static void check(enum cg_dtype dt, int64_t c, int64_t h, int64_t w, struct cg_window k)
{
    bool f32 = dt == CG_F32;
    int64_t oh = cg_window_out(h, k.kh, k.sh, k.ph, k.dh), ow = w - 2;
    int64_t ncol = c * k.kh * 3 * oh * ow, nx = c * h * w;
    double *col = malloc(sizeof *col * (size_t)ncol), *want = malloc(sizeof *want * (size_t)nx);
    void *colt = malloc(8 * (size_t)ncol), *dx = malloc(8 * (size_t)nx);
    assert_non_null(col);
    assert_non_null(want);
    assert_non_null(colt);
    assert_non_null(dx);
    srand(7);
    /* values of mixed magnitude, so a change in the order of additions
     * changes the rounding */
    for (int64_t e = 0; e < ncol; e++) col[e] = (rand() % 2001 - 1000) * (1.0 + e % 7 * 1e-3);
    for (int64_t e = 0; e < nx; e++) want[e] = (rand() % 2001 - 1000) * 1e-4;
    for (int64_t e = 0; e < ncol; e++) {
        if (f32) ((float *)colt)[e] = (float)(col[e] = (float)col[e]);
        else ((double *)colt)[e] = col[e];
    }
    for (int64_t e = 0; e < nx; e++) {
        if (f32) ((float *)dx)[e] = (float)(want[e] = (float)want[e]);
        else ((double *)dx)[e] = want[e];
    }
    cg_col2im_add(dt, dx, colt, c, h, w, &k, oh, ow);
    reference(want, col, c, h, w, &k, oh, ow, f32);
    for (int64_t e = 0; e < nx; e++) {
        double got = f32 ? (double)((float *)dx)[e] : ((double *)dx)[e];
        if (memcmp(&got, &want[e], sizeof got) != 0)
            fail_msg("element %lld: %.17g, want %.17g", (long long)e, got, want[e]);
    }
    free(col);
    free(want);
    free(colt);
    free(dx);
}

/* x[c][iy][ix] = a distinct value; col checked against the definition. */
static void check_im2col(enum cg_dtype dt, int64_t c, int64_t h, int64_t w, struct cg_window k)
{
    bool f32 = dt == CG_F32;
    int64_t oh = cg_window_out(h, k.kh, k.sh, k.ph, k.dh);
    int64_t ow = cg_window_out(w, k.kw, k.sw, k.pw, k.dw);
    int64_t ncol = c * k.kh * k.kw * oh * ow, nx = c * h * w;
    void *x = malloc(8 * (size_t)nx), *col = malloc(8 * (size_t)ncol);
    assert_non_null(x);
    assert_non_null(col);
    for (int64_t e = 0; e < nx; e++) {
        if (f32) ((float *)x)[e] = (float)(e + 1);
        else ((double *)x)[e] = (double)(e + 1) + 0.5;
    }
    memset(col, 0xff, 8 * (size_t)ncol); /* NaN: every element must be written */
    cg_im2col(dt, col, x, c, h, w, &k, oh, ow);
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t i = 0; i < k.kh; i++)
            for (int64_t j = 0; j < k.kw; j++)
                for (int64_t oy = 0; oy < oh; oy++)
                    for (int64_t ox = 0; ox < ow; ox++) {
                        int64_t iy = oy * k.sh - k.ph + i * k.dh, ix = ox * k.sw - k.pw + j * k.dw;
                        int64_t xe = (ci * h + iy) * w + ix;
                        bool in = iy >= 0 && iy < h && ix >= 0 && ix < w;
                        double want = !in ? 0 : f32 ? (double)((float *)x)[xe] : ((double *)x)[xe];
                        int64_t e = (((ci * k.kh + i) * k.kw + j) * oh + oy) * ow + ox;
                        double got = f32 ? (double)((float *)col)[e] : ((double *)col)[e];
                        if (got != want)
                            fail_msg("%s %lldx%lldx%lld k %lldx%lld s %lld p %lld d %lld: col "
                                     "(%lld,%lld,%lld,%lld,%lld) = %g, want %g",
                                     f32 ? "f32" : "f64", (long long)c, (long long)h,
                                     (long long)w, (long long)k.kh, (long long)k.kw,
                                     (long long)k.sw, (long long)k.pw, (long long)k.dw,
                                     (long long)ci, (long long)i, (long long)j, (long long)oy,
                                     (long long)ox, got, want);
                    }
    free(x);
    free(col);
}

static void im2col_matches_definition(void **state)
{
    (void)state;
    enum cg_dtype dts[2] = {CG_F32, CG_F64};
    for (int d = 0; d < 2; d++) {
        for (int64_t w = 1; w <= 40; w++) { /* stride-1 rows of every length up to 40 */
            check_im2col(dts[d], 2, 4, w, (struct cg_window){1, 1, 1, 1, 0, 0, 1, 1});
            if (w >= 3) check_im2col(dts[d], 2, 5, w, (struct cg_window){3, 3, 1, 1, 0, 0, 1, 1});
            check_im2col(dts[d], 1, 4, w, (struct cg_window){3, 3, 1, 1, 1, 1, 1, 1});
            check_im2col(dts[d], 1, 6, w, (struct cg_window){2, 3, 1, 1, 2, 2, 2, 1});
        }
        check_im2col(dts[d], 3, 7, 5, (struct cg_window){3, 3, 2, 2, 1, 1, 1, 1});
        check_im2col(dts[d], 2, 9, 11, (struct cg_window){5, 3, 2, 1, 2, 0, 2, 2});
        check_im2col(dts[d], 32, 26, 26, (struct cg_window){3, 3, 1, 1, 0, 0, 1, 1});
    }
}

static void three_wide_matches_general_order(void **state)
{
    (void)state;
    enum cg_dtype dts[2] = {CG_F32, CG_F64};
    for (int d = 0; d < 2; d++) {
        check(dts[d], 2, 9, 26, (struct cg_window){3, 3, 1, 1, 0, 0, 1, 1});
        check(dts[d], 3, 8, 4, (struct cg_window){2, 3, 2, 1, 1, 0, 2, 1});
        check(dts[d], 1, 5, 21, (struct cg_window){1, 3, 1, 1, 0, 0, 1, 1});
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(im2col_matches_definition),
        cmocka_unit_test(three_wide_matches_general_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
