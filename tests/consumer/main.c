/* A program outside the cgrad tree, built against an installed cgrad (with
 * CMake's find_package or with pkg-config) by scripts/test_install.sh.  It
 * checks that the installed headers and library agree and work together:
 *
 *  1. cg_version() (the library) equals CGRAD_VERSION_STRING (the headers);
 *  2. one forward + backward through a hand-set Linear gives hand-derived
 *     values: x = [1, 2], W = [0.5, -1], b = 0.25, target 0.75:
 *       y = 0.5 - 2 + 0.25 = -1.25, loss = (y - t)^2 = 4,
 *       dL/dW = 2 (y - t) x = [-4, -8], dL/db = 2 (y - t) = -4;
 *  3. a f64 gradcheck of Linear(3,4) -> Tanh -> Linear(4,2) with MSE;
 *  4. an SGD step lowers the loss (lr 0.1 on the problem of 2).
 * Prints what it checked; exits 0 only if everything passed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cgrad.h>

static int failures;

static void check(int ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) {
        failures++;
        if (cg_last_error()[0]) printf("      cg_last_error: %s\n", cg_last_error());
    }
}

static int close_to(double a, double b) { return fabs(a - b) <= 1e-6 * (1.0 + fabs(b)); }

static void check_version(void)
{
    printf("cgrad %s (headers %s, %d)\n", cg_version(), CGRAD_VERSION_STRING,
           CGRAD_VERSION_NUMBER);
    check(strcmp(cg_version(), CGRAD_VERSION_STRING) == 0,
          "cg_version() matches CGRAD_VERSION_STRING");
}

static void check_hand_backward(struct cg_tape *tape)
{
    struct cg_rng rng = cg_rng_seed(1);
    struct cg_module *lin = cg_linear_new_dtype(2, 1, true, CG_F64, &rng);
    struct cg_optimizer *opt = lin ? cg_sgd_new(lin, (struct cg_sgd_options){.lr = 0.1}) : NULL;
    check(lin && opt, "Linear(2,1) and SGD created");
    if (!lin || !opt) goto out;
    struct cg_tensor *w = cg_linear_weight(lin), *b = cg_linear_bias(lin);
    cg_tensor_set_at(w, 0, 0.5);
    cg_tensor_set_at(w, 1, -1.0);
    cg_tensor_set_at(b, 0, 0.25);

    double loss_before = NAN, loss_after = NAN;
    for (int step = 0; step < 2; step++, cg_tape_reset(tape)) {
        struct cg_tensor *x = cg_tensor_from_doubles(tape, CG_F64, CG_SHAPE(1, 2),
                                                     (const double[]){1.0, 2.0});
        struct cg_tensor *t = cg_tensor_full(tape, CG_F64, CG_SHAPE(1, 1), 0.75);
        struct cg_tensor *loss =
            cg_mse_loss(tape, cg_module_forward(lin, tape, x), t, CG_REDUCTION_MEAN);
        if (!loss) {
            check(0, "forward");
            goto out;
        }
        if (step == 1) {
            loss_after = cg_tensor_item(loss);
            break;
        }
        loss_before = cg_tensor_item(loss);
        cg_optimizer_zero_grad(opt);
        check(cg_backward(tape, loss) == CG_OK, "cg_backward");
        check(close_to(loss_before, 4.0), "loss = 4");
        check(close_to(cg_tensor_at(w->grad, 0), -4.0) && close_to(cg_tensor_at(w->grad, 1), -8.0),
              "dL/dW = [-4, -8]");
        check(close_to(cg_tensor_at(b->grad, 0), -4.0), "dL/db = -4");
        check(cg_optimizer_step(opt) == CG_OK, "cg_optimizer_step");
    }
    /* After W -= 0.1 dW, b -= 0.1 db: y = 0.9 - 1.2 + 0.65 = 0.35, loss 0.16. */
    check(close_to(loss_after, 0.16), "loss after one SGD step = 0.16");
out:
    cg_tape_reset(tape);
    cg_optimizer_free(opt);
    cg_module_free(lin);
}

struct model_loss {
    struct cg_module *model;
    struct cg_tensor *target;
};

static struct cg_tensor *loss_fn(struct cg_tape *tape, struct cg_tensor *const *in, void *user)
{
    struct model_loss *ml = user;
    return cg_mse_loss(tape, cg_module_forward(ml->model, tape, in[0]), ml->target,
                       CG_REDUCTION_MEAN);
}

static void check_gradcheck(void)
{
    struct cg_rng rng = cg_rng_seed(42);
    struct cg_module *model =
        cg_sequential(cg_linear_new_dtype(3, 4, true, CG_F64, &rng), cg_tanh_new(),
                      cg_linear_new_dtype(4, 2, true, CG_F64, &rng));
    struct cg_tensor *x = cg_tensor_randn(NULL, CG_F64, CG_SHAPE(5, 3), &rng);
    struct cg_tensor *y = cg_tensor_randn(NULL, CG_F64, CG_SHAPE(5, 2), &rng);
    check(model && x && y, "Sequential(Linear, Tanh, Linear) and data created");
    if (model && x && y) {
        /* The input and every parameter (4 tensors) are checked. */
        struct cg_tensor *inputs[5] = {x};
        size_t n = cg_module_collect_params(model, inputs + 1, 4);
        check(n == 4, "4 parameter tensors");
        struct model_loss ml = {model, y};
        struct cg_gradcheck_report rep;
        enum cg_status st = cg_gradcheck(loss_fn, &ml, 5, inputs, NULL, &rep);
        printf("      %s\n", rep.message);
        check(st == CG_OK && rep.passed && rep.checked == 15 + 12 + 4 + 8 + 2,
              "gradcheck of the whole model (f64, 41 elements)");
    }
    cg_tensor_free(x);
    cg_tensor_free(y);
    cg_module_free(model);
}

int main(void)
{
    struct cg_tape *tape = cg_tape_new();
    if (!tape) {
        fprintf(stderr, "cg_tape_new: %s\n", cg_last_error());
        return 1;
    }
    check_version();
    check_hand_backward(tape);
    check_gradcheck();
    cg_tape_free(tape);
    printf("%s (%d failure%s)\n", failures ? "FAILED" : "all consumer checks passed", failures,
           failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
