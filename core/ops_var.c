/* var over one dim (with or without Bessel's correction) and std = sqrt(var).
 * Two passes per row in double (mean, then squared deviations), which stays
 * accurate where the one-pass E[x^2] - E[x]^2 cancels. */
#include <math.h>

#include "dims.h"
#include "error_internal.h"
#include "op_list.h"
#include "cgrad/ops.h"

/* scalar[0] dim, scalar[1] keepdim, scalar[2] correction (1 unbiased, 0 not). */

static double row_mean(const struct cg_tensor *x, int64_t base, struct cg_dim_geom g)
{
    double s = 0;
    for (int64_t k = 0; k < g.d; k++) s += cg_tensor_at(x, base + k * g.inner);
    return s / (double)g.d;
}

static void var_forward(struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0];
    struct cg_dim_geom g = cg_dim_geom(x, (int)r->scalar[0]);
    double div = (double)g.d - r->scalar[2]; /* 0 gives inf or NaN, as PyTorch */
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t i = 0; i < g.inner; i++) {
            int64_t base = o * g.d * g.inner + i;
            double m = row_mean(x, base, g), s = 0;
            for (int64_t k = 0; k < g.d; k++) {
                double dv = cg_tensor_at(x, base + k * g.inner) - m;
                s += dv * dv;
            }
            cg_tensor_set_at(r->out, o * g.inner + i, s / div);
        }
}

/* d var / d x_k = 2 (x_k - mean) / (d - correction) */
static void var_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    struct cg_dim_geom g = cg_dim_geom(x, (int)r->scalar[0]);
    double div = (double)g.d - r->scalar[2];
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t i = 0; i < g.inner; i++) {
            int64_t base = o * g.d * g.inner + i;
            double m = row_mean(x, base, g), gy = cg_tensor_at(r->out->grad, o * g.inner + i);
            for (int64_t k = 0; k < g.d; k++) {
                int64_t j = base + k * g.inner;
                double v = gy * 2 * (cg_tensor_at(x, j) - m) / div;
                cg_tensor_set_at(x->grad, j, cg_tensor_at(x->grad, j) + v);
            }
        }
}

const struct cg_op cg_op_var_dim = {"var_dim", var_forward, var_backward, 0};

struct cg_tensor *cg_var_dim(struct cg_tape *tape, struct cg_tensor *x, int dim, bool unbiased,
                             bool keepdim)
{
    CG_CHECK_NOT_NULL("var_dim", x, "input");
    if (!cg_dim_check("var_dim", x, &dim)) return NULL;
    int64_t shape[CG_MAX_DIMS];
    int nd = cg_reduced_shape(x, dim, keepdim, shape);
    double s[3] = {dim, keepdim, unbiased ? 1 : 0};
    return cg_op_apply(tape, &cg_op_var_dim, 1, &x, x->dtype, nd, shape, s, 3);
}

struct cg_tensor *cg_std_dim(struct cg_tape *tape, struct cg_tensor *x, int dim, bool unbiased,
                             bool keepdim)
{
    struct cg_tensor *var = cg_var_dim(tape, x, dim, unbiased, keepdim);
    return var ? cg_sqrt(tape, var) : NULL;
}
