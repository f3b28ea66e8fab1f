/* The seed's comparison: x = linspace(-3, 3, 100) through Hardshrink(1.0),
 * Softshrink(1.0) and Tanhshrink(), derivatives by cg_backward. */
#include <math.h>
#include <stdio.h>

#include "shrink.h"

enum { N = 100, KINKS = 3 };

/* f(x) and df/dx at every element of x (all elementwise, so the gradient
 * of sum(f(x)) is the derivative at each point).  Results on tape. */
struct curves {
    struct cg_tensor *f[3], *df[3];
};

static const char *const fname[3] = {"hardshrink", "softshrink", "tanhshrink"};

static int evaluate(struct cg_tape *tape, const double *xs, int n, struct curves *c)
{
    for (int k = 0; k < 3; k++) {
        struct cg_tensor *x = cg_tensor_from_doubles(NULL, CG_F64, CG_SHAPE(n), xs);
        if (!x || cg_tensor_requires_grad(x, true) != CG_OK) return 1;
        struct cg_tensor *y = k == 0 ? cg_hardshrink(tape, x, 1.0)
                              : k == 1 ? cg_softshrink(tape, x, 1.0)
                                       : cg_tanhshrink(tape, x);
        enum cg_status st = cg_backward(tape, cg_sum(tape, y));
        c->f[k] = y;
        c->df[k] = cg_tensor_copy(tape, x->grad);
        cg_tensor_free(x);
        if (st != CG_OK || !c->df[k]) {
            fprintf(stderr, "shrink_functions: %s: %s\n", fname[k], cg_last_error());
            return 1;
        }
    }
    return 0;
}

static void row(double x, const struct curves *c, int i, const char *note)
{
    printf("%7.3f  %10.4f %10.4f %10.4f   %6.3f %6.3f %6.3f  %s\n", x, cg_tensor_at(c->f[0], i),
           cg_tensor_at(c->f[1], i), cg_tensor_at(c->f[2], i), cg_tensor_at(c->df[0], i),
           cg_tensor_at(c->df[1], i), cg_tensor_at(c->df[2], i), note);
}

static int plot(const struct shrink_options *opt, const double *xs, const struct curves *c)
{
    static const char *const label[3] = {"Hardshrink(1.0)", "Softshrink(1.0)", "Tanhshrink()"};
    struct cg_figure *fig = cg_figure_new(1, 2, 560, 420);
    if (!fig) return 1;
    cg_plot_labels(fig, 0, "Shrink functions", "x", "f(x)");
    cg_plot_labels(fig, 1, "Derivatives (cg_backward)", "x", "df/dx");
    for (int k = 0; k < 3; k++) {
        /* Soft dashed: its derivative lies exactly on Hardshrink's. */
        cg_plot_line(fig, 0, label[k], N, xs, c->f[k]->data, k == 1 ? CG_PLOT_DASHED : 0);
        cg_plot_line(fig, 1, label[k], N, xs, c->df[k]->data, k == 1 ? CG_PLOT_DASHED : 0);
    }
    cg_plot_ylim(fig, 1, -0.1, 1.2);
    return shrink_save_figure(opt, fig, "shrink_functions.png");
}

int shrink_compare(const struct shrink_options *opt, struct shrink_export *ex)
{
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *grid = cg_tensor_linspace(NULL, CG_F64, -3.0, 3.0, N);
    if (!tape || !grid) return 1;
    const double *xs = grid->data;
    /* The kinks of hard/soft shrink at +-lambda and tanhshrink's flat point. */
    const double kinks[KINKS] = {-1.0, 0.0, 1.0};
    struct curves c, k;
    int rc = evaluate(tape, xs, N, &c) || evaluate(tape, kinks, KINKS, &k);
    if (!rc) {
        printf("Shrink functions on linspace(-3, 3, 100): every tenth point, the last, and the kinks\n");
        printf("%7s  %10s %10s %10s   %6s %6s %6s\n", "x", "hard", "soft", "tanh", "d_hard",
               "d_soft", "d_tanh");
        int next_kink = 0;
        for (int i = 0; i < N; i++) {
            while (next_kink < KINKS && kinks[next_kink] < xs[i])
                row(kinks[next_kink], &k, next_kink, "<- kink"), next_kink++;
            if (i % 10 == 0 || i == N - 1) row(xs[i], &c, i, "");
        }
        printf("(at |x| = lambda exactly both shrinks give 0 with derivative 0, as in PyTorch)\n");
        rc = plot(opt, xs, &c);
        shrink_keep(ex, "x", grid);
        for (int f = 0; f < 3; f++) shrink_keep(ex, fname[f], c.f[f]);
        static const char *const dname[3] = {"d_hardshrink", "d_softshrink", "d_tanhshrink"};
        for (int f = 0; f < 3; f++) shrink_keep(ex, dname[f], c.df[f]);
    }
    cg_tensor_free(grid);
    cg_tape_free(tape);
    return rc;
}
