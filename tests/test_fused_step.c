/* cg_optimizer_backward (the update fused into the backward sweep) and the
 * core's cg_backward_on_ready under it.  The reference is the pair of calls
 * it replaces: every optimizer, with its options, must leave parameters,
 * grads, state and step count bit for bit as cg_backward followed by
 * cg_optimizer_step, in f32 and f64, at 1 and 2 threads, on a network with
 * a weight used twice, a parameter no gradient reaches, a parameter seen
 * only through an intermediate, and one whose grad an earlier backward left
 * (accumulation without zero_grad). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_test.h"
#include "alloc.h" /* cg_alloc_fail_nth: internal test hook */

enum { P_W1, P_B1, P_W2, P_UNUSED, P_EXTRA, N_PARAMS };
enum { D = 256, H = 160, B = 4 }; /* W1 has D*H = 40960 elements: split at 2 threads */

struct net {
    struct cg_tensor *p[N_PARAMS];
    struct cg_tensor *x;
};

static void net_make(struct net *n, enum cg_dtype dt)
{
    static const int64_t shapes[N_PARAMS][2] = {{D, H}, {1, H}, {H, D}, {3, 1}, {1, H}};
    for (int i = 0; i < N_PARAMS; i++) {
        n->p[i] = cg_test_randn(dt, 2, shapes[i], 100 + (uint64_t)i);
        assert_int_equal(cg_tensor_requires_grad(n->p[i], true), CG_OK);
    }
    n->x = cg_test_randn(dt, 2, (const int64_t[]){B, D}, 7);
}

static void net_free(struct net *n)
{
    for (int i = 0; i < N_PARAMS; i++) cg_tensor_free(n->p[i]);
    cg_tensor_free(n->x);
}

/* h = tanh(x W1 + b1) (h also feeds the loss directly: a non-leaf used
 * twice); y = h (0.5 W2) (W2 only through an intermediate); z = y W1 (W1 a
 * second time, later on the tape); loss = mean(z*z)/8 + mean(h)
 * [+ mean(h * extra) when with_extra].  P_UNUSED never gets a gradient. */
static struct cg_tensor *net_loss(struct net *n, struct cg_tape *tape, bool with_extra)
{
    struct cg_tensor *h = cg_tanh(tape, cg_add(tape, cg_matmul(tape, n->x, n->p[P_W1]), n->p[P_B1]));
    struct cg_tensor *y = cg_matmul(tape, h, cg_mul_scalar(tape, n->p[P_W2], 0.5));
    struct cg_tensor *z = cg_matmul(tape, y, n->p[P_W1]);
    struct cg_tensor *loss =
        cg_add(tape, cg_mul_scalar(tape, cg_mean(tape, cg_mul(tape, z, z)), 0.125), cg_mean(tape, h));
    if (with_extra) loss = cg_add(tape, loss, cg_mean(tape, cg_mul(tape, h, n->p[P_EXTRA])));
    assert_non_null(loss);
    return loss;
}

typedef struct cg_optimizer *(*make_opt_fn)(struct cg_tensor *const *params, size_t n);

