/* Plots: the PNG has the figure's size, lines land where their data says
 * (read back with cairo), dashed lines draw fewer pixels than solid ones,
 * a log axis places decades evenly, and every misuse and I/O error is
 * reported with its message. */
#include "cg_test.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/cg_plot_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    cg_test_remove_tree(dir);
    cg_plot_release_caches();
    return 0;
}

/* Pixels of the first palette colour (blue 31,119,180) per image row, and
 * their total; the columns' min/max x of those pixels. */
struct blue {
    int width, height, total, rows[2000], min_x, max_x;
};

static void read_blue(const char *path, struct blue *b)
{
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    memset(b, 0, sizeof *b);
    b->width = cairo_image_surface_get_width(s);
    b->height = cairo_image_surface_get_height(s);
    b->min_x = b->width;
    b->max_x = -1;
    const unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < b->height && y < 2000; y++)
        for (int x = 0; x < b->width; x++) {
            uint32_t px;
            memcpy(&px, d + (size_t)y * (size_t)stride + (size_t)x * 4, 4);
            int r = (px >> 16) & 0xff, g = (px >> 8) & 0xff, bl = px & 0xff;
            if (abs(r - 31) < 12 && abs(g - 119) < 12 && abs(bl - 180) < 12) {
                b->rows[y]++;
                b->total++;
                if (x < b->min_x) b->min_x = x;
                if (x > b->max_x) b->max_x = x;
            }
        }
    cairo_surface_destroy(s);
}

static const char *path_of(const char *name)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* A horizontal line at y = 1 between y = 0 and y = 3 lines (unlabelled,
 * other colours) lies in a thin band a third of the way up the plot area. */
static void test_line_position_and_size(void **s)
{
    (void)s;
    struct cg_figure *fig = cg_figure_new(1, 2, 400, 300);
    assert_non_null(fig);
    double x[] = {0, 1, 2, 3}, one[] = {1, 1, 1, 1}, zero[] = {0, 0, 0, 0}, two[] = {3, 3, 3, 3};
    assert_int_equal(cg_plot_line(fig, 0, NULL, 4, x, one, 0), CG_OK);
    assert_int_equal(cg_plot_line(fig, 0, NULL, 4, x, zero, 0), CG_OK);
    assert_int_equal(cg_plot_line(fig, 0, NULL, 4, x, two, 0), CG_OK);
    assert_int_equal(cg_plot_labels(fig, 0, "title", "x", "y"), CG_OK);
    const char *p = path_of("line.png");
    assert_int_equal(cg_figure_save_png(fig, p), CG_OK);
    struct blue b;
    read_blue(p, &b);
    assert_int_equal(b.width, 800);
    assert_int_equal(b.height, 300);
    assert_true(b.total > 200);
    /* Plot area rows 34..248 (margins 34 top, 52 bottom): y = 1 at ~177. */
    int lo = b.height, hi = -1;
    for (int y = 0; y < b.height; y++)
        if (b.rows[y]) lo = y < lo ? y : lo, hi = y > hi ? y : hi;
    assert_true(lo >= 174 && hi <= 180);
    /* Panel 0 only, spanning the plot area (x 72..382). */
    assert_true(b.min_x >= 70 && b.min_x <= 76);
    assert_true(b.max_x >= 378 && b.max_x <= 384);
    cg_figure_free(fig);
}

static int blue_pixels(unsigned style, bool log_x, double *x, int n)
{
    struct cg_figure *fig = cg_figure_new(1, 1, 400, 300);
    double y[16];
    for (int i = 0; i < n; i++) y[i] = 1;
    cg_plot_line(fig, 0, NULL, (size_t)n, x, y, style);
    double z[16] = {0}, t[16];
    for (int i = 0; i < n; i++) t[i] = 2;
    cg_plot_line(fig, 0, NULL, (size_t)n, x, z, 0);
    cg_plot_line(fig, 0, NULL, (size_t)n, x, t, 0);
    cg_plot_log_x(fig, 0, log_x);
    assert_int_equal(cg_figure_save_png(fig, path_of("style.png")), CG_OK);
    cg_figure_free(fig);
    struct blue b;
    read_blue(path_of("style.png"), &b);
    return b.total;
}

static void test_styles(void **s)
{
    (void)s;
    double x[] = {0, 1, 2, 3};
    int solid = blue_pixels(0, false, x, 4), dashed = blue_pixels(CG_PLOT_DASHED, false, x, 4);
    int markers = blue_pixels(CG_PLOT_MARKERS | CG_PLOT_NO_LINE, false, x, 4);
    assert_true(dashed < solid * 0.8 && dashed > solid * 0.4);
    assert_true(markers > 0 && markers < solid / 4);
    /* x <= 0 or NaN is left out on a log axis; the rest still draws. */
    double lx[] = {-1, NAN, 1, 10, 100};
    assert_true(blue_pixels(0, true, lx, 5) > 200);
    /* A range too wide for a double still draws (ends of the axis). */
    double big[] = {-1.7e308, 1.7e308};
    assert_true(blue_pixels(0, false, big, 2) > 0);
}

static void test_errors(void **s)
{
    (void)s;
    CG_EXPECT_MISUSE(cg_figure_new(0, 1, 400, 300), "cg_figure_new", "0 x 1 panels");
    CG_EXPECT_MISUSE(cg_figure_new(1, 1, 100, 300), "cg_figure_new", "160..4000");
    struct cg_figure *fig = cg_figure_new(1, 2, 400, 300);
    double x[] = {0, 1};
    CG_EXPECT_MISUSE(cg_plot_line(fig, 2, "a", 2, x, x, 0), "cg_plot_line", "panel 2 out of range",
                     "(0..1)");
    CG_EXPECT_MISUSE(cg_plot_line(fig, 0, "a", 0, x, x, 0), "cg_plot_line", "0 points");
    CG_EXPECT_MISUSE(cg_plot_line(fig, 0, "a", 2, NULL, x, 0), "x NULL");
    CG_EXPECT_MISUSE(cg_plot_ylim(fig, 0, 1, 1), "cg_plot_ylim", "[1, 1]");
    CG_EXPECT_MISUSE(cg_plot_labels(NULL, 0, "t", NULL, NULL), "fig is NULL");
    CG_EXPECT_MISUSE(cg_figure_save_png(fig, NULL), "cg_figure_save_png", "path is NULL");
    for (int i = 0; i < 8; i++) assert_int_equal(cg_plot_line(fig, 1, "l", 2, x, x, 0), CG_OK);
    CG_EXPECT_MISUSE(cg_plot_line(fig, 1, "l", 2, x, x, 0), "already has 8 lines");
    const char *bad = path_of("missing/dir/p.png");
    assert_int_equal(cg_figure_save_png(fig, bad), CG_ERR_IO);
    assert_non_null(strstr(cg_last_error(), bad));
    assert_int_equal(access(bad, F_OK), -1);
    cg_figure_free(fig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_position_and_size),
        cmocka_unit_test(test_styles),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
