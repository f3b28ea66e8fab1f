/* mnist_classifier: a 784-256-10 MLP (Linear, ReLU, [Dropout,] Linear) trained with
 * cross-entropy and SGD with momentum (or --optimizer adam|adamw|rmsprop) on
 * MNIST-format data (MNIST,
 * Fashion-MNIST).  Prints per epoch the mean training loss, the test accuracy
 * and the time, and last a line "test_accuracy X" for scripts.
 * Run with --help for the flags. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cgrad.h>

#include "optimizer_choice.h"

struct options {
    const char *data_dir;
    int epochs, batch, threads;
    const char *optimizer;
    double lr, momentum, dropout; /* lr 0: the optimizer's usual start */
    uint64_t seed;
    const char *export_path; /* --export: the trained model as safetensors */
};

static const char usage[] =
    "usage: mnist_classifier [options]\n"
    "Trains a 784-256-10 MLP (ReLU, cross-entropy, SGD with momentum) on MNIST-format\n"
    "IDX files and reports the test accuracy after every epoch.\n"
    "\n"
    "  --data DIR     directory with train-/t10k- images and labels (.gz or raw) [datasets/mnist]\n"
    "  --epochs N     training epochs [5]\n"
    "  --batch N      batch size [64]\n"
    "  --optimizer N  sgd, adam, adamw or rmsprop [sgd]\n"
    "  --lr X         learning rate, > 0 [0.05 for sgd, 1e-3 for the others]\n"
    "  --momentum X   SGD momentum [0.9]\n"
    "  --dropout P    dropout probability after the hidden layer, 0 <= P < 1 [0: none]\n"
    "  --seed N       seed for initialization and shuffling [0]\n"
    "  --threads N    cgrad threads [CGRAD_NUM_THREADS, else 1]\n"
    "  --export FILE  write the trained model as FILE.safetensors (PyTorch state_dict\n"
    "                 names of the same torch.nn.Sequential)\n"
    "  --help         this text\n";

static int bad_flag(const char *flag, const char *why)
{
    fprintf(stderr, "mnist_classifier: %s: %s\n\n%s", flag, why, usage);
    return 2;
}

/* The whole value must parse ("5x" and "" are errors, not 5 and 0).
 * Return 0, or 2 after printing the usage. */
static int parse_long(const char *flag, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        char why[96];
        snprintf(why, sizeof why, "'%.20s' is not an integer in [%ld, %ld]", v, lo, hi);
        return bad_flag(flag, why);
    }
    *out = x;
    return 0;
}

static int parse_double(const char *flag, const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < 0) {
        char why[96];
        snprintf(why, sizeof why, "'%.20s' is not a finite number >= 0", v);
        return bad_flag(flag, why);
    }
    *out = x;
    return 0;
}

/* Parses argv into *o.  Returns 0 to run, 1 after --help, 2 on a bad flag. */
static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.data_dir = "datasets/mnist", .epochs = 5, .batch = 64,
                          .optimizer = "sgd", .momentum = 0.9};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        static const char *const flags[] = {"--data", "--epochs", "--batch", "--threads",
                                            "--seed", "--lr", "--momentum", "--dropout",
                                            "--export", "--optimizer"};
        bool known = false;
        for (size_t k = 0; k < sizeof flags / sizeof *flags; k++) known |= !strcmp(a, flags[k]);
        if (!known) return bad_flag(a, strncmp(a, "--", 2) ? "unexpected argument" : "unknown option");
        if (i + 1 >= argc) return bad_flag(a, "needs a value");
        const char *v = argv[++i];
        long n = 0;
        int rc = 0;
        if (!strcmp(a, "--data")) o->data_dir = v;
        else if (!strcmp(a, "--epochs")) { rc = parse_long(a, v, 0, 100000, &n); o->epochs = (int)n; }
        else if (!strcmp(a, "--batch")) { rc = parse_long(a, v, 1, 1 << 20, &n); o->batch = (int)n; }
        else if (!strcmp(a, "--threads")) { rc = parse_long(a, v, 1, 256, &n); o->threads = (int)n; }
        else if (!strcmp(a, "--seed")) { rc = parse_long(a, v, 0, 0x7fffffffL, &n); o->seed = (uint64_t)n; }
        else if (!strcmp(a, "--lr")) {
            rc = parse_double(a, v, &o->lr);
            if (!rc && o->lr == 0) return bad_flag(a, "the learning rate must be > 0");
        } else if (!strcmp(a, "--optimizer")) {
            o->optimizer = v;
            if (!ex_optimizer_known(v)) return bad_flag(a, "expected " EX_OPTIMIZER_NAMES);
        } else if (!strcmp(a, "--export")) {
            size_t len = strlen(v);
            if (len < 12 || strcmp(v + len - 12, ".safetensors"))
                return bad_flag(a, "expected a file name ending in .safetensors");
            o->export_path = v;
        } else if (!strcmp(a, "--dropout")) {
            rc = parse_double(a, v, &o->dropout);
            if (!rc && o->dropout >= 1) rc = bad_flag(a, "the drop probability must be < 1");
        } else {
            rc = parse_double(a, v, &o->momentum);
        }
        if (rc) return rc;
    }
    if (o->lr == 0) o->lr = ex_optimizer_default_lr(o->optimizer, 0.05);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One pass over the shuffled training batches.  Returns the mean loss over
 * the samples, or NAN after printing why training stopped. */
