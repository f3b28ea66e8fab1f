/* The catalog of buggy layers: realistic buggy custom ops and modules, each
 * at batch size > 1, that cg_gradcheck / cg_gradcheck_module must catch and
 * diagnose with the expected hint (the correct ones that must pass are in
 * test_gradcheck_correct.c).  Each op is written the way a user writes one
 * (struct cg_op, dtype-generic through cg_tensor_at / cg_tensor_set_at). */
#include "cg_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 4, IN = 3, OUT = 5 };

/* The op-level entries run twice: in f64 (PyTorch's tolerances) and in f32
 * (the f32 defaults, with the error estimate): each bug must be caught,
 * with its hint, in both. */
static enum cg_dtype dtype = CG_F64;

/* ---- helpers ---- */

static double at(const struct cg_tensor *t, int64_t i) { return cg_tensor_at(t, i); }
static void add_at(struct cg_tensor *t, int64_t i, double v)
{
    cg_tensor_set_at(t, i, at(t, i) + v);
}

/* Runs the check and requires a failure that names `hint`. */
static void expect_caught(enum cg_status st, const struct cg_gradcheck_report *r, unsigned hint,
                          const char *words)
{
    if (st != CG_ERR_GRADCHECK)
        fail_msg("bug not caught (%s): %s", cg_status_str(st), r->message);
    assert_int_equal(r->passed, 0);
    assert_true(r->failed > 0);
    if (hint && !(r->hints & hint))
        fail_msg("expected hint 0x%x, got 0x%x: %s", hint, r->hints, r->message);
    if (words && !strstr(r->message, words))
        fail_msg("message lacks \"%s\": %s", words, r->message);
}

/* ---- a Linear op written by hand: y = x W^T + b, with a bug switch ---- */

enum linear_bug {
    LIN_OK,
    LIN_ASSIGN_INPUT,  /* gx = ... instead of += */
    LIN_ASSIGN_WEIGHT, /* gW = ... instead of += */
    LIN_ONE_SAMPLE,    /* backward written for one sample: only row 0 */
    LIN_TRANSPOSED     /* gW stored as [IN, OUT] */
};

static void linear_forward(struct cg_record *rec)
{
    const struct cg_tensor *x = rec->in[0], *w = rec->in[1], *b = rec->in[2];
    int64_t n = x->shape[0], in = x->shape[1], out = w->shape[0];
    for (int64_t s = 0; s < n; s++)
        for (int64_t o = 0; o < out; o++) {
            double acc = at(b, o);
            for (int64_t j = 0; j < in; j++) acc += at(x, s * in + j) * at(w, o * in + j);
            cg_tensor_set_at(rec->out, s * out + o, acc);
        }
}

static void linear_backward(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0], *w = rec->in[1], *b = rec->in[2], *gy = rec->out->grad;
    int64_t n = x->shape[0], in = x->shape[1], out = w->shape[0];
    enum linear_bug bug = (enum linear_bug)rec->scalar[0];
    int64_t rows = bug == LIN_ONE_SAMPLE ? 1 : n;
    if (x->grad) {
        for (int64_t s = 0; s < rows; s++)
            for (int64_t j = 0; j < in; j++) {
                double g = 0;
                for (int64_t o = 0; o < out; o++) g += at(gy, s * out + o) * at(w, o * in + j);
                if (bug == LIN_ASSIGN_INPUT) cg_tensor_set_at(x->grad, s * in + j, g);
                else add_at(x->grad, s * in + j, g);
            }
    }
    if (w->grad) {
        for (int64_t o = 0; o < out; o++)
            for (int64_t j = 0; j < in; j++) {
                double g = 0;
                for (int64_t s = 0; s < rows; s++) g += at(gy, s * out + o) * at(x, s * in + j);
                int64_t k = bug == LIN_TRANSPOSED ? j * out + o : o * in + j;
                if (bug == LIN_ASSIGN_WEIGHT) cg_tensor_set_at(w->grad, k, g);
                else add_at(w->grad, k, g);
            }
    }
    if (b->grad)
        for (int64_t o = 0; o < out; o++)
            for (int64_t s = 0; s < rows; s++) add_at(b->grad, o, at(gy, s * out + o));
}

static const struct cg_op linear_op = {.name = "hand_linear", .forward = linear_forward,
                                       .backward = linear_backward};

