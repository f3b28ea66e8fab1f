#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cnn.h"
#include "optimizer_choice.h"

static const char prog[] = "mnist_cnn";
static const char usage[] =
    "usage: mnist_cnn [options]\n"
    "Trains PyTorch's examples/mnist network (Conv2d(1,32,3), ReLU, Conv2d(32,64,3), ReLU,\n"
    "MaxPool2d(2), Dropout(0.25), Flatten, Linear(9216,128), ReLU, Dropout(0.5),\n"
    "Linear(128,10), LogSoftmax(1) + NLL loss)\n"
    "on MNIST-format IDX files; prints per-epoch loss, test accuracy and seconds.\n"
    "\n"
    "  --data DIR       directory with train-/t10k- images and labels (.gz or raw) [datasets/mnist]\n"
    "  --epochs N       training epochs [1]\n"
    "  --batch N        batch size [64]\n"
    "  --optimizer NAME " EX_OPTIMIZER_NAMES " [sgd]\n"
    "  --lr X           learning rate [0.01 for sgd, else 0.001]\n"
    "  --momentum X     SGD momentum [0.9]\n"
    "  --seed N         seed for initialization, shuffling and dropout masks [0]\n"
    "  --threads N      cgrad threads [CGRAD_NUM_THREADS, else 1]\n"
    "  --out DIR        where filters.png, confusion.png, metrics.csv go [out/mnist_cnn]\n"
    "  --save FILE      checkpoint written atomically after every epoch\n"
    "  --resume FILE    continue training exactly from a checkpoint\n"
    "  --eval-only      only evaluate (with --resume; dropout off) and write the pictures\n"
    "  --limit N        use only the first N training images [all]\n"
    "  --test-limit N   use only the first N test images [all]\n"
    "  --quiet          no progress bar\n"
    "  --anomaly        check every op for NaN/Inf and name the first offender\n"
    "  --help           this text\n";

int cnn_parse_options(int argc, char **argv, struct cnn_options *opt)
{
    *opt = (struct cnn_options){.data_dir = "datasets/mnist", .epochs = 1, .batch = 64,
                                .momentum = 0.9, .optimizer = "sgd",
                                .out_dir = "out/mnist_cnn"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        if (!strcmp(a, "--eval-only")) { opt->eval_only = true; continue; }
        if (!strcmp(a, "--quiet")) { opt->quiet = true; continue; }
        if (!strcmp(a, "--anomaly")) { opt->anomaly = true; continue; }
        if (strncmp(a, "--", 2) != 0) return ex_bad(prog, usage, a, NULL, "unexpected argument");
        static const char *const valued[] = {"--data", "--out", "--save", "--resume", "--epochs",
                                             "--batch", "--threads", "--limit", "--test-limit",
                                             "--seed", "--lr", "--momentum", "--optimizer"};
        bool known = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) known |= !strcmp(a, valued[k]);
        if (!known) return ex_bad(prog, usage, a, NULL, "unknown option");
        if (i + 1 >= argc) return ex_bad(prog, usage, a, NULL, "needs a value");
        const char *v = argv[++i];
        long n = 0;
        int rc = 0;
        if (!strcmp(a, "--data")) opt->data_dir = v;
        else if (!strcmp(a, "--out")) opt->out_dir = v;
        else if (!strcmp(a, "--save")) opt->save = v;
        else if (!strcmp(a, "--resume")) opt->resume = v;
        else if (!strcmp(a, "--optimizer")) opt->optimizer = v;
        else if (!strcmp(a, "--epochs")) { rc = ex_parse_long(prog, usage, a, v, 0, 100000, &n); opt->epochs = (int)n; }
        else if (!strcmp(a, "--batch")) { rc = ex_parse_long(prog, usage, a, v, 1, 1 << 16, &n); opt->batch = (int)n; }
        else if (!strcmp(a, "--threads")) { rc = ex_parse_long(prog, usage, a, v, 1, 64, &n); opt->threads = (int)n; }
        else if (!strcmp(a, "--limit")) rc = ex_parse_long(prog, usage, a, v, 0, 1L << 40, &opt->limit);
        else if (!strcmp(a, "--test-limit")) rc = ex_parse_long(prog, usage, a, v, 0, 1L << 40, &opt->test_limit);
        else if (!strcmp(a, "--seed")) { rc = ex_parse_long(prog, usage, a, v, 0, 0x7fffffffL, &n); opt->seed = (uint64_t)n; }
        else if (!strcmp(a, "--lr")) {
            rc = ex_parse_double(prog, usage, a, v, 0.0, &opt->lr);
            if (!rc && opt->lr == 0) return ex_bad(prog, usage, a, v, "expected a learning rate > 0");
            opt->lr_set = true;
        }
        else if (!strcmp(a, "--momentum")) rc = ex_parse_double(prog, usage, a, v, 0.0, &opt->momentum);
        if (rc) return rc;
    }
    if (!ex_optimizer_known(opt->optimizer))
        return ex_bad(prog, usage, "--optimizer", opt->optimizer, "expected " EX_OPTIMIZER_NAMES);
    if (!opt->lr_set) opt->lr = ex_optimizer_default_lr(opt->optimizer, 0.01);
    if (opt->eval_only && !opt->resume)
        return ex_bad(prog, usage, "--eval-only", NULL, "needs --resume FILE");
    return 0;
}
