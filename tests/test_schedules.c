/* Learning-rate schedules against PyTorch 1.13 (lr sequences from
 * tests/gen_optim_refs.py in tests/data/optim_refs.txt): every schedule's
 * lr of two parameter groups after each of 50 steps, ReduceLROnPlateau fed
 * a fixed sequence of metrics, OneCycleLR's cycled momentum on SGD, Adam
 * and RMSprop; settings checks; phases of a SequentialLR. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cg_test.h"
#include "optim_refs.h"

static struct cg_optref_file refs;

static int load_refs(void **state)
{
    (void)state;
    return cg_optref_load_or_report(CG_TEST_DATA_DIR "/optim_refs.txt", &refs);
}

static int free_refs(void **state)
{
    (void)state;
    cg_optref_free(&refs);
    return 0;
}

/* An optimizer over two one-element parameters, in groups with lr 0.1 and
 * 0.02, as the generator's: SGD, or the kind a OneCycleLR reference names
 * ("onecycle_<kind>_<shape>"). */
struct rig {
    struct cg_tensor *p[2];
    struct cg_optimizer *opt;
};

static struct cg_optimizer *rig_optimizer(const char *kind, struct cg_tensor **p)
{
    if (!strcmp(kind, "sgd"))
        return cg_sgd_new_params(p, 2, (struct cg_sgd_options){.lr = 0.1, .momentum = 0.9});
    if (!strcmp(kind, "adam"))
        return cg_adam_new_params(p, 2, (struct cg_adam_options){.lr = 0.1,
                                                                 .betas = {0.8, 0.95}});
    if (!strcmp(kind, "rmsprop"))
        return cg_rmsprop_new_params(p, 2, (struct cg_rmsprop_options){.lr = 0.1,
                                                                       .momentum = 0.5});
    if (!strcmp(kind, "adagrad"))
        return cg_adagrad_new_params(p, 2, (struct cg_adagrad_options){.lr = 0.1});
    assert_true(!strcmp(kind, "sgd0"));
    return cg_sgd_new_params(p, 2, (struct cg_sgd_options){.lr = 0.1});
}

static void rig_new_kind(struct rig *r, const char *kind)
{
    for (int i = 0; i < 2; i++) {
        r->p[i] = cg_tensor_zeros(NULL, CG_F64, CG_SHAPE(1));
        cg_tensor_requires_grad(r->p[i], true);
    }
    r->opt = rig_optimizer(kind, r->p);
    assert_non_null(r->opt);
    assert_int_equal(cg_optimizer_add_group(r->opt, "1", (struct cg_group_options){
                         .lr = 0.02, .set_lr = true}), 1);
}

static void rig_new(struct rig *r) { rig_new_kind(r, "sgd0"); }

/* The OneCycleLR shapes of the momentum references (see the generator). */
static struct cg_lr_schedule *make_cycling(const char *shape, struct cg_optimizer *opt)
{
    const double *peaks = (const double[]){0.1, 0.05};
    const double *base = (const double[]){0.8, 0.7}, *top = (const double[]){0.9, 0.95};
    if (!strcmp(shape, "cos"))
        return cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
            .max_lrs = peaks, .total_steps = 51, .pct_start = 0.3});
    if (!strcmp(shape, "cos3"))
        return cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
            .max_lrs = peaks, .total_steps = 51, .pct_start = 0.25, .div_factor = 10,
            .final_div_factor = 100, .three_phase = true, .base_momentums = base,
            .max_momentums = top});
    if (!strcmp(shape, "linear"))
        return cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
            .max_lrs = peaks, .total_steps = 51, .pct_start = 0.4, .anneal_linear = true,
            .base_momentum = 0.75, .max_momentum = 0.9});
    if (!strcmp(shape, "linear3"))
        return cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
            .max_lrs = peaks, .total_steps = 51, .pct_start = 0.25, .anneal_linear = true,
            .three_phase = true, .base_momentums = base, .max_momentums = top});
    fail_msg("no OneCycleLR shape '%s'", shape);
    return NULL;
}

static void rig_free(struct rig *r)
{
    cg_optimizer_free(r->opt);
    cg_tensor_free(r->p[0]);
    cg_tensor_free(r->p[1]);
}

