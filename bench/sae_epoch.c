/* One epoch of the seed sparse autoencoder (784-H-B-784, Hardshrink 0.1 on the H-wide code, MSE,
 * SGD momentum 0.9 or --optimizer) against the bare OpenBLAS GEMMs of the
 * same epoch, timed in the same process with the same thread count.
 *
 *   sae_epoch [--data DIR] [--batch 64] [--threads 1] [--hidden 256] [--bottleneck 64]
 *             [--repeat 5] [--limit IMAGES] [--optimizer sgd|adam|adamw|rmsprop|adagrad]
 *             [--fused 1]
 * prints: epoch_seconds gemm_floor_seconds ratio allocs_per_step peak_rss_mb,
 * bound_seconds, bound_pass_seconds, bound_ratio and epoch_over_bound: the
 * one-thread epoch of step_bound.h (the floor's GEMMs with the least memory
 * traffic around them), the time in its passes, (floor + passes / threads)
 * / floor (the passes counted as split perfectly over the threads, which
 * only lowers the bound) and epoch_seconds over that bound,
 * then bound_mean_loss (its epoch trains the same model: the mean of its
 * steps' losses) and bound_<pass>_us, each pass's time per step;
 * optimizer step_us (the mean optimizer step of the epoch) and step_gb_s (the
 * bytes its step must move, parameter, gradient and state read once and
 * parameter and state written once, over step_us) and, for another optimizer
 * than SGD, sgd_step_us, sgd_step_gb_s from an SGD epoch of the same run and
 * step_ratio = step_us / sgd_step_us (best of --repeat for every timing, so
 * machine noise inflates none).  Equal GB/s means both steps run at the same
 * memory speed, whatever their ratio.
 * With --fused 1 (the default) every repeat also times the epoch with
 * cg_optimizer_backward (the update inside the backward sweep) right after
 * the one with cg_backward + cg_optimizer_step, and prints
 * fused_epoch_seconds and fused_ratio (best of --repeat, against the same
 * floor), zero_grad_us (the separate epoch's mean zero_grad),
 * fused_step_us (the time in the optimizer's step_param calls, per step)
 * and fused_zero_grad_us, then the medians of the alternated runs, median_epoch_seconds,
 * median_fused_epoch_seconds and fused_speedup (their quotient), and the
 * same in CPU seconds of the process (median_epoch_cpu_seconds, ...,
 * fused_cpu_speedup), which other processes sharing the cores inflate
 * less.  The epoch with cg_optimizer_backward_consume (zero_grad's work
 * done right after each update) runs third in every repeat:
 * consume_epoch_seconds, consume_ratio, consume_zero_grad_us and its
 * medians, consume_speedup and consume_cpu_speedup against the separate
 * calls.  backward_step_us (zero_grad, backward and step of one training
 * step: the median over the steps of an epoch, then over the repeats, so a
 * step another process delayed does not count) and its fused_ and
 * consume_ counterparts with their speedups are the figures to compare on
 * a busy machine. */
#include <cblas.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cgrad.h>

#include "bench_util.h"
#include "step_bound.h"

struct cfg {
    const char *data;
    int batch, threads, hidden, bottleneck, repeat;
    long limit; /* use only the first N images (0: all), for quick scaling runs */
    const char *optimizer;
    int fused; /* also time the epoch with cg_optimizer_backward */
};

