/* PyTorch's examples/mnist network in C: model, training, evaluation,
 * outputs and checkpoints. */
#ifndef CNN_H
#define CNN_H

/* Test images per evaluation batch. */
#define CNN_EVAL_BATCH 250

#include <stdbool.h>
#include <stdint.h>

#include <cgrad.h>

struct cnn_options {
    const char *data_dir;  /* the four MNIST-format IDX files */
    int epochs, batch, threads;
    double lr, momentum;
    bool lr_set;           /* --lr given; else the optimizer's default */
    const char *optimizer; /* sgd, adam, adamw or rmsprop */
    uint64_t seed;
    const char *out_dir;   /* filters.png, confusion.png, metrics.csv */
    const char *save;      /* checkpoint written atomically after every epoch */
    const char *resume;    /* checkpoint to continue from */
    bool eval_only, quiet, anomaly;
    long limit, test_limit; /* use at most this many train / test images (0: all) */
};

struct cnn {
    struct cnn_options opt;
    /* model = Sequential(features, classifier): features ends with
     * Flatten, classifier with LogSoftmax(1). */
    struct cg_module *model, *features, *classifier;
    struct cg_rng drop_rng;    /* the Dropouts' masks; they keep a pointer to it */
    int64_t *targets;          /* a batch's labels as int64 for cg_nll_loss */
    int64_t targets_cap;
    struct cg_optimizer *optim;
    struct cg_tape *tape;
    struct cg_dataset train, test;
    struct cg_batches batches;
    int epoch;                 /* epochs completed */
};

struct cnn_metrics {
    double train_loss;    /* mean NLL over the epoch's batches */
    double test_loss;     /* mean NLL over the test set */
    double test_accuracy; /* fraction of test images classified right */
    double seconds;       /* training time of the epoch */
    int64_t confusion[10][10]; /* [true class][predicted class] */
};

/* 0 to run, 1 after --help (exit 0), 2 after a usage error (exit 2). */
int cnn_parse_options(int argc, char **argv, struct cnn_options *opt);
/* Builds the network, optimizer, tape and batch iterator.  0 or 1 (printed). */
int cnn_build(struct cnn *c);
void cnn_free(struct cnn *c);

/* Log-probabilities [B, 10] for pixels x [B, 784] in [0, 1]. */
struct cg_tensor *cnn_forward(struct cnn *c, struct cg_tensor *x);
/* Mean (or summed) NLL of log_probs against the batch's int32 labels,
 * converted into c->targets (no allocation).  NULL on error. */
struct cg_tensor *cnn_loss(struct cnn *c, struct cg_tensor *log_probs, const int32_t *labels,
                           enum cg_reduction reduction);
int cnn_train_epoch(struct cnn *c, struct cnn_metrics *m);
int cnn_evaluate(struct cnn *c, struct cnn_metrics *m);

int cnn_write_pictures(struct cnn *c, const struct cnn_metrics *m);
int cnn_append_csv(struct cnn *c, const struct cnn_metrics *m, bool fresh);
int cnn_save(struct cnn *c, const char *path);
int cnn_resume(struct cnn *c, const char *path);

#endif