static struct cg_lr_schedule *make_schedule(const char *name, struct cg_optimizer *opt)
{
    if (!strcmp(name, "steplr")) return cg_lr_step_new(opt, 7, 0.5);
    if (!strcmp(name, "cosine")) return cg_lr_cosine_new(opt, 20, 0.001);
    if (!strcmp(name, "multistep"))
        return cg_lr_multistep_new(opt, 4, (const int64_t[]){5, 12, 12, 30}, 0.3);
    if (!strcmp(name, "exponential")) return cg_lr_exponential_new(opt, 0.93);
    if (!strcmp(name, "linear")) return cg_lr_linear_new(opt, 0.25, 1.0, 8);
    if (!strcmp(name, "linear_decay")) return cg_lr_linear_new(opt, 1.0, 0.1, 30);
    /* PyTorch's cycle_momentum=False. */
    if (!strcmp(name, "onecycle_cos"))
        return cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
            .max_lrs = (const double[]){0.1, 0.05}, .total_steps = 51, .pct_start = 0.3,
            .no_cycle_momentum = true});
    if (!strcmp(name, "onecycle_linear3"))
        return cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
            .max_lrs = (const double[]){0.1, 0.05}, .total_steps = 51, .pct_start = 0.25,
            .anneal_linear = true, .div_factor = 10, .final_div_factor = 100,
            .three_phase = true, .no_cycle_momentum = true});
    char kind[16], shape[16];
    if (sscanf(name, "onecycle_%15[^_]_%15s", kind, shape) == 2)
        return make_cycling(shape, opt);
    if (!strcmp(name, "plateau_min_rel"))
        return cg_lr_plateau_new(opt, (struct cg_plateau_options){
            .factor = 0.5, .patience = 1, .threshold = 1e-2, .cooldown = 2,
            .min_lrs = (const double[]){0.004, 0.001}});
    if (!strcmp(name, "plateau_max_abs"))
        return cg_lr_plateau_new(opt, (struct cg_plateau_options){
            .mode_max = true, .factor = 0.3, .patience = 1, .threshold = 0.05,
            .threshold_abs = true, .eps = 1e-8});
    if (!strcmp(name, "sequential")) {
        struct cg_lr_schedule *s = cg_lr_sequential_new(opt, 1, (const int64_t[]){5});
        assert_non_null(cg_lr_linear_new(opt, 0.1, 1.0, 5));
        assert_non_null(cg_lr_cosine_new(opt, 45, 1e-4));
        return s;
    }
    fail_msg("no schedule for reference '%s'", name);
    return NULL;
}

static void expect_close(const char *name, const char *what, int step, size_t group,
                         double got, double want)
{
    if (!(fabs(got - want) <= 1e-12 * fabs(want)))
        fail_msg("%s step %d group %zu: %s %.17g, PyTorch %.17g", name, step, group, what, got,
                 want);
}

/* The groups' momentum against the reference's after `step` steps; without
 * a reference (a schedule that does not cycle it), the momentum must stay
 * as the optimizer was created with. */
static void expect_momentum(const struct cg_optref_sched *ref, struct cg_optimizer *opt,
                            int step, const double created[2])
{
    for (size_t g = 0; g < 2; g++) {
        double got = cg_optimizer_get_group_momentum(opt, g);
        if (ref->n_momentum) expect_close(ref->name, "momentum", step, g, got,
                                          ref->momentum[g][step]);
        else if (got != created[g])
            fail_msg("%s step %d group %zu: momentum %.17g moved from %.17g", ref->name, step,
                     g, got, created[g]);
    }
}

