/* Gradient check of the full seed sparse autoencoder (784-256 Linear,
 * Hardshrink(0.1), 256-64 Linear, 64-784 Linear; batch 8; MSE loss against
 * the input) with cg_gradcheck_module's defaults: f32 model through the f64
 * shadow, fast mode (the model has ~270k parameters).  Prints `key value`
 * lines: seconds, calls of fn, probes, the verdict, the shadow's f32/f64
 * differences; then the same with the shadow off (f32 alone).
 * Usage: gradcheck_sae [SEED] */
#include <stdio.h>
#include <stdlib.h>

#include <cgrad.h>

#include "bench_util.h"

static struct cg_tensor *mse(struct cg_tape *tape, struct cg_tensor *out, struct cg_tensor *x)
{
    return cg_mse_loss(tape, out, x, CG_REDUCTION_MEAN);
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
    if (rep.shadow) {
        printf("%s_shadow_out_err %.3g\n", prefix, rep.shadow_out_err);
        printf("%s_shadow_grad_err %.3g\n", prefix, rep.shadow_grad_err);
    }
    if (st != CG_OK) cg_gradcheck_report_print(&rep, stderr);
    return st == CG_OK ? 0 : 1;
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
    cg_tensor_free(x);
    cg_module_free(model);
    return rc;
}