static struct cg_tensor *linear_fn(struct cg_tape *t, struct cg_tensor *const *in, void *user)
{
    double bug = *(const int *)user;
    int64_t shape[2] = {in[0]->shape[0], in[1]->shape[0]};
    return cg_op_apply(t, &linear_op, 3, in, in[0]->dtype, 2, shape, &bug, 1);
}

static void check_linear(enum linear_bug bug, unsigned hint, const char *words,
                         const char *where)
{
    struct cg_tensor *x = cg_test_randn(dtype, CG_SHAPE(B, IN), 1),
                     *w = cg_test_randn(dtype, CG_SHAPE(OUT, IN), 2),
                     *b = cg_test_randn(dtype, CG_SHAPE(OUT), 3);
    cg_tensor_set_name(w, "weight");
    struct cg_tensor *in[3] = {x, w, b};
    int bug_id = (int)bug;
    struct cg_gradcheck_report r;
    enum cg_status st = cg_gradcheck(linear_fn, &bug_id, 3, in, NULL, &r);
    if (bug == LIN_OK) {
        if (st != CG_OK) fail_msg("correct linear failed: %s", r.message);
        assert_int_equal(r.checked, B * IN + OUT * IN + OUT);
    } else {
        expect_caught(st, &r, hint, words);
        if (where && !strstr(r.hint_input, where))
            fail_msg("hint names '%s', expected '%s': %s", r.hint_input, where, r.message);
    }
    cg_tensor_free(x);
    cg_tensor_free(w);
    cg_tensor_free(b);
}

static void test_linear_correct_passes(void **state)
{
    (void)state;
    check_linear(LIN_OK, 0, NULL, NULL);
}

/* Used once, so the plain numeric check would pass: only the pre-filled
 * gradients show it. */
static void test_assign_instead_of_add_input(void **state)
{
    (void)state;
    check_linear(LIN_ASSIGN_INPUT, CG_GRADCHECK_HINT_NOT_ACCUMULATED,
                 "overwritten, not accumulated", "input 0");
    /* Without the pre-fill the numbers alone agree: the bug the old check missed. */
    struct cg_tensor *x = cg_test_randn(dtype, CG_SHAPE(B, IN), 1),
                     *w = cg_test_randn(dtype, CG_SHAPE(OUT, IN), 2),
                     *b = cg_test_randn(dtype, CG_SHAPE(OUT), 3);
    struct cg_tensor *in[3] = {x, w, b};
    int bug = LIN_ASSIGN_INPUT;
    struct cg_gradcheck_options plain = {.no_accumulation = 1};
    struct cg_gradcheck_report r;
    assert_int_equal(cg_gradcheck(linear_fn, &bug, 3, in, &plain, &r), CG_OK);
    cg_tensor_free(x);
    cg_tensor_free(w);
    cg_tensor_free(b);
}

static void test_assign_instead_of_add_weight(void **state)
{
    (void)state;
    check_linear(LIN_ASSIGN_WEIGHT, CG_GRADCHECK_HINT_NOT_ACCUMULATED, "+=", "input 1 ('weight')");
}

static void test_correct_only_for_batch_1(void **state)
{
    (void)state;
    check_linear(LIN_ONE_SAMPLE, CG_GRADCHECK_HINT_FIRST_SAMPLE,
                 "correct only for the first sample of the batch", NULL);
}

static void test_transposed_weight_gradient(void **state)
{
    (void)state;
    check_linear(LIN_TRANSPOSED, CG_GRADCHECK_HINT_TRANSPOSED, "rows and columns swapped",
                 "input 1 ('weight')");
}

/* ---- elementwise ops with their typical bugs ---- */

enum unary_bug {
    UN_OK,
    UN_SIGN,      /* softsign: gx -= instead of += */
    UN_AT_OUTPUT, /* sigmoid: derivative evaluated at y instead of x */
    UN_UPSTREAM,  /* tanh: gx += 1 - y^2, forgetting gy */
    UN_SHIFTED,   /* softsign: gradient of element i written to i + 1 */
    UN_NOISE      /* dropout-like: mask redrawn in backward from a global rng */
};

static double softsign(double v) { return v / (1 + fabs(v)); }
static double sigmoid(double v) { return 1 / (1 + exp(-v)); }
static struct cg_rng noise_rng;

