/* Gradient check of the full seed sparse autoencoder (784-256 Linear,
 * Hardshrink(0.1), 256-64 Linear, 64-784 Linear; batch 8; MSE loss against
 * the input) with cg_gradcheck_module's defaults: f32 model through the f64
 * shadow, fast mode (the model has ~270k parameters).  Prints `key value`
 * lines: seconds, calls of fn, probes, the verdict, the shadow's f32/f64
 * differences; then the same with the shadow off (f32 alone); then the
 * same architecture with a hand-written Hardshrink whose backward flips the
 * sign, which must fail (buggy_*: time to catch and localize it).
 * Usage: gradcheck_sae [SEED] */
#include <stdio.h>
#include <stdlib.h>

#include <cgrad.h>

#include "bench_util.h"

static struct cg_tensor *mse(struct cg_tape *tape, struct cg_tensor *out, struct cg_tensor *x)
{
    return cg_mse_loss(tape, out, x, CG_REDUCTION_MEAN);
}

/* A Hardshrink written by hand whose backward flips the sign: the same
 * model with this layer must fail, and fast mode must localize it. */
static void shrink_forward(struct cg_record *rec)
{
    double l = rec->scalar[0];
    for (int64_t i = 0; i < rec->out->numel; i++) {
        double v = cg_tensor_at(rec->in[0], i);
        cg_tensor_set_at(rec->out, i, v > l || v < -l ? v : 0.0);
    }
}

static void shrink_backward_flipped(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0];
    double l = rec->scalar[0];
    if (!x->grad) return;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = cg_tensor_at(x, i), g = cg_tensor_at(rec->out->grad, i);
        if (v > l || v < -l) cg_tensor_set_at(x->grad, i, cg_tensor_at(x->grad, i) - g);
    }
}

static const struct cg_op flipped_op = {.name = "flipped_hardshrink", .forward = shrink_forward,
                                        .backward = shrink_backward_flipped};

static struct cg_tensor *flipped_forward(struct cg_module *m, struct cg_tape *tape,
                                         struct cg_tensor *x)
{
    (void)m;
    double l = 0.1;
    return cg_op_apply(tape, &flipped_op, 1, &x, x->dtype, x->ndim, x->shape, &l, 1);
}

static void flipped_free(struct cg_module *m) { free(m); }

static const struct cg_module_vtable flipped_vt = {
    .type_name = "FlippedHardshrink", .forward = flipped_forward, .free = flipped_free};

static struct cg_module *flipped_new(void)
{
    struct cg_module *m = calloc(1, sizeof *m);
    if (m) cg_module_init(m, &flipped_vt);
    return m;
}

static int run(const char *prefix, struct cg_module *model, struct cg_tensor *x,
               const struct cg_gradcheck_options *o)
{
    struct cg_gradcheck_report rep;
    double t0 = bench_now();
    enum cg_status st = cg_gradcheck_module(model, x, mse, o, &rep);
    double t = bench_now() - t0;
    printf("%s_seconds %.3f\n", prefix, t);
    printf("%s_passed %d\n", prefix, st == CG_OK);
    printf("%s_fast %d\n", prefix, rep.fast);
    printf("%s_probes %d\n", prefix, rep.probes);
    printf("%s_evals %lld\n", prefix, (long long)rep.evals);
    printf("%s_kinks %lld\n", prefix, (long long)rep.kinks);
    printf("%s_dtype %s\n", prefix, cg_dtype_name(rep.dtype));
    printf("%s_shadow %d\n", prefix, rep.shadow);
    if (rep.shadow == 1) {
        printf("%s_shadow_out_err %.3g\n", prefix, rep.shadow_out_err);
        printf("%s_shadow_grad_err %.3g\n", prefix, rep.shadow_grad_err);
    }
    printf("%s_failed_elements %lld\n", prefix, (long long)rep.failed);
    printf("%s_checked_elements %lld\n", prefix, (long long)rep.checked);
    printf("%s_hints 0x%x\n", prefix, rep.hints);
    if (rep.n_worst) printf("%s_worst %s\n", prefix, rep.worst[0].name);
    if (st != CG_OK && st != CG_ERR_GRADCHECK) fprintf(stderr, "%s\n", cg_last_error());
    return st == CG_OK ? 0 : st == CG_ERR_GRADCHECK ? 1 : 2;
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 0;
    struct cg_rng rng = cg_rng_seed(seed);
    struct cg_module *model = cg_sequential(
        cg_linear_new(784, 256, true, &rng), cg_hardshrink_new(0.1),
        cg_linear_new(256, 64, true, &rng), cg_linear_new(64, 784, true, &rng));
    struct cg_tensor *x = cg_tensor_rand(NULL, CG_F32, CG_SHAPE(8, 784), &rng);
    if (!model || !x) {
        fprintf(stderr, "gradcheck_sae: %s\n", cg_last_error());
        return 1;
    }
    printf("params %zu\n", cg_module_param_elements(model));
    int rc = run("default", model, x, NULL);
    rc |= run("f32_only", model, x, &(struct cg_gradcheck_options){.f64_shadow = -1});
    /* The same architecture with the flipped Hardshrink: must fail. */
    struct cg_rng rng2 = cg_rng_seed(seed);
    struct cg_module *buggy = cg_sequential(
        cg_linear_new(784, 256, true, &rng2), flipped_new(),
        cg_linear_new(256, 64, true, &rng2), cg_linear_new(64, 784, true, &rng2));
    int brc = buggy ? run("buggy", buggy, x, NULL) : 2;
    if (brc != 1) fprintf(stderr, "gradcheck_sae: the flipped Hardshrink was not caught\n");
    cg_module_free(buggy);
    cg_tensor_free(x);
    cg_module_free(model);
    return rc || brc != 1;
}
