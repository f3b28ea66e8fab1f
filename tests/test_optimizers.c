/* Adam, AdamW, RMSprop and Adagrad against PyTorch 1.13 (trajectories from
 * tests/gen_optim_refs.py in tests/data/optim_refs.txt): parameters, state
 * and per-parameter step counts after every step, for every option
 * combination, in f32 and f64, and with SGD through a OneCycleLR that
 * cycles momentum/beta1 (the per-group momentum itself: test_momentum.c);
 * skipped parameters; option checks with PyTorch's
 * wording; no allocation per step; bitwise checkpoint/resume. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static bool on(const struct cg_optref_case *c, const char *key)
{
    return cg_optref_opt(c, key, 0) != 0;
}

/* The optimizer a reference case describes, over `params`.  Every option
 * is passed explicitly (CG_OPTIM_ZERO for the zeros). */
static double z(double v) { return v == 0 ? CG_OPTIM_ZERO : v; }

static struct cg_optimizer *make_opt(const struct cg_optref_case *c, struct cg_tensor **params,
                                     size_t n)
{
    double lr = cg_optref_opt(c, "lr", NAN), eps = z(cg_optref_opt(c, "eps", NAN));
    double wd = z(cg_optref_opt(c, "weight_decay", 0));
    if (strcmp(c->kind, "Adam") == 0 || strcmp(c->kind, "AdamW") == 0) {
        struct cg_adam_options o = {.lr = lr, .eps = eps, .weight_decay = wd,
                                    .betas = {cg_optref_opt(c, "beta1", NAN),
                                              cg_optref_opt(c, "beta2", NAN)},
                                    .amsgrad = on(c, "amsgrad"), .maximize = on(c, "maximize")};
        return c->kind[4] == 'W' ? cg_adamw_new_params(params, n, o)
                                 : cg_adam_new_params(params, n, o);
    }
    if (strcmp(c->kind, "RMSprop") == 0)
        return cg_rmsprop_new_params(params, n, (struct cg_rmsprop_options){
            .lr = lr, .eps = eps, .weight_decay = wd, .alpha = cg_optref_opt(c, "alpha", NAN),
            .momentum = cg_optref_opt(c, "momentum", 0), .centered = on(c, "centered"),
            .maximize = on(c, "maximize")});
    if (strcmp(c->kind, "SGD") == 0)
        return cg_sgd_new_params(params, n, (struct cg_sgd_options){
            .lr = lr, .weight_decay = wd, .momentum = cg_optref_opt(c, "momentum", 0),
            .dampening = cg_optref_opt(c, "dampening", 0), .nesterov = on(c, "nesterov"),
            .maximize = on(c, "maximize")});
    if (strcmp(c->kind, "Adagrad") == 0)
        return cg_adagrad_new_params(params, n, (struct cg_adagrad_options){
            .lr = lr, .eps = eps, .weight_decay = wd,
            .lr_decay = cg_optref_opt(c, "lr_decay", 0),
            .initial_accumulator_value = cg_optref_opt(c, "initial_accumulator_value", 0),
            .maximize = on(c, "maximize")});
    fail_msg("unknown optimizer kind '%s' in case '%s'", c->kind, c->name);
    return NULL;
}

/* A case with 'sched_*' options: each parameter in a group of its own and
 * the OneCycleLR (two groups, PyTorch's defaults otherwise) stepped after
 * each step. */
static struct cg_lr_schedule *make_case_schedule(const struct cg_optref_case *c,
                                                 struct cg_optimizer *opt)
{
    if (isnan(cg_optref_opt(c, "sched_total_steps", NAN))) return NULL;
    assert_int_equal(cg_optimizer_add_group(opt, "1", (struct cg_group_options){0}), 1);
#define PER_GROUP(key) {cg_optref_opt(c, key "0", NAN), cg_optref_opt(c, key "1", NAN)}
    const double max_lrs[2] = PER_GROUP("sched_max_lr");
    const double base[2] = PER_GROUP("sched_base_momentum"), top[2] = PER_GROUP("sched_max_momentum");
#undef PER_GROUP
    struct cg_lr_schedule *s = cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
        .max_lrs = max_lrs, .total_steps = (int64_t)cg_optref_opt(c, "sched_total_steps", 0),
        .pct_start = cg_optref_opt(c, "sched_pct_start", NAN),
        .anneal_linear = on(c, "sched_anneal_linear"), .three_phase = on(c, "sched_three_phase"),
        .base_momentums = base, .max_momentums = top});
    assert_non_null(s);
    return s;
}