static double unary_value(int kind, double v)
{
    return kind == UN_AT_OUTPUT ? sigmoid(v) : kind == UN_UPSTREAM ? tanh(v) : softsign(v);
}

static void unary_forward(struct cg_record *rec)
{
    int kind = (int)rec->scalar[0];
    for (int64_t i = 0; i < rec->out->numel; i++) {
        double v = unary_value(kind, at(rec->in[0], i));
        /* dropout-like: a fixed mask (every third element) in forward */
        if (kind == UN_NOISE && i % 3 == 0) v = 0;
        cg_tensor_set_at(rec->out, i, v);
    }
}

static void unary_backward(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0], *y = rec->out, *gy = y->grad;
    int kind = (int)rec->scalar[0];
    if (!x->grad) return;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = at(x, i), d = 1 / ((1 + fabs(v)) * (1 + fabs(v))), g = at(gy, i);
        switch (kind) {
        case UN_SIGN: add_at(x->grad, i, -d * g); break;
        case UN_AT_OUTPUT: {
            double s = sigmoid(at(y, i)); /* should be sigmoid(x) = y */
            add_at(x->grad, i, s * (1 - s) * g);
            break;
        }
        case UN_UPSTREAM: add_at(x->grad, i, 1 - at(y, i) * at(y, i)); break;
        case UN_SHIFTED:
            if (i + 1 < x->numel) add_at(x->grad, i + 1, d * g);
            break;
        case UN_NOISE: /* the mask should be the forward's: i % 3 != 0 */
            add_at(x->grad, i, cg_rng_uniform(&noise_rng) < 0.67 ? d * g : 0);
            break;
        default: add_at(x->grad, i, d * g);
        }
    }
}

static const struct cg_op unary_op = {.name = "hand_unary", .forward = unary_forward,
                                      .backward = unary_backward};

static struct cg_tensor *unary_fn(struct cg_tape *t, struct cg_tensor *const *in, void *user)
{
    double kind = *(const int *)user;
    return cg_op_apply(t, &unary_op, 1, in, in[0]->dtype, in[0]->ndim, in[0]->shape, &kind, 1);
}

static void check_unary(int kind, unsigned hint, const char *words, struct cg_gradcheck_report *r)
{
    struct cg_tensor *x = cg_test_randn(dtype, CG_SHAPE(B, OUT), 10);
    enum cg_status st = cg_gradcheck(unary_fn, &kind, 1, &x, NULL, r);
    if (kind == UN_OK) {
        if (st != CG_OK) fail_msg("correct softsign failed: %s", r->message);
    } else {
        expect_caught(st, r, hint, words);
    }
    cg_tensor_free(x);
}

static void test_wrong_sign(void **state)
{
    (void)state;
    struct cg_gradcheck_report r;
    check_unary(UN_OK, 0, NULL, &r);
    check_unary(UN_SIGN, CG_GRADCHECK_HINT_SIGN, "sign flipped", &r);
    assert_int_equal(r.failed, B * OUT); /* every element, counted */
    assert_int_equal(r.n_worst, CG_GRADCHECK_SHOWN);
    assert_int_equal(r.worst[0].ndim, 2); /* an index tuple, not a flat index */
    assert_true(r.worst[0].index[0] * OUT + r.worst[0].index[1] == r.worst[0].element);
}

/* No pattern of the list fits a derivative taken at the wrong point: it is
 * caught, no misleading hint is named, and the worst elements are. */
static void test_derivative_at_output(void **state)
{
    (void)state;
    struct cg_gradcheck_report r;
    check_unary(UN_AT_OUTPUT, 0, "worst input 0[", &r);
    assert_int_equal(r.hints & (CG_GRADCHECK_HINT_SIGN | CG_GRADCHECK_HINT_NO_GRADIENT |
                                CG_GRADCHECK_HINT_NOT_ACCUMULATED), 0);
}

static void test_upstream_ignored(void **state)
{
    (void)state;
    struct cg_gradcheck_report r;
    check_unary(UN_UPSTREAM, CG_GRADCHECK_HINT_UPSTREAM_IGNORED, "upstream gradient is ignored",
                &r);
}