static const char *const optimizer_names[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
/* Arrays of parameter size each step of new_optimizer's settings must read
 * and write once: SGD with momentum p, g, buf in and p, buf out; Adam(W) adds
 * a second moment; RMSprop (no momentum, not centered) and Adagrad hold one
 * state tensor. */
static const int optimizer_arrays[] = {5, 7, 7, 5, 5};
_Static_assert(sizeof optimizer_arrays / sizeof *optimizer_arrays ==
                   sizeof optimizer_names / sizeof *optimizer_names,
               "one array count per optimizer name");

/* The optimizers with the settings a user would start from. */
static struct cg_optimizer *new_optimizer(const char *name, struct cg_module *model)
{
    if (!strcmp(name, "adam")) return cg_adam_new(model, (struct cg_adam_options){.lr = 1e-3});
    if (!strcmp(name, "adamw")) return cg_adamw_new(model, (struct cg_adam_options){.lr = 1e-3});
    if (!strcmp(name, "rmsprop"))
        return cg_rmsprop_new(model, (struct cg_rmsprop_options){.lr = 1e-3});
    if (!strcmp(name, "adagrad"))
        return cg_adagrad_new(model, (struct cg_adagrad_options){.lr = 1e-2});
    return cg_sgd_new(model, (struct cg_sgd_options){.lr = 0.05, .momentum = 0.9});
}

static int arrays_of(const char *name)
{
    for (size_t k = 0; k < sizeof optimizer_names / sizeof *optimizer_names; k++)
        if (!strcmp(name, optimizer_names[k])) return optimizer_arrays[k];
    return 0;
}

static int parse(int argc, char **argv, struct cfg *c)
{
    *c = (struct cfg){"/usr/share/datasets/fashion-mnist", 64, 1, 256, 64, 5, 0, "sgd", 1};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--data")) c->data = v;
        else if (!strcmp(k, "--batch")) c->batch = atoi(v);
        else if (!strcmp(k, "--threads")) c->threads = atoi(v);
        else if (!strcmp(k, "--hidden")) c->hidden = atoi(v);
        else if (!strcmp(k, "--bottleneck")) c->bottleneck = atoi(v);
        else if (!strcmp(k, "--repeat")) c->repeat = atoi(v);
        else if (!strcmp(k, "--limit")) c->limit = atol(v);
        else if (!strcmp(k, "--optimizer")) c->optimizer = v;
        else if (!strcmp(k, "--fused")) c->fused = atoi(v);
        else return 1;
    }
    bool known = false;
    for (size_t i = 0; i < sizeof optimizer_names / sizeof *optimizer_names; i++)
        known |= !strcmp(c->optimizer, optimizer_names[i]);
    if (!known) return 1;
    if ((argc - 1) % 2 || c->batch < 1 || c->threads < 1 || c->hidden < 1 || c->bottleneck < 1 ||
        c->repeat < 1 || c->repeat > 64 || c->limit < 0)
        return 1;
    return 0;
}

/* The GEMMs one training step needs, with the shapes and flags cgrad uses:
 * forward y = x W^T for 3 layers, weight gradients dW += dy^T x for 3 layers,
 * input gradients dx += dy W for layers 2 and 3 (the batch needs none). */
static void gemm_step(int n, const int *in, const int *out, float *const *act, float *const *grad,
                      float *const *w, float *const *dw)
{
    for (int l = 0; l < 3; l++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out[l], in[l], 1.0f, act[l], in[l],
                    w[l], in[l], 1.0f, act[l + 1], out[l]);
    for (int l = 2; l >= 0; l--) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out[l], in[l], n, 1.0f, grad[l + 1],
                    out[l], act[l], in[l], 1.0f, dw[l], in[l]);
        if (l > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in[l], out[l], 1.0f,
                        grad[l + 1], out[l], w[l], in[l], 1.0f, grad[l], in[l]);
    }
}

static double time_floor(const struct cfg *c, int64_t count, int pix)
{
    int in[3] = {pix, c->hidden, c->bottleneck}, out[3] = {c->hidden, c->bottleneck, pix};
    int dims[4] = {pix, c->hidden, c->bottleneck, pix};
    float *act[4], *grad[4], *w[3], *dw[3];
    for (int l = 0; l < 4; l++) {
        act[l] = calloc((size_t)c->batch * (size_t)dims[l], sizeof(float));
        grad[l] = calloc((size_t)c->batch * (size_t)dims[l], sizeof(float));
        for (int64_t i = 0; i < (int64_t)c->batch * dims[l]; i++) act[l][i] = grad[l][i] = 0.001f * (float)(i % 97);
    }
    for (int l = 0; l < 3; l++) {
        w[l] = calloc((size_t)in[l] * (size_t)out[l], sizeof(float));
        dw[l] = calloc((size_t)in[l] * (size_t)out[l], sizeof(float));
        for (int64_t i = 0; i < (int64_t)in[l] * out[l]; i++) w[l][i] = 0.001f * (float)(i % 89);
    }
    /* Bare OpenBLAS with its own threads; cgrad keeps it at one per call. */
    openblas_set_num_threads(c->threads);
    double t0 = bench_now();
    for (int64_t done = 0; done < count; done += c->batch) {
        int n = count - done < c->batch ? (int)(count - done) : c->batch;
        gemm_step(n, in, out, act, grad, w, dw);
    }
    double t = bench_now() - t0;
    cg_set_num_threads(c->threads);
    bench_settle_openblas();
    for (int l = 0; l < 4; l++) free(act[l]), free(grad[l]);
    for (int l = 0; l < 3; l++) free(w[l]), free(dw[l]);
    return t;
}