/* Relative difference of the values of tensors t[0..nt) (taken together)
 * from want[0..n), per tensor as a whole: max |got - want| / max |want|.
 * An element near zero (a running mean crossing zero) is the difference of
 * terms of the tensor's scale, so a rounding of those terms is measured
 * against that scale, not against ~0.  (PyTorch's f32 kernels are compiled
 * with fused multiply-adds, cgrad's are not: their roundings differ.) */
static double worst_diff(struct cg_tensor *const *t, int nt, const double *want, int64_t n)
{
    int64_t total = 0;
    for (int i = 0; i < nt; i++) total += t[i]->numel;
    if (total != n) return INFINITY;
    double scale = 0, worst = 0;
    for (int64_t k = 0; k < n; k++) scale = fmax(scale, fabs(want[k]));
    int64_t k = 0;
    for (int i = 0; i < nt; i++)
        for (int64_t j = 0; j < t[i]->numel; j++, k++) {
            double d = fabs(cg_tensor_at(t[i], j) - want[k]);
            if (!(d <= worst)) worst = d;
        }
    return scale > 0 ? worst / scale : worst;
}

struct step_count {
    const char *param;
    uint64_t value;
    bool present, found;
};

static void find_step(const struct cg_state_item *item, void *user)
{
    struct step_count *s = user;
    char name[80];
    snprintf(name, sizeof name, "state.%s.step", s->param);
    if (strcmp(item->name, name) != 0) return;
    s->found = true;
    s->present = !item->present || *item->present;
    s->value = *(const uint64_t *)item->values;
}

static uint64_t param_step_count(struct cg_optimizer *opt, const char *param)
{
    struct step_count s = {.param = param};
    cg_optimizer_visit_state(opt, find_step, &s);
    assert_true(s.found);
    return s.present ? s.value : 0;
}

/* Runs case c (its first `steps` steps) against the references.  Returns
 * the worst difference over parameters and state; fails the test at the
 * first step whose difference passes tol. */
static double run_case(const struct cg_optref_case *c, double tol)
{
    struct cg_tensor *p[CG_OPTREF_MAX_PARAMS];
    int n = refs.n_params;
    const double *p0 = refs.p0;
    for (int i = 0; i < n; i++) {
        p[i] = cg_tensor_from_doubles(NULL, c->dtype, refs.ndim[i], refs.shape[i], p0);
        assert_non_null(p[i]);
        assert_int_equal(cg_tensor_requires_grad(p[i], true), CG_OK);
        p0 += refs.numel[i];
    }
    struct cg_optimizer *opt = make_opt(c, p, (size_t)n);
    assert_non_null(opt);
    assert_string_equal(cg_optimizer_type(opt), c->kind);
    struct cg_lr_schedule *sched = make_case_schedule(c, opt);
    bool counts = strcmp(c->kind, "SGD") != 0; /* SGD keeps no step count */
    double worst = 0;
    for (int k = 0; k < c->steps; k++) {
        cg_optimizer_zero_grad(opt);
        const double *g = &refs.grads[k * refs.total];
        for (int i = 0; i < n; g += refs.numel[i++]) {
            if (!refs.mask[k * n + i]) continue; /* PyTorch: .grad = None */
            for (int64_t j = 0; j < p[i]->numel; j++) cg_tensor_set_at(p[i]->grad, j, g[j]);
            p[i]->flags &= ~CG_GRAD_NONE; /* written by hand, not by a backward */
        }
        assert_int_equal(cg_optimizer_step(opt), CG_OK);
        if (sched) cg_lr_schedule_step(sched);
        const struct cg_optref_snapshot *want = &c->after[k];
        double d = worst_diff(p, n, want->p, refs.total);
        for (int s = 0; s < want->n_state; s++) {
            struct cg_tensor *st[CG_OPTREF_MAX_PARAMS];
            int have = 0;
            for (int i = 0; i < n; i++) {
                const struct cg_tensor *t =
                    cg_optimizer_state_tensor(opt, cg_optimizer_param_name(opt, (size_t)i),
                                              want->state[s].what);
                if (t) st[have++] = (struct cg_tensor *)t;
            }
            double ds = worst_diff(st, have, want->state[s].values, want->state[s].count);
            if (ds > worst) worst = ds;
            if (!(ds <= tol))
                fail_msg("%s step %d: state '%s' differs from PyTorch by %.3g (tolerance %g)",
                         c->name, k, want->state[s].what, ds, tol);
        }
        if (!(d <= tol))
            fail_msg("%s (%s) step %d: parameters differ from PyTorch by %.3g (tolerance %g)",
                     c->name, cg_dtype_name(c->dtype), k, d, tol);
        if (d > worst) worst = d;
        for (int i = 0; counts && i < n; i++)
            if (param_step_count(opt, cg_optimizer_param_name(opt, (size_t)i)) != want->count[i])
                fail_msg("%s step %d: parameter %d has step count %llu, PyTorch %llu", c->name,
                         k, i, (unsigned long long)param_step_count(
                                   opt, cg_optimizer_param_name(opt, (size_t)i)),
                         (unsigned long long)want->count[i]);
    }
    cg_optimizer_free(opt);
    for (int i = 0; i < n; i++) cg_tensor_free(p[i]);
    return worst;
}