static struct cg_optimizer *sgd_plain(struct cg_tensor *const *p, size_t n)
{
    return cg_sgd_new_params(p, n, (struct cg_sgd_options){.lr = 0.05});
}
static struct cg_optimizer *sgd_momentum(struct cg_tensor *const *p, size_t n)
{
    return cg_sgd_new_params(p, n, (struct cg_sgd_options){.lr = 0.05, .momentum = 0.9,
                                                           .dampening = 0.1,
                                                           .weight_decay = 1e-3});
}
static struct cg_optimizer *sgd_nesterov(struct cg_tensor *const *p, size_t n)
{
    return cg_sgd_new_params(p, n, (struct cg_sgd_options){.lr = 0.05, .momentum = 0.8,
                                                           .weight_decay = 1e-2,
                                                           .nesterov = true, .maximize = true});
}
static struct cg_optimizer *sgd_groups(struct cg_tensor *const *p, size_t n)
{
    struct cg_optimizer *o = cg_sgd_new_params(p, n, (struct cg_sgd_options){.lr = 0.05,
                                                                             .momentum = 0.9});
    /* Parameter 1 (b1): its own lr, no momentum. */
    assert_int_equal(cg_optimizer_add_group(o, "1", (struct cg_group_options){
                                                        .lr = 0.2, .set_lr = true,
                                                        .momentum = 0, .set_momentum = true}),
                     1);
    return o;
}
static struct cg_optimizer *adam(struct cg_tensor *const *p, size_t n)
{
    return cg_adam_new_params(p, n, (struct cg_adam_options){.lr = 1e-2});
}
static struct cg_optimizer *adam_all(struct cg_tensor *const *p, size_t n)
{
    return cg_adam_new_params(p, n, (struct cg_adam_options){.lr = 1e-2, .weight_decay = 1e-2,
                                                             .amsgrad = true, .maximize = true});
}
static struct cg_optimizer *adamw(struct cg_tensor *const *p, size_t n)
{
    return cg_adamw_new_params(p, n, (struct cg_adam_options){.lr = 1e-2, .amsgrad = true});
}
static struct cg_optimizer *rmsprop(struct cg_tensor *const *p, size_t n)
{
    return cg_rmsprop_new_params(p, n, (struct cg_rmsprop_options){.lr = 1e-2});
}
static struct cg_optimizer *rmsprop_all(struct cg_tensor *const *p, size_t n)
{
    return cg_rmsprop_new_params(p, n, (struct cg_rmsprop_options){
                                           .lr = 1e-2, .momentum = 0.5, .centered = true,
                                           .weight_decay = 1e-3, .maximize = true});
}
static struct cg_optimizer *adagrad(struct cg_tensor *const *p, size_t n)
{
    return cg_adagrad_new_params(p, n, (struct cg_adagrad_options){
                                           .lr = 1e-2, .lr_decay = 1e-2, .weight_decay = 1e-3,
                                           .initial_accumulator_value = 0.1});
}

static const struct {
    const char *name;
    make_opt_fn make;
} optimizers[] = {{"sgd", sgd_plain},       {"sgd momentum", sgd_momentum},
                  {"sgd nesterov", sgd_nesterov}, {"sgd groups", sgd_groups},
                  {"adam", adam},           {"adam amsgrad wd maximize", adam_all},
                  {"adamw amsgrad", adamw}, {"rmsprop", rmsprop},
                  {"rmsprop centered momentum", rmsprop_all}, {"adagrad", adagrad}};

/* Compares two optimizers' named state item by item, bit for bit.  An
 * item's values may live on the visitor's stack: copied during the visit. */
enum { MAX_ITEMS = 96, MAX_VALUE_BYTES = 64 };
struct state_list {
    char names[MAX_ITEMS][96];
    enum cg_state_type type[MAX_ITEMS];
    const struct cg_tensor *tensor[MAX_ITEMS];
    unsigned char values[MAX_ITEMS][MAX_VALUE_BYTES];
    size_t bytes[MAX_ITEMS];
    int present[MAX_ITEMS]; /* -1: no flag */
    int n;
};

static void collect(const struct cg_state_item *it, void *user)
{
    struct state_list *l = user;
    assert_true(l->n < MAX_ITEMS);
    int k = l->n++;
    snprintf(l->names[k], sizeof l->names[0], "%s", it->name);
    l->type[k] = it->type;
    l->tensor[k] = it->type == CG_STATE_TENSOR ? it->tensor : NULL;
    size_t unit = it->type == CG_STATE_TEXT ? 1 : 8;
    l->bytes[k] = it->type == CG_STATE_TENSOR ? 0 : unit * it->count;
    if (l->bytes[k] > MAX_VALUE_BYTES) l->bytes[k] = MAX_VALUE_BYTES;
    if (l->bytes[k]) memcpy(l->values[k], it->values, l->bytes[k]);
    l->present[k] = it->present ? *it->present : -1;
}

static bool same_tensor_bits(const struct cg_tensor *a, const struct cg_tensor *b)
{
    if (!a || !b) return a == b;
    return a->numel == b->numel &&
           memcmp(a->data, b->data, (size_t)a->numel * cg_dtype_size(a->dtype)) == 0;
}