static void test_off_by_one_index(void **state)
{
    (void)state;
    struct cg_gradcheck_report r;
    check_unary(UN_SHIFTED, CG_GRADCHECK_HINT_SHIFTED, "off by one", &r);
}

static void test_nondeterministic_backward(void **state)
{
    (void)state;
    struct cg_gradcheck_report r;
    noise_rng = cg_rng_seed(5);
    check_unary(UN_NOISE, CG_GRADCHECK_HINT_NONDETERMINISTIC, "nondeterministic backward", &r);
}

/* ---- two-input ops: y = x * s with s [1, F] broadcast over the batch ---- */

enum scale_bug {
    SC_OK,
    SC_NOT_SUMMED, /* gs[f] += gy[f] x[f]: the batch dimension not summed */
    SC_FORGOT_S,   /* only gx written */
    SC_ASSIGN_S,   /* gs[f] = sum_b ...: overwrites */
    SC_SIGN_X,     /* gx -= ... */
    SC_SIGN_S      /* gs -= ... */
};

static void scale_forward(struct cg_record *rec)
{
    const struct cg_tensor *x = rec->in[0], *s = rec->in[1];
    for (int64_t i = 0; i < x->numel; i++)
        cg_tensor_set_at(rec->out, i, at(x, i) * at(s, i % s->numel));
}

static void scale_backward(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0], *s = rec->in[1], *gy = rec->out->grad;
    int bug = (int)rec->scalar[0];
    double sx = bug == SC_SIGN_X ? -1 : 1, ss = bug == SC_SIGN_S ? -1 : 1;
    if (x->grad)
        for (int64_t i = 0; i < x->numel; i++)
            add_at(x->grad, i, sx * at(gy, i) * at(s, i % s->numel));
    if (s->grad && bug == SC_ASSIGN_S) {
        for (int64_t f = 0; f < s->numel; f++) {
            double g = 0;
            for (int64_t i = f; i < x->numel; i += s->numel) g += at(gy, i) * at(x, i);
            cg_tensor_set_at(s->grad, f, g);
        }
    } else if (s->grad && bug != SC_FORGOT_S) {
        int64_t n = bug == SC_NOT_SUMMED ? s->numel : x->numel;
        for (int64_t i = 0; i < n; i++) add_at(s->grad, i % s->numel, ss * at(gy, i) * at(x, i));
    }
}

static const struct cg_op scale_op = {.name = "hand_scale", .forward = scale_forward,
                                      .backward = scale_backward};

static struct cg_tensor *scale_fn(struct cg_tape *t, struct cg_tensor *const *in, void *user)
{
    double bug = *(const int *)user;
    return cg_op_apply(t, &scale_op, 2, in, in[0]->dtype, in[0]->ndim, in[0]->shape, &bug, 1);
}

static void check_scale(int bug, unsigned hint, const char *words)
{
    struct cg_tensor *x = cg_test_randn(dtype, CG_SHAPE(B, OUT), 20),
                     *s = cg_test_randn(dtype, CG_SHAPE(1, OUT), 21);
    cg_tensor_set_name(s, "scale");
    struct cg_tensor *in[2] = {x, s};
    struct cg_gradcheck_report r;
    enum cg_status st = cg_gradcheck(scale_fn, &bug, 2, in, NULL, &r);
    if (bug == SC_OK) {
        if (st != CG_OK) fail_msg("correct scale failed: %s", r.message);
    } else {
        expect_caught(st, &r, hint, words);
        assert_string_equal(r.hint_input, "input 1 ('scale')");
    }
    cg_tensor_free(x);
    cg_tensor_free(s);
}

static void test_broadcast_not_summed(void **state)
{
    (void)state;
    check_scale(SC_OK, 0, NULL);
    check_scale(SC_NOT_SUMMED, CG_GRADCHECK_HINT_FIRST_SAMPLE, "broadcast dimension not summed");
}

static void test_one_input_forgotten(void **state)
{
    (void)state;
    check_scale(SC_FORGOT_S, CG_GRADCHECK_HINT_NO_GRADIENT, "got no gradient");
}

/* ---- a mean-reduced loss whose backward forgets the 1/B ---- */

