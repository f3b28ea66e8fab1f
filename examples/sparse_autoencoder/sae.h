/* The sparse autoencoder: model, one training epoch, evaluation, outputs. */
#ifndef SAE_H
#define SAE_H

#include <cgrad.h>

#include "options.h"

struct sae {
    struct sae_options opt;
    struct cg_module *model;  /* Sequential: Linear, Hardshrink, Linear, Linear */
    struct cg_optimizer *sgd;
    struct cg_tape *tape;
    struct cg_dataset train, test;
    struct cg_batches batches; /* shuffled training batches */
    int epoch;                 /* epochs completed */
};

struct sae_metrics {
    double train_mse;      /* mean reconstruction MSE over the epoch's batches */
    double test_mse;       /* reconstruction MSE over the test set */
    double code_zero_frac; /* fraction of exactly-zero Hardshrink outputs (test set) */
    double seconds;        /* training time of the epoch */
};

/* Forward through the model keeping the code (Hardshrink output). */
struct cg_tensor *sae_forward(struct sae *s, struct cg_tensor *x, struct cg_tensor **code);

/* One epoch of SGD.  Returns 0, or 1 after printing why training stopped
 * (non-finite loss, library error). */
int sae_train_epoch(struct sae *s, struct sae_metrics *m);
/* Test-set MSE and code sparsity, grad mode off. */
int sae_evaluate(struct sae *s, struct sae_metrics *m);

/* Before training: creates --out and checks that it and the directory of
 * --save can take files.  0 or 1 (printed, naming the flag). */
int sae_check_output_paths(const struct sae_options *o);
/* reconstructions.png and filters.png in opt.out_dir.  0 or 1 (printed). */
int sae_write_pictures(struct sae *s);
/* Appends one row to metrics.csv (header when fresh). 0 or 1 (printed). */
int sae_append_csv(struct sae *s, const struct sae_metrics *m, int fresh);

/* --noise: x + sigma * randn from an RNG seeded by (seed, epoch, batch), on
 * the tape; x itself without --noise (noise.c).  Test batches use epoch -1. */
struct cg_tensor *sae_corrupt(struct sae *s, struct cg_tensor *x, int64_t epoch, int64_t batch);

/* plots.c: training_curves.png from out_dir/metrics.csv; filters.png (shared
 * grey scale unless --filters-per-unit, never-active units crossed out);
 * lambda_sweep.png from a lambda table.  0 or 1 (printed). */
int sae_plot_training_curves(struct sae *s);
int sae_write_filters(struct sae *s, const char *path, int cols);
int sae_plot_sweep(const char *table, const char *out_dir);

/* Checkpoint with the training position (epoch, shuffle state). */
int sae_save(struct sae *s, const char *path);
int sae_resume(struct sae *s, const char *path);

#endif