static void assert_same_state(struct cg_optimizer *a, struct cg_optimizer *b, const char *what,
                              int step)
{
    static struct state_list la, lb;
    la.n = lb.n = 0;
    cg_optimizer_visit_state(a, collect, &la);
    cg_optimizer_visit_state(b, collect, &lb);
    assert_int_equal(la.n, lb.n);
    for (int k = 0; k < la.n; k++) {
        assert_string_equal(la.names[k], lb.names[k]);
        bool same = la.present[k] == lb.present[k] && la.bytes[k] == lb.bytes[k] &&
                    !memcmp(la.values[k], lb.values[k], la.bytes[k]);
        if (la.type[k] == CG_STATE_TENSOR) same = same && same_tensor_bits(la.tensor[k], lb.tensor[k]);
        if (!same) fail_msg("%s, step %d: state '%s' differs", what, step, la.names[k]);
    }
    assert_int_equal(cg_optimizer_step_count(a), cg_optimizer_step_count(b));
}

static void assert_same_params(const struct net *a, const struct net *b, const char *what, int step)
{
    for (int i = 0; i < N_PARAMS; i++) {
        if (!same_tensor_bits(a->p[i], b->p[i]))
            fail_msg("%s, step %d: parameter %d differs", what, step, i);
        if (!same_tensor_bits(a->p[i]->grad, b->p[i]->grad) ||
            (a->p[i]->flags & CG_GRAD_NONE) != (b->p[i]->flags & CG_GRAD_NONE))
            fail_msg("%s, step %d: grad of parameter %d differs", what, step, i);
    }
}

/* Step 1 uses the extra parameter; step 2 skips zero_grad and leaves it out
 * (its stale grad is stepped again, as step does); step 3 zeroes it out. */
static void run_step(struct net *n, struct cg_optimizer *opt, struct cg_tape *tape, int step,
                     bool fused)
{
    if (step != 2) cg_optimizer_zero_grad(opt);
    struct cg_tensor *loss = net_loss(n, tape, step <= 1);
    if (fused) assert_int_equal(cg_optimizer_backward(opt, tape, loss), CG_OK);
    else {
        assert_int_equal(cg_backward(tape, loss), CG_OK);
        assert_int_equal(cg_optimizer_step(opt), CG_OK);
    }
    cg_tape_reset(tape);
}

/* Two identical nets, each with its own optimizer from `make` (a: the
 * separate calls, b: the fused ones), and a tape for both. */
struct pair {
    struct net a, b;
    struct cg_optimizer *oa, *ob;
    struct cg_tape *tape;
};

static void pair_make(struct pair *p, enum cg_dtype dt, make_opt_fn make)
{
    net_make(&p->a, dt);
    net_make(&p->b, dt);
    p->oa = make(p->a.p, N_PARAMS);
    p->ob = make(p->b.p, N_PARAMS);
    assert_non_null(p->oa);
    assert_non_null(p->ob);
    p->tape = cg_tape_new();
}

static void pair_free(struct pair *p)
{
    cg_tape_free(p->tape);
    cg_optimizer_free(p->oa);
    cg_optimizer_free(p->ob);
    net_free(&p->a);
    net_free(&p->b);
}

static void check_equal_to_separate(enum cg_dtype dt, int threads)
{
    cg_set_num_threads(threads);
    for (size_t k = 0; k < sizeof optimizers / sizeof optimizers[0]; k++) {
        struct pair p;
        pair_make(&p, dt, optimizers[k].make);
        char what[128];
        snprintf(what, sizeof what, "%s, %s, %d threads", optimizers[k].name, cg_dtype_name(dt),
                 threads);
        for (int step = 0; step < 6; step++) {
            run_step(&p.a, p.oa, p.tape, step, false);
            run_step(&p.b, p.ob, p.tape, step, true);
            assert_same_params(&p.a, &p.b, what, step);
            assert_same_state(p.oa, p.ob, what, step);
        }
        /* The updates did something, and the unused parameter kept its values. */
        struct net fresh;
        net_make(&fresh, dt);
        assert_false(same_tensor_bits(fresh.p[P_W1], p.b.p[P_W1]));
        assert_false(same_tensor_bits(fresh.p[P_EXTRA], p.b.p[P_EXTRA]));
        assert_true(same_tensor_bits(fresh.p[P_UNUSED], p.b.p[P_UNUSED]));
        net_free(&fresh);
        pair_free(&p);
    }
    cg_set_num_threads(1);
}

