/* The optimizer interface: parameter groups, lr get/set, named state, a
 * user-written optimizer on the interface, and schedules on groups.
 * Expected values are derived by hand in the comments. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_test.h"

/* Linear(2, 1) with weight [0.5, -1], bias [0.25], and grads set by hand. */
static struct cg_module *small_model(void)
{
    struct cg_rng rng = cg_rng_seed(1);
    struct cg_module *m = cg_linear_new(2, 1, true, &rng);
    assert_non_null(m);
    struct cg_tensor *w = cg_module_param(m, "weight"), *b = cg_module_param(m, "bias");
    cg_tensor_set(w, CG_INDEX(0, 0), 0.5);
    cg_tensor_set(w, CG_INDEX(0, 1), -1);
    cg_tensor_set(b, CG_INDEX(0), 0.25);
    cg_tensor_set(w->grad, CG_INDEX(0, 0), 1);
    cg_tensor_set(w->grad, CG_INDEX(0, 1), 2);
    cg_tensor_set(b->grad, CG_INDEX(0), 4);
    return m;
}

static void test_groups_no_decay_on_bias(void **state)
{
    (void)state;
    struct cg_module *m = small_model();
    struct cg_optimizer *opt = cg_sgd_new(m, (struct cg_sgd_options){.lr = 0.1, .weight_decay = 0.5});
    int g = cg_optimizer_add_group(opt, "*bias", (struct cg_group_options){
        .lr = 0.01, .set_lr = true, .weight_decay = 0, .set_weight_decay = true});
    assert_int_equal(g, 1);
    assert_int_equal(cg_optimizer_group_count(opt), 2);
    assert_int_equal(cg_optimizer_step(opt), CG_OK);
    /* weight: w - 0.1 * (g + 0.5 w): 0.5 - 0.1 * 1.25 = 0.375; -1 - 0.1 * 1.5 = -1.15.
     * bias (group 1, no decay, lr 0.01): 0.25 - 0.01 * 4 = 0.21. */
    CG_ASSERT_TENSOR(cg_module_param(m, "weight"), ((const double[]){0.375, -1.15}), 1e-7, 0);
    CG_ASSERT_TENSOR(cg_module_param(m, "bias"), ((const double[]){0.21}), 1e-7, 0);
    assert_float_equal(cg_optimizer_get_group_lr(opt, 1), 0.01, 0);
    /* set_lr sets every group; get_lr is group 0's. */
    cg_optimizer_set_lr(opt, 0.2);
    assert_float_equal(cg_optimizer_get_group_lr(opt, 1), 0.2, 0);
    cg_optimizer_set_group_lr(opt, 1, 0.03);
    assert_float_equal(cg_optimizer_get_lr(opt), 0.2, 0);
    assert_float_equal(cg_optimizer_get_group_lr(opt, 1), 0.03, 0);
    cg_optimizer_free(opt);
    cg_module_free(m);
}

static void test_schedule_per_group(void **state)
{
    (void)state;
    struct cg_module *m = small_model();
    struct cg_optimizer *opt = cg_sgd_new(m, (struct cg_sgd_options){.lr = 0.1});
    cg_optimizer_add_group(opt, "bias", (struct cg_group_options){.lr = 1, .set_lr = true});
    struct cg_lr_schedule *s = cg_lr_step_new(opt, 2, 0.5);
    assert_non_null(s);
    cg_lr_schedule_step(s);
    cg_lr_schedule_step(s);
    /* epoch 2: each group at its base lr * 0.5. */
    assert_float_equal(cg_optimizer_get_group_lr(opt, 0), 0.05, 1e-15);
    assert_float_equal(cg_optimizer_get_group_lr(opt, 1), 0.5, 1e-15);
    CG_EXPECT_MISUSE(cg_optimizer_add_group(opt, "weight", (struct cg_group_options){0}),
                     "cg_optimizer_add_group", "schedule");
    cg_optimizer_free(opt);
    cg_module_free(m);
}

static void test_misuse(void **state)
{
    (void)state;
    struct cg_module *m = small_model();
    /* lr is required, as in PyTorch: 0 (left unset) is an error, not a frozen model. */
    CG_EXPECT_MISUSE(cg_sgd_new(m, (struct cg_sgd_options){.momentum = 0.9}), "cg_sgd_new",
                     "lr is 0", "required");
    struct cg_optimizer *opt = cg_sgd_new(m, (struct cg_sgd_options){.lr = 0.1});
    CG_EXPECT_MISUSE(cg_optimizer_add_group(opt, "*.nothing", (struct cg_group_options){0}),
                     "cg_optimizer_add_group", "matches no parameter", "*.nothing");
    CG_EXPECT_MISUSE(cg_optimizer_add_group(opt, "bias", (struct cg_group_options){
                         .lr = -1, .set_lr = true}),
                     "cg_optimizer_add_group", "lr -1");
    CG_EXPECT_MISUSE(cg_optimizer_get_group_lr(opt, 3), "cg_optimizer_get_group_lr",
                     "group 3 does not exist", "1 groups");
    CG_EXPECT_MISUSE(cg_optimizer_set_lr(opt, NAN), "cg_optimizer_set_lr", "Invalid learning rate");
    CG_EXPECT_MISUSE(cg_optimizer_step(NULL), "cg_optimizer_step", "NULL");
    /* Freezing on purpose stays possible. */
    cg_optimizer_set_lr(opt, 0);
    assert_float_equal(cg_optimizer_get_lr(opt), 0, 0);
    cg_optimizer_free(opt);
    cg_module_free(m);
}

