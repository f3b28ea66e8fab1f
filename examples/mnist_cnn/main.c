/* PyTorch's examples/mnist CNN trained in C: Conv2d(1,32,3), ReLU,
 * Conv2d(32,64,3), ReLU, MaxPool2d(2), Dropout(0.25), Flatten,
 * Linear(9216,128), ReLU, Dropout(0.5), Linear(128,10), LogSoftmax(1) +
 * NLL loss, SGD lr 0.01 momentum 0.9 (or --optimizer adam|adamw|rmsprop),
 * batch 64.
 * Run with --help for the flags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"

static int load_data(struct cnn *c)
{
    if (cg_mnist_load(&c->train, c->opt.data_dir, CG_MNIST_TRAIN) != CG_OK ||
        cg_mnist_load(&c->test, c->opt.data_dir, CG_MNIST_TEST) != CG_OK) {
        fprintf(stderr, "mnist_cnn: %s\n  (run scripts/fetch_data.sh, or pass --data DIR with the "
                "four MNIST .gz files)\n", cg_last_error());
        return 1;
    }
    if (c->train.rows != 28 || c->train.cols != 28 || c->test.rows != 28 || c->test.cols != 28) {
        fprintf(stderr, "mnist_cnn: %s holds %dx%d images; this network needs 28x28\n",
                c->opt.data_dir, c->train.rows, c->train.cols);
        return 1;
    }
    if (!c->train.labels || !c->test.labels) {
        fprintf(stderr, "mnist_cnn: %s has no labels\n", c->opt.data_dir);
        return 1;
    }
    if (c->opt.limit > 0 && c->opt.limit < c->train.count) c->train.count = c->opt.limit;
    if (c->opt.test_limit > 0 && c->opt.test_limit < c->test.count) c->test.count = c->opt.test_limit;
    return 0;
}

static void print_metrics(const struct cnn *c, const struct cnn_metrics *m)
{
    printf("epoch %d/%d  train_loss %.5f  test_loss %.5f  test_accuracy %.4f  %.1fs (%.0f "
           "samples/s)\n", c->epoch, c->opt.epochs, m->train_loss, m->test_loss, m->test_accuracy,
           m->seconds, m->seconds > 0 ? (double)c->train.count / m->seconds : 0.0);
    fflush(stdout);
}

static int run(struct cnn *c)
{
    if (load_data(c) || cnn_build(c)) return 1;
    if (c->opt.resume && cnn_resume(c, c->opt.resume)) return 1;
    printf("mnist_cnn: %lld training / %lld test images from %s, batch %d, %s lr %g",
           (long long)c->train.count, (long long)c->test.count, c->opt.data_dir, c->opt.batch,
           c->opt.optimizer, c->opt.lr);
    if (!strcmp(c->opt.optimizer, "sgd")) printf(" momentum %g", c->opt.momentum);
    printf(", %d thread(s)\n", c->opt.threads);
    struct cnn_metrics m = {0};
    if (c->opt.eval_only || c->epoch >= c->opt.epochs) {
        if (!c->opt.eval_only)
            printf("checkpoint is already at epoch %d of %d: nothing to train\n", c->epoch,
                   c->opt.epochs);
        if (cnn_evaluate(c, &m)) return 1;
        printf("eval after %d epochs  test_loss %.5f  test_accuracy %.4f\n", c->epoch,
               m.test_loss, m.test_accuracy);
        return cnn_write_pictures(c, &m);
    }
    while (c->epoch < c->opt.epochs) {
        if (cnn_train_epoch(c, &m)) return 1;
        c->epoch++;
        if (cnn_evaluate(c, &m)) return 1;
        print_metrics(c, &m);
        if (cnn_append_csv(c, &m, c->epoch == 1)) return 1;
        if (c->opt.save && cnn_save(c, c->opt.save)) return 1;
    }
    if (cnn_write_pictures(c, &m)) return 1;
    printf("wrote %s/filters.png, %s/confusion.png, %s/metrics.csv\n", c->opt.out_dir,
           c->opt.out_dir, c->opt.out_dir);
    return 0;
}

int main(int argc, char **argv)
{
    static struct cnn c; /* static: the confusion matrix and options are large-ish */
    memset(&c, 0, sizeof c);
    int rc = cnn_parse_options(argc, argv, &c.opt);
    if (rc) return rc == 1 ? 0 : 2;
    if (c.opt.threads == 0) { /* no --threads: CGRAD_NUM_THREADS, else 1 */
        const char *env = getenv("CGRAD_NUM_THREADS");
        c.opt.threads = env && atoi(env) > 0 ? atoi(env) : 1;
    }
    cg_set_num_threads(c.opt.threads);
    rc = run(&c);
    cnn_free(&c);
    return rc;
}