/* cg_optimizer_backward_consume against backward, step, zero_grad. */
static void check_consume_equal_to_separate(enum cg_dtype dt, int threads)
{
    cg_set_num_threads(threads);
    for (size_t k = 0; k < sizeof optimizers / sizeof optimizers[0]; k++) {
        struct pair p;
        pair_make(&p, dt, optimizers[k].make);
        char what[128];
        snprintf(what, sizeof what, "consume, %s, %s, %d threads", optimizers[k].name,
                 cg_dtype_name(dt), threads);
        cg_optimizer_zero_grad(p.oa);
        cg_optimizer_zero_grad(p.ob);
        for (int step = 0; step < 4; step++) {
            assert_int_equal(cg_backward(p.tape, net_loss(&p.a, p.tape, step <= 1)), CG_OK);
            assert_int_equal(cg_optimizer_step(p.oa), CG_OK);
            cg_optimizer_zero_grad(p.oa);
            cg_tape_reset(p.tape);
            /* No zero_grad of its own: the call did it. */
            assert_int_equal(cg_optimizer_backward_consume(p.ob, p.tape,
                                                           net_loss(&p.b, p.tape, step <= 1)),
                             CG_OK);
            cg_tape_reset(p.tape);
            assert_same_params(&p.a, &p.b, what, step); /* grads: zeros, flagged unwritten */
            assert_same_state(p.oa, p.ob, what, step);
        }
        pair_free(&p);
    }
    cg_set_num_threads(1);
}

static void test_consume_f32_1_thread(void **s) { (void)s; check_consume_equal_to_separate(CG_F32, 1); }
static void test_consume_f64_2_threads(void **s) { (void)s; check_consume_equal_to_separate(CG_F64, 2); }

static void test_bitwise_f32_1_thread(void **s) { (void)s; check_equal_to_separate(CG_F32, 1); }
static void test_bitwise_f64_1_thread(void **s) { (void)s; check_equal_to_separate(CG_F64, 1); }
static void test_bitwise_f32_2_threads(void **s) { (void)s; check_equal_to_separate(CG_F32, 2); }
static void test_bitwise_f64_2_threads(void **s) { (void)s; check_equal_to_separate(CG_F64, 2); }

/* A OneCycleLR stepped after every training step (it sets lr and momentum
 * each time): the fused steps read them as step does. */
static void test_onecycle_schedule(void **s)
{
    (void)s;
    struct pair p;
    pair_make(&p, CG_F32, sgd_momentum);
    const struct cg_onecycle_options o = {.max_lr = 0.1, .total_steps = 6, .pct_start = 0.3,
                                          .div_factor = 25, .final_div_factor = 1e4,
                                          .base_momentum = 0.85, .max_momentum = 0.95};
    struct cg_lr_schedule *sa = cg_lr_onecycle_new(p.oa, o), *sb = cg_lr_onecycle_new(p.ob, o);
    assert_non_null(sa);
    assert_non_null(sb);
    for (int step = 0; step < 5; step++) {
        run_step(&p.a, p.oa, p.tape, step, false);
        run_step(&p.b, p.ob, p.tape, step, true);
        cg_lr_schedule_step(sa);
        cg_lr_schedule_step(sb);
        assert_same_params(&p.a, &p.b, "OneCycleLR", step);
        assert_same_state(p.oa, p.ob, "OneCycleLR", step);
    }
    pair_free(&p);
}

/* ---- the core's callback ---- */

struct ready_log {
    const struct cg_tensor *leaf[16];
    double grad_sum[16]; /* the grad as it was when reported */
    int n;
};

static double grad_sum(const struct cg_tensor *t)
{
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++) s += cg_tensor_at(t->grad, i);
    return s;
}

static void log_ready(struct cg_tensor *leaf, void *user)
{
    struct ready_log *l = user;
    assert_true(l->n < 16);
    l->leaf[l->n] = leaf;
    l->grad_sum[l->n++] = grad_sum(leaf);
}

/* Once per leaf that got a gradient, with that gradient complete: W1's
 * second use (later on the tape) runs first in the sweep, so a callback
 * after it would see a partial grad. */