static double tol_for(enum cg_dtype dtype) { return dtype == CG_F64 ? 1e-12 : 1e-6; }

static void test_every_option_combination(void **state)
{
    (void)state;
    int ran[2] = {0, 0};
    for (int i = 0; i < refs.n_cases; i++) {
        const struct cg_optref_case *c = &refs.cases[i];
        if (strstr(c->name, "_long") || strstr(c->name, "_onecycle")) continue;
        assert_true(c->steps >= 20);
        run_case(c, tol_for(c->dtype));
        ran[c->dtype == CG_F64]++;
    }
    /* 8 Adam + 8 AdamW + 16 RMSprop + 16 Adagrad combinations per dtype. */
    assert_int_equal(ran[0], 48);
    assert_int_equal(ran[1], 48);
}

/* 100 steps with every option on: f64 within 1e-10, f32 within 1e-6. */
static void test_long_runs(void **state)
{
    (void)state;
    int ran = 0;
    for (int i = 0; i < refs.n_cases; i++) {
        const struct cg_optref_case *c = &refs.cases[i];
        if (!strstr(c->name, "_long")) continue;
        assert_int_equal(c->steps, 100);
        double worst = run_case(c, c->dtype == CG_F64 ? 1e-10 : 1e-6);
        print_message("%-8s %s: worst relative difference from PyTorch over 100 steps "
                      "(parameters and state) %.3g\n",
                      c->kind, cg_dtype_name(c->dtype), worst);
        ran++;
    }
    assert_int_equal(ran, 8);
}

/* Through a OneCycleLR that cycles each group's momentum / beta1 (SGD,
 * SGD created without momentum, Nesterov, Adam, AdamW, RMSprop with and
 * without momentum at creation), the steps follow PyTorch's. */
static void test_onecycle_trajectories(void **state)
{
    (void)state;
    int ran[2] = {0, 0};
    for (int i = 0; i < refs.n_cases; i++) {
        const struct cg_optref_case *c = &refs.cases[i];
        if (!strstr(c->name, "_onecycle")) continue;
        double worst = run_case(c, tol_for(c->dtype));
        if (c->dtype == CG_F64)
            print_message("%-36s f64: worst relative difference from PyTorch %.3g\n", c->name,
                          worst);
        ran[c->dtype == CG_F64]++;
    }
    assert_int_equal(ran[0], 7);
    assert_int_equal(ran[1], 7);
}

/* Two persistent f64 parameters [2, 2] and [2] with grads. */
static void make_params(struct cg_tensor **p, enum cg_dtype dtype)
{
    for (int i = 0; i < 2; i++) {
        p[i] = cg_tensor_from_doubles(NULL, dtype, refs.ndim[i], refs.shape[i],
                                      refs.p0 + (i ? refs.numel[0] : 0));
        assert_non_null(p[i]);
        assert_int_equal(cg_tensor_requires_grad(p[i], true), CG_OK);
    }
}

/* Options PyTorch rejects are misuse with PyTorch's message, and nothing
 * is allocated. */
