/* Drawing figures with cairo: axes with round-number ticks, grid, labels,
 * lines, legend.  Text uses cairo's own "sans-serif" face. */
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error_internal.h"
#include "plot_internal.h"

#define CG_PI 3.14159265358979323846

static const double palette[CG_PLOT_MAX_LINES][3] = {
    {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157},
    {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}};

enum { MARGIN_L = 72, MARGIN_R = 18, MARGIN_T = 34, MARGIN_B = 52, FONT = 13 };

struct axis {
    double lo, hi; /* data range shown (log10 of it on a log axis) */
    bool log;
    double ticks[32];
    int n_ticks;
    int decimals;
};

struct frame {
    double x0, y0, w, h; /* plot area in pixels */
    struct axis ax, ay;
};

static bool usable(const struct cg_plot_panel *p, double x, double y)
{
    return isfinite(x) && isfinite(y) && (!p->log_x || x > 0);
}

/* Ticks at multiples of 1, 2 or 5 times a power of ten, about 5 of them,
 * and the range widened to the outer ticks. */
static void linear_ticks(struct axis *a)
{
    if (!(a->hi > a->lo)) {
        double pad = a->lo != 0 ? fabs(a->lo) * 0.5 : 1.0;
        a->lo -= pad;
        a->hi += pad;
    }
    if (!isfinite(a->hi - a->lo)) { /* data near +-DBL_MAX: a tick at each end */
        a->n_ticks = 2;
        a->ticks[0] = a->lo, a->ticks[1] = a->hi;
        a->decimals = 0;
        return;
    }
    double raw = (a->hi - a->lo) / 5, e = floor(log10(raw)), f = raw / pow(10, e);
    double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * pow(10, e);
    a->lo = floor(a->lo / step + 1e-9) * step;
    a->hi = ceil(a->hi / step - 1e-9) * step;
    a->decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    a->n_ticks = 0;
    for (double t = a->lo; t <= a->hi + step * 1e-6 && a->n_ticks < 32; t += step)
        a->ticks[a->n_ticks++] = fabs(t) < step * 1e-9 ? 0 : t;
}

/* Decades, with 2 and 5 between them when the range is short. */
static void log_ticks(struct axis *a)
{
    a->lo = floor(a->lo + 1e-9);
    a->hi = ceil(a->hi - 1e-9);
    if (a->hi <= a->lo) a->hi = a->lo + 1;
    a->n_ticks = 0;
    bool fine = a->hi - a->lo <= 2;
    for (double d = a->lo; d <= a->hi && a->n_ticks < 30; d++) {
        a->ticks[a->n_ticks++] = d;
        if (fine && d < a->hi) {
            a->ticks[a->n_ticks++] = d + log10(2);
            a->ticks[a->n_ticks++] = d + log10(5);
        }
    }
}

static void fit_axes(const struct cg_plot_panel *p, struct frame *fr)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < p->n_lines; i++)
        for (size_t k = 0; k < p->lines[i].n; k++) {
            double x = p->lines[i].x[k], y = p->lines[i].y[k];
            if (!usable(p, x, y)) continue;
            if (p->log_x) x = log10(x);
            xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
        }
    if (xlo > xhi) xlo = 0, xhi = 1, ylo = 0, yhi = 1; /* nothing to show */
    fr->ax = (struct axis){.lo = xlo, .hi = xhi, .log = p->log_x};
    fr->ay = (struct axis){.lo = p->fixed_y ? p->ylo : ylo, .hi = p->fixed_y ? p->yhi : yhi};
    if (p->log_x) log_ticks(&fr->ax);
    else linear_ticks(&fr->ax);
    if (p->fixed_y) {
        double lo = fr->ay.lo, hi = fr->ay.hi;
        linear_ticks(&fr->ay);
        fr->ay.lo = lo, fr->ay.hi = hi; /* keep the requested range, ticks inside it */
    } else {
        linear_ticks(&fr->ay);
    }
}

/* Position of v in [lo, hi] as 0..1; halved first so that a span near
 * 2 * DBL_MAX does not overflow. */
static double frac(const struct axis *a, double v)
{
    return (0.5 * v - 0.5 * a->lo) / (0.5 * a->hi - 0.5 * a->lo);
}

static double px(const struct frame *fr, double x)
{
    return fr->x0 + frac(&fr->ax, fr->ax.log ? log10(x) : x) * fr->w;
}

static double py(const struct frame *fr, double y)
{
    return fr->y0 + fr->h - frac(&fr->ay, y) * fr->h;
}

/* Text anchored at (x, y): ax, ay in {0, 0.5, 1} pick the left/centre/right
 * and top/middle/bottom of its box. */