static void test_ready_once_with_final_grad(void **s)
{
    (void)s;
    struct net n;
    net_make(&n, CG_F64);
    for (int i = 0; i < N_PARAMS; i++) cg_tensor_zero_grad(n.p[i]);
    struct cg_tape *tape = cg_tape_new();
    struct ready_log log = {0};
    assert_int_equal(cg_backward_on_ready(tape, net_loss(&n, tape, true), log_ready, &log), CG_OK);
    assert_int_equal(log.n, N_PARAMS - 1); /* all but P_UNUSED; x does not require grad */
    for (int i = 0; i < N_PARAMS; i++) {
        int seen = 0;
        for (int k = 0; k < log.n; k++) {
            if (log.leaf[k] != n.p[i]) continue;
            seen++;
            if (log.grad_sum[k] != grad_sum(n.p[i]))
                fail_msg("parameter %d reported before its gradient was complete (%.17g, "
                         "final %.17g)", i, log.grad_sum[k], grad_sum(n.p[i]));
        }
        assert_int_equal(seen, i == P_UNUSED ? 0 : 1);
    }
    /* The same gradients as cg_backward. */
    double sums[N_PARAMS];
    for (int i = 0; i < N_PARAMS; i++) sums[i] = grad_sum(n.p[i]);
    cg_tape_reset(tape);
    for (int i = 0; i < N_PARAMS; i++) cg_tensor_zero_grad(n.p[i]);
    assert_int_equal(cg_backward(tape, net_loss(&n, tape, true)), CG_OK);
    for (int i = 0; i < N_PARAMS; i++) assert_true(sums[i] == grad_sum(n.p[i]));
    cg_tape_free(tape);
    net_free(&n);
}

/* A leaf loss is reported from the seed; an input leaf is reported too. */
static void test_ready_leaf_loss_and_inputs(void **s)
{
    (void)s;
    struct cg_tensor *a = cg_tensor_from_doubles(NULL, CG_F64, 1, (const int64_t[]){1},
                                                 (const double[]){2});
    assert_int_equal(cg_tensor_requires_grad(a, true), CG_OK);
    struct cg_tape *tape = cg_tape_new();
    struct ready_log log = {0};
    assert_int_equal(cg_backward_on_ready(tape, a, log_ready, &log), CG_OK);
    assert_int_equal(log.n, 1);
    assert_ptr_equal(log.leaf[0], a);
    assert_true(log.grad_sum[0] == 1);
    /* x * x: one leaf in both input slots of one record, reported once. */
    log.n = 0;
    cg_tensor_zero_grad(a);
    assert_int_equal(cg_backward_on_ready(tape, cg_mul(tape, a, a), log_ready, &log), CG_OK);
    assert_int_equal(log.n, 1);
    assert_true(log.grad_sum[0] == 4);
    cg_tape_free(tape);
    cg_tensor_free(a);
}

/* ---- invariants and errors ---- */

static void test_no_allocations_per_step(void **s)
{
    (void)s;
    cg_set_num_threads(2);
    struct net n;
    net_make(&n, CG_F32);
    struct cg_optimizer *opt = adam_all(n.p, N_PARAMS);
    struct cg_tape *tape = cg_tape_new();
    for (int step = 0; step < 2; step++) run_step(&n, opt, tape, 3, true);
    size_t before = cg_alloc_count();
    for (int step = 0; step < 5; step++) run_step(&n, opt, tape, 3, true);
    assert_int_equal(cg_alloc_count() - before, 0);
    assert_int_equal(cg_optimizer_step_count(opt), 7);
    cg_tape_free(tape);
    cg_optimizer_free(opt);
    net_free(&n);
    cg_set_num_threads(1);
}

static void test_misuse(void **s)
{
    (void)s;
    struct net n;
    net_make(&n, CG_F64);
    struct cg_optimizer *opt = sgd_plain(n.p, N_PARAMS);
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *loss = net_loss(&n, tape, true);
    CG_EXPECT_MISUSE(cg_optimizer_backward(NULL, tape, loss), "cg_optimizer_backward", "opt is NULL");
    CG_EXPECT_MISUSE(cg_optimizer_backward(opt, NULL, loss), "cg_optimizer_backward", "tape is NULL");
    CG_EXPECT_MISUSE(cg_optimizer_backward(opt, tape, NULL), "cg_optimizer_backward", "loss is NULL");
    CG_EXPECT_MISUSE(cg_backward_on_ready(tape, loss, NULL, NULL), "cg_backward_on_ready",
                     "ready is NULL");
    struct cg_tensor *h = cg_tanh(tape, cg_matmul(tape, n.x, n.p[P_W1]));
    CG_EXPECT_MISUSE(cg_optimizer_backward(opt, tape, h), "cg_optimizer_backward", "[4,160]",
                     "needs a scalar");
    assert_int_equal(cg_optimizer_step_count(opt), 0);
    /* A second sweep through released records: misuse, nothing updated. */
    struct net before;
    net_make(&before, CG_F64);
    assert_int_equal(cg_optimizer_backward(opt, tape, loss), CG_OK);
    cg_test_capture_misuse();
    assert_int_equal(cg_optimizer_backward(opt, tape, loss), CG_ERR_INVALID);
    cg_test_release_misuse();
    assert_int_equal(cg_optimizer_step_count(opt), 1);
    net_free(&before);
    cg_tape_free(tape);
    cg_optimizer_free(opt);
    net_free(&n);
}