static double train_epoch(struct cg_module *model, struct cg_optimizer *opt, struct cg_tape *tape,
                          struct cg_batches *it)
{
    double loss_sum = 0.0;
    int64_t seen = 0;
    for (struct cg_tensor *x; (x = cg_batches_next(it, tape)); cg_tape_reset(tape)) {
        /* Labels of exactly this batch, valid until the next cg_batches_next. */
        struct cg_tensor *loss = cg_cross_entropy_loss(tape, cg_module_forward(model, tape, x),
                                                       cg_batches_labels(it), CG_REDUCTION_MEAN);
        if (!loss) break;
        double l = cg_tensor_item(loss);
        if (!isfinite(l)) {
            fprintf(stderr, "mnist_classifier: the loss became %g: training diverged (try a "
                    "smaller --lr)\n", l);
            cg_tape_reset(tape);
            return NAN;
        }
        cg_optimizer_zero_grad(opt);
        if (cg_backward(tape, loss) != CG_OK || cg_optimizer_step(opt) != CG_OK) {
            fprintf(stderr, "mnist_classifier: %s\n", cg_last_error());
            cg_tape_reset(tape);
            return NAN;
        }
        loss_sum += l * (double)x->shape[0];
        seen += x->shape[0];
    }
    /* cg_batches_next also returns NULL when it runs out of memory: then the
     * epoch stopped early. */
    if (seen != it->ds->count) {
        fprintf(stderr, "mnist_classifier: %s\n", cg_last_error());
        return NAN;
    }
    return loss_sum / (double)seen;
}

/* Fraction of test images whose largest logit is the right class, or NAN. */
static double evaluate(struct cg_module *model, struct cg_tape *tape, const struct cg_dataset *test)
{
    struct cg_batches it;
    if (cg_batches_init(&it, test, (struct cg_batches_options){.batch_size = 1000}) != CG_OK) {
        fprintf(stderr, "mnist_classifier: %s\n", cg_last_error());
        return NAN;
    }
    bool was = cg_tape_set_grad_enabled(tape, false); /* no records, no backward */
    cg_module_set_training(model, false);
    int64_t correct = 0, total = 0;
    for (struct cg_tensor *x; (x = cg_batches_next(&it, tape)); cg_tape_reset(tape)) {
        struct cg_tensor *logits = cg_module_forward(model, tape, x);
        if (!logits) break;
        const int32_t *labels = cg_batches_labels(&it);
        const float *p = logits->data;
        int64_t classes = logits->shape[1];
        for (int64_t n = 0; n < logits->shape[0]; n++) {
            int64_t best = 0;
            for (int64_t c = 1; c < classes; c++)
                if (p[n * classes + c] > p[n * classes + best]) best = c;
            correct += best == labels[n];
        }
        total += logits->shape[0];
    }
    cg_tape_reset(tape);
    cg_tape_set_grad_enabled(tape, was);
    cg_module_set_training(model, true);
    cg_batches_free(&it);
    if (total != test->count) {
        fprintf(stderr, "mnist_classifier: evaluation failed: %s\n", cg_last_error());
        return NAN;
    }
    return (double)correct / (double)total;
}