/* The fused epoch's update time: the optimizer's step_param, timed through
 * a copy of its vtable (the sweep around it cannot be told apart). */
static const struct cg_optimizer_vtable *untimed_vtable;
static double in_step_param;

static void timed_step_param(struct cg_optimizer *opt, size_t param)
{
    double t0 = bench_now();
    untimed_vtable->step_param(opt, param);
    in_step_param += bench_now() - t0;
}

/* Times one epoch with optimizer `name`; *step_us: its mean optimizer step
 * (fused: the time in its step_param calls, and with CONSUME the zeroing
 * that follows each is outside it), *zero_us: its mean zero_grad. */
enum epoch_mode { SEPARATE, FUSED, CONSUME };

static double time_epoch(const struct cfg *c, const char *name, const struct cg_dataset *train, enum epoch_mode mode,
                         double *allocs_per_step, double *step_us, double *zero_us, double *step_bytes,
                         double *cpu_seconds, double *median_update_us)
{
    struct cg_rng rng = cg_rng_seed(0);
    int64_t pix = (int64_t)train->rows * train->cols;
    struct cg_module *model = cg_sequential(cg_linear_new(pix, c->hidden, true, &rng), cg_hardshrink_new(0.1),
                                            cg_linear_new(c->hidden, c->bottleneck, true, &rng),
                                            cg_linear_new(c->bottleneck, pix, true, &rng));
    struct cg_optimizer *opt = new_optimizer(name, model);
    *step_bytes = model ? (double)cg_module_param_elements(model) * sizeof(float) * arrays_of(name) : 0;
    struct cg_tape *tape = cg_tape_new();
    struct cg_batches it;
    if (!model || !opt || !tape ||
        cg_batches_init(&it, train, (struct cg_batches_options){.batch_size = c->batch, .rng = &rng}) != CG_OK) {
        fprintf(stderr, "sae_epoch: %s\n", cg_last_error());
        exit(1);
    }
    struct cg_optimizer_vtable timed = *opt->vtable;
    timed.step_param = timed_step_param;
    untimed_vtable = opt->vtable;
    in_step_param = 0;
    if (mode != SEPARATE) opt->vtable = &timed;
    int64_t max_steps = (train->count + c->batch - 1) / c->batch;
    double *update = malloc((size_t)(max_steps > 0 ? max_steps : 1) * sizeof *update);
    if (!update) exit(1);
    size_t allocs_after_first = 0;
    int64_t steps = 0;
    double t0 = bench_now(), cpu0 = bench_cpu_now(), in_step = 0, in_zero = 0;
    for (struct cg_tensor *x; (x = cg_batches_next(&it, tape)); cg_tape_reset(tape)) {
        struct cg_tensor *loss = cg_mse_loss(tape, cg_module_forward(model, tape, x), x, CG_REDUCTION_MEAN);
        double z0 = bench_now();
        cg_optimizer_zero_grad(opt);
        in_zero += bench_now() - z0;
        double u0 = z0; /* zero_grad, backward and step: what the fused calls replace */
        if (mode == CONSUME) {
            cg_optimizer_backward_consume(opt, tape, loss);
        } else if (mode == FUSED) {
            cg_optimizer_backward(opt, tape, loss);
        } else {
            cg_backward(tape, loss);
            double s0 = bench_now();
            cg_optimizer_step(opt);
            in_step += bench_now() - s0;
        }
        if (steps < max_steps) update[steps] = bench_now() - u0;
        if (++steps == 1) allocs_after_first = cg_alloc_count();
    }
    double t = bench_now() - t0;
    *cpu_seconds = bench_cpu_now() - cpu0;
    if (mode != SEPARATE) in_step = in_step_param;
    opt->vtable = untimed_vtable;
    *step_us = steps ? 1e6 * in_step / (double)steps : 0.0;
    *zero_us = steps ? 1e6 * in_zero / (double)steps : 0.0;
    *median_update_us = 1e6 * bench_median(update, (int)(steps < max_steps ? steps : max_steps));
    free(update);
    /* The first step's reset may still consolidate the arena: count from step 2. */
    *allocs_per_step = steps > 2 ? (double)(cg_alloc_count() - allocs_after_first) / (double)(steps - 1) : 0.0;
    cg_batches_free(&it);
    cg_tape_free(tape);
    cg_optimizer_free(opt);
    cg_module_free(model);
    return t;
}

