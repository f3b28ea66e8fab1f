/* One epoch of PyTorch's examples/mnist CNN (Conv2d(1,32,3), ReLU,
 * Conv2d(32,64,3), ReLU, MaxPool2d(2), Dropout(0.25), Flatten,
 * Linear(9216,128), ReLU, Dropout(0.5), Linear(128,10), log-softmax + NLL;
 * SGD lr 0.01 momentum 0.9, batch 64) against the bare OpenBLAS GEMMs of
 * the same epoch, timed in the same process with the same thread count.
 *
 *   cnn_epoch [--data DIR] [--batch 64] [--threads 1] [--repeat 1] [--limit IMAGES]
 *             [--floor 1]
 * prints: images, epoch_seconds, gemm_floor_seconds, ratio, gemm_gflop (the
 * epoch's GEMM work), epoch_gflops and floor_gflops (that work per second of
 * each; compare with bench/fma_peak), step_median_ms, floor_step_median_ms
 * and median_ratio (the median training step, forward + backward +
 * optimizer without the batch fetch, against the median step of the
 * floor: on a busy machine a step that lost its core shifts a median
 * far less than a sum), allocs_per_step, peak_rss_mb (best of --repeat).  --limit times the first IMAGES images
 * only (the machine here is slow: a full epoch takes minutes).  --floor 0
 * skips the floor and prints the epoch's figures only, for timing two
 * builds against each other as whole processes.
 *
 * The floor runs the products cgrad's convolution makes (one per sample:
 * forward, weight gradient, input gradient for the second conv) and the
 * Linear layers' products, with OpenBLAS threaded at --threads.  The
 * network and loop are the example's (examples/mnist_cnn): dropouts with
 * their own stream, Flatten and LogSoftmax modules, cg_nll_loss, backward
 * and SGD in one sweep (cg_optimizer_backward_consume). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cgrad.h>

#include "bench_util.h"

struct cfg {
    const char *data;
    int batch, threads, repeat, floor;
    long limit;
};

static int parse(int argc, char **argv, struct cfg *c)
{
    *c = (struct cfg){"/usr/share/datasets/fashion-mnist", 64, 1, 1, 1, 0};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--data")) c->data = v;
        else if (!strcmp(k, "--batch")) c->batch = atoi(v);
        else if (!strcmp(k, "--threads")) c->threads = atoi(v);
        else if (!strcmp(k, "--repeat")) c->repeat = atoi(v);
        else if (!strcmp(k, "--limit")) c->limit = atol(v);
        else if (!strcmp(k, "--floor")) c->floor = atoi(v);
        else return 1;
    }
    return (argc - 1) % 2 || c->batch < 1 || c->threads < 1 || c->repeat < 1 || c->limit < 0 ||
           (c->floor != 0 && c->floor != 1);
}

static double gemm_flop; /* counted by the floor's products */

/* Per-step times of the run in progress, for the medians. */
static double *step_times;
static int64_t n_step_times;

static void record_step(double seconds) { step_times[n_step_times++] = seconds; }

/* Median of the recorded step times, in ms; clears the record. */
static double take_median_ms(void)
{
    double m = 1e3 * bench_median(step_times, (int)n_step_times);
    n_step_times = 0;
    return m;
}

static void gemm(bool ta, bool tb, int m, int n, int k, const float *a, const float *b, float *c)
{
    gemm_flop += 2.0 * m * n * k;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, 1.0f, c, n);
}

