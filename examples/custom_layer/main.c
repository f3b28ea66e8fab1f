/* custom_layer: using a layer you wrote yourself (LearnableShrink, see
 * learnable_shrink.h) like any built-in one.
 *
 *  1. gradient-check the layer alone in f64 (x and its threshold);
 *  2. train Sequential(Linear(20,32), LearnableShrink(32), Linear(32,1)) with
 *     SGD on a synthetic regression task;
 *  3. save a checkpoint, load it into a freshly built model and check that
 *     both give bit-identical outputs;
 *  4. gradient-check the whole trained model with cg_gradcheck_module.
 *
 * Usage: custom_layer [CHECKPOINT]   (default custom_layer.ckpt)
 * Exits 0 when every check passes, 1 otherwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cgrad.h>

#include "learnable_shrink.h"

enum { SAMPLES = 256, IN = 20, HIDDEN = 32, TEACHER = 8, STEPS = 300, CHECK_ROWS = 8 };

static int fail(const char *what)
{
    fprintf(stderr, "custom_layer: %s: %s\n", what, cg_last_error());
    return 1;
}

/* Targets from a random "teacher" that itself shrinks: y = sum_k v_k *
 * softshrink(a_k . x, 0.5) + small noise, so a learned threshold helps. */
static int make_data(struct cg_tensor **x, struct cg_tensor **y, struct cg_rng *rng)
{
    double a[TEACHER][IN], v[TEACHER];
    for (int k = 0; k < TEACHER; k++) {
        for (int i = 0; i < IN; i++) a[k][i] = cg_rng_normal(rng) / sqrt((double)IN);
        v[k] = 2.0 * cg_rng_uniform(rng) - 1.0;
    }
    *x = cg_tensor_randn(NULL, CG_F32, CG_SHAPE(SAMPLES, IN), rng);
    *y = cg_tensor_empty(NULL, CG_F32, CG_SHAPE(SAMPLES, 1));
    if (!*x || !*y) return fail("creating the data");
    for (int64_t n = 0; n < SAMPLES; n++) {
        double target = 0.01 * cg_rng_normal(rng);
        for (int k = 0; k < TEACHER; k++) {
            double h = 0;
            for (int i = 0; i < IN; i++) h += a[k][i] * cg_tensor_at(*x, n * IN + i);
            target += v[k] * (h > 0.5 ? h - 0.5 : h < -0.5 ? h + 0.5 : 0.0);
        }
        cg_tensor_set_at(*y, n, target);
    }
    return 0;
}

static struct cg_module *build_model(uint64_t seed)
{
    struct cg_rng rng = cg_rng_seed(seed);
    /* Sequential takes ownership, also when one constructor failed (NULL). */
    return cg_sequential(cg_linear_new(IN, HIDDEN, true, &rng), learnable_shrink_new(HIDDEN, 0.1),
                         cg_linear_new(HIDDEN, 1, true, &rng));
}

/* ---- 1. the layer alone ---- */

static struct cg_tensor *layer_fn(struct cg_tape *tape, struct cg_tensor *const *in, void *user)
{
    /* in[1] is the layer's own threshold parameter, so perturbing it
     * perturbs what the module computes with. */
    return cg_module_forward(user, tape, in[0]);
}

static int check_layer(struct cg_rng *rng)
{
    enum { ROWS = 5, F = 6 };
    struct cg_module *layer = learnable_shrink_new(F, 0.1);
    struct cg_tensor *x = cg_tensor_empty(NULL, CG_F64, CG_SHAPE(ROWS, F));
    int rc = 1;
    if (!layer || !x || cg_module_to_dtype(layer, CG_F64) != CG_OK) {
        rc = fail("setting up the layer check");
        goto out;
    }
    struct cg_tensor *t = learnable_shrink_threshold(layer);
    for (int j = 0; j < F; j++) /* some negative: the layer uses |t| */
        cg_tensor_set_at(t, j, (j % 3 == 2 ? -0.1 : 0.1) * (j + 1));
    /* Random x, and row 0 exactly on the kinks x == +-|t|: the check
     * recognises them by their one-sided slopes and counts them. */
    for (int64_t i = 0; i < x->numel; i++) {
        double ti = fabs(cg_tensor_at(t, i % F));
        cg_tensor_set_at(x, i, i < F ? (i % 2 ? -ti : ti) : cg_rng_normal(rng));
    }
    struct cg_tensor *inputs[2] = {x, t};
    struct cg_gradcheck_report rep;
    enum cg_status st = cg_gradcheck(layer_fn, layer, 2, inputs, NULL, &rep);
    printf("gradcheck LearnableShrink alone (f64, x and threshold): %s\n", rep.message);
    rc = st == CG_OK && rep.kinks > 0 ? 0 : 1;
    if (rc) cg_gradcheck_report_print(&rep, stderr);
out:
    cg_tensor_free(x);
    cg_module_free(layer);
    return rc;
}

/* ---- 2. training ---- */