static void test_invalid_options(void **state)
{
    (void)state;
    struct cg_tensor *p[2];
    make_params(p, CG_F64);
    size_t before = cg_alloc_count();
#define ADAM(...) cg_adam_new_params(p, 2, (struct cg_adam_options){__VA_ARGS__})
#define ADAMW(...) cg_adamw_new_params(p, 2, (struct cg_adam_options){__VA_ARGS__})
#define RMS(...) cg_rmsprop_new_params(p, 2, (struct cg_rmsprop_options){__VA_ARGS__})
#define ADAGRAD(...) cg_adagrad_new_params(p, 2, (struct cg_adagrad_options){__VA_ARGS__})
    CG_EXPECT_MISUSE(ADAM(.lr = -1e-3), "cg_adam_new_params", "Invalid learning rate: -0.001");
    CG_EXPECT_MISUSE(ADAM(.lr = 0), "Invalid learning rate: 0", "PyTorch's is 1e-3");
    CG_EXPECT_MISUSE(ADAM(.lr = NAN), "Invalid learning rate: nan");
    CG_EXPECT_MISUSE(ADAM(.lr = 1e-3, .eps = -1e-8), "Invalid epsilon value: -1e-08");
    CG_EXPECT_MISUSE(ADAM(.lr = 1e-3, .betas = {1.0, 0.999}),
                     "Invalid beta parameter at index 0: 1", "[0, 1)");
    CG_EXPECT_MISUSE(ADAM(.lr = 1e-3, .betas = {-0.1, 0.999}),
                     "Invalid beta parameter at index 0: -0.1");
    CG_EXPECT_MISUSE(ADAMW(.lr = 1e-3, .betas = {0.9, 1.5}), "cg_adamw_new_params",
                     "Invalid beta parameter at index 1: 1.5");
    CG_EXPECT_MISUSE(ADAMW(.lr = 1e-3, .weight_decay = -0.01),
                     "Invalid weight_decay value: -0.01");
    CG_EXPECT_MISUSE(RMS(.lr = -0.01), "cg_rmsprop_new_params", "Invalid learning rate: -0.01");
    CG_EXPECT_MISUSE(RMS(.lr = 0.01, .eps = -1), "Invalid epsilon value: -1");
    CG_EXPECT_MISUSE(RMS(.lr = 0.01, .momentum = -0.9), "Invalid momentum value: -0.9");
    CG_EXPECT_MISUSE(RMS(.lr = 0.01, .weight_decay = -1), "Invalid weight_decay value: -1");
    CG_EXPECT_MISUSE(RMS(.lr = 0.01, .alpha = -0.5), "Invalid alpha value: -0.5");
    CG_EXPECT_MISUSE(ADAGRAD(.lr = -0.01), "cg_adagrad_new_params", "Invalid learning rate");
    CG_EXPECT_MISUSE(ADAGRAD(.lr = 0.01, .lr_decay = -1), "Invalid lr_decay value: -1");
    CG_EXPECT_MISUSE(ADAGRAD(.lr = 0.01, .weight_decay = -2), "Invalid weight_decay value: -2");
    CG_EXPECT_MISUSE(ADAGRAD(.lr = 0.01, .initial_accumulator_value = -0.1),
                     "Invalid initial_accumulator_value value: -0.1");
    CG_EXPECT_MISUSE(ADAGRAD(.lr = 0.01, .eps = -1e-10), "Invalid epsilon value: -1e-10");
    CG_EXPECT_MISUSE(cg_adam_new(NULL, (struct cg_adam_options){.lr = 1e-3}), "cg_adam_new",
                     "model is NULL");
    CG_EXPECT_MISUSE(cg_rmsprop_new_params(NULL, 2, (struct cg_rmsprop_options){.lr = 1}),
                     "params is NULL");
    CG_EXPECT_MISUSE(cg_adam_get_options(NULL), "cg_adam_get_options", "NULL");
    assert_int_equal(cg_alloc_count(), before);
#undef ADAM
#undef ADAMW
#undef RMS
#undef ADAGRAD
    cg_tensor_free(p[0]);
    cg_tensor_free(p[1]);
}

