#include "options.h"

#include "cli.h"
#include "optimizer_choice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sparse_autoencoder [options]\n"
    "Trains a sparse autoencoder (784-H Linear, Hardshrink(lambda), H-B Linear, B-784 Linear)\n"
    "on MNIST-format IDX files and writes pictures of what it learned.  The code is the\n"
    "Hardshrink output (H wide): code_zero_frac and --l1 are about it.\n"
    "\n"
    "  --data DIR       directory with train-/t10k- images and labels (.gz or raw) [datasets/mnist]\n"
    "  --epochs N       training epochs [5]\n"
    "  --batch N        batch size [64]\n"
    "  --optimizer NAME sgd, adam, adamw or rmsprop [sgd]\n"
    "  --lr X           learning rate, > 0 [0.05 for sgd, 1e-3 for the others; with --resume,\n"
    "                   the checkpoint's]\n"
    "  --momentum X     SGD momentum [0.9]\n"
    "  --lambda X       Hardshrink threshold, >= 0 [0.1]\n"
    "  --l1 X           weight of the L1 activity penalty on the code, >= 0 [0; with --resume,\n"
    "                   the checkpoint's]\n"
    "  --seed N         seed for initialization and shuffling [0]\n"
    "  --threads N      cgrad threads [CGRAD_NUM_THREADS, else 1]\n"
    "  --out DIR        where reconstructions.png, filters.png, metrics.csv go [out/sparse_autoencoder]\n"
    "  --save FILE      checkpoint written atomically after every epoch\n"
    "  --resume FILE    continue training exactly from a checkpoint (--data, --limit, --batch,\n"
    "                   --lambda, --hidden, --bottleneck, --momentum must be those it was made with)\n"
    "  --eval-only      only evaluate (with --resume) and write the pictures\n"
    "  --hidden N       width of the first layer and of the code [256]\n"
    "  --bottleneck N   width of the linear layer after the code [64]\n"
    "  --limit N        use only the first N training images [all]\n"
    "  --quiet          no progress bar\n"
    "  --anomaly        check every op for NaN/Inf and name the first offender\n"
    "  --noise SIGMA    denoising: train on inputs + SIGMA * randn, clean targets [0]\n"
    "  --export FILE    write the trained model as FILE.safetensors (PyTorch state_dict names)\n"
    "  --filters-per-unit  stretch each filter in filters.png to its own range\n"
    "                   (default: one grey scale for all)\n"
    "  --plot-sweep CSV only draw lambda_sweep.png into --out from a lambda,test_mse,\n"
    "                   code_zero_frac table (scripts/lambda_sweep.sh writes it)\n"
    "  --help           this text\n";

static int bad(const char *flag, const char *value, const char *why)
{
    return ex_bad("sparse_autoencoder", usage, flag, value, why);
}

static int parse_long(const char *flag, const char *v, long lo, long hi, long *out)
{
    return ex_parse_long("sparse_autoencoder", usage, flag, v, lo, hi, out);
}

static int parse_double(const char *flag, const char *v, double lo, double *out)
{
    return ex_parse_double("sparse_autoencoder", usage, flag, v, lo, out);
}