/* Closed forms against PyTorch's recursive updates agree to rounding. */
static void test_lr_sequences_match_pytorch(void **state)
{
    (void)state;
    /* 11 schedules, and OneCycleLR cycling momentum in 4 shapes on 4 optimizers. */
    assert_int_equal(refs.n_scheds, 11 + 16);
    int cycling = 0;
    for (int i = 0; i < refs.n_scheds; i++) {
        const struct cg_optref_sched *ref = &refs.scheds[i];
        char kind[16] = "sgd0";
        if (ref->n_momentum) {
            assert_int_equal(sscanf(ref->name, "onecycle_%15[^_]", kind), 1);
            cycling++;
        }
        struct rig r;
        rig_new_kind(&r, kind);
        const double created[2] = {cg_optimizer_get_group_momentum(r.opt, 0),
                                   cg_optimizer_get_group_momentum(r.opt, 1)};
        struct cg_lr_schedule *s = make_schedule(ref->name, r.opt);
        assert_non_null(s);
        assert_ptr_equal(cg_optimizer_schedule(r.opt), s);
        bool plateau = strncmp(ref->name, "plateau", 7) == 0;
        assert_true(ref->n == 50 && refs.n_metrics >= ref->n);
        assert_true(ref->n_momentum == 0 || ref->n_momentum == ref->n + 1);
        expect_momentum(ref, r.opt, 0, created);
        for (int k = 0; k < ref->n; k++) {
            if (plateau) {
                double m = refs.metrics[k];
                cg_lr_schedule_step_metric(s, strstr(ref->name, "max") ? -m : m);
            } else {
                cg_lr_schedule_step(s);
            }
            for (size_t g = 0; g < 2; g++)
                expect_close(ref->name, "lr", k + 1, g, cg_optimizer_get_group_lr(r.opt, g),
                             ref->lr[g][k]);
            expect_momentum(ref, r.opt, k + 1, created);
        }
        assert_int_equal(cg_lr_schedule_epoch(s), 50);
        rig_free(&r);
    }
    assert_int_equal(cycling, 16);
}

static void test_bad_settings(void **state)
{
    (void)state;
    struct rig r;
    rig_new(&r);
    struct cg_optimizer *o = r.opt;
    CG_EXPECT_MISUSE(cg_lr_linear_new(o, 1.5, 1.0, 5),
                     "Starting multiplicative factor expected to be between 0 and 1.");
    CG_EXPECT_MISUSE(cg_lr_linear_new(o, 0.5, -1, 5),
                     "Ending multiplicative factor expected to be between 0 and 1.");
    CG_EXPECT_MISUSE(cg_lr_linear_new(o, 0.5, 1, 0), "total_iters 0");
    CG_EXPECT_MISUSE(cg_lr_onecycle_new(o, (struct cg_onecycle_options){.max_lr = 0.1}),
                     "Expected positive integer total_steps, but got 0");
    CG_EXPECT_MISUSE(cg_lr_onecycle_new(o, (struct cg_onecycle_options){
                         .max_lr = 0.1, .total_steps = 10, .pct_start = 1.5}),
                     "Expected float between 0 and 1 pct_start, but got 1.5");
    CG_EXPECT_MISUSE(cg_lr_plateau_new(o, (struct cg_plateau_options){.factor = 1.0}),
                     "Factor should be < 1.0.");
    CG_EXPECT_MISUSE(cg_lr_plateau_new(o, (struct cg_plateau_options){.patience = -1}),
                     "patience -1");
    CG_EXPECT_MISUSE(cg_lr_multistep_new(o, 0, NULL, 0.1), "cg_lr_multistep_new");
    CG_EXPECT_MISUSE(cg_lr_exponential_new(o, -0.5), "gamma -0.5");
    CG_EXPECT_MISUSE(cg_lr_sequential_new(o, 2, (const int64_t[]){5, 5}),
                     "larger than the one before");
    assert_null(cg_optimizer_schedule(o));
    /* A one-cycle schedule stops at its end; the lr stays. */
    struct cg_lr_schedule *s = cg_lr_onecycle_new(o, (struct cg_onecycle_options){
        .max_lr = 0.1, .total_steps = 3});
    for (int k = 0; k < 3; k++) cg_lr_schedule_step(s);
    double last = cg_optimizer_get_lr(o);
    CG_EXPECT_MISUSE(cg_lr_schedule_step(s), "Tried to step 4 times. The specified number of "
                     "total steps is 3");
    assert_true(cg_optimizer_get_lr(o) == last && cg_lr_schedule_epoch(s) == 3);
    CG_EXPECT_MISUSE(cg_lr_schedule_step_metric(s, 1.0), "OneCycleLR takes no metric");
    CG_EXPECT_MISUSE(cg_lr_exponential_new(o, 0.9), "already has a learning-rate schedule");
    rig_free(&r);

    rig_new(&r);
    s = cg_lr_plateau_new(r.opt, (struct cg_plateau_options){.patience = 1});
    CG_EXPECT_MISUSE(cg_lr_schedule_step(s), "ReduceLROnPlateau needs the metric");
    CG_EXPECT_MISUSE(cg_lr_schedule_step_metric(s, NAN), "metric is NaN");
    CG_EXPECT_MISUSE(cg_lr_schedule_lr_at(s, 1), "no closed form");
    rig_free(&r);
}

