/* Per-group momentum (SGD's and RMSprop's momentum, Adam's beta1): set
 * through cg_optimizer_set_group_momentum and cg_group_options, checked by
 * each optimizer, used by its group's steps only; SGD and RMSprop created
 * without momentum get their buffers when one is set, and a momentum
 * written around that (a crafted checkpoint) is refused by the step.  The
 * values are hand-derived in the kernels' operation order.  OneCycleLR's
 * cycling against PyTorch is in test_schedules.c and test_optimizers.c. */
#include <string.h>

#include "cg_test.h"

/* Two persistent f64 parameters, [2, 2] and [2], with grads. */
static void make_params(struct cg_tensor **p)
{
    static const double values[6] = {0.5, -1.25, 2.0, 0.75, -0.3, 1.1};
    p[0] = cg_tensor_from_doubles(NULL, CG_F64, 2, (const int64_t[]){2, 2}, values);
    p[1] = cg_tensor_from_doubles(NULL, CG_F64, 1, (const int64_t[]){2}, values + 4);
    for (int i = 0; i < 2; i++) {
        assert_non_null(p[i]);
        assert_int_equal(cg_tensor_requires_grad(p[i], true), CG_OK);
    }
}

/* A group momentum written around cg_optimizer_set_group_momentum (as a
 * crafted checkpoint could) onto an SGD or RMSprop without momentum
 * buffers is refused by the step, which then changes nothing. */
static void write_momentum(const struct cg_state_item *it, void *user)
{
    if (!strcmp(it->name, "group.0.momentum")) *(double *)it->values = *(const double *)user;
}

static void test_momentum_without_buffers_is_refused(void **state)
{
    (void)state;
    struct cg_tensor *p[2];
    make_params(p);
    for (int which = 0; which < 2; which++) {
        struct cg_optimizer *o =
            which ? cg_rmsprop_new_params(p, 2, (struct cg_rmsprop_options){.lr = 0.01})
                  : cg_sgd_new_params(p, 2, (struct cg_sgd_options){.lr = 0.1});
        double momentum = 0.9, before = cg_tensor_at(p[0], 0);
        cg_optimizer_visit_state(o, write_momentum, &momentum);
        assert_true(cg_optimizer_get_group_momentum(o, 0) == 0.9);
        cg_optimizer_zero_grad(o);
        for (int i = 0; i < 2; i++) {
            cg_tensor_fill(p[i]->grad, 1);
            p[i]->flags &= ~CG_GRAD_NONE;
        }
        CG_EXPECT_MISUSE(cg_optimizer_step(o), "cg_optimizer_step", "group 0 has momentum 0.9",
                         "parameter '0' has no momentum buffer",
                         "cg_optimizer_set_group_momentum");
        assert_true(cg_tensor_at(p[0], 0) == before && cg_optimizer_step_count(o) == 0);
        /* Set properly, the buffers are there and the step runs. */
        assert_int_equal(cg_optimizer_set_group_momentum(o, 0, 0.9), CG_OK);
        assert_int_equal(cg_optimizer_step(o), CG_OK);
        assert_non_null(cg_optimizer_state_tensor(o, "1", "momentum_buffer"));
        cg_optimizer_free(o);
    }
    cg_tensor_free(p[0]);
    cg_tensor_free(p[1]);
}

/* SGD keeps no buffer from a step whose group momentum was 0 (PyTorch's
 * state['momentum_buffer'] = None): the first step with a momentum copies
 * the gradient, later ones dampen it.  Hand-derived, in the kernel's
 * operation order. */