static int run(const struct options *o, struct cg_dataset *train, struct cg_dataset *test)
{
    if (cg_mnist_load(train, o->data_dir, CG_MNIST_TRAIN) != CG_OK ||
        cg_mnist_load(test, o->data_dir, CG_MNIST_TEST) != CG_OK) {
        fprintf(stderr, "mnist_classifier: %s\n  (run scripts/fetch_data.sh datasets, or pass "
                "--data DIR with the four MNIST-format files)\n", cg_last_error());
        return 1;
    }
    int64_t pixels = (int64_t)train->rows * train->cols;
    struct cg_rng rng = cg_rng_seed(o->seed);
    /* Dropout's masks come from their own stream (it must outlive the model). */
    struct cg_rng drop_rng = cg_rng_seed(o->seed ^ 0x5eedULL);
    struct cg_module *model =
        o->dropout > 0
            ? cg_sequential(cg_linear_new(pixels, 256, true, &rng), cg_relu_new(),
                            cg_dropout_new(o->dropout, &drop_rng),
                            cg_linear_new(256, 10, true, &rng))
            : cg_sequential(cg_linear_new(pixels, 256, true, &rng), cg_relu_new(),
                            cg_linear_new(256, 10, true, &rng));
    struct cg_optimizer *opt = model ? ex_optimizer_new(o->optimizer, o->lr, o->momentum, model) : NULL;
    struct cg_tape *tape = cg_tape_new();
    struct cg_batches it = {0};
    int rc = 1;
    if (!model || !opt || !tape ||
        cg_batches_init(&it, train, (struct cg_batches_options){.batch_size = o->batch,
                                                                .rng = &rng}) != CG_OK) {
        fprintf(stderr, "mnist_classifier: %s\n", cg_last_error());
        goto out;
    }
    printf("MLP %lld-256-10 (ReLU%s), %lld training / %lld test images from %s, batch %d, %s, lr %g, "
           "momentum %g (SGD only), seed %llu, %d thread(s)\n",
           (long long)pixels, o->dropout > 0 ? ", dropout" : "", (long long)train->count,
           (long long)test->count, o->data_dir, o->batch, o->optimizer, o->lr, o->momentum,
           (unsigned long long)o->seed, cg_get_num_threads());
    cg_module_print(model, stdout);
    double acc = NAN;
    for (int epoch = 1; epoch <= o->epochs; epoch++) {
        double t0 = now();
        double loss = train_epoch(model, opt, tape, &it);
        double seconds = now() - t0;
        if (isnan(loss)) goto out;
        acc = evaluate(model, tape, test);
        if (isnan(acc)) goto out;
        printf("epoch %d/%d  train_loss %.4f  test_accuracy %.4f  %.1fs\n", epoch, o->epochs, loss,
               acc, seconds);
        fflush(stdout);
    }
    if (o->epochs == 0 && isnan(acc = evaluate(model, tape, test))) goto out;
    if (o->export_path) {
        const char *meta[] = {"format", "pt", "program", "mnist_classifier", NULL};
        if (cg_safetensors_save(o->export_path, model, meta) != CG_OK) {
            fprintf(stderr, "mnist_classifier: --export: %s\n", cg_last_error());
            goto out;
        }
        printf("wrote %s\n", o->export_path);
    }
    printf("test_accuracy %.4f\n", acc);
    rc = 0;
out:
    cg_batches_free(&it);
    cg_tape_free(tape);
    cg_optimizer_free(opt);
    cg_module_free(model);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_options(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : 2;
    if (o.threads == 0) { /* no --threads: CGRAD_NUM_THREADS, else 1 */
        const char *env = getenv("CGRAD_NUM_THREADS");
        o.threads = env && atoi(env) > 0 ? atoi(env) : 1;
    }
    cg_set_num_threads(o.threads);
    struct cg_dataset train = {0}, test = {0};
    rc = run(&o, &train, &test);
    cg_dataset_free(&train);
    cg_dataset_free(&test);
    return rc;
}