/* Cycling momentum needs an optimizer with one and values it accepts;
 * after a refusal nothing has changed. */
static void test_cycle_momentum_errors(void **state)
{
    (void)state;
    struct rig r;
    rig_new_kind(&r, "adagrad");
    CG_EXPECT_MISUSE(cg_lr_onecycle_new(r.opt, (struct cg_onecycle_options){
                         .max_lr = 0.1, .total_steps = 10}),
                     "cg_lr_onecycle_new", "optimizer must support momentum with "
                     "`cycle_momentum` option enabled", "Adagrad", "no_cycle_momentum");
    assert_null(cg_optimizer_schedule(r.opt));
    CG_EXPECT_MISUSE(cg_optimizer_get_group_momentum(r.opt, 0), "Adagrad optimizer has no "
                     "momentum");
    CG_EXPECT_MISUSE(cg_optimizer_set_group_momentum(r.opt, 0, 0.9), "no momentum");
    /* Without cycling, Adagrad takes a OneCycleLR as before. */
    assert_non_null(cg_lr_onecycle_new(r.opt, (struct cg_onecycle_options){
        .max_lr = 0.1, .total_steps = 10, .no_cycle_momentum = true}));
    rig_free(&r);

    rig_new_kind(&r, "adam");
    /* Group 1's beta1 of 1 is refused; group 0 gets its beta1 back. */
    CG_EXPECT_MISUSE(cg_lr_onecycle_new(r.opt, (struct cg_onecycle_options){
                         .max_lr = 0.1, .total_steps = 10,
                         .max_momentums = (const double[]){0.95, 1.0}}),
                     "cg_lr_onecycle_new", "Invalid beta parameter at index 0: 1");
    assert_null(cg_optimizer_schedule(r.opt));
    assert_true(cg_optimizer_get_group_momentum(r.opt, 0) == 0.8);
    assert_true(cg_optimizer_get_group_momentum(r.opt, 1) == 0.8);
    assert_true(cg_adam_get_options(r.opt).betas[0] == 0.8);
    CG_EXPECT_MISUSE(cg_optimizer_set_group_momentum(r.opt, 1, -0.1),
                     "cg_optimizer_set_group_momentum", "Invalid beta parameter at index 0: -0.1");
    CG_EXPECT_MISUSE(cg_optimizer_set_group_momentum(r.opt, 2, 0.5), "group 2 does not exist");
    CG_EXPECT_MISUSE(cg_optimizer_set_group_momentum(NULL, 0, 0.5), "opt is NULL");
    assert_int_equal(cg_optimizer_set_group_momentum(r.opt, 1, 0.5), CG_OK);
    assert_true(cg_optimizer_get_group_momentum(r.opt, 1) == 0.5);
    assert_true(cg_optimizer_get_group_momentum(r.opt, 0) == 0.8);
    rig_free(&r);

    rig_new_kind(&r, "sgd");
    CG_EXPECT_MISUSE(cg_lr_onecycle_new(r.opt, (struct cg_onecycle_options){
                         .max_lr = 0.1, .total_steps = 10, .base_momentum = -0.5}),
                     "cg_lr_onecycle_new", "Invalid momentum value: -0.5");
    CG_EXPECT_MISUSE(cg_optimizer_set_group_momentum(r.opt, 0, NAN), "Invalid momentum value");
    assert_true(cg_sgd_get_options(r.opt).momentum == 0.9);
    /* A OneCycleLR that cycles momentum cannot be a phase (PyTorch's phases
     * would all set it at their creation). */
    assert_non_null(cg_lr_sequential_new(r.opt, 1, (const int64_t[]){3}));
    CG_EXPECT_MISUSE(cg_lr_onecycle_new(r.opt, (struct cg_onecycle_options){
                         .max_lr = 0.1, .total_steps = 10}),
                     "cannot be a phase of a SequentialLR");
    assert_true(cg_optimizer_get_group_momentum(r.opt, 0) == 0.9);
    rig_free(&r);

    /* CG_OPTIM_ZERO is a real 0 base momentum. */
    rig_new_kind(&r, "rmsprop");
    struct cg_lr_schedule *s = cg_lr_onecycle_new(r.opt, (struct cg_onecycle_options){
        .max_lr = 0.1, .total_steps = 4, .pct_start = 0.5, .anneal_linear = true,
        .base_momentum = CG_OPTIM_ZERO, .max_momentum = 0.6});
    assert_true(cg_optimizer_get_group_momentum(r.opt, 0) == 0.6);
    cg_lr_schedule_step(s);
    assert_true(cg_optimizer_get_group_momentum(r.opt, 1) == 0); /* the end of phase 0 */
    assert_true(cg_rmsprop_get_options(r.opt).momentum == 0);
    rig_free(&r);
}

