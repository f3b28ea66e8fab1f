/* The network, built like PyTorch's examples/mnist Net. */
#include <stdio.h>
#include <stdlib.h>

#include "cnn.h"
#include "optimizer_choice.h"

/* torchvision's Normalize((0.1307,), (0.3081,)), as in the PyTorch example. */
#define MNIST_MEAN 0.1307
#define MNIST_STD 0.3081
/* Dropout masks use their own stream, so --resume can restore it apart from
 * the initialization / shuffling one. */
#define DROPOUT_SEED_SALT 0xd509ULL

int cnn_build(struct cnn *c)
{
    struct cg_rng rng = cg_rng_seed(c->opt.seed);
    c->drop_rng = cg_rng_seed(c->opt.seed ^ DROPOUT_SEED_SALT);
    const struct cg_conv2d_params *p = NULL; /* stride 1, no padding */
    c->features = cg_sequential(cg_conv2d_new(1, 32, 3, 3, p, true, &rng), cg_relu_new(),
                                cg_conv2d_new(32, 64, 3, 3, p, true, &rng), cg_relu_new(),
                                cg_max_pool2d_new(2, 0, 0, 1), cg_dropout_new(0.25, &c->drop_rng),
                                cg_flatten_new(1, -1));
    c->classifier = cg_sequential(cg_linear_new(9216, 128, true, &rng), cg_relu_new(),
                                  cg_dropout_new(0.5, &c->drop_rng),
                                  cg_linear_new(128, 10, true, &rng), cg_log_softmax_new(1));
    c->model = cg_sequential(c->features, c->classifier);
    if (c->model)
        c->optim = ex_optimizer_new(c->opt.optimizer, c->opt.lr, c->opt.momentum, c->model);
    c->tape = cg_tape_new();
    if (c->tape && c->opt.anomaly) cg_tape_set_anomaly(c->tape, true);
    c->targets_cap = c->opt.batch > CNN_EVAL_BATCH ? c->opt.batch : CNN_EVAL_BATCH;
    c->targets = malloc(sizeof *c->targets * (size_t)c->targets_cap);
    if (!c->targets) {
        fprintf(stderr, "mnist_cnn: out of memory for %lld targets\n", (long long)c->targets_cap);
        return 1;
    }
    if (!c->model || !c->optim || !c->tape ||
        cg_batches_init(&c->batches, &c->train,
                        (struct cg_batches_options){.batch_size = c->opt.batch, .rng = &rng}) != CG_OK) {
        fprintf(stderr, "mnist_cnn: %s\n", cg_last_error());
        return 1;
    }
    return 0;
}

void cnn_free(struct cnn *c)
{
    free(c->targets);
    cg_batches_free(&c->batches);
    cg_tape_free(c->tape);
    cg_optimizer_free(c->optim);
    cg_module_free(c->model); /* frees features and classifier */
    cg_dataset_free(&c->train);
    cg_dataset_free(&c->test);
}

struct cg_tensor *cnn_forward(struct cnn *c, struct cg_tensor *x)
{
    struct cg_tape *t = c->tape;
    int64_t b = x->shape[0];
    x = cg_mul_scalar(t, cg_add_scalar(t, x, -MNIST_MEAN), 1 / MNIST_STD);
    return cg_module_forward(c->model, t, cg_reshape(t, x, CG_SHAPE(b, 1, 28, 28)));
}

struct cg_tensor *cnn_loss(struct cnn *c, struct cg_tensor *log_probs, const int32_t *labels,
                           enum cg_reduction reduction)
{
    if (!log_probs) return NULL;
    int64_t n = log_probs->shape[0];
    if (n > c->targets_cap) {
        fprintf(stderr, "mnist_cnn: a batch of %lld exceeds the %lld targets allocated\n",
                (long long)n, (long long)c->targets_cap);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) c->targets[i] = labels[i];
    return cg_nll_loss(c->tape, log_probs, c->targets,
                       &(struct cg_class_loss_options){.reduction = reduction});
}