static void mse_forward(struct cg_record *rec)
{
    const struct cg_tensor *x = rec->in[0], *t = rec->in[1];
    double s = 0;
    for (int64_t i = 0; i < x->numel; i++) s += (at(x, i) - at(t, i)) * (at(x, i) - at(t, i));
    cg_tensor_set_at(rec->out, 0, s / (double)x->shape[0]); /* sum over features, mean over batch */
}

static void mse_backward(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0], *t = rec->in[1];
    double g = at(rec->out->grad, 0);
    for (int64_t i = 0; i < x->numel; i++) {
        double d = 2 * (at(x, i) - at(t, i)) * g; /* bug: no / x->shape[0] */
        if (x->grad) add_at(x->grad, i, d);
        if (t->grad) add_at(t->grad, i, -d);
    }
}

static const struct cg_op mse_op = {.name = "hand_mse", .forward = mse_forward,
                                    .backward = mse_backward};

static struct cg_tensor *mse_fn(struct cg_tape *t, struct cg_tensor *const *in, void *user)
{
    (void)user;
    return cg_op_apply(t, &mse_op, 2, in, in[0]->dtype, 0, NULL, NULL, 0);
}

static void test_scaled_by_batch_size(void **state)
{
    (void)state;
    struct cg_tensor *x = cg_test_randn(dtype, CG_SHAPE(B, OUT), 30),
                     *t = cg_test_randn(dtype, CG_SHAPE(B, OUT), 31);
    struct cg_tensor *in[2] = {x, t};
    struct cg_gradcheck_report r;
    expect_caught(cg_gradcheck(mse_fn, NULL, 2, in, NULL, &r), &r, CG_GRADCHECK_HINT_SCALE,
                  "the batch size?");
    CG_ASSERT_CLOSE(r.scale, (double)B, 0, dtype == CG_F64 ? 1e-6 : 1e-3);
    cg_tensor_free(x);
    cg_tensor_free(t);
}

/* ---- the same op as a module, inside models checked whole ---- */

struct hand_scale {
    struct cg_module base;
    struct cg_tensor *scale;
    int bug;
};

static struct cg_tensor *hand_scale_forward(struct cg_module *m, struct cg_tape *t,
                                            struct cg_tensor *x)
{
    struct hand_scale *h = (struct hand_scale *)m;
    struct cg_tensor *in[2] = {x, h->scale};
    double bug = h->bug;
    return cg_op_apply(t, &scale_op, 2, in, x->dtype, x->ndim, x->shape, &bug, 1);
}

static void hand_scale_visit(struct cg_module *m, const char *prefix, cg_param_visitor visit,
                             void *user)
{
    cg_module_visit_param(prefix, "scale", ((struct hand_scale *)m)->scale, visit, user);
}

static void hand_scale_free(struct cg_module *m)
{
    cg_tensor_free(((struct hand_scale *)m)->scale);
    free(m);
}

static const struct cg_module_vtable hand_scale_vt = {
    .type_name = "HandScale", .forward = hand_scale_forward, .visit_params = hand_scale_visit,
    .free = hand_scale_free};

static struct cg_module *hand_scale_new(int64_t f, int bug, enum cg_dtype dt)
{
    struct hand_scale *h = calloc(1, sizeof *h);
    assert_non_null(h);
    cg_module_init(&h->base, &hand_scale_vt);
    h->scale = cg_tensor_empty(NULL, dt, CG_SHAPE(f));
    assert_non_null(h->scale);
    struct cg_rng rng = cg_rng_seed(99);
    for (int64_t j = 0; j < f; j++) cg_tensor_set_at(h->scale, j, 0.5 + cg_rng_uniform(&rng));
    assert_int_equal(cg_module_init_param(h->scale, "scale"), CG_OK);
    h->bug = bug;
    return &h->base;
}

static struct cg_module *model_with(struct cg_module *first, int64_t in, int64_t hidden,
                                    int bug, bool scale_first)
{
    struct cg_rng rng = cg_rng_seed(7);
    struct cg_module *m = scale_first
        ? cg_sequential(first, cg_linear_new(in, 2, true, &rng))
        : cg_sequential(cg_linear_new(in, hidden, true, &rng), hand_scale_new(hidden, bug, CG_F32),
                        cg_linear_new(hidden, 2, true, &rng));
    assert_non_null(m);
    assert_int_equal(cg_module_to_dtype(m, CG_F64), CG_OK);
    return m;
}