/* The products of one training step of batch n, shaped as cgrad runs them. */
static void gemm_step(int n, float *const *buf)
{
    float *a = buf[0], *b = buf[1], *c = buf[2];
    for (int s = 0; s < n; s++) {
        gemm(false, false, 32, 676, 9, a, b, c);    /* conv1 forward */
        gemm(false, true, 32, 9, 676, a, b, c);     /* conv1 weight gradient */
        gemm(false, false, 64, 576, 288, a, b, c);  /* conv2 forward */
        gemm(false, true, 64, 288, 576, a, b, c);   /* conv2 weight gradient */
        gemm(true, false, 288, 576, 64, a, b, c);   /* conv2 input gradient */
    }
    gemm(false, true, n, 128, 9216, a, b, c); /* fc1 forward, weight, input gradients */
    gemm(true, false, 128, 9216, n, a, b, c);
    gemm(false, false, n, 9216, 128, a, b, c);
    gemm(false, true, n, 10, 128, a, b, c); /* fc2 */
    gemm(true, false, 10, 128, n, a, b, c);
    gemm(false, false, n, 128, 10, a, b, c);
}

static double time_floor(const struct cfg *c, int64_t count)
{
    size_t big = (size_t)9216 * 128 > (size_t)c->batch * 9216 ? (size_t)9216 * 128
                                                             : (size_t)c->batch * 9216;
    float *buf[3];
    for (int i = 0; i < 3; i++) {
        buf[i] = malloc(big * sizeof(float));
        for (size_t j = 0; j < big; j++) buf[i][j] = 0.001f * (float)(j % 89);
    }
    openblas_set_num_threads(c->threads);
    gemm_flop = 0;
    double t0 = bench_now();
    for (int64_t done = 0; done < count; done += c->batch) {
        double s0 = bench_now();
        gemm_step(count - done < c->batch ? (int)(count - done) : c->batch, buf);
        record_step(bench_now() - s0);
    }
    double t = bench_now() - t0;
    cg_set_num_threads(c->threads); /* back to one OpenBLAS thread per call */
    bench_settle_openblas();
    for (int i = 0; i < 3; i++) free(buf[i]);
    return t;
}

/* The whole network; the dropouts keep a pointer to *drop_rng. */
static struct cg_module *net_new(struct cg_rng *rng, struct cg_rng *drop_rng)
{
    const struct cg_conv2d_params *p = NULL; /* stride 1, no padding */
    return cg_sequential(cg_conv2d_new(1, 32, 3, 3, p, true, rng), cg_relu_new(),
                         cg_conv2d_new(32, 64, 3, 3, p, true, rng), cg_relu_new(),
                         cg_max_pool2d_new(2, 0, 0, 1), cg_dropout_new(0.25, drop_rng),
                         cg_flatten_new(1, -1), cg_linear_new(9216, 128, true, rng), cg_relu_new(),
                         cg_dropout_new(0.5, drop_rng), cg_linear_new(128, 10, true, rng),
                         cg_log_softmax_new(1));
}

/* targets: room for the batch, filled from the int32 labels (no allocation). */
static struct cg_tensor *net_loss(struct cg_module *net, struct cg_tape *tape, struct cg_tensor *x,
                                  const int32_t *labels, int64_t *targets)
{
    int64_t b = x->shape[0];
    for (int64_t i = 0; i < b; i++) targets[i] = labels[i];
    x = cg_mul_scalar(tape, cg_add_scalar(tape, x, -0.1307), 1 / 0.3081);
    struct cg_tensor *logp = cg_module_forward(net, tape, cg_reshape(tape, x, CG_SHAPE(b, 1, 28, 28)));
    return cg_nll_loss(tape, logp, targets,
                       &(struct cg_class_loss_options){.reduction = CG_REDUCTION_MEAN});
}