/* A parameter converted after the optimizer was made: the step's misuse,
 * after the backward, with nothing updated (the two calls' behaviour). */
static void test_changed_param_refused_by_step(void **s)
{
    (void)s;
    struct net n, copy;
    net_make(&n, CG_F64);
    net_make(&copy, CG_F64);
    struct cg_optimizer *opt = sgd_plain(n.p, N_PARAMS);
    n.p[P_UNUSED]->dtype = CG_F32; /* as a conversion would leave it */
    n.p[P_UNUSED]->grad->dtype = CG_F32;
    struct cg_tape *tape = cg_tape_new();
    cg_optimizer_zero_grad(opt);
    CG_EXPECT_MISUSE(cg_optimizer_backward(opt, tape, net_loss(&n, tape, true)),
                     "cg_optimizer_step", "parameter '3'", "create the optimizer after");
    n.p[P_UNUSED]->dtype = CG_F64;
    n.p[P_UNUSED]->grad->dtype = CG_F64;
    for (int i = 0; i < N_PARAMS; i++) assert_true(same_tensor_bits(n.p[i], copy.p[i]));
    assert_false(n.p[P_W1]->flags & CG_GRAD_NONE); /* the backward ran */
    assert_int_equal(cg_optimizer_step_count(opt), 0);
    cg_tape_free(tape);
    cg_optimizer_free(opt);
    net_free(&n);
    net_free(&copy);
}

/* Anomaly mode: a NaN gradient stops the fused step before any update,
 * even one found after another parameter's gradient was complete: loss =
 * sum(b * x) + sum(a * c) sweeps a's record (final for a) before b's,
 * whose gradient x holds a NaN. */
static void test_anomaly_updates_nothing(void **s)
{
    (void)s;
    const int64_t three[] = {3};
    struct cg_tensor *a = cg_tensor_from_doubles(NULL, CG_F64, 1, three, (const double[]){1, 2, 3});
    struct cg_tensor *b = cg_tensor_from_doubles(NULL, CG_F64, 1, three, (const double[]){4, 5, 6});
    struct cg_tensor *c = cg_tensor_from_doubles(NULL, CG_F64, 1, three, (const double[]){1, 1, 1});
    struct cg_tensor *x = cg_tensor_from_doubles(NULL, CG_F64, 1, three, (const double[]){1, NAN, 1});
    assert_int_equal(cg_tensor_requires_grad(a, true), CG_OK);
    assert_int_equal(cg_tensor_requires_grad(b, true), CG_OK);
    struct cg_optimizer *sgd = cg_sgd_new_params((struct cg_tensor *[]){a, b}, 2,
                                                 (struct cg_sgd_options){.lr = 0.5});
    struct cg_tape *tape = cg_tape_new();
    cg_tape_set_anomaly(tape, true);
    struct cg_tensor *first = cg_sum(tape, cg_mul(tape, b, x));
    struct cg_tensor *loss = cg_add(tape, first, cg_sum(tape, cg_mul(tape, a, c)));
    assert_int_equal(cg_optimizer_backward(sgd, tape, loss), CG_ERR_NONFINITE);
    assert_non_null(strstr(cg_last_error(), "non-finite gradient"));
    CG_ASSERT_TENSOR(a, ((const double[]){1, 2, 3}), 0, 0);
    CG_ASSERT_TENSOR(b, ((const double[]){4, 5, 6}), 0, 0);
    assert_int_equal(cg_optimizer_step_count(sgd), 0);
    cg_tape_reset(tape);
    cg_optimizer_free(sgd);
    cg_tensor_free(a);
    cg_tensor_free(b);
    cg_tensor_free(c);
    cg_tensor_free(x);

    /* Without NaN, anomaly mode still fuses and gives the two calls' bits. */
    struct net n, copy;
    net_make(&n, CG_F64);
    net_make(&copy, CG_F64);
    struct cg_optimizer *opt = adam(n.p, N_PARAMS);
    struct cg_optimizer *ref = adam(copy.p, N_PARAMS);
    run_step(&n, opt, tape, 0, true);
    run_step(&copy, ref, tape, 0, false);
    assert_same_params(&n, &copy, "anomaly mode", 0);
    assert_same_state(opt, ref, "anomaly mode", 0);
    cg_tape_free(tape);
    cg_optimizer_free(opt);
    cg_optimizer_free(ref);
    net_free(&n);
    net_free(&copy);
}