/* `=` for a parameter's gradient deep inside a model: named by its full
 * state_dict name. */
static void test_module_assign_weight_named(void **state)
{
    (void)state;
    struct cg_module *m = model_with(NULL, IN, OUT, SC_ASSIGN_S, false);
    struct cg_tensor *x = cg_test_randn(CG_F64, CG_SHAPE(B, IN), 50);
    struct cg_gradcheck_report r;
    expect_caught(cg_gradcheck_module(m, x, NULL, NULL, &r), &r, CG_GRADCHECK_HINT_NOT_ACCUMULATED,
                  "overwritten");
    assert_string_equal(r.hint_input, "1.scale");
    assert_non_null(strstr(r.worst[0].name, "1.scale["));
    cg_tensor_free(x);
    cg_module_free(m);

    m = model_with(NULL, IN, OUT, SC_NOT_SUMMED, false);
    x = cg_test_randn(CG_F64, CG_SHAPE(B, IN), 51);
    expect_caught(cg_gradcheck_module(m, x, NULL, NULL, &r), &r, CG_GRADCHECK_HINT_FIRST_SAMPLE,
                  "1.scale");
    assert_non_null(strstr(r.message, "worst 1.scale["));
    cg_tensor_free(x);
    cg_module_free(m);
}

/* A wrong input gradient in the first layer: no parameter sees it, the
 * input's own check does ("input[b,f]"). */
static void test_module_first_layer_input(void **state)
{
    (void)state;
    struct cg_module *m = model_with(hand_scale_new(IN, SC_SIGN_X, CG_F32), IN, 0, 0, true);
    struct cg_tensor *x = cg_test_randn(CG_F64, CG_SHAPE(B, IN), 52);
    struct cg_gradcheck_report r;
    expect_caught(cg_gradcheck_module(m, x, NULL, NULL, &r), &r, CG_GRADCHECK_HINT_SIGN,
                  "worst input[");
    assert_string_equal(r.hint_input, "input");
    assert_int_equal(r.failed, B * IN); /* and no parameter fails */
    cg_tensor_free(x);
    cg_module_free(m);
}

/* Fast mode on a model of 8k parameters: the probes catch a sign flip in
 * one layer and the localization names its elements. */
static void test_module_fast_mode_localizes(void **state)
{
    (void)state;
    struct cg_module *m = model_with(NULL, 64, 64, SC_SIGN_S, false);
    struct cg_tensor *x = cg_test_randn(CG_F64, CG_SHAPE(8, 64), 53);
    struct cg_gradcheck_report r;
    expect_caught(cg_gradcheck_module(m, x, NULL, NULL, &r), &r, CG_GRADCHECK_HINT_SIGN, NULL);
    assert_int_equal(r.fast, 1);
    assert_true(r.probes_failed > 0);
    assert_string_equal(r.hint_input, "1.scale");
    assert_non_null(strstr(r.worst[0].name, "1.scale["));
    assert_true(r.evals <= 4096 + 64);
    cg_tensor_free(x);
    cg_module_free(m);
}

/* ---- an f32 precision bug: only the f64 shadow sees it ---- */

/* GELU whose f32 kernel takes the x * sigmoid(1.702 x) shortcut (forward
 * and backward consistent, so f32 finite differences agree with it), while
 * the f64 kernel is exact (x * Phi(x)). */
static void gelu_forward(struct cg_record *rec)
{
    for (int64_t i = 0; i < rec->out->numel; i++) {
        double v = at(rec->in[0], i);
        if (rec->out->dtype == CG_F32) {
            float xf = (float)v;
            cg_tensor_set_at(rec->out, i, xf / (1 + expf(-1.702f * xf)));
        } else {
            cg_tensor_set_at(rec->out, i, 0.5 * v * (1 + erf(v / sqrt(2.0))));
        }
    }
}

static void gelu_backward(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0];
    if (!x->grad) return;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = at(x, i), g = at(rec->out->grad, i), d;
        if (x->dtype == CG_F32) {
            float xf = (float)v, s = 1 / (1 + expf(-1.702f * xf));
            d = s + 1.702f * xf * s * (1 - s);
        } else {
            d = 0.5 * (1 + erf(v / sqrt(2.0))) +
                v * exp(-0.5 * v * v) / sqrt(2 * 3.14159265358979323846);
        }
        add_at(x->grad, i, d * g);
    }
}