static void text(cairo_t *cr, const char *s, double x, double y, double ax, double ay)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, s);
}

static void tick_label(const struct axis *a, double t, char *buf, size_t size)
{
    if (a->log) snprintf(buf, size, "%g", pow(10, t));
    else snprintf(buf, size, "%.*f", a->decimals, t);
}

static void draw_axes(cairo_t *cr, const struct cg_plot_panel *p, const struct frame *fr)
{
    char buf[48];
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < fr->ax.n_ticks; i++) {
        double t = fr->ax.ticks[i];
        double x = fr->x0 + frac(&fr->ax, t) * fr->w;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, floor(x) + 0.5, fr->y0);
        cairo_line_to(cr, floor(x) + 0.5, fr->y0 + fr->h);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, floor(x) + 0.5, fr->y0 + fr->h);
        cairo_line_to(cr, floor(x) + 0.5, fr->y0 + fr->h + 5);
        cairo_stroke(cr);
        tick_label(&fr->ax, t, buf, sizeof buf);
        text(cr, buf, x, fr->y0 + fr->h + 8, 0.5, 0);
    }
    for (int i = 0; i < fr->ay.n_ticks; i++) {
        double t = fr->ay.ticks[i];
        if (t < fr->ay.lo - 1e-12 || t > fr->ay.hi + 1e-12) continue;
        double y = floor(py(fr, t)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, fr->x0, y);
        cairo_line_to(cr, fr->x0 + fr->w, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, fr->x0 - 5, y);
        cairo_line_to(cr, fr->x0, y);
        cairo_stroke(cr);
        tick_label(&fr->ay, t, buf, sizeof buf);
        text(cr, buf, fr->x0 - 8, y, 1, 0.5);
    }
    cairo_rectangle(cr, floor(fr->x0) + 0.5, floor(fr->y0) + 0.5, floor(fr->w), floor(fr->h));
    cairo_stroke(cr);
    text(cr, p->xlabel, fr->x0 + fr->w / 2, fr->y0 + fr->h + 30, 0.5, 0);
    cairo_save(cr);
    cairo_translate(cr, fr->x0 - MARGIN_L + 6, fr->y0 + fr->h / 2);
    cairo_rotate(cr, -CG_PI / 2);
    text(cr, p->ylabel, 0, 0, 0.5, 0);
    cairo_restore(cr);
    cairo_save(cr);
    cairo_set_font_size(cr, FONT + 2);
    text(cr, p->title, fr->x0 + fr->w / 2, fr->y0 - 10, 0.5, 1);
    cairo_restore(cr);
}

static void draw_line(cairo_t *cr, const struct cg_plot_panel *p, const struct frame *fr,
                      const struct cg_plot_line *l, const double *rgb)
{
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_set_line_width(cr, 2);
    double dash[] = {7, 4};
    cairo_set_dash(cr, dash, (l->style & CG_PLOT_DASHED) ? 2 : 0, 0);
    if (!(l->style & CG_PLOT_NO_LINE)) {
        bool pen = false;
        for (size_t k = 0; k < l->n; k++) {
            if (!usable(p, l->x[k], l->y[k])) {
                pen = false;
                continue;
            }
            double x = px(fr, l->x[k]), y = py(fr, l->y[k]);
            if (pen) cairo_line_to(cr, x, y);
            else cairo_move_to(cr, x, y);
            pen = true;
        }
        cairo_stroke(cr);
    }
    cairo_set_dash(cr, dash, 0, 0);
    if (l->style & CG_PLOT_MARKERS)
        for (size_t k = 0; k < l->n; k++) {
            if (!usable(p, l->x[k], l->y[k])) continue;
            cairo_arc(cr, px(fr, l->x[k]), py(fr, l->y[k]), 3.5, 0, 2 * CG_PI);
            cairo_fill(cr);
        }
}

/* Samples along the line's segments (points and 15 steps between) that
 * fall inside the box. */
static size_t covered(const struct cg_plot_panel *p, const struct frame *fr,
                      const struct cg_plot_line *l, double bx, double by, double bw, double bh)
{
    size_t count = 0;
    for (size_t k = 0; k < l->n; k++) {
        if (!usable(p, l->x[k], l->y[k])) continue;
        double x1 = px(fr, l->x[k]), y1 = py(fr, l->y[k]), x0 = x1, y0 = y1;
        if (k > 0 && usable(p, l->x[k - 1], l->y[k - 1]) && !(l->style & CG_PLOT_NO_LINE))
            x0 = px(fr, l->x[k - 1]), y0 = py(fr, l->y[k - 1]);
        for (int j = 0; j <= 15; j++) {
            double x = x0 + (x1 - x0) * j / 15, y = y0 + (y1 - y0) * j / 15;
            count += x >= bx && x <= bx + bw && y >= by && y <= by + bh;
        }
    }
    return count;
}

