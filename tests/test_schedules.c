/* Learning-rate schedules against PyTorch 1.13 (lr sequences from
 * tests/gen_optim_refs.py in tests/data/optim_refs.txt): every schedule's
 * lr of two parameter groups after each of 50 steps, ReduceLROnPlateau fed
 * a fixed sequence of metrics; settings checks; phases of a SequentialLR. */
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

/* SGD over two one-element parameters, in groups with lr 0.1 and 0.02 (as
 * the generator's). */
struct rig {
    struct cg_tensor *p[2];
    struct cg_optimizer *opt;
};

static void rig_new(struct rig *r)
{
    for (int i = 0; i < 2; i++) {
        r->p[i] = cg_tensor_zeros(NULL, CG_F64, CG_SHAPE(1));
        cg_tensor_requires_grad(r->p[i], true);
    }
    r->opt = cg_sgd_new_params(r->p, 2, (struct cg_sgd_options){.lr = 0.1});
    assert_int_equal(cg_optimizer_add_group(r->opt, "1", (struct cg_group_options){
                         .lr = 0.02, .set_lr = true}), 1);
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
    if (!strcmp(name, "onecycle_cos"))
        return cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
            .max_lrs = (const double[]){0.1, 0.05}, .total_steps = 51, .pct_start = 0.3});
    if (!strcmp(name, "onecycle_linear3"))
        return cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
            .max_lrs = (const double[]){0.1, 0.05}, .total_steps = 51, .pct_start = 0.25,
            .anneal_linear = true, .div_factor = 10, .final_div_factor = 100,
            .three_phase = true});
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

/* Closed forms against PyTorch's recursive updates agree to rounding. */
static void test_lr_sequences_match_pytorch(void **state)
{
    (void)state;
    assert_int_equal(refs.n_scheds, 11);
    for (int i = 0; i < refs.n_scheds; i++) {
        const struct cg_optref_sched *ref = &refs.scheds[i];
        struct rig r;
        rig_new(&r);
        struct cg_lr_schedule *s = make_schedule(ref->name, r.opt);
        assert_non_null(s);
        assert_ptr_equal(cg_optimizer_schedule(r.opt), s);
        bool plateau = strncmp(ref->name, "plateau", 7) == 0;
        assert_true(ref->n == 50 && refs.n_metrics >= ref->n);
        for (int k = 0; k < ref->n; k++) {
            if (plateau) {
                double m = refs.metrics[k];
                cg_lr_schedule_step_metric(s, strstr(ref->name, "max") ? -m : m);
            } else {
                cg_lr_schedule_step(s);
            }
            for (size_t g = 0; g < 2; g++) {
                double got = cg_optimizer_get_group_lr(r.opt, g), want = ref->lr[g][k];
                if (!(fabs(got - want) <= 1e-12 * fabs(want)))
                    fail_msg("%s step %d group %zu: lr %.17g, PyTorch %.17g", ref->name, k + 1,
                             g, got, want);
            }
        }
        assert_int_equal(cg_lr_schedule_epoch(s), 50);
        rig_free(&r);
    }
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
    };
    return cmocka_run_group_tests(tests, load_refs, free_refs);
}