static const struct cg_op gelu_op = {.name = "gelu", .forward = gelu_forward,
                                     .backward = gelu_backward};

static struct cg_tensor *gelu_module_forward(struct cg_module *m, struct cg_tape *t,
                                             struct cg_tensor *x)
{
    (void)m;
    return cg_op_apply(t, &gelu_op, 1, &x, x->dtype, x->ndim, x->shape, NULL, 0);
}

static void gelu_module_free(struct cg_module *m) { free(m); }

static const struct cg_module_vtable gelu_vt = {
    .type_name = "Gelu", .forward = gelu_module_forward, .free = gelu_module_free};

static void test_f32_precision_bug_needs_shadow(void **state)
{
    (void)state;
    struct cg_module *g = calloc(1, sizeof *g);
    assert_non_null(g);
    cg_module_init(g, &gelu_vt);
    struct cg_rng rng = cg_rng_seed(8);
    struct cg_module *m = cg_sequential(cg_linear_new(IN, OUT, true, &rng), g,
                                        cg_linear_new(OUT, 2, true, &rng));
    struct cg_tensor *x = cg_test_randn(CG_F32, CG_SHAPE(B, IN), 54);
    for (int64_t i = 0; i < x->numel; i++) cg_tensor_set_at(x, i, 3 * at(x, i));
    struct cg_gradcheck_report r;
    /* f32 alone: the loose tolerance hides it. */
    struct cg_gradcheck_options f32_only = {.f64_shadow = -1};
    if (cg_gradcheck_module(m, x, NULL, &f32_only, &r) != CG_OK)
        fail_msg("f32 alone should pass: %s", r.message);
    assert_int_equal(r.shadow, 0);
    assert_int_equal(r.dtype, CG_F32);
    /* The default: the f64 shadow passes, the f32 results differ from it. */
    enum cg_status st = cg_gradcheck_module(m, x, NULL, NULL, &r);
    assert_int_equal(st, CG_ERR_GRADCHECK);
    assert_true(r.hints & CG_GRADCHECK_HINT_F32_DIFFERS);
    assert_int_equal(r.shadow, 1);
    assert_int_equal(r.dtype, CG_F64);
    assert_true(r.shadow_out_err > 1e-3);
    assert_non_null(strstr(r.message, "the f64 shadow passes but the f32"));
    assert_true(cg_module_param(m, "0.weight")->dtype == CG_F32); /* converted back */
    cg_tensor_free(x);
    cg_module_free(m);
}

static int in_f64(void **state)
{
    (void)state;
    dtype = CG_F64;
    return 0;
}

static int in_f32(void **state)
{
    (void)state;
    dtype = CG_F32;
    return 0;
}

int main(void)
{
    const struct CMUnitTest ops[] = {
        cmocka_unit_test(test_linear_correct_passes),
        cmocka_unit_test(test_assign_instead_of_add_input),
        cmocka_unit_test(test_assign_instead_of_add_weight),
        cmocka_unit_test(test_correct_only_for_batch_1),
        cmocka_unit_test(test_transposed_weight_gradient),
        cmocka_unit_test(test_wrong_sign),
        cmocka_unit_test(test_derivative_at_output),
        cmocka_unit_test(test_upstream_ignored),
        cmocka_unit_test(test_off_by_one_index),
        cmocka_unit_test(test_nondeterministic_backward),
        cmocka_unit_test(test_broadcast_not_summed),
        cmocka_unit_test(test_one_input_forgotten),
        cmocka_unit_test(test_scaled_by_batch_size),
    };
    const struct CMUnitTest modules[] = {
        cmocka_unit_test(test_module_assign_weight_named),
        cmocka_unit_test(test_module_first_layer_input),
        cmocka_unit_test(test_module_fast_mode_localizes),
        cmocka_unit_test(test_f32_precision_bug_needs_shadow),
    };
    int failed = cmocka_run_group_tests_name("buggy ops in f64", ops, in_f64, NULL);
    failed += cmocka_run_group_tests_name("buggy ops in f32", ops, in_f32, NULL);
    failed += cmocka_run_group_tests_name("buggy modules", modules, in_f64, NULL);
    return failed;
}
