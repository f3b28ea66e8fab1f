/* The network, built like PyTorch's examples/mnist Net (whose dropouts
 * this build leaves out: cgrad has no Dropout layer yet). */
#include <stdio.h>

#include "cnn.h"

/* torchvision's Normalize((0.1307,), (0.3081,)), as in the PyTorch example. */
#define MNIST_MEAN 0.1307
#define MNIST_STD 0.3081

int cnn_build(struct cnn *c)
{
    struct cg_rng rng = cg_rng_seed(c->opt.seed);
    const struct cg_conv2d_params *p = NULL; /* stride 1, no padding */
    c->features = cg_sequential(cg_conv2d_new(1, 32, 3, 3, p, true, &rng), cg_relu_new(),
                                cg_conv2d_new(32, 64, 3, 3, p, true, &rng), cg_relu_new(),
                                cg_max_pool2d_new(2, 0, 0, 1));
    c->classifier = cg_sequential(cg_linear_new(9216, 128, true, &rng), cg_relu_new(),
                                  cg_linear_new(128, 10, true, &rng));
    c->model = cg_sequential(c->features, c->classifier);
    if (c->model)
        c->optim = cg_sgd_new(c->model, (struct cg_sgd_options){.lr = c->opt.lr,
                                                                .momentum = c->opt.momentum});
    c->tape = cg_tape_new();
    if (c->tape && c->opt.anomaly) cg_tape_set_anomaly(c->tape, true);
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
    struct cg_tensor *h = cg_module_forward(c->features, t, cg_reshape(t, x, CG_SHAPE(b, 1, 28, 28)));
    h = cg_reshape(t, h, CG_SHAPE(b, 9216)); /* Flatten */
    return cg_module_forward(c->classifier, t, h);
}
