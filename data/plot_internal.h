/* The figure's data, shared by plot.c (building it) and plot_draw.c
 * (drawing it with cairo). */
#ifndef CG_DATA_PLOT_INTERNAL_H
#define CG_DATA_PLOT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "cgrad/plot.h"

#define CG_PLOT_MAX_LINES 8
#define CG_PLOT_MAX_GRID 8
#define CG_PLOT_TEXT 128

struct cg_plot_line {
    char label[CG_PLOT_TEXT];
    size_t n;
    double *x, *y;
    unsigned style;
};

struct cg_plot_panel {
    char title[CG_PLOT_TEXT], xlabel[CG_PLOT_TEXT], ylabel[CG_PLOT_TEXT];
    struct cg_plot_line lines[CG_PLOT_MAX_LINES];
    int n_lines;
    bool fixed_y, log_x;
    double ylo, yhi;
};

struct cg_figure {
    int rows, cols, panel_w, panel_h;
    struct cg_plot_panel *panels;
};

/* Draws the whole figure and writes it to the file `png_path`. */
enum cg_status cg_plot_render(const struct cg_figure *fig, const char *png_path,
                              const char *shown_path);

#endif