/* Zero options take PyTorch's defaults; CG_OPTIM_ZERO is a real zero. */
static void test_defaults(void **state)
{
    (void)state;
    struct cg_tensor *p[2];
    make_params(p, CG_F32);
    struct cg_optimizer *o = cg_adamw_new_params(p, 2, (struct cg_adam_options){.lr = 1e-3});
    struct cg_adam_options a = cg_adam_get_options(o);
    assert_true(a.betas[0] == 0.9 && a.betas[1] == 0.999 && a.eps == 1e-8);
    assert_true(a.weight_decay == 1e-2 && a.lr == 1e-3);
    cg_optimizer_free(o);
    o = cg_adam_new_params(p, 2, (struct cg_adam_options){.lr = 1e-3, .betas = {CG_OPTIM_ZERO}});
    a = cg_adam_get_options(o);
    assert_true(a.betas[0] == 0 && a.betas[1] == 0.999 && a.weight_decay == 0);
    cg_optimizer_free(o);
    o = cg_rmsprop_new_params(p, 2, (struct cg_rmsprop_options){.lr = 1e-2});
    struct cg_rmsprop_options r = cg_rmsprop_get_options(o);
    assert_true(r.alpha == 0.99 && r.eps == 1e-8 && r.momentum == 0 && !r.centered);
    CG_EXPECT_MISUSE(cg_adam_get_options(o), "cg_adam_get_options", "RMSprop");
    cg_optimizer_free(o);
    o = cg_adagrad_new_params(p, 2, (struct cg_adagrad_options){.lr = 1e-2});
    assert_true(cg_adagrad_get_options(o).eps == 1e-10);
    cg_optimizer_free(o);
    cg_tensor_free(p[0]);
    cg_tensor_free(p[1]);
}

/* A model whose second layer the loss never uses: after real backwards,
 * every optimizer (SGD included) leaves that layer's parameters, state and
 * step counts alone, weight decay and momentum notwithstanding. */
static struct cg_optimizer *new_decaying(int which, struct cg_module *m)
{
    switch (which) {
    case 0: return cg_sgd_new(m, (struct cg_sgd_options){.lr = 0.1, .momentum = 0.9,
                                                          .weight_decay = 0.1});
    case 1: return cg_adam_new(m, (struct cg_adam_options){.lr = 0.1, .weight_decay = 0.1});
    case 2: return cg_adamw_new(m, (struct cg_adam_options){.lr = 0.1, .weight_decay = 0.1});
    case 3: return cg_rmsprop_new(m, (struct cg_rmsprop_options){.lr = 0.1, .momentum = 0.9,
                                                                  .weight_decay = 0.1});
    default: return cg_adagrad_new(m, (struct cg_adagrad_options){.lr = 0.1,
                                                                   .weight_decay = 0.1});
    }
}

static void test_unused_parameters_are_skipped(void **state)
{
    (void)state;
    for (int which = 0; which < 5; which++) {
        struct cg_rng rng = cg_rng_seed(7);
        struct cg_module *used = cg_linear_new(3, 2, true, &rng);
        struct cg_module *unused = cg_linear_new(3, 2, true, &rng);
        struct cg_module *m = cg_sequential(used, unused);
        assert_non_null(m);
        struct cg_optimizer *opt = new_decaying(which, m);
        assert_non_null(opt);
        struct cg_tensor *w_unused = cg_module_param(m, "1.weight");
        struct cg_tensor *w_used = cg_module_param(m, "0.weight");
        struct cg_tensor *before = cg_tensor_copy(NULL, w_unused);
        struct cg_tensor *used_before = cg_tensor_copy(NULL, w_used);
        struct cg_tape *tape = cg_tape_new();
        for (int step = 0; step < 3; step++) {
            struct cg_tensor *x = cg_tensor_randn(tape, CG_F32, CG_SHAPE(4, 3), &rng);
            struct cg_tensor *y = cg_module_forward(used, tape, x);
            struct cg_tensor *loss = cg_sum(tape, cg_mul(tape, y, y));
            cg_optimizer_zero_grad(opt);
            assert_int_equal(cg_backward(tape, loss), CG_OK);
            assert_int_equal(cg_optimizer_step(opt), CG_OK);
            cg_tape_reset(tape);
        }
        assert_memory_equal(w_unused->data, before->data, (size_t)before->numel * sizeof(float));
        assert_memory_not_equal(w_used->data, used_before->data,
                                (size_t)w_used->numel * sizeof(float));
        if (which > 0) {
            assert_int_equal(param_step_count(opt, "1.weight"), 0);
            assert_int_equal(param_step_count(opt, "0.weight"), 3);
        }
        cg_tape_free(tape);
        cg_tensor_free(before);
        cg_tensor_free(used_before);
        cg_optimizer_free(opt);
        cg_module_free(m);
    }
}