struct names {
    int n;
    char name[16][64];
    bool config[16];
};

static void note(const struct cg_state_item *item, void *user)
{
    struct names *l = user;
    if (l->n == 16) return;
    snprintf(l->name[l->n], 64, "%s", item->name);
    l->config[l->n++] = item->config;
}

static void test_state_names(void **state)
{
    (void)state;
    struct cg_module *m = small_model();
    struct cg_optimizer *opt = cg_sgd_new(m, (struct cg_sgd_options){.lr = 0.1, .momentum = 0.9});
    struct names l = {0};
    cg_optimizer_visit_state(opt, note, &l);
    static const char *const want[] = {"momentum", "dampening", "nesterov", "maximize",
                                       "state.weight.momentum_buffer",
                                       "state.bias.momentum_buffer", "type", "step",
                                       "param_groups", "group.0.lr", "group.0.weight_decay",
                                       "group.0.momentum"};
    static const bool config[] = {1, 1, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0};
    assert_int_equal(l.n, 12);
    for (int i = 0; i < 12; i++) {
        assert_string_equal(l.name[i], want[i]);
        assert_int_equal(l.config[i], config[i]);
    }
    assert_string_equal(cg_optimizer_type(opt), "SGD");
    /* The buffer exists from the first step on, as PyTorch's state. */
    assert_null(cg_optimizer_state_tensor(opt, "weight", "momentum_buffer"));
    cg_optimizer_step(opt);
    const struct cg_tensor *buf = cg_optimizer_state_tensor(opt, "weight", "momentum_buffer");
    assert_non_null(buf);
    CG_ASSERT_TENSOR(buf, ((const double[]){1, 2}), 0, 0); /* first step: a copy of the grad */
    cg_optimizer_free(opt);
    cg_module_free(m);
}

/* ---- an optimizer written by a user on the interface: sign descent,
 *      p -= lr * sign(g), with a step counter of its own ---- */

struct sign_sgd {
    struct cg_optimizer base;
    uint64_t own_steps;
};

static enum cg_status sign_step(struct cg_optimizer *self)
{
    struct sign_sgd *s = (struct sign_sgd *)self;
    for (size_t i = 0; i < self->n_params; i++) {
        struct cg_tensor *p = self->params[i].tensor;
        double lr = self->groups[self->params[i].group].lr;
        for (int64_t k = 0; k < p->numel; k++) {
            double g = cg_tensor_at(p->grad, k);
            cg_tensor_set(p, (int64_t[]){k / p->shape[p->ndim - 1], k % p->shape[p->ndim - 1]},
                          cg_tensor_at(p, k) - lr * ((g > 0) - (g < 0)));
        }
    }
    s->own_steps++;
    return CG_OK;
}

static void sign_visit(struct cg_optimizer *self, cg_state_visitor visit, void *user)
{
    visit(&(struct cg_state_item){.name = "own_steps", .type = CG_STATE_U64,
                                  .values = &((struct sign_sgd *)self)->own_steps, .count = 1},
          user);
}

static void sign_free(struct cg_optimizer *self) { free(self); }

static const struct cg_optimizer_vtable sign_vtable = {
    .type_name = "SignSGD", .step = sign_step, .visit_state = sign_visit, .free = sign_free};

static void test_user_optimizer(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(1);
    struct cg_module *m = cg_linear_new(1, 2, false, &rng); /* weight [2, 1] */
    struct cg_tensor *w = cg_module_param(m, "weight");
    cg_tensor_set(w, CG_INDEX(0, 0), 1);
    cg_tensor_set(w, CG_INDEX(1, 0), 1);
    cg_tensor_set(w->grad, CG_INDEX(0, 0), 3);
    cg_tensor_set(w->grad, CG_INDEX(1, 0), -0.5);
    struct sign_sgd *s = calloc(1, sizeof *s);
    assert_int_equal(cg_optimizer_init(&s->base, &sign_vtable, m, 0.25, 0, "sign_sgd_new"), CG_OK);
    struct cg_optimizer *opt = &s->base;
    assert_int_equal(cg_optimizer_step(opt), CG_OK);
    CG_ASSERT_TENSOR(w, ((const double[]){0.75, 1.25}), 0, 0);
    assert_int_equal(cg_optimizer_step_count(opt), 1);
    struct names l = {0};
    cg_optimizer_visit_state(opt, note, &l);
    assert_string_equal(l.name[0], "own_steps");
    assert_string_equal(l.name[1], "type");
    /* Base services work for it: zero_grad, clipping, schedules. */
    cg_optimizer_zero_grad(opt);
    assert_float_equal(cg_tensor_at(w->grad, 0), 0, 0);
    assert_non_null(cg_lr_cosine_new(opt, 4, 0));
    cg_optimizer_free(opt);
    cg_module_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groups_no_decay_on_bias),
        cmocka_unit_test(test_schedule_per_group),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_user_optimizer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