static void test_sgd_momentum_switched_on_later(void **state)
{
    (void)state;
    struct cg_tensor *p = cg_tensor_zeros(NULL, CG_F64, CG_SHAPE(1));
    assert_int_equal(cg_tensor_requires_grad(p, true), CG_OK);
    struct cg_optimizer *o =
        cg_sgd_new_params(&p, 1, (struct cg_sgd_options){.lr = 0.1, .dampening = 0.5});
    assert_int_equal(cg_optimizer_set_group_momentum(o, 0, 0.9), CG_OK); /* allocates */
    assert_int_equal(cg_optimizer_set_group_momentum(o, 0, 0), CG_OK);
    const double grads[3] = {1, 2, 2}, momentum[3] = {0, 0.9, 0.9};
    double want = 0, buf = 0;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(cg_optimizer_set_group_momentum(o, 0, momentum[k]), CG_OK);
        cg_optimizer_zero_grad(o);
        cg_tensor_set_at(p->grad, 0, grads[k]);
        p->flags &= ~CG_GRAD_NONE;
        assert_int_equal(cg_optimizer_step(o), CG_OK);
        if (k == 0) want = want - 0.1 * grads[k];
        else want = want - 0.1 * (buf = k == 1 ? grads[k] : 0.9 * buf + 0.5 * grads[k]);
        assert_true(cg_tensor_at(p, 0) == want);
        const struct cg_tensor *b = cg_sgd_momentum_buffer(o, 0);
        if (k == 0) assert_null(b);
        else assert_true(b && cg_tensor_at(b, 0) == buf);
    }
    assert_true(want == -0.1 - 0.1 * 2.0 - 0.1 * (0.9 * 2.0 + 0.5 * 2.0));
    cg_optimizer_free(o);
    cg_tensor_free(p);
}

/* A group's own momentum from cg_group_options: checked by the optimizer
 * (a refused one takes the group back), used by that group only.
 * Hand-derived SGD values. */
static void test_group_momentum_option(void **state)
{
    (void)state;
    struct cg_tensor *p[2];
    make_params(p);
    const struct cg_group_options beta_half = {.momentum = 0.5, .set_momentum = true};
    struct cg_optimizer *o =
        cg_adam_new_params(p, 2, (struct cg_adam_options){.lr = 0.01, .betas = {0.8, 0.9}});
    CG_EXPECT_MISUSE(cg_optimizer_add_group(o, "1", (struct cg_group_options){
                         .momentum = 1.5, .set_momentum = true}),
                     "cg_optimizer_add_group", "Invalid beta parameter at index 0: 1.5");
    assert_int_equal(cg_optimizer_group_count(o), 1);
    assert_int_equal(o->params[1].group, 0);
    assert_int_equal(cg_optimizer_add_group(o, "1", beta_half), 1);
    assert_true(cg_optimizer_get_group_momentum(o, 1) == 0.5);
    assert_true(cg_optimizer_get_group_momentum(o, 0) == 0.8);
    cg_optimizer_free(o);
    o = cg_adagrad_new_params(p, 2, (struct cg_adagrad_options){.lr = 0.01});
    CG_EXPECT_MISUSE(cg_optimizer_add_group(o, "1", beta_half), "Adagrad optimizer has no "
                     "momentum");
    assert_int_equal(cg_optimizer_group_count(o), 1);
    cg_optimizer_free(o);

    /* SGD without momentum but for group 1 (parameter 1): only
     * that parameter gets a buffer and momentum. */
    o = cg_sgd_new_params(p, 2, (struct cg_sgd_options){.lr = 0.1});
    assert_int_equal(cg_optimizer_add_group(o, "1", (struct cg_group_options){
                         .momentum = 0.9, .set_momentum = true}), 1);
    double p0 = cg_tensor_at(p[0], 0), p1 = cg_tensor_at(p[1], 0);
    for (int k = 0; k < 2; k++) {
        cg_optimizer_zero_grad(o);
        for (int i = 0; i < 2; i++) {
            cg_tensor_fill(p[i]->grad, 1);
            p[i]->flags &= ~CG_GRAD_NONE;
        }
        assert_int_equal(cg_optimizer_step(o), CG_OK);
    }
    assert_true(cg_tensor_at(p[0], 0) == p0 - 0.1 * 1 - 0.1 * 1);
    assert_true(cg_tensor_at(p[1], 0) == p1 - 0.1 * 1 - 0.1 * (0.9 * 1 + 1));
    assert_null(cg_sgd_momentum_buffer(o, 0));
    assert_non_null(cg_sgd_momentum_buffer(o, 1));
    cg_optimizer_free(o);
    cg_tensor_free(p[0]);
    cg_tensor_free(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_momentum_without_buffers_is_refused),
        cmocka_unit_test(test_sgd_momentum_switched_on_later),
        cmocka_unit_test(test_group_momentum_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