/* Steps allocate nothing, on one thread and on the pool (big enough to be
 * split). */
static void test_no_allocation_per_step(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 2; threads++) {
        cg_set_num_threads(threads);
        for (int which = 0; which < 5; which++) {
            struct cg_rng rng = cg_rng_seed(3);
            struct cg_module *m = cg_linear_new(256, 256, true, &rng);
            struct cg_optimizer *opt = new_decaying(which, m);
            struct cg_tensor *w = cg_module_param(m, "weight");
            for (int step = 0; step < 3; step++) {
                size_t before = cg_alloc_count();
                cg_optimizer_zero_grad(opt);
                cg_tensor_fill(w->grad, 0.01 * (step + 1));
                w->flags &= ~CG_GRAD_NONE;
                assert_int_equal(cg_optimizer_step(opt), CG_OK);
                assert_int_equal(cg_alloc_count(), before);
            }
            cg_optimizer_free(opt);
            cg_module_free(m);
        }
    }
    cg_set_num_threads(1);
}

/* The weight after three steps with random gradients on `threads` threads
 * (a copy the caller frees); 256x256 is big enough to be split. */
static struct cg_tensor *stepped_weight(int which, int threads)
{
    cg_set_num_threads(threads);
    struct cg_rng rng = cg_rng_seed(5);
    struct cg_module *m = cg_linear_new(256, 256, true, &rng);
    struct cg_optimizer *opt = new_decaying(which, m);
    struct cg_tensor *w = cg_module_param(m, "weight");
    for (int step = 0; step < 3; step++) {
        cg_optimizer_zero_grad(opt);
        struct cg_tensor *g = cg_tensor_randn(NULL, CG_F32, 2, w->shape, &rng);
        memcpy(w->grad->data, g->data, (size_t)w->numel * sizeof(float));
        w->flags &= ~CG_GRAD_NONE;
        cg_tensor_free(g);
        assert_int_equal(cg_optimizer_step(opt), CG_OK);
    }
    struct cg_tensor *out = cg_tensor_copy(NULL, w);
    cg_optimizer_free(opt);
    cg_module_free(m);
    cg_set_num_threads(1);
    return out;
}

/* The update is elementwise, so cutting it over threads changes no bit. */
static void test_threads_give_the_same_bits(void **state)
{
    (void)state;
    for (int which = 0; which < 5; which++) {
        struct cg_tensor *one = stepped_weight(which, 1), *two = stepped_weight(which, 2);
        assert_memory_equal(one->data, two->data, (size_t)one->numel * sizeof(float));
        cg_tensor_free(one);
        cg_tensor_free(two);
    }
}

/* ---- resuming from the named state ----
 * A checkpoint saves what cg_optimizer_visit_state yields and restores it
 * by name.  These tests do the same in memory: copy every non-config item
 * of a trained optimizer into a fresh one, continue both, and require the
 * same bits -- so the visited state is all the state there is. */

#define MAX_ITEMS 64

struct saved_state {
    int n;
    char name[MAX_ITEMS][128];
    void *bytes[MAX_ITEMS];
    size_t size[MAX_ITEMS];
    bool present[MAX_ITEMS];
};

static size_t item_bytes(const struct cg_state_item *it, void **where)
{
    if (it->type == CG_STATE_TENSOR) {
        *where = it->tensor->data;
        return (size_t)it->tensor->numel * cg_dtype_size(it->tensor->dtype);
    }
    *where = it->values;
    return it->type == CG_STATE_TEXT ? it->count : it->count * 8;
}

static void save_item(const struct cg_state_item *it, void *user)
{
    struct saved_state *st = user;
    if (it->config) return;
    assert_true(st->n < MAX_ITEMS);
    void *src;
    size_t size = item_bytes(it, &src);
    snprintf(st->name[st->n], sizeof st->name[0], "%s", it->name);
    st->bytes[st->n] = malloc(size ? size : 1);
    memcpy(st->bytes[st->n], src, size);
    st->size[st->n] = size;
    st->present[st->n] = !it->present || *it->present;
    st->n++;
}