static double time_epoch(const struct cfg *c, const struct cg_dataset *train, double *allocs_per_step)
{
    struct cg_rng rng = cg_rng_seed(0), drop_rng = cg_rng_seed(1);
    struct cg_module *all = net_new(&rng, &drop_rng);
    int64_t *targets = malloc(sizeof *targets * (size_t)c->batch);
    struct cg_optimizer *sgd = cg_sgd_new(all, (struct cg_sgd_options){.lr = 0.01, .momentum = 0.9});
    struct cg_tape *tape = cg_tape_new();
    struct cg_batches it;
    if (!all || !sgd || !tape || !targets ||
        cg_batches_init(&it, train, (struct cg_batches_options){.batch_size = c->batch, .rng = &rng}) != CG_OK) {
        fprintf(stderr, "cnn_epoch: %s\n", cg_last_error());
        exit(1);
    }
    size_t allocs_after_first = 0;
    int64_t steps = 0;
    double t0 = bench_now();
    for (struct cg_tensor *x; (x = cg_batches_next(&it, tape)); cg_tape_reset(tape)) {
        /* from step 2: the first reset may still consolidate the arena */
        if (steps == 1) allocs_after_first = cg_alloc_count();
        double s0 = bench_now();
        struct cg_tensor *loss = net_loss(all, tape, x, cg_batches_labels(&it), targets);
        cg_optimizer_zero_grad(sgd); /* as the example: work only before the first step */
        if (cg_optimizer_backward_consume(sgd, tape, loss) != CG_OK) {
            fprintf(stderr, "cnn_epoch: %s\n", cg_last_error());
            exit(1);
        }
        record_step(bench_now() - s0);
        steps++;
    }
    double t = bench_now() - t0;
    *allocs_per_step = steps > 2 ? (double)(cg_alloc_count() - allocs_after_first) / (double)(steps - 1) : 0.0;
    cg_batches_free(&it);
    cg_tape_free(tape);
    cg_optimizer_free(sgd);
    cg_module_free(all);
    free(targets);
    return t;
}

int main(int argc, char **argv)
{
    struct cfg c;
    if (parse(argc, argv, &c)) {
        fprintf(stderr, "usage: cnn_epoch [--data DIR] [--batch N] [--threads N] [--repeat N] "
                        "[--limit IMAGES] [--floor 0|1]\n");
        return 2;
    }
    const char *core = bench_openblas_core(argv);
    cg_set_num_threads(c.threads);
    struct cg_dataset train;
    if (cg_mnist_load(&train, c.data, CG_MNIST_TRAIN) != CG_OK) {
        fprintf(stderr, "cnn_epoch: %s\n", cg_last_error());
        return 1;
    }
    if (c.limit > 0 && c.limit < train.count) train.count = c.limit;
    double best_epoch = 1e30, best_floor = 1e30, allocs = 0, step_ms = 1e30, floor_ms = 1e30;
    step_times = malloc(sizeof *step_times * (size_t)(train.count / c.batch + 1));
    if (!step_times) return 1;
    for (int r = 0; r < c.repeat; r++) {
        double f = c.floor ? time_floor(&c, train.count) : 0, fm = c.floor ? take_median_ms() : 0;
        double e = time_epoch(&c, &train, &allocs), em = take_median_ms();
        if (f < best_floor) best_floor = f;
        if (e < best_epoch) best_epoch = e;
        if (fm < floor_ms) floor_ms = fm;
        if (em < step_ms) step_ms = em;
    }
    free(step_times);
    printf("images %lld\nbatch %d\nthreads %d\nopenblas_core %s\n", (long long)train.count,
           c.batch, c.threads, core);
    if (c.floor) {
        printf("epoch_seconds %.3f\ngemm_floor_seconds %.3f\nratio %.3f\n", best_epoch,
               best_floor, best_epoch / best_floor);
        printf("gemm_gflop %.1f\nepoch_gflops %.1f\nfloor_gflops %.1f\n", gemm_flop / 1e9,
               gemm_flop / 1e9 / best_epoch, gemm_flop / 1e9 / best_floor);
        printf("step_median_ms %.2f\nfloor_step_median_ms %.2f\nmedian_ratio %.3f\n", step_ms,
               floor_ms, step_ms / floor_ms);
    } else {
        printf("epoch_seconds %.3f\nstep_median_ms %.2f\n", best_epoch, step_ms);
    }
    printf("allocs_per_step %.3f\npeak_rss_mb %.1f\n", allocs, bench_peak_rss_mb());
    cg_dataset_free(&train);
    return 0;
}