/* SGD created without momentum gets its buffers from the OneCycleLR; the
 * steps and the schedule's steps then allocate nothing. */
static void test_cycling_allocates_nothing_per_step(void **state)
{
    (void)state;
    struct rig r;
    rig_new(&r);
    struct cg_lr_schedule *s = cg_lr_onecycle_new(r.opt, (struct cg_onecycle_options){
        .max_lr = 0.1, .total_steps = 10});
    assert_non_null(s);
    for (int k = 0; k < 5; k++) {
        size_t before = cg_alloc_count();
        cg_optimizer_zero_grad(r.opt);
        for (int i = 0; i < 2; i++) {
            cg_tensor_fill(r.p[i]->grad, 0.5 + k);
            r.p[i]->flags &= ~CG_GRAD_NONE;
        }
        assert_int_equal(cg_optimizer_step(r.opt), CG_OK);
        cg_lr_schedule_step(s);
        assert_int_equal(cg_alloc_count(), before);
        assert_non_null(cg_sgd_momentum_buffer(r.opt, 0));
    }
    rig_free(&r);
}

static void test_sequential_phases(void **state)
{
    (void)state;
    struct rig r;
    rig_new(&r);
    struct cg_lr_schedule *seq = cg_lr_sequential_new(r.opt, 1, (const int64_t[]){3});
    assert_non_null(seq);
    CG_EXPECT_MISUSE(cg_lr_schedule_step(seq), "Sequential Schedulers expects number of "
                     "schedulers provided to be one more than the number of milestone points",
                     "number of schedulers 0");
    CG_EXPECT_MISUSE(cg_lr_plateau_new(r.opt, (struct cg_plateau_options){.patience = 1}),
                     "ReduceLROnPlateau cannot be a phase of a SequentialLR");
    struct cg_lr_schedule *warm = cg_lr_linear_new(r.opt, 0.5, 1.0, 3);
    assert_non_null(warm);
    assert_true(cg_optimizer_get_lr(r.opt) == 0.1); /* not applied before the last phase */
    struct cg_lr_schedule *decay = cg_lr_exponential_new(r.opt, 0.5);
    assert_non_null(decay);
    assert_ptr_equal(cg_optimizer_schedule(r.opt), seq);
    assert_true(cg_optimizer_get_lr(r.opt) == 0.05); /* phase 0, epoch 0 */
    CG_EXPECT_MISUSE(cg_lr_schedule_step(warm), "is a phase of a SequentialLR");
    CG_EXPECT_MISUSE(cg_lr_exponential_new(r.opt, 0.9), "already has a learning-rate schedule");
    /* Epochs 1, 2: warm-up; 3: decay's epoch 0 (base lr); 4: 0.1 * 0.5. */
    const double want[4] = {0.1 * (0.5 + 0.5 * 1 / 3.0), 0.1 * (0.5 + 0.5 * 2 / 3.0), 0.1,
                            0.05};
    for (int k = 0; k < 4; k++) assert_true(cg_lr_schedule_step(seq) == want[k]);
    assert_true(cg_lr_schedule_lr_at(seq, 5) == 0.025);
    rig_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lr_sequences_match_pytorch),
        cmocka_unit_test(test_bad_settings),
        cmocka_unit_test(test_sequential_phases),
        cmocka_unit_test(test_cycle_momentum_errors),
        cmocka_unit_test(test_cycling_allocates_nothing_per_step),
    };
    return cmocka_run_group_tests(tests, load_refs, free_refs);
}