/* A user's optimizer without step_param: backward then step. */
static enum cg_status plain_step(struct cg_optimizer *self)
{
    for (size_t i = 0; i < self->n_params; i++) {
        struct cg_tensor *p = self->params[i].tensor;
        if (!p->grad || (p->flags & CG_GRAD_NONE)) continue;
        for (int64_t k = 0; k < p->numel; k++)
            ((double *)p->data)[k] -= self->groups[0].lr * ((const double *)p->grad->data)[k];
    }
    return CG_OK;
}

static void plain_free(struct cg_optimizer *self) { free(self); }

static const struct cg_optimizer_vtable plain_vtable = {
    .type_name = "PlainSGD", .step = plain_step, .free = plain_free};

static struct cg_optimizer *plain_new(struct cg_tensor *const *p, size_t n)
{
    struct cg_optimizer *o = calloc(1, sizeof *o);
    assert_int_equal(cg_optimizer_init_params(o, &plain_vtable, p, n, 0.05, 0, "plain_new"), CG_OK);
    return o;
}

/* The fall-back (an optimizer without step_param) also zeroes. */
static void test_consume_fallback_zeroes(void **s)
{
    (void)s;
    struct net n;
    net_make(&n, CG_F64);
    struct cg_optimizer *opt = plain_new(n.p, N_PARAMS);
    struct cg_tape *tape = cg_tape_new();
    cg_optimizer_zero_grad(opt);
    assert_int_equal(cg_optimizer_backward_consume(opt, tape, net_loss(&n, tape, true)), CG_OK);
    for (int i = 0; i < N_PARAMS; i++) {
        assert_true(n.p[i]->flags & CG_GRAD_NONE);
        for (int64_t k = 0; k < n.p[i]->numel; k++) assert_true(cg_tensor_at(n.p[i]->grad, k) == 0);
    }
    CG_EXPECT_MISUSE(cg_optimizer_backward_consume(opt, tape, NULL),
                     "cg_optimizer_backward_consume", "loss is NULL");
    cg_tape_free(tape);
    cg_optimizer_free(opt);
    net_free(&n);
}

/* SGD over a list naming W1 twice: step updates it twice. */
static struct cg_optimizer *sgd_twice(struct cg_tensor *const *p, size_t n)
{
    (void)n;
    struct cg_tensor *list[] = {p[P_W1], p[P_B1], p[P_W2], p[P_EXTRA], p[P_W1]};
    return cg_sgd_new_params(list, 5, (struct cg_sgd_options){.lr = 0.05, .momentum = 0.9});
}

static void check_fallback(make_opt_fn make, const char *what)
{
    struct pair p;
    pair_make(&p, CG_F64, make);
    for (int step = 0; step < 3; step++) {
        run_step(&p.a, p.oa, p.tape, step, false);
        run_step(&p.b, p.ob, p.tape, step, true);
        assert_same_params(&p.a, &p.b, what, step);
        assert_same_state(p.oa, p.ob, what, step);
    }
    pair_free(&p);
}

static void test_user_optimizer_falls_back(void **s)
{
    (void)s;
    check_fallback(plain_new, "user optimizer");
}

static void test_duplicate_parameter_falls_back(void **s)
{
    (void)s;
    check_fallback(sgd_twice, "W1 listed twice");
}