int sae_parse_options(int argc, char **argv, struct sae_options *opt)
{
    *opt = (struct sae_options){
        .data_dir = "datasets/mnist", .epochs = 5, .batch = 64, .optimizer = "sgd", .lr = 0, .momentum = 0.9,
        .lambda = 0.1, .l1 = 0.0, .seed = 0, .threads = 0, .out_dir = "out/sparse_autoencoder",
        .hidden = 256, .bottleneck = 64,
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        if (!strcmp(a, "--eval-only")) { opt->eval_only = true; continue; }
        if (!strcmp(a, "--quiet")) { opt->quiet = true; continue; }
        if (!strcmp(a, "--anomaly")) { opt->anomaly = true; continue; }
        if (!strcmp(a, "--filters-per-unit")) { opt->filters_per_unit = true; continue; }
        if (strncmp(a, "--", 2) != 0) return bad(a, NULL, "unexpected argument");
        if (!strcmp(a, "--code"))
            return bad(a, NULL, "is now --bottleneck (the code is the Hardshrink output, "
                       "--hidden wide)");
        static const char *const valued[] = {"--data", "--out", "--save", "--resume", "--epochs",
                                             "--batch", "--threads", "--hidden", "--bottleneck", "--limit",
                                             "--seed", "--lr", "--momentum", "--lambda", "--l1",
                                             "--noise", "--export", "--plot-sweep",
                                             "--optimizer"};
        bool known = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) known |= !strcmp(a, valued[k]);
        if (!known) return bad(a, NULL, "unknown option");
        if (i + 1 >= argc) return bad(a, NULL, "needs a value");
        const char *v = argv[++i];
        long n = 0;
        int rc = 0;
        if (!strcmp(a, "--data")) opt->data_dir = v;
        else if (!strcmp(a, "--out")) opt->out_dir = v;
        else if (!strcmp(a, "--save")) opt->save = v;
        else if (!strcmp(a, "--resume")) opt->resume = v;
        else if (!strcmp(a, "--epochs")) { rc = parse_long(a, v, 0, 100000, &n); opt->epochs = (int)n; }
        else if (!strcmp(a, "--batch")) { rc = parse_long(a, v, 1, 1 << 20, &n); opt->batch = (int)n; }
        else if (!strcmp(a, "--threads")) { rc = parse_long(a, v, 1, 256, &n); opt->threads = (int)n; }
        else if (!strcmp(a, "--hidden")) { rc = parse_long(a, v, 1, 1 << 16, &n); opt->hidden = (int)n; }
        else if (!strcmp(a, "--bottleneck")) { rc = parse_long(a, v, 1, 1 << 16, &n); opt->bottleneck = (int)n; }
        else if (!strcmp(a, "--limit")) { rc = parse_long(a, v, 0, 1L << 40, &n); opt->limit = (int)n; }
        else if (!strcmp(a, "--seed")) { rc = parse_long(a, v, 0, 0x7fffffffL, &n); opt->seed = (uint64_t)n; }
        else if (!strcmp(a, "--lr")) {
            rc = parse_double(a, v, 0.0, &opt->lr);
            opt->lr_set = true;
            if (!rc && opt->lr == 0) return bad(a, v, "expected a learning rate > 0");
        } else if (!strcmp(a, "--optimizer")) {
            opt->optimizer = v;
            if (!ex_optimizer_known(v)) return bad(a, v, "expected " EX_OPTIMIZER_NAMES);
        }
        else if (!strcmp(a, "--momentum")) rc = parse_double(a, v, 0.0, &opt->momentum);
        else if (!strcmp(a, "--lambda")) rc = parse_double(a, v, 0.0, &opt->lambda);
        else if (!strcmp(a, "--l1")) { rc = parse_double(a, v, 0.0, &opt->l1); opt->l1_set = true; }
        else if (!strcmp(a, "--noise")) rc = parse_double(a, v, 0.0, &opt->noise);
        else if (!strcmp(a, "--plot-sweep")) opt->plot_sweep = v;
        else if (!strcmp(a, "--export")) {
            size_t len = strlen(v);
            if (len < 12 || strcmp(v + len - 12, ".safetensors"))
                return bad(a, v, "expected a file name ending in .safetensors");
            opt->export_path = v;
        }
        else return bad(a, NULL, "unknown option");
        if (rc) return rc;
    }
    if (opt->eval_only && !opt->resume) return bad("--eval-only", NULL, "needs --resume FILE");
    if (opt->epochs == 0 && !opt->resume)
        return bad("--epochs", "0", "trains nothing, and without --resume the pictures would show "
                   "an untrained model (use --epochs N >= 1, or --resume FILE --eval-only)");
    if (!opt->lr_set) opt->lr = ex_optimizer_default_lr(opt->optimizer, 0.05);
    return 0;
}