static void restore_item(const struct cg_state_item *it, void *user)
{
    struct saved_state *st = user;
    if (it->config) return;
    for (int k = 0; k < st->n; k++) {
        if (strcmp(st->name[k], it->name) != 0) continue;
        void *dst;
        assert_int_equal(item_bytes(it, &dst), st->size[k]);
        memcpy(dst, st->bytes[k], st->size[k]);
        if (it->present) *it->present = st->present[k];
        return;
    }
    fail_msg("state item '%s' was not saved", it->name);
}

static void saved_free(struct saved_state *st)
{
    for (int k = 0; k < st->n; k++) free(st->bytes[k]);
    st->n = 0;
}

enum sched { NO_SCHEDULE, WARMUP_COSINE, PLATEAU, ONECYCLE };

/* One training run of a small model on a fixed batch sequence. */
struct run {
    struct cg_module *model;
    struct cg_optimizer *opt;
    struct cg_tape *tape;
    int sched;
};

static struct cg_optimizer *new_by_index(int which, struct cg_module *m)
{
    switch (which) {
    case 0: return new_decaying(0, m);
    case 1: return cg_adam_new(m, (struct cg_adam_options){.lr = 0.01, .amsgrad = true,
                                                            .weight_decay = 0.01});
    case 2: return cg_adamw_new(m, (struct cg_adam_options){.lr = 0.01});
    case 3: return cg_rmsprop_new(m, (struct cg_rmsprop_options){.lr = 0.01, .momentum = 0.5,
                                                                  .centered = true});
    case 4: return cg_adagrad_new(m, (struct cg_adagrad_options){.lr = 0.05, .lr_decay = 0.01});
    /* Without momentum at creation: OneCycleLR gives them one. */
    case 5: return cg_sgd_new(m, (struct cg_sgd_options){.lr = 0.1, .dampening = 0.2});
    default: return cg_rmsprop_new(m, (struct cg_rmsprop_options){.lr = 0.01});
    }
}

static void run_new(struct run *r, int which, enum sched sched)
{
    struct cg_rng rng = cg_rng_seed(11);
    r->model = cg_sequential(cg_linear_new(5, 4, true, &rng), cg_relu_new(),
                             cg_linear_new(4, 3, true, &rng));
    r->opt = new_by_index(which, r->model);
    r->tape = cg_tape_new();
    r->sched = sched;
    assert_true(r->model && r->opt && r->tape);
    if (sched == WARMUP_COSINE) {
        assert_non_null(cg_lr_sequential_new(r->opt, 1, (const int64_t[]){3}));
        assert_non_null(cg_lr_linear_new(r->opt, 0.2, 1.0, 3));
        assert_non_null(cg_lr_cosine_new(r->opt, 6, 1e-4));
    } else if (sched == PLATEAU) {
        assert_non_null(cg_lr_plateau_new(r->opt, (struct cg_plateau_options){
            .patience = 0, .factor = 0.5, .cooldown = 1}));
    } else if (sched == ONECYCLE) {
        /* Two groups, each cycling its own momentum; Adagrad has none. */
        assert_int_equal(cg_optimizer_add_group(r->opt, "2.*", (struct cg_group_options){0}), 1);
        assert_non_null(cg_lr_onecycle_new(r->opt, (struct cg_onecycle_options){
            .max_lrs = (const double[]){0.02, 0.05}, .total_steps = 12, .pct_start = 0.4,
            .three_phase = which == 1, .max_momentums = (const double[]){0.95, 0.9},
            .no_cycle_momentum = which == 4}));
    }
}

static void run_steps(struct run *r, int from, int to)
{
    for (int step = from; step < to; step++) {
        struct cg_rng rng = cg_rng_seed(100 + (uint64_t)step); /* batch `step` */
        struct cg_tensor *x = cg_tensor_randn(r->tape, CG_F32, CG_SHAPE(8, 5), &rng);
        struct cg_tensor *y = cg_module_forward(r->model, r->tape, x);
        struct cg_tensor *loss = cg_sum(r->tape, cg_mul(r->tape, y, y));
        cg_optimizer_zero_grad(r->opt);
        assert_int_equal(cg_backward(r->tape, loss), CG_OK);
        assert_int_equal(cg_optimizer_step(r->opt), CG_OK);
        struct cg_lr_schedule *s = cg_optimizer_schedule(r->opt);
        if (r->sched == PLATEAU)
            cg_lr_schedule_step_metric(s, (double)(step % 3)); /* plateaus, then drops */
        else if (s)
            cg_lr_schedule_step(s);
        cg_tape_reset(r->tape);
    }
}

