/* Figures: panels, lines and their options (drawing is in plot_draw.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "file_io.h"
#include "plot_internal.h"

struct cg_figure *cg_figure_new(int rows, int cols, int panel_width, int panel_height)
{
    if (rows < 1 || rows > CG_PLOT_MAX_GRID || cols < 1 || cols > CG_PLOT_MAX_GRID ||
        panel_width < 160 || panel_width > 4000 || panel_height < 160 || panel_height > 4000) {
        cg_misuse("cg_figure_new", "%d x %d panels of %d x %d pixels (hint: 1..%d rows and "
                  "columns, panels 160..4000 pixels, e.g. 560 x 420)", rows, cols, panel_width,
                  panel_height, CG_PLOT_MAX_GRID);
        return NULL;
    }
    struct cg_figure *fig = cg_calloc(1, sizeof *fig, "figure");
    if (!fig) return NULL;
    fig->panels = cg_calloc((size_t)(rows * cols), sizeof *fig->panels, "figure panels");
    if (!fig->panels) {
        cg_free(fig);
        return NULL;
    }
    fig->rows = rows;
    fig->cols = cols;
    fig->panel_w = panel_width;
    fig->panel_h = panel_height;
    return fig;
}

void cg_figure_free(struct cg_figure *fig)
{
    if (!fig) return;
    for (int p = 0; p < fig->rows * fig->cols; p++)
        for (int i = 0; i < fig->panels[p].n_lines; i++) {
            cg_free(fig->panels[p].lines[i].x);
            cg_free(fig->panels[p].lines[i].y);
        }
    cg_free(fig->panels);
    cg_free(fig);
}

static struct cg_plot_panel *panel_of(struct cg_figure *fig, int panel, const char *fn)
{
    if (!fig) {
        cg_misuse(fn, "fig is NULL (hint: create it with cg_figure_new)");
        return NULL;
    }
    if (panel < 0 || panel >= fig->rows * fig->cols) {
        cg_misuse(fn, "panel %d out of range: the figure has %d x %d = %d panels (0..%d)", panel,
                  fig->rows, fig->cols, fig->rows * fig->cols, fig->rows * fig->cols - 1);
        return NULL;
    }
    return &fig->panels[panel];
}

static void copy_text(char *dst, const char *src)
{
    if (src) snprintf(dst, CG_PLOT_TEXT, "%s", src);
}

enum cg_status cg_plot_labels(struct cg_figure *fig, int panel, const char *title,
                              const char *xlabel, const char *ylabel)
{
    struct cg_plot_panel *p = panel_of(fig, panel, "cg_plot_labels");
    if (!p) return CG_ERR_INVALID;
    copy_text(p->title, title);
    copy_text(p->xlabel, xlabel);
    copy_text(p->ylabel, ylabel);
    return CG_OK;
}

enum cg_status cg_plot_line(struct cg_figure *fig, int panel, const char *label, size_t n,
                            const double *x, const double *y, unsigned style)
{
    struct cg_plot_panel *p = panel_of(fig, panel, "cg_plot_line");
    if (!p) return CG_ERR_INVALID;
    if (n < 1 || !x || !y) {
        cg_misuse("cg_plot_line", "line '%s': %zu points, x %s, y %s (hint: pass n >= 1 points)",
                  label ? label : "", n, x ? "given" : "NULL", y ? "given" : "NULL");
        return CG_ERR_INVALID;
    }
    if (p->n_lines == CG_PLOT_MAX_LINES) {
        cg_misuse("cg_plot_line", "panel %d already has %d lines, the most a panel holds "
                  "(hint: use another panel)", panel, CG_PLOT_MAX_LINES);
        return CG_ERR_INVALID;
    }
    struct cg_plot_line *l = &p->lines[p->n_lines];
    l->x = cg_malloc(n * sizeof *l->x, "plot line x");
    l->y = l->x ? cg_malloc(n * sizeof *l->y, "plot line y") : NULL;
    if (!l->y) {
        cg_free(l->x);
        l->x = NULL;
        return CG_ERR_NOMEM;
    }
    memcpy(l->x, x, n * sizeof *x);
    memcpy(l->y, y, n * sizeof *y);
    l->n = n;
    l->style = style;
    l->label[0] = '\0';
    copy_text(l->label, label);
    p->n_lines++;
    return CG_OK;
}

enum cg_status cg_plot_ylim(struct cg_figure *fig, int panel, double lo, double hi)
{
    struct cg_plot_panel *p = panel_of(fig, panel, "cg_plot_ylim");
    if (!p) return CG_ERR_INVALID;
    if (!isfinite(lo) || !isfinite(hi) || !(lo < hi)) {
        cg_misuse("cg_plot_ylim", "y range [%g, %g] (hint: finite, lo < hi)", lo, hi);
        return CG_ERR_INVALID;
    }
    p->fixed_y = true;
    p->ylo = lo;
    p->yhi = hi;
    return CG_OK;
}

enum cg_status cg_plot_log_x(struct cg_figure *fig, int panel, bool log_x)
{
    struct cg_plot_panel *p = panel_of(fig, panel, "cg_plot_log_x");
    if (!p) return CG_ERR_INVALID;
    p->log_x = log_x;
    return CG_OK;
}

enum cg_status cg_figure_save_png(const struct cg_figure *fig, const char *path)
{
    if (!fig || !path) {
        cg_misuse("cg_figure_save_png", "%s is NULL (hint: pass a figure and a file name)",
                  !fig ? "fig" : "path");
        return CG_ERR_INVALID;
    }
    struct cg_atomic_file a;
    enum cg_status st = cg_atomic_open(&a, path, 0);
    if (st != CG_OK) return st;
    if ((st = cg_plot_render(fig, a.tmp_path, path)) != CG_OK) {
        cg_atomic_abort(&a);
        return st;
    }
    return cg_atomic_commit(&a);
}
