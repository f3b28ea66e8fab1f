/* Command-line options of the sparse autoencoder example. */
#ifndef SAE_OPTIONS_H
#define SAE_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

struct sae_options {
    const char *data_dir;  /* directory with the four MNIST-format IDX files */
    int epochs;
    int batch;
    double lr;
    bool lr_set;           /* --lr given: overrides a resumed checkpoint's rate */
    double momentum;
    double lambda;         /* Hardshrink threshold */
    double l1;             /* weight of the L1 activity penalty on the code */
    bool l1_set;           /* --l1 given: overrides a resumed checkpoint's weight */
    uint64_t seed;
    int threads;
    const char *out_dir;   /* pictures and metrics.csv */
    const char *save;      /* checkpoint written after every epoch (NULL: none) */
    const char *resume;    /* checkpoint to continue from (NULL: fresh start) */
    bool eval_only;
    int hidden;            /* width of the first layer and of the code, its Hardshrink (256) */
    int bottleneck;        /* width of the linear layer after the code (64) */
    int limit;             /* use at most this many training images (0: all) */
    bool quiet;            /* no progress bar */
    bool anomaly;          /* name the op that produced the first NaN/Inf */
    double noise;          /* --noise: sigma of the Gaussian input corruption (0: none) */
    const char *export_path; /* --export: the trained model as safetensors (NULL: none) */
    const char *plot_sweep;  /* --plot-sweep: only plot this lambda table (lambda_sweep.sh) */
    bool filters_per_unit;   /* --filters-per-unit: own grey scale per filter */
};

/* Parses argv.  Returns 0 to run, 1 if --help was printed (exit 0), 2 after a
 * usage error was printed to stderr (exit 2). */
int sae_parse_options(int argc, char **argv, struct sae_options *opt);

#endif