/* The legend goes in the corner of the plot area that covers the least of
 * the lines. */
static void draw_legend(cairo_t *cr, const struct cg_plot_panel *p, const struct frame *fr)
{
    double w = 0, row = FONT + 7;
    int n = 0;
    for (int i = 0; i < p->n_lines; i++) {
        if (!p->lines[i].label[0]) continue;
        cairo_text_extents_t e;
        cairo_text_extents(cr, p->lines[i].label, &e);
        w = fmax(w, e.x_advance);
        n++;
    }
    if (!n) return;
    double bw = w + 46, bh = n * row + 8;
    int best = 0;
    size_t best_count = (size_t)-1;
    for (int c = 0; c < 4; c++) {
        double bx = c & 1 ? fr->x0 + fr->w - bw - 8 : fr->x0 + 8;
        double by = c & 2 ? fr->y0 + fr->h - bh - 8 : fr->y0 + 8;
        size_t count = 0;
        for (int i = 0; i < p->n_lines; i++)
            count += covered(p, fr, &p->lines[i], bx - 10, by - 10, bw + 20, bh + 20);
        /* On ties the top right wins. */
        if (count < best_count || (count == best_count && c == 1)) best = c, best_count = count;
    }
    double bx = best & 1 ? fr->x0 + fr->w - bw - 8 : fr->x0 + 8;
    double by = best & 2 ? fr->y0 + fr->h - bh - 8 : fr->y0 + 8;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    int r = 0;
    for (int i = 0; i < p->n_lines; i++) {
        const struct cg_plot_line *l = &p->lines[i];
        if (!l->label[0]) continue;
        double y = by + 4 + (r++ + 0.5) * row;
        cairo_set_source_rgb(cr, palette[i][0], palette[i][1], palette[i][2]);
        cairo_set_line_width(cr, 2);
        double dash[] = {7, 4};
        cairo_set_dash(cr, dash, (l->style & CG_PLOT_DASHED) ? 2 : 0, 0);
        if (!(l->style & CG_PLOT_NO_LINE)) {
            cairo_move_to(cr, bx + 6, y);
            cairo_line_to(cr, bx + 34, y);
            cairo_stroke(cr);
        }
        cairo_set_dash(cr, dash, 0, 0);
        if (l->style & CG_PLOT_MARKERS) {
            cairo_arc(cr, bx + 20, y, 3.5, 0, 2 * CG_PI);
            cairo_fill(cr);
        }
        cairo_set_source_rgb(cr, 0, 0, 0);
        text(cr, l->label, bx + 40, y, 0, 0.5);
    }
}

static void draw_panel(cairo_t *cr, const struct cg_plot_panel *p, double ox, double oy, int w,
                       int h)
{
    struct frame fr = {.x0 = ox + MARGIN_L, .y0 = oy + MARGIN_T, .w = w - MARGIN_L - MARGIN_R,
                       .h = h - MARGIN_T - MARGIN_B};
    fit_axes(p, &fr);
    cairo_set_font_size(cr, FONT);
    draw_axes(cr, p, &fr);
    cairo_save(cr);
    cairo_rectangle(cr, fr.x0, fr.y0, fr.w, fr.h);
    cairo_clip(cr);
    for (int i = 0; i < p->n_lines; i++) draw_line(cr, p, &fr, &p->lines[i], palette[i]);
    cairo_restore(cr);
    draw_legend(cr, p, &fr);
}

enum cg_status cg_plot_render(const struct cg_figure *fig, const char *png_path,
                              const char *shown_path)
{
    int W = fig->cols * fig->panel_w, H = fig->rows * fig->panel_h;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    for (int r = 0; r < fig->rows; r++)
        for (int c = 0; c < fig->cols; c++)
            draw_panel(cr, &fig->panels[r * fig->cols + c], c * fig->panel_w, r * fig->panel_h,
                       fig->panel_w, fig->panel_h);
    cairo_status_t cs = cairo_status(cr);
    if (cs == CAIRO_STATUS_SUCCESS) cs = cairo_surface_write_to_png(s, png_path);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    if (cs == CAIRO_STATUS_NO_MEMORY)
        return cg_fail(CG_ERR_NOMEM, "%s: out of memory drawing the figure", shown_path);
    if (cs != CAIRO_STATUS_SUCCESS)
        return cg_fail(CG_ERR_IO, "%s: cannot write the PNG (temporary file '%s'): %s", shown_path,
                       png_path, cairo_status_to_string(cs));
    return CG_OK;
}

void cg_plot_release_caches(void)
{
    cairo_debug_reset_static_data();
    FcFini();
}