static int train(struct cg_module *model, struct cg_optimizer *opt, struct cg_tape *tape,
                 struct cg_tensor *x, struct cg_tensor *y)
{
    double first = NAN, last = NAN;
    for (int step = 0; step < STEPS; step++, cg_tape_reset(tape)) {
        struct cg_tensor *loss = cg_mse_loss_mean(tape, cg_module_forward(model, tape, x), y);
        if (!loss) return fail("forward");
        last = cg_tensor_item(loss);
        if (step == 0) first = last;
        if (!isfinite(last)) {
            fprintf(stderr, "custom_layer: loss is %g at step %d: diverged\n", last, step);
            return 1;
        }
        if (step % 50 == 0 || step == STEPS - 1) printf("step %3d  loss %.5f\n", step, last);
        cg_optimizer_zero_grad(opt);
        if (cg_backward(tape, loss) != CG_OK || cg_optimizer_step(opt) != CG_OK) return fail("training");
    }
    struct cg_tensor *t = cg_module_param(model, "1.threshold");
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t j = 0; j < t->numel; j++) {
        lo = fmin(lo, fabs(cg_tensor_at(t, j)));
        hi = fmax(hi, fabs(cg_tensor_at(t, j)));
    }
    printf("learned |threshold| in [%.3f, %.3f] (started at 0.1)\n", lo, hi);
    if (!(last < 0.5 * first)) {
        fprintf(stderr, "custom_layer: loss only went from %g to %g\n", first, last);
        return 1;
    }
    return 0;
}

/* ---- 3. checkpoint round trip ---- */

static int check_checkpoint(const char *path, struct cg_module *model, struct cg_optimizer *opt,
                            struct cg_tape *tape, struct cg_tensor *x)
{
    if (cg_checkpoint_save(path, model, opt, NULL) != CG_OK) return fail("saving the checkpoint");
    /* Another seed, so the fresh model only matches if the load worked. */
    struct cg_module *fresh = build_model(12345);
    if (!fresh) return fail("building a fresh model");
    int rc = 0;
    if (cg_checkpoint_load(path, fresh, NULL, NULL) != CG_OK) {
        rc = fail("loading the checkpoint");
    } else {
        bool was = cg_tape_set_grad_enabled(tape, false); /* evaluation: record nothing */
        struct cg_tensor *a = cg_module_forward(model, tape, x);
        struct cg_tensor *b = cg_module_forward(fresh, tape, x);
        cg_tape_set_grad_enabled(tape, was);
        if (!a || !b) rc = fail("forward after loading");
        else if (memcmp(a->data, b->data, (size_t)a->numel * cg_dtype_size(a->dtype)) != 0) {
            fprintf(stderr, "custom_layer: the reloaded model gives different outputs\n");
            rc = 1;
        } else {
            printf("checkpoint %s: reloaded model gives bit-identical outputs\n", path);
        }
        cg_tape_reset(tape);
    }
    cg_module_free(fresh);
    return rc;
}

/* ---- 4. the whole model ---- */

/* cg_gradcheck_module checks the input and every parameter, by state_dict
 * name.  The f32 model is checked through its f64 shadow (converted in
 * place and back, bit for bit); kinks (|h| == |t|) are recognised by their
 * one-sided slopes, so any rows will do. */
static int check_model(struct cg_module *model, struct cg_tensor *x)
{
    int64_t shape[2] = {CHECK_ROWS, IN};
    struct cg_tensor *xs = cg_tensor_from_data(NULL, x->dtype, 2, shape, x->data);
    if (!xs) return fail("setting up the model check");
    struct cg_gradcheck_report rep;
    enum cg_status st = cg_gradcheck_module(model, xs, NULL, NULL, &rep);
    printf("gradcheck whole model (input and all %zu parameter tensors): %s\n",
           cg_module_param_tensors(model), rep.message);
    if (st != CG_OK) cg_gradcheck_report_print(&rep, stderr);
    cg_tensor_free(xs);
    return st == CG_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: custom_layer [CHECKPOINT]   (default custom_layer.ckpt)\n");
        return 2;
    }
    const char *path = argc == 2 ? argv[1] : "custom_layer.ckpt";
    struct cg_rng rng = cg_rng_seed(7);
    struct cg_tensor *x = NULL, *y = NULL;
    struct cg_module *model = build_model(1);
    struct cg_optimizer *opt =
        model ? cg_sgd_new(model, (struct cg_sgd_options){.lr = 0.05, .momentum = 0.9}) : NULL;
    struct cg_tape *tape = cg_tape_new();
    int rc = 1;
    if (!model || !opt || !tape) {
        fail("building the model");
        goto out;
    }
    if (make_data(&x, &y, &rng)) goto out;
    printf("model: Linear(%d,%d), LearnableShrink(%d), Linear(%d,1); %zu parameters\n", IN, HIDDEN,
           HIDDEN, HIDDEN, cg_module_param_elements(model));

    rc = check_layer(&rng);
    if (!rc) rc = train(model, opt, tape, x, y);
    if (!rc) rc = check_checkpoint(path, model, opt, tape, x);
    if (!rc) rc = check_model(model, x);
    printf(rc ? "FAILED\n" : "all checks passed\n");
out:
    cg_tape_free(tape);
    cg_optimizer_free(opt);
    cg_module_free(model);
    cg_tensor_free(x);
    cg_tensor_free(y);
    return rc;
}
