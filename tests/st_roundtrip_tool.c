/* Helper of tests/safetensors_roundtrip.py (the PyTorch round trip):
 *   st_roundtrip_tool export DIR
 *       trains the model below for a few steps and writes
 *       DIR/cgrad_model.safetensors, DIR/cgrad_io.safetensors (input, output)
 *       and DIR/cgrad_input.npy;
 *   st_roundtrip_tool forward MODEL IO OUT
 *       loads MODEL, runs IO's "input" through it, writes OUT ("output").
 * The model is Sequential(Linear(6,5), Hardshrink(0.2), Linear(5,4),
 * Softshrink(0.1), Linear(4,3), BufferLayer(3)): the layers of
 * gen_safetensors_refs.py's model and the test layer with buffers
 * (tests/support/buffer_layer.h: y = (x - running_mean) * scale; training
 * forwards move running_mean and count num_batches), so buffers make the
 * trip too.  Outputs are computed in eval mode. */
#include <stdio.h>
#include <string.h>

#include <cgrad.h>

#include "buffer_layer.h"

static struct cg_module *model(uint64_t seed)
{
    struct cg_rng rng = cg_rng_seed(seed);
    struct cg_module *layers[] = {cg_linear_new(6, 5, true, &rng), cg_hardshrink_new(0.2),
                                  cg_linear_new(5, 4, true, &rng), cg_softshrink_new(0.1),
                                  cg_linear_new(4, 3, true, &rng), cg_test_buffer_layer_new(3)};
    return cg_sequential_new(6, layers);
}

static int check(enum cg_status st, const char *what)
{
    if (st == CG_OK) return 0;
    fprintf(stderr, "st_roundtrip_tool: %s: %s\n", what, cg_last_error());
    return 1;
}

static void sgd_step(const char *name, struct cg_tensor *p, void *user)
{
    (void)name;
    (void)user;
    float *w = p->data, *g = p->grad->data;
    for (int64_t i = 0; i < p->numel; i++) w[i] -= 0.05f * g[i];
}

/* Plain gradient descent on a fixed regression target, so the exported
 * weights are trained ones and not the initialization. */
static void train(struct cg_module *m, struct cg_tape *tape, struct cg_rng *rng)
{
    struct cg_tensor *x = cg_tensor_randn(NULL, CG_F32, CG_SHAPE(32, 6), rng);
    struct cg_tensor *y = cg_tensor_randn(NULL, CG_F32, CG_SHAPE(32, 3), rng);
    for (int step = 0; step < 20; step++) {
        cg_module_zero_grad(m);
        struct cg_tensor *loss = cg_mse_loss_mean(tape, cg_module_forward(m, tape, x), y);
        cg_backward(tape, loss);
        cg_module_visit_params(m, sgd_step, NULL);
        cg_tape_reset(tape);
    }
    cg_tensor_free(x);
    cg_tensor_free(y);
}

static int export_dir(const char *dir)
{
    char path[3][4096];
    snprintf(path[0], sizeof path[0], "%s/cgrad_model.safetensors", dir);
    snprintf(path[1], sizeof path[1], "%s/cgrad_io.safetensors", dir);
    snprintf(path[2], sizeof path[2], "%s/cgrad_input.npy", dir);
    struct cg_rng rng = cg_rng_seed(42);
    struct cg_module *m = model(7);
    struct cg_tape *tape = cg_tape_new();
    train(m, tape, &rng);
    cg_module_set_training(m, false);
    struct cg_tensor *x = cg_tensor_randn(NULL, CG_F32, CG_SHAPE(8, 6), &rng);
    struct cg_tensor *y = cg_module_forward(m, tape, x);
    const char *names[] = {"input", "output"};
    const struct cg_tensor *ts[] = {x, y};
    const char *meta[] = {"format", "pt", NULL};
    int rc = check(cg_safetensors_save(path[0], m, meta), "save model") ||
             check(cg_safetensors_save_tensors(path[1], 2, names, ts, NULL), "save io") ||
             check(cg_tensor_save_npy(path[2], x), "save npy");
    cg_tensor_free(x);
    cg_tape_free(tape);
    cg_module_free(m);
    return rc;
}

static int forward(const char *model_path, const char *io, const char *out)
{
    struct cg_module *m = model(1);
    struct cg_tensor *x = NULL;
    struct cg_tape *tape = cg_tape_new();
    cg_module_set_training(m, false);
    int rc = check(cg_safetensors_load(model_path, m), "load model") ||
             check(cg_safetensors_read_tensor(io, "input", &x), "read input");
    if (!rc) {
        const char *names[] = {"output"};
        const struct cg_tensor *ts[] = {cg_module_forward(m, tape, x)};
        rc = check(cg_safetensors_save_tensors(out, 1, names, ts, NULL), "save output");
    }
    cg_tensor_free(x);
    cg_tape_free(tape);
    cg_module_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "export")) return export_dir(argv[2]);
    if (argc == 5 && !strcmp(argv[1], "forward")) return forward(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: st_roundtrip_tool export DIR | forward MODEL IO OUT\n");
    return 2;
}
