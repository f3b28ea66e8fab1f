/* Line plots as PNG files (drawn with cairo), for training curves and
 * function comparisons:
 *
 *     struct cg_figure *fig = cg_figure_new(1, 2, 560, 420);   // 1 row, 2 panels
 *     cg_plot_labels(fig, 0, "Loss", "epoch", "MSE");
 *     cg_plot_line(fig, 0, "train", n, epochs, train_mse, CG_PLOT_MARKERS);
 *     cg_plot_line(fig, 0, "test", n, epochs, test_mse, CG_PLOT_DASHED);
 *     cg_plot_ylim(fig, 1, 0.0, 1.0);
 *     ...
 *     if (cg_figure_save_png(fig, "curves.png") != CG_OK) fprintf(stderr, "%s\n", cg_last_error());
 *     cg_figure_free(fig);
 *
 * A figure is a grid of panels (row-major index 0..rows*cols-1).  Each panel
 * has axes with ticks at round numbers, a grid, an optional title and axis
 * labels, and a legend of the labelled lines in the corner where it covers
 * the fewest points.  Lines take colours in order from a fixed palette of 8
 * (blue, orange, green, red, purple, brown, pink, grey).  Axis ranges fit
 * the data unless set; points with a non-finite coordinate (or x <= 0 on a
 * log axis) are left out and break the line.
 *
 * Errors: misuse (NULL figure, panel out of range, n < 1 or NULL data, bad
 * sizes or limits) goes through the misuse handler and returns
 * CG_ERR_INVALID (NULL from cg_figure_new); out of memory is CG_ERR_NOMEM;
 * a file that cannot be written is CG_ERR_IO with a message naming it. */
#ifndef CGRAD_PLOT_H
#define CGRAD_PLOT_H

#include "export.h"

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cg_figure;

/* Line styles (flags, 0 = solid line). */
enum cg_plot_style {
    CG_PLOT_DASHED = 1u << 0,  /* dashed line */
    CG_PLOT_MARKERS = 1u << 1, /* a dot at each point */
    CG_PLOT_NO_LINE = 1u << 2  /* markers only (with CG_PLOT_MARKERS) */
};

/* A figure of rows x cols panels of panel_width x panel_height pixels each
 * (rows, cols 1..8; panels 160..4000 pixels).  Owned by the caller; free it
 * with cg_figure_free (NULL ignored). */
CG_API struct cg_figure *cg_figure_new(int rows, int cols, int panel_width, int panel_height);
CG_API void cg_figure_free(struct cg_figure *fig);

/* Panel title and axis labels (copied; NULL leaves one unset). */
CG_API enum cg_status cg_plot_labels(struct cg_figure *fig, int panel, const char *title,
                              const char *xlabel, const char *ylabel);
/* Adds a line through n points (x, y copied).  label NULL or "": not in the
 * legend.  At most 8 lines per panel.  style: enum cg_plot_style flags. */
CG_API enum cg_status cg_plot_line(struct cg_figure *fig, int panel, const char *label, size_t n,
                            const double *x, const double *y, unsigned style);
/* Fixed y range (lo < hi, finite) instead of fitting the data. */
CG_API enum cg_status cg_plot_ylim(struct cg_figure *fig, int panel, double lo, double hi);
/* Logarithmic x axis (ticks at 1, 2, 5 times powers of ten). */
CG_API enum cg_status cg_plot_log_x(struct cg_figure *fig, int panel, bool log_x);

/* Draws the figure and writes it as an RGB PNG, atomically (temporary name,
 * then rename).  Only reads fig.  CG_OK, CG_ERR_IO, CG_ERR_NOMEM or
 * CG_ERR_INVALID (misuse: fig or path NULL). */
CG_API enum cg_status cg_figure_save_png(const struct cg_figure *fig, const char *path);

/* Releases the process-wide caches of the drawing libraries (cairo's static
 * data and fontconfig's configuration), which otherwise live until exit and
 * show up in leak checkers (ASan, valgrind) as lost memory.  Call it at the
 * end of a program that plotted, when no thread is drawing a figure.
 * Plotting afterwards still works (the caches are rebuilt). */
CG_API void cg_plot_release_caches(void);

#ifdef __cplusplus
}
#endif
#endif