int main(int argc, char **argv)
{
    struct cfg c;
    if (parse(argc, argv, &c)) {
        fprintf(stderr, "usage: sae_epoch [--data DIR] [--batch N] [--threads N] [--hidden N] "
                        "[--bottleneck N] [--repeat N (1..64)] [--limit IMAGES] "
                        "[--optimizer sgd|adam|adamw|rmsprop|adagrad] [--fused 0|1]\n");
        return 2;
    }
    cg_set_num_threads(c.threads);
    struct cg_dataset train;
    if (cg_mnist_load(&train, c.data, CG_MNIST_TRAIN) != CG_OK) {
        fprintf(stderr, "sae_epoch: %s\n", cg_last_error());
        return 1;
    }
    if (c.limit > 0 && c.limit < train.count) train.count = c.limit;
    int pix = train.rows * train.cols;
    double best_epoch = 1e30, best_floor = 1e30, allocs = 0, best_step = 1e30, best_sgd = 1e30;
    double bytes = 0, sgd_bytes = 0;
    double best_bound = 1e30, bound_loss = 0, best_passes[STEP_BOUND_PASSES] = {0};
    bool compare = strcmp(c.optimizer, "sgd") != 0;
    double epochs[64], fused_epochs[64], best_fused = 1e30, fused_allocs = 0, cpu[64], fused_cpu[64];
    double best_zero = 1e30, best_fused_step = 1e30, best_fused_zero = 1e30;
    double consume_epochs[64], consume_cpu[64], best_consume = 1e30, best_consume_zero = 1e30;
    double upd[64], fused_upd[64], consume_upd[64]; /* per repeat: median over the steps */
    for (int r = 0; r < c.repeat; r++) {
        double f = time_floor(&c, train.count, pix), step, zero, sgd_step, sgd_allocs, unused;
        double passes[STEP_BOUND_PASSES];
        double b = step_bound_epoch(&train, train.count, c.batch, c.hidden, c.bottleneck, passes, &bound_loss);
        if (b < 0) {
            fprintf(stderr, "sae_epoch: out of memory for the bound's buffers\n");
            return 1;
        }
        if (b < best_bound) {
            best_bound = b;
            memcpy(best_passes, passes, sizeof passes);
        }
        double e = time_epoch(&c, c.optimizer, &train, SEPARATE, &allocs, &step, &zero, &bytes, &cpu[r], &upd[r]);
        epochs[r] = e;
        if (zero < best_zero) best_zero = zero;
        if (c.fused) {
            double fused_step, fused_zero;
            fused_epochs[r] = time_epoch(&c, c.optimizer, &train, FUSED, &fused_allocs, &fused_step, &fused_zero,
                                         &unused, &fused_cpu[r], &fused_upd[r]);
            if (fused_epochs[r] < best_fused) best_fused = fused_epochs[r];
            if (fused_step < best_fused_step) best_fused_step = fused_step;
            if (fused_zero < best_fused_zero) best_fused_zero = fused_zero;
            consume_epochs[r] = time_epoch(&c, c.optimizer, &train, CONSUME, &unused, &unused, &fused_zero, &unused,
                                           &consume_cpu[r], &consume_upd[r]);
            if (consume_epochs[r] < best_consume) best_consume = consume_epochs[r];
            if (fused_zero < best_consume_zero) best_consume_zero = fused_zero;
        }
        if (f < best_floor) best_floor = f;
        if (e < best_epoch) best_epoch = e;
        if (step < best_step) best_step = step;
        /* SGD's step in the same run, interleaved, for a fair comparison. */
        if (compare && (time_epoch(&c, "sgd", &train, SEPARATE, &sgd_allocs, &sgd_step, &unused, &sgd_bytes, &unused, &unused), sgd_step < best_sgd))
            best_sgd = sgd_step;
    }
    printf("images %lld\nbatch %d\nthreads %d\nhidden %d\n", (long long)train.count, c.batch, c.threads, c.hidden);
    printf("epoch_seconds %.4f\ngemm_floor_seconds %.4f\nratio %.3f\n", best_epoch, best_floor, best_epoch / best_floor);
    double best_pass = 0;
    for (int k = 0; k < STEP_BOUND_PASSES; k++) best_pass += best_passes[k];
    double bound = best_floor + best_pass / c.threads;
    printf("bound_seconds %.4f\nbound_pass_seconds %.4f\nbound_ratio %.3f\nepoch_over_bound %.3f\n", best_bound,
           best_pass, bound / best_floor, best_epoch / bound);
    printf("bound_mean_loss %.5f\n", bound_loss);
    int64_t steps = (train.count + c.batch - 1) / c.batch;
    for (int k = 0; k < STEP_BOUND_PASSES; k++)
        printf("bound_%s_us %.1f\n", step_bound_pass_name(k), 1e6 * best_passes[k] / (double)steps);
    printf("allocs_per_step %.3f\npeak_rss_mb %.1f\n", allocs, bench_peak_rss_mb());
    printf("optimizer %s\nstep_us %.1f\nstep_gb_s %.1f\n", c.optimizer, best_step, 1e-3 * bytes / best_step);
    if (compare)
        printf("sgd_step_us %.1f\nsgd_step_gb_s %.1f\nstep_ratio %.3f\n", best_sgd, 1e-3 * sgd_bytes / best_sgd,
               best_step / best_sgd);
    if (c.fused) {
        double med = bench_median(epochs, c.repeat), fused_med = bench_median(fused_epochs, c.repeat);
        printf("fused_epoch_seconds %.4f\nfused_ratio %.3f\nfused_allocs_per_step %.3f\n", best_fused,
               best_fused / best_floor, fused_allocs);
        printf("zero_grad_us %.1f\nfused_step_us %.1f\nfused_zero_grad_us %.1f\n", best_zero, best_fused_step,
               best_fused_zero);
        printf("median_epoch_seconds %.4f\nmedian_fused_epoch_seconds %.4f\nfused_speedup %.3f\n", med, fused_med,
               med / fused_med);
        double cpu_med = bench_median(cpu, c.repeat), fused_cpu_med = bench_median(fused_cpu, c.repeat);
        printf("median_epoch_cpu_seconds %.4f\nmedian_fused_epoch_cpu_seconds %.4f\nfused_cpu_speedup %.3f\n",
               cpu_med, fused_cpu_med, cpu_med / fused_cpu_med);
        double consume_med = bench_median(consume_epochs, c.repeat);
        double consume_cpu_med = bench_median(consume_cpu, c.repeat);
        printf("consume_epoch_seconds %.4f\nconsume_ratio %.3f\nconsume_zero_grad_us %.1f\n", best_consume,
               best_consume / best_floor, best_consume_zero);
        printf("median_consume_epoch_seconds %.4f\nconsume_speedup %.3f\nmedian_consume_epoch_cpu_seconds %.4f\n"
               "consume_cpu_speedup %.3f\n",
               consume_med, med / consume_med, consume_cpu_med, cpu_med / consume_cpu_med);
        double u = bench_median(upd, c.repeat), fu = bench_median(fused_upd, c.repeat);
        double cu = bench_median(consume_upd, c.repeat);
        printf("backward_step_us %.1f\nfused_backward_step_us %.1f\nconsume_backward_step_us %.1f\n"
               "fused_backward_step_speedup %.3f\nconsume_backward_step_speedup %.3f\n",
               u, fu, cu, u / fu, u / cu);
    }
    cg_dataset_free(&train);
    return 0;
}