/* Every allocation of a first fused step on a fresh tape fails once.  loss =
 * sum(b * x * x) + sum(a * c) with a large b: a is final (and updated)
 * before the sweep needs new arena memory for the big intermediate
 * gradients.  Each
 * failure is CG_ERR_NOMEM with nothing updated, or with a message saying
 * how many parameters were (the one partial case); afterwards, with memory
 * back, the next step works. */
static void test_out_of_memory(void **s)
{
    (void)s;
    const int64_t small[] = {3}, big[] = {1 << 20};
    bool partial_seen = false;
    for (size_t nth = 1;; nth++) {
        struct cg_tensor *a = cg_tensor_full(NULL, CG_F64, 1, small, 1.0);
        struct cg_tensor *c = cg_tensor_full(NULL, CG_F64, 1, small, 2.0);
        struct cg_tensor *b = cg_tensor_full(NULL, CG_F64, 1, big, 1.0);
        struct cg_tensor *x = cg_tensor_full(NULL, CG_F64, 1, big, 3.0);
        assert_int_equal(cg_tensor_requires_grad(a, true), CG_OK);
        assert_int_equal(cg_tensor_requires_grad(b, true), CG_OK);
        struct cg_optimizer *opt = cg_sgd_new_params((struct cg_tensor *[]){a, b}, 2,
                                                     (struct cg_sgd_options){.lr = 0.5});
        struct cg_tape *tape = cg_tape_new();
        struct cg_tensor *first = cg_sum(tape, cg_mul(tape, cg_mul(tape, b, x), x));
        struct cg_tensor *loss = cg_add(tape, first, cg_sum(tape, cg_mul(tape, a, c)));
        assert_non_null(loss);
        cg_alloc_fail_nth(nth);
        enum cg_status st = cg_optimizer_backward(opt, tape, loss);
        bool fired = cg_alloc_fail_fired();
        cg_alloc_fail_nth(0);
        if (fired) {
            assert_int_equal(st, CG_ERR_NOMEM);
            assert_int_equal(cg_optimizer_step_count(opt), 0);
            assert_true(cg_tensor_at(b, 0) == 1.0);
            if (strstr(cg_last_error(), "1 of the 2 parameters had been updated")) {
                partial_seen = true;
                assert_non_null(strstr(cg_last_error(), "cg_optimizer_backward"));
                assert_true(cg_tensor_at(a, 0) == 0.0); /* 1 - 0.5 * 2 */
            } else {
                assert_true(cg_tensor_at(a, 0) == 1.0);
            }
            /* Memory back: a new step works. */
            cg_tape_reset(tape);
            cg_optimizer_zero_grad(opt);
            first = cg_sum(tape, cg_mul(tape, cg_mul(tape, b, x), x));
            loss = cg_add(tape, first, cg_sum(tape, cg_mul(tape, a, c)));
            st = cg_optimizer_backward(opt, tape, loss);
        }
        assert_int_equal(st, CG_OK);
        assert_int_equal(cg_optimizer_step_count(opt), 1);
        assert_true(cg_tensor_at(b, 0) == 1.0 - 0.5 * 9.0);
        cg_tape_free(tape);
        cg_optimizer_free(opt);
        cg_tensor_free(a);
        cg_tensor_free(b);
        cg_tensor_free(c);
        cg_tensor_free(x);
        if (!fired) break;
    }
    assert_true(partial_seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bitwise_f32_1_thread),
        cmocka_unit_test(test_bitwise_f64_1_thread),
        cmocka_unit_test(test_bitwise_f32_2_threads),
        cmocka_unit_test(test_bitwise_f64_2_threads),
        cmocka_unit_test(test_onecycle_schedule),
        cmocka_unit_test(test_consume_f32_1_thread),
        cmocka_unit_test(test_consume_f64_2_threads),
        cmocka_unit_test(test_consume_fallback_zeroes),
        cmocka_unit_test(test_ready_once_with_final_grad),
        cmocka_unit_test(test_ready_leaf_loss_and_inputs),
        cmocka_unit_test(test_no_allocations_per_step),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_changed_param_refused_by_step),
        cmocka_unit_test(test_anomaly_updates_nothing),
        cmocka_unit_test(test_user_optimizer_falls_back),
        cmocka_unit_test(test_duplicate_parameter_falls_back),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
