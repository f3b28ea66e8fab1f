/* Sparse autoencoder on MNIST-format data: 784-256 Linear, Hardshrink(0.1),
 * 256-64 Linear, 64-784 Linear, MSE reconstruction (+ optional L1 penalty on
 * the code), SGD with momentum or --optimizer adam|adamw|rmsprop.  Run with --help
 * for the flags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer_choice.h"
#include "sae.h"

static int load_data(struct sae *s)
{
    if (cg_mnist_load(&s->train, s->opt.data_dir, CG_MNIST_TRAIN) != CG_OK ||
        cg_mnist_load(&s->test, s->opt.data_dir, CG_MNIST_TEST) != CG_OK) {
        fprintf(stderr, "sparse_autoencoder: %s\n  (run scripts/fetch_data.sh, or pass --data DIR "
                "with the four MNIST .gz files)\n", cg_last_error());
        return 1;
    }
    if (s->opt.limit > 0 && s->opt.limit < s->train.count) s->train.count = s->opt.limit;
    return 0;
}

static int build(struct sae *s)
{
    struct cg_rng rng = cg_rng_seed(s->opt.seed);
    int64_t pix = (int64_t)s->train.rows * s->train.cols;
    s->model = cg_sequential(cg_linear_new(pix, s->opt.hidden, true, &rng),
                             cg_hardshrink_new(s->opt.lambda),
                             cg_linear_new(s->opt.hidden, s->opt.bottleneck, true, &rng),
                             cg_linear_new(s->opt.bottleneck, pix, true, &rng));
    s->optim = s->model ? ex_optimizer_new(s->opt.optimizer, s->opt.lr, s->opt.momentum, s->model) : NULL;
    s->tape = cg_tape_new();
    if (s->tape && s->opt.anomaly) cg_tape_set_anomaly(s->tape, true);
    if (!s->model || !s->optim || !s->tape ||
        cg_batches_init(&s->batches, &s->train,
                        (struct cg_batches_options){.batch_size = s->opt.batch, .rng = &rng}) != CG_OK) {
        fprintf(stderr, "sparse_autoencoder: %s\n", cg_last_error());
        return 1;
    }
    return 0;
}

static void teardown(struct sae *s)
{
    cg_batches_free(&s->batches);
    cg_tape_free(s->tape);
    cg_optimizer_free(s->optim);
    cg_module_free(s->model);
    cg_dataset_free(&s->train);
    cg_dataset_free(&s->test);
}

static void print_metrics(const struct sae *s, const struct sae_metrics *m)
{
    printf("epoch %d/%d  train_mse %.5f  test_mse %.5f  code_zero_frac %.3f  %.1fs (%.0f samples/s)\n",
           s->epoch, s->opt.epochs, m->train_mse, m->test_mse, m->code_zero_frac, m->seconds,
           m->seconds > 0 ? (double)s->train.count / m->seconds : 0.0);
    fflush(stdout);
}

/* --export: the model as safetensors, loadable into the equivalent
 * torch.nn.Sequential (docs/interop.md). */
static int sae_export(struct sae *s)
{
    if (!s->opt.export_path) return 0;
    const char *meta[] = {"format", "pt", "program", "sparse_autoencoder", NULL};
    if (cg_safetensors_save(s->opt.export_path, s->model, meta) != CG_OK) {
        fprintf(stderr, "sparse_autoencoder: --export: %s\n", cg_last_error());
        return 1;
    }
    printf("wrote %s\n", s->opt.export_path);
    return 0;
}

static int run(struct sae *s)
{
    if (load_data(s) || sae_check_output_paths(&s->opt) || build(s)) return 1;
    if (s->opt.resume && sae_resume(s, s->opt.resume)) return 1;
    printf("sparse autoencoder %lld-%d-%d-%lld, Hardshrink(%g), %lld training / %lld test images "
           "from %s, batch %d, %s, lr %g, momentum %g (SGD only), l1 %g, %d thread(s)\n",
           (long long)s->train.rows * s->train.cols, s->opt.hidden, s->opt.bottleneck,
           (long long)s->train.rows * s->train.cols, s->opt.lambda, (long long)s->train.count,
           (long long)s->test.count, s->opt.data_dir, s->opt.batch, s->opt.optimizer, s->opt.lr,
           s->opt.momentum,
           s->opt.l1, s->opt.threads);
    if (s->opt.eval_only) {
        struct sae_metrics m = {0};
        if (sae_evaluate(s, &m)) return 1;
        printf("eval after %d epochs  test_mse %.5f  code_zero_frac %.3f\n", s->epoch, m.test_mse,
               m.code_zero_frac);
        return sae_write_pictures(s);
    }
    if (s->epoch >= s->opt.epochs)
        printf("checkpoint is already at epoch %d of %d: nothing to train\n", s->epoch, s->opt.epochs);
    while (s->epoch < s->opt.epochs) {
        struct sae_metrics m = {0};
        if (sae_train_epoch(s, &m)) return 1;
        s->epoch++;
        if (sae_evaluate(s, &m)) return 1;
        print_metrics(s, &m);
        if (sae_append_csv(s, &m, s->epoch == 1)) return 1;
        if (s->opt.save && sae_save(s, s->opt.save)) return 1;
    }
    if (sae_write_pictures(s) || (s->epoch > 0 && sae_plot_training_curves(s))) return 1;
    printf("wrote %s/reconstructions.png, %s/filters.png, %s/decoder_atoms.png, %s/metrics.csv%s\n",
           s->opt.out_dir, s->opt.out_dir, s->opt.out_dir, s->opt.out_dir,
           s->epoch > 0 ? ", training_curves.png" : "");
    return sae_export(s);
}

int main(int argc, char **argv)
{
    struct sae s;
    memset(&s, 0, sizeof s);
    int rc = sae_parse_options(argc, argv, &s.opt);
    if (rc) return rc == 1 ? 0 : 2;
    if (s.opt.plot_sweep) {
        rc = sae_plot_sweep(s.opt.plot_sweep, s.opt.out_dir);
        cg_plot_release_caches();
        return rc;
    }
    if (s.opt.threads == 0) { /* no --threads: CGRAD_NUM_THREADS, else 1 */
        const char *env = getenv("CGRAD_NUM_THREADS");
        s.opt.threads = env && atoi(env) > 0 ? atoi(env) : 1;
    }
    cg_set_num_threads(s.opt.threads);
    rc = run(&s);
    teardown(&s);
    cg_plot_release_caches(); /* a clean exit for leak checkers */
    return rc;
}