static void run_free(struct run *r)
{
    cg_tape_free(r->tape);
    cg_optimizer_free(r->opt);
    cg_module_free(r->model);
}

static void assert_same_run(struct run *a, struct run *b)
{
    for (size_t i = 0; i < cg_optimizer_param_count(a->opt); i++) {
        const struct cg_tensor *pa = cg_optimizer_param(a->opt, i), *pb = cg_optimizer_param(b->opt, i);
        assert_memory_equal(pa->data, pb->data, (size_t)pa->numel * sizeof(float));
    }
    struct saved_state sa = {0}, sb = {0};
    cg_optimizer_visit_state(a->opt, save_item, &sa);
    cg_optimizer_visit_state(b->opt, save_item, &sb);
    assert_int_equal(sa.n, sb.n);
    for (int k = 0; k < sa.n; k++) {
        assert_string_equal(sa.name[k], sb.name[k]);
        assert_int_equal(sa.present[k], sb.present[k]);
        if (memcmp(sa.bytes[k], sb.bytes[k], sa.size[k]) != 0)
            fail_msg("state '%s' differs after the resume", sa.name[k]);
    }
    saved_free(&sa);
    saved_free(&sb);
}

/* Resumes b from a after 4 steps: through the visited state in memory, or
 * through a checkpoint file. */
static void resume_case(int which, enum sched sched, bool file)
{
    struct run a, b;
    run_new(&a, which, sched);
    run_steps(&a, 0, 4);
    run_new(&b, which, sched);
    if (file) {
        char path[64];
        snprintf(path, sizeof path, "optimizers_resume_%d.ckpt", (int)getpid());
        assert_int_equal(cg_checkpoint_save(path, a.model, a.opt, NULL), CG_OK);
        if (cg_checkpoint_load(path, b.model, b.opt, NULL) != CG_OK)
            fail_msg("%s", cg_last_error());
        remove(path);
    } else {
        struct saved_state st = {0};
        cg_optimizer_visit_state(a.opt, save_item, &st);
        /* The model's parameters travel in the checkpoint too. */
        for (size_t i = 0; i < cg_optimizer_param_count(a.opt); i++)
            cg_tensor_copy_into(cg_optimizer_param(b.opt, i), cg_optimizer_param(a.opt, i));
        cg_optimizer_visit_state(b.opt, restore_item, &st);
        saved_free(&st);
    }
    run_steps(&a, 4, 9);
    run_steps(&b, 4, 9);
    assert_same_run(&a, &b);
    run_free(&a);
    run_free(&b);
}

static void test_resume_from_state_is_bitwise(void **state)
{
    (void)state;
    for (int which = 0; which < 5; which++)
        for (int sched = NO_SCHEDULE; sched <= PLATEAU; sched++) resume_case(which, sched, false);
}

static void test_checkpoint_resume_is_bitwise(void **state)
{
    (void)state;
    for (int which = 0; which < 5; which++)
        for (int sched = NO_SCHEDULE; sched <= PLATEAU; sched++) resume_case(which, sched, true);
}

/* Through a OneCycleLR cycling momentum (mid-cycle at the resume), in
 * memory and through a file, for every optimizer. */
static void test_onecycle_resume_is_bitwise(void **state)
{
    (void)state;
    for (int which = 0; which < 7; which++) {
        resume_case(which, ONECYCLE, false);
        resume_case(which, ONECYCLE, true);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_option_combination),
        cmocka_unit_test(test_long_runs),
        cmocka_unit_test(test_invalid_options),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_unused_parameters_are_skipped),
        cmocka_unit_test(test_no_allocation_per_step),
        cmocka_unit_test(test_threads_give_the_same_bits),
        cmocka_unit_test(test_resume_from_state_is_bitwise),
        cmocka_unit_test(test_checkpoint_resume_is_bitwise),
        cmocka_unit_test(test_onecycle_resume_is_bitwise),
        cmocka_unit_test(test_onecycle_trajectories),
    };
    return cmocka_run_group_tests(tests, load_refs, free_refs);
}
