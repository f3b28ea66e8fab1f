/* The layers of issue 13 as modules: LayerNorm and BatchNorm1d against
 * PyTorch (tests/data/layer_refs.txt from tests/gen_layer_refs.py), in both
 * modes; module gradchecks in f64; dropout's statistics and seeded mask;
 * the other modules against their ops; argmax/argmin ties; log_softmax +
 * nll_loss = cross entropy; init helpers; accuracy; cg_module_print. */
#include "cg_test.h"
#include "op_refs.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define F64_TOL 1e-12
#define F32_TOL 2e-5

static struct cg_opref_file refs;

static int load_refs(void **state)
{
    (void)state;
    return cg_opref_setup(CG_TEST_DATA_DIR "/layer_refs.txt", &refs);
}

static int free_refs(void **state)
{
    (void)state;
    cg_opref_free(&refs);
    return 0;
}

static void assert_ref(const struct cg_tensor *t, const struct cg_opref_tensor *ref, double tol,
                       const char *what)
{
    assert_int_equal(t->numel, ref->numel);
    for (int64_t i = 0; i < t->numel; i++) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s element %lld", what, (long long)i);
        cg_test_assert_close(cg_tensor_at(t, i), ref->values[i], tol, tol, msg, __FILE__, __LINE__);
    }
}

static struct cg_module *module_for(const struct cg_opref_case *c, enum cg_dtype dt)
{
    struct cg_module *m = NULL;
    if (!strcmp(c->op, "layer_norm")) {
        int nd = (int)c->scalars[0];
        int64_t shape[CG_MAX_DIMS];
        for (int i = 0; i < nd; i++) shape[i] = (int64_t)c->scalars[1 + i];
        m = cg_layer_norm_new(nd, shape, c->scalars[1 + nd], c->scalars[2 + nd] != 0);
    } else {
        m = cg_batch_norm1d_new((int64_t)c->scalars[0], c->scalars[1], c->scalars[2], true, true);
    }
    assert_non_null(m);
    assert_int_equal(cg_module_to_dtype(m, dt), CG_OK);
    return m;
}

/* Every case in both dtypes: the module output and the input gradient;
 * for batch_norm_running the buffers after three training steps. */
static void run_refs(enum cg_dtype dt)
{
    double tol = dt == CG_F64 ? F64_TOL : F32_TOL;
    int seen_eval = 0, seen_running = 0;
    for (int k = 0; k < refs.n_cases; k++) {
        const struct cg_opref_case *c = &refs.cases[k];
        struct cg_module *m = module_for(c, dt);
        struct cg_tape *tape = cg_tape_new();
        struct cg_tensor *in[CG_MAX_INPUTS] = {NULL};
        for (int i = 0; i < c->n_inputs; i++) assert_non_null(in[i] = cg_opref_make(&c->in[i], dt));
        char what[160];
        snprintf(what, sizeof what, "%s (%s)", c->name, cg_dtype_name(dt));
        bool steps = !strcmp(c->op, "batch_norm_steps"), running = !strcmp(c->op, "batch_norm_running");
        if (steps || running) {
            cg_tape_set_grad_enabled(tape, false);
            for (int i = 0; i < 3; i++) {
                assert_non_null(cg_module_forward(m, tape, in[i]));
                cg_tape_reset(tape);
            }
            cg_tape_set_grad_enabled(tape, true);
        }
        if (running) {
            const char *names[3] = {"running_mean", "running_var", "num_batches_tracked"};
            int64_t ch = (int64_t)c->scalars[0];
            for (int b = 0; b < 3; b++) {
                struct cg_tensor *buf = cg_module_buffer(m, names[b]);
                assert_non_null(buf);
                for (int64_t j = 0; j < buf->numel; j++)
                    cg_test_assert_close(cg_tensor_at(buf, j), c->out.values[b * ch + j], tol, tol,
                                         what, __FILE__, __LINE__);
            }
            seen_running++;
        } else {
            struct cg_tensor *x = in[c->n_inputs - 1];
            assert_int_equal(cg_tensor_requires_grad(x, true), CG_OK);
            if (steps) cg_module_set_training(m, false), seen_eval++;
            struct cg_tensor *y = cg_module_forward(m, tape, x);
            assert_non_null(y);
            assert_ref(y, &c->out, tol, what);
            struct cg_tensor *seed = cg_opref_make(&c->gout, dt);
            assert_int_equal(cg_backward_seed(tape, y, seed), CG_OK);
            assert_ref(x->grad, &c->grad[c->n_inputs - 1], tol, what);
            cg_tensor_free(seed);
        }
        for (int i = 0; i < c->n_inputs; i++) cg_tensor_free(in[i]);
        cg_tape_free(tape);
        cg_module_free(m);
    }
    assert_int_equal(seen_eval, 2);
    assert_int_equal(seen_running, 2);
}

static void test_norm_layers_match_torch_f64(void **state) { (void)state; run_refs(CG_F64); }
static void test_norm_layers_match_torch_f32(void **state) { (void)state; run_refs(CG_F32); }

/* ---- module gradchecks (input and parameters), f64 strict ---- */

struct mod_ctx {
    struct cg_module *m;
};

static struct cg_tensor *run_module(struct cg_tape *tape, struct cg_tensor *const *in, void *user)
{
    return cg_module_forward(((struct mod_ctx *)user)->m, tape, in[0]);
}

static void gradcheck_module(struct cg_module *m, int ndim, const int64_t *shape, uint64_t seed)
{
    assert_int_equal(cg_module_to_dtype(m, CG_F64), CG_OK);
    struct cg_rng rng = cg_rng_seed(seed);
    struct cg_tensor *in[4] = {cg_tensor_uniform(NULL, CG_F64, ndim, shape, -2, 2, &rng)};
    int n = 1 + (int)cg_module_collect_params(m, in + 1, 3);
    /* non-trivial affine parameters */
    for (int i = 1; i < n; i++)
        for (int64_t j = 0; j < in[i]->numel; j++)
            cg_tensor_set_at(in[i], j, 0.5 + cg_rng_uniform(&rng));
    struct mod_ctx ctx = {m};
    struct cg_gradcheck_options o = {.eps = 1e-6, .atol = 1e-5, .rtol = 1e-3, .seed = 3};
    struct cg_gradcheck_report rep;
    if (cg_gradcheck(run_module, &ctx, n, in, &o, &rep) != CG_OK)
        fail_msg("gradcheck of %s: %s", cg_module_type(m), rep.message);
    cg_tensor_free(in[0]);
    cg_module_free(m);
}

static void test_gradcheck_modules(void **state)
{
    (void)state;
    gradcheck_module(cg_layer_norm_new(1, (const int64_t[]){4}, 1e-5, true), 2,
                     (const int64_t[]){3, 4}, 1);
    gradcheck_module(cg_layer_norm_new(2, (const int64_t[]){2, 3}, 1e-3, false), 3,
                     (const int64_t[]){2, 2, 3}, 2);
    gradcheck_module(cg_batch_norm1d_new(3, 1e-5, 0.1, true, true), 2, (const int64_t[]){5, 3}, 3);
    gradcheck_module(cg_batch_norm1d_new(2, 1e-5, 0.1, true, false), 3,
                     (const int64_t[]){3, 2, 2}, 4);
    struct cg_module *eval = cg_batch_norm1d_new(3, 1e-5, 0.1, true, true);
    cg_module_set_training(eval, false);
    gradcheck_module(eval, 2, (const int64_t[]){4, 3}, 5);
}

/* Dropout with a fixed seed per call (so the mask is the same every time)
 * and Embedding over its weight with fixed indices. */
struct fixed_ctx {
    struct cg_module *m;
    struct cg_tensor *idx;
    struct cg_rng *rng;
};

static struct cg_tensor *run_dropout(struct cg_tape *tape, struct cg_tensor *const *in, void *user)
{
    struct fixed_ctx *c = user;
    *c->rng = cg_rng_seed(11);
    return cg_module_forward(c->m, tape, in[0]);
}

static struct cg_tensor *run_embedding(struct cg_tape *tape, struct cg_tensor *const *in,
                                       void *user)
{
    (void)in; /* in[0] is the module's weight, perturbed in place */
    struct fixed_ctx *c = user;
    return cg_module_forward(c->m, tape, c->idx);
}

static void test_gradcheck_dropout_and_embedding(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(0), draw = cg_rng_seed(6);
    struct cg_gradcheck_options o = {.eps = 1e-6, .atol = 1e-5, .rtol = 1e-3, .seed = 3};
    struct cg_gradcheck_report rep;
    struct fixed_ctx c = {cg_dropout_new(0.4, &rng), NULL, &rng};
    struct cg_tensor *x = cg_tensor_uniform(NULL, CG_F64, CG_SHAPE(4, 5), -2, 2, &draw);
    if (cg_gradcheck(run_dropout, &c, 1, &x, &o, &rep) != CG_OK) fail_msg("Dropout: %s", rep.message);
    cg_module_free(c.m);
    cg_tensor_free(x);
    c.m = cg_embedding_new(5, 3, CG_NO_PADDING, &rng);
    assert_int_equal(cg_module_to_dtype(c.m, CG_F64), CG_OK);
    c.idx = cg_tensor_from_doubles(NULL, CG_F64, CG_SHAPE(2, 3), (const double[]){4, 0, 4, 1, 2, 0});
    struct cg_tensor *w = cg_embedding_weight(c.m);
    if (cg_gradcheck(run_embedding, &c, 1, &w, &o, &rep) != CG_OK)
        fail_msg("Embedding: %s", rep.message);
    cg_tensor_free(c.idx);
    cg_module_free(c.m);
}

/* ---- dropout ---- */

/* Dropout against its definition, bit for bit: the mask from one draw per
 * element (kept when the draw is >= ceil(p 2^32), value (T)(1 / (1 - p))),
 * y = x * mask, and the gradient dy * mask, assigned through a tape
 * intermediate and accumulated into a leaf over two steps. */
static double times(bool f64, double a, double b)
{
    return f64 ? a * b : (double)((float)a * (float)b);
}

static void test_dropout_matches_definition(void **state)
{
    (void)state;
    enum { N = 3001 }; /* not a multiple of the draw chunk or lanes */
    const double p = 0.25, keep = 1 / (1 - p);
    const uint64_t cut = (uint64_t)ceil(p * 4294967296.0);
    static double want_zgrad[N];
    static float want_zgrad_f[N];
    for (int f64 = 0; f64 <= 1; f64++) {
        enum cg_dtype dt = f64 ? CG_F64 : CG_F32;
        struct cg_tape *tape = cg_tape_new();
        struct cg_rng init = cg_rng_seed(2), rng = cg_rng_seed(77), ref = rng;
        struct cg_tensor *x = cg_tensor_uniform(NULL, dt, CG_SHAPE(N), -1, 1, &init);
        struct cg_tensor *z = cg_tensor_uniform(NULL, dt, CG_SHAPE(N), -1, 1, &init);
        struct cg_tensor *dy = cg_tensor_uniform(NULL, dt, CG_SHAPE(N), -1, 1, &init);
        assert_int_equal(cg_tensor_requires_grad(x, true), CG_OK);
        assert_int_equal(cg_tensor_requires_grad(z, true), CG_OK);
        memset(want_zgrad, 0, sizeof want_zgrad), memset(want_zgrad_f, 0, sizeof want_zgrad_f);
        for (int step = 0; step < 2; step++) {
            struct cg_tensor *h = cg_mul_scalar(tape, x, 3);
            struct cg_tensor *y = cg_dropout(tape, h, p, true, &rng);
            struct cg_tensor *y2 = cg_dropout(tape, z, p, true, &rng);
            assert_non_null(y), assert_non_null(y2);
            assert_int_equal(cg_backward_seed(tape, cg_add(tape, y, y2), dy), CG_OK);
            for (int64_t i = 0; i < N; i++) {
                double m = cg_rng_u32(&ref) >= cut ? keep : 0, g = cg_tensor_at(dy, i);
                if (!f64) m = (float)m;
                assert_true(cg_tensor_at(y, i) == times(f64, cg_tensor_at(h, i), m));
                assert_true(cg_tensor_at(h->grad, i) == 0 + times(f64, g, m));
            }
            for (int64_t i = 0; i < N; i++) { /* z's mask is drawn after h's */
                double m = cg_rng_u32(&ref) >= cut ? keep : 0, g = cg_tensor_at(dy, i);
                if (!f64) m = (float)m;
                assert_true(cg_tensor_at(y2, i) == times(f64, cg_tensor_at(z, i), m));
                want_zgrad[i] += g * m;
                want_zgrad_f[i] += (float)g * (float)m;
                assert_true(cg_tensor_at(z->grad, i) ==
                            (f64 ? want_zgrad[i] : (double)want_zgrad_f[i]));
            }
            cg_tape_reset(tape);
        }
        cg_tensor_free(x), cg_tensor_free(z), cg_tensor_free(dy);
        cg_tape_free(tape);
    }
}

static void test_dropout_statistics_and_mask(void **state)
{
    (void)state;
    const double p = 0.3;
    const int64_t n = 200000;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_ones(NULL, CG_F32, CG_SHAPE(n));
    assert_int_equal(cg_tensor_requires_grad(x, true), CG_OK);
    struct cg_rng rng = cg_rng_seed(42);
    struct cg_module *d = cg_dropout_new(p, &rng);
    struct cg_tensor *y = cg_module_forward(d, tape, x);
    assert_non_null(y);
    const float keep = (float)(1 / (1 - p));
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = cg_tensor_at(y, i);
        if (v != 0 && v != (double)keep) fail_msg("element %lld is %.9g", (long long)i, v);
        kept += v != 0;
    }
    /* binomial: sd sqrt(n p (1-p)) ~ 205; 5 sd */
    double frac = (double)kept / (double)n;
    if (fabs(frac - (1 - p)) > 5 * sqrt(p * (1 - p) / (double)n))
        fail_msg("kept fraction %.5f, expected %.2f", frac, 1 - p);
    /* the gradient is the mask */
    assert_int_equal(cg_backward(tape, cg_sum(tape, y)), CG_OK);
    for (int64_t i = 0; i < n; i++) assert_true(cg_tensor_at(x->grad, i) == cg_tensor_at(y, i));
    /* the same seed gives the same mask; a new draw gives another */
    struct cg_rng again = cg_rng_seed(42);
    struct cg_tensor *y2 = cg_dropout(tape, x, p, true, &again);
    struct cg_tensor *y3 = cg_dropout(tape, x, p, true, &again);
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(cg_tensor_at(y2, i) == cg_tensor_at(y, i));
        same += cg_tensor_at(y3, i) == cg_tensor_at(y, i);
    }
    assert_true(same < n);
    /* eval mode and p = 0: the identity */
    cg_module_set_training(d, false);
    assert_ptr_equal(cg_module_forward(d, tape, x), x);
    assert_ptr_equal(cg_dropout(tape, x, 0.0, true, &rng), x);
    cg_module_free(d);
    cg_tensor_free(x);
    cg_tape_free(tape);
}

/* ---- the simple modules equal their ops ---- */

static void expect_same(struct cg_module *m, struct cg_tensor *via_op, struct cg_tape *tape,
                        struct cg_tensor *x)
{
    assert_non_null(m);
    struct cg_tensor *y = cg_module_forward(m, tape, x);
    assert_non_null(y);
    assert_non_null(via_op);
    assert_true(cg_tensor_same_shape(y, via_op));
    for (int64_t i = 0; i < y->numel; i++) assert_true(cg_tensor_at(y, i) == cg_tensor_at(via_op, i));
    cg_module_free(m);
}

static void test_modules_match_ops(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_rng rng = cg_rng_seed(9);
    struct cg_tensor *x = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(2, 3, 4), -3, 3, &rng);
    expect_same(cg_leaky_relu_new(0.1), cg_leaky_relu(tape, x, 0.1), tape, x);
    expect_same(cg_elu_new(0.7), cg_elu(tape, x, 0.7), tape, x);
    expect_same(cg_gelu_new(true), cg_gelu(tape, x, true), tape, x);
    expect_same(cg_gelu_new(false), cg_gelu(tape, x, false), tape, x);
    expect_same(cg_silu_new(), cg_silu(tape, x), tape, x);
    expect_same(cg_softplus_new(2, 5), cg_softplus(tape, x, 2, 5), tape, x);
    expect_same(cg_softmax_new(-1), cg_softmax(tape, x, -1), tape, x);
    expect_same(cg_log_softmax_new(1), cg_log_softmax(tape, x, 1), tape, x);
    expect_same(cg_flatten_new(1, -1), cg_reshape(tape, x, 2, (const int64_t[]){2, 12}), tape, x);
    expect_same(cg_identity_new(), x, tape, x);
    /* Embedding forward = the op on the same indices */
    struct cg_module *e = cg_embedding_new(5, 3, 1, &rng);
    struct cg_tensor *idx = cg_tensor_from_doubles(NULL, CG_F32, CG_SHAPE(2, 2),
                                                   (const double[]){4, 1, 0, 4});
    struct cg_tensor *w = cg_embedding_weight(e);
    for (int j = 0; j < 3; j++) assert_true(cg_tensor_at(w, 3 + j) == 0); /* padding row */
    expect_same(e, cg_embedding(tape, w, (const int64_t[]){4, 1, 0, 4}, 2,
                                (const int64_t[]){2, 2}, 1), tape, idx);
    cg_tensor_free(idx);
    cg_tensor_free(x);
    cg_tape_free(tape);
}

/* ---- argmax / argmin: the first extreme wins ties (torch.argmax) ---- */

static void test_argmax_argmin_ties(void **state)
{
    (void)state;
    for (int t = 0; t < 2; t++) {
        enum cg_dtype dt = t ? CG_F32 : CG_F64;
        struct cg_tensor *x = cg_tensor_from_doubles(
            NULL, dt, CG_SHAPE(3, 4),
            (const double[]){1, 3, 3, 2, 5, 5, 5, 0, -1, -2, -1, -2});
        int64_t idx[4] = {-1, -1, -1, -1};
        assert_int_equal(cg_argmax(x, 1, idx, 4), CG_OK);
        assert_int_equal(idx[0], 1), assert_int_equal(idx[1], 0), assert_int_equal(idx[2], 0);
        assert_int_equal(cg_argmin(x, 1, idx, 4), CG_OK);
        assert_int_equal(idx[0], 0), assert_int_equal(idx[1], 3), assert_int_equal(idx[2], 1);
        assert_int_equal(cg_argmax(x, 0, idx, 4), CG_OK); /* column maxima 5 5 5 2 */
        assert_int_equal(idx[0], 1), assert_int_equal(idx[1], 1), assert_int_equal(idx[2], 1);
        assert_int_equal(idx[3], 0);
        cg_tensor_set_at(x, 2, NAN); /* a NaN is the maximum and the minimum */
        assert_int_equal(cg_argmax(x, -1, idx, 4), CG_OK);
        assert_int_equal(idx[0], 2);
        assert_int_equal(cg_argmin(x, -1, idx, 4), CG_OK);
        assert_int_equal(idx[0], 2);
        CG_EXPECT_MISUSE(cg_argmax(x, 1, idx, 2), "argmax", "capacity 2", "3 indices");
        cg_tensor_free(x);
    }
}

/* ---- log_softmax + nll_loss = cross entropy (values and gradients) ---- */

static void test_nll_of_log_softmax_is_cross_entropy(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(5);
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *a = cg_tensor_uniform(NULL, CG_F64, CG_SHAPE(4, 6), -3, 3, &rng);
    struct cg_tensor *b = cg_tensor_copy(NULL, a);
    cg_tensor_requires_grad(a, true);
    cg_tensor_requires_grad(b, true);
    const int64_t t[4] = {5, 0, 2, 2};
    struct cg_class_loss_options o = {.reduction = CG_REDUCTION_MEAN};
    struct cg_tensor *l1 = cg_nll_loss(tape, cg_log_softmax(tape, a, 1), t, &o);
    struct cg_tensor *l2 = cg_cross_entropy_loss_with(tape, b, t, &o);
    CG_ASSERT_CLOSE(cg_tensor_item(l1), cg_tensor_item(l2), 1e-14, 1e-14);
    assert_int_equal(cg_backward(tape, l1), CG_OK);
    assert_int_equal(cg_backward(tape, l2), CG_OK);
    for (int64_t i = 0; i < a->numel; i++)
        CG_ASSERT_CLOSE(cg_tensor_at(a->grad, i), cg_tensor_at(b->grad, i), 1e-14, 1e-12);
    cg_tensor_free(a);
    cg_tensor_free(b);
    cg_tape_free(tape);
}

/* ---- init helpers (torch.nn.init's constants and bounds) ---- */

static void test_init_helpers(void **state)
{
    (void)state;
    CG_ASSERT_CLOSE(cg_init_calculate_gain("relu", 0), sqrt(2.0), 0, 1e-15);
    CG_ASSERT_CLOSE(cg_init_calculate_gain("tanh", 0), 5.0 / 3, 0, 1e-15);
    CG_ASSERT_CLOSE(cg_init_calculate_gain("leaky_relu", 0.2), sqrt(2.0 / 1.04), 0, 1e-15);
    CG_ASSERT_CLOSE(cg_init_calculate_gain("sigmoid", 0), 1.0, 0, 0);
    CG_ASSERT_CLOSE(cg_init_calculate_gain("selu", 0), 0.75, 0, 0);
    struct cg_rng rng = cg_rng_seed(1);
    struct cg_tensor *w = cg_tensor_zeros(NULL, CG_F64, CG_SHAPE(200, 300));
    /* xavier_uniform: bound gain sqrt(6 / (fan_in + fan_out)) = sqrt(6/500) */
    assert_int_equal(cg_init_xavier_uniform(w, 1.0, &rng), CG_OK);
    double bound = sqrt(6.0 / 500), s2 = 0, mx = 0;
    for (int64_t i = 0; i < w->numel; i++) {
        double v = cg_tensor_at(w, i);
        s2 += v * v, mx = fmax(mx, fabs(v));
    }
    assert_true(mx <= bound && mx > 0.99 * bound);
    CG_ASSERT_CLOSE(s2 / (double)w->numel, bound * bound / 3, 0, 0.02);
    /* kaiming_normal, fan_in 300, relu: std sqrt(2 / 300) */
    assert_int_equal(cg_init_kaiming_normal(w, 0, CG_FAN_IN, "relu", &rng), CG_OK);
    s2 = 0;
    for (int64_t i = 0; i < w->numel; i++) s2 += cg_tensor_at(w, i) * cg_tensor_at(w, i);
    CG_ASSERT_CLOSE(s2 / (double)w->numel, 2.0 / 300, 0, 0.02);
    /* kaiming_uniform, fan_out 200, leaky_relu a = sqrt(5) (Linear's init) */
    assert_int_equal(cg_init_kaiming_uniform(w, sqrt(5.0), CG_FAN_OUT, "leaky_relu", &rng), CG_OK);
    mx = 0;
    for (int64_t i = 0; i < w->numel; i++) mx = fmax(mx, fabs(cg_tensor_at(w, i)));
    bound = sqrt(3.0) * sqrt(2.0 / 6) / sqrt(200.0);
    assert_true(mx <= bound && mx > 0.99 * bound);
    assert_int_equal(cg_init_constant(w, 0.25), CG_OK);
    assert_true(cg_tensor_at(w, 777) == 0.25);
    assert_int_equal(cg_init_normal(w, 3, 0, &rng), CG_OK);
    assert_true(cg_tensor_at(w, 5) == 3);
    cg_tensor_free(w);
}

static void test_accuracy(void **state)
{
    (void)state;
    struct cg_tensor *s = cg_tensor_from_doubles(NULL, CG_F32, CG_SHAPE(4, 3),
                                                 (const double[]){0, 1, 0, 2, 2, 1, 0, 0, 5, 1, 0, 0});
    /* argmax per row: 1, 0 (tie, first), 2, 0 */
    CG_ASSERT_CLOSE(cg_accuracy(s, (const int64_t[]){1, 0, 2, 1}), 0.75, 0, 0);
    CG_ASSERT_CLOSE(cg_accuracy(s, (const int64_t[]){0, 1, 0, 1}), 0.0, 0, 0);
    cg_tensor_free(s);
}

/* ---- BatchNorm's running statistics travel in checkpoints ---- */

static void test_batch_norm_buffers_in_checkpoint(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(4);
    struct cg_module *a = cg_batch_norm1d_new(3, 1e-5, 0.1, true, true);
    struct cg_module *b = cg_batch_norm1d_new(3, 1e-5, 0.1, true, true);
    struct cg_tape *tape = cg_tape_new();
    for (int k = 0; k < 3; k++) {
        struct cg_tensor *x = cg_tensor_uniform(tape, CG_F32, CG_SHAPE(8, 3), -1, 2, &rng);
        assert_non_null(cg_module_forward(a, tape, x));
        cg_tape_reset(tape);
    }
    assert_int_equal(cg_module_buffer_tensors(a), 3);
    const char *path = "layers_bn.ckpt";
    assert_int_equal(cg_checkpoint_save(path, a, NULL, NULL), CG_OK);
    assert_int_equal(cg_checkpoint_load(path, b, NULL, NULL), CG_OK);
    remove(path);
    const char *names[3] = {"running_mean", "running_var", "num_batches_tracked"};
    for (int i = 0; i < 3; i++) {
        struct cg_tensor *ta = cg_module_buffer(a, names[i]), *tb = cg_module_buffer(b, names[i]);
        assert_non_null(tb);
        assert_memory_equal(ta->data, tb->data, (size_t)ta->numel * sizeof(float));
    }
    assert_true(cg_tensor_at(cg_module_buffer(b, "num_batches_tracked"), 0) == 3);
    /* the loaded module's eval output equals the original's */
    cg_module_set_training(a, false);
    cg_module_set_training(b, false);
    struct cg_tensor *x = cg_tensor_uniform(tape, CG_F32, CG_SHAPE(4, 3), -1, 2, &rng);
    struct cg_tensor *ya = cg_module_forward(a, tape, x), *yb = cg_module_forward(b, tape, x);
    assert_memory_equal(ya->data, yb->data, (size_t)ya->numel * sizeof(float));
    cg_tape_free(tape);
    cg_module_free(a);
    cg_module_free(b);
}

/* ---- cg_module_print ---- */

static void test_module_print(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(0);
    struct cg_module *model = cg_sequential(cg_linear_new(784, 256, true, &rng),
                                            cg_batch_norm1d_new(256, 1e-5, 0.1, true, true),
                                            cg_relu_new(), cg_dropout_new(0.2, &rng),
                                            cg_linear_new(256, 10, false, &rng));
    assert_non_null(model);
    FILE *f = tmpfile();
    cg_module_print(model, f);
    rewind(f);
    char text[4096] = {0};
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    const char *want[] = {
        "Sequential(\n",
        "  (0): Linear(in=784, out=256, bias=true)\n",
        "param weight [256,784] f32\n",
        "  (1): BatchNorm1d(256, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)\n",
        "buffer running_mean [256] f32\n",
        "buffer num_batches_tracked [] f32\n",
        "  (2): ReLU()\n",
        "  (3): Dropout(p=0.2)\n",
        "  (4): Linear(in=256, out=10, bias=false)\n",
        ")\n",
        "Total parameters: 204032 (5 tensors); buffers: 513 elements (3 tensors)\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(text, want[i])) fail_msg("print lacks '%s' in:\n%s", want[i], text);
    cg_module_free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norm_layers_match_torch_f64),
        cmocka_unit_test(test_norm_layers_match_torch_f32),
        cmocka_unit_test(test_gradcheck_modules),
        cmocka_unit_test(test_gradcheck_dropout_and_embedding),
        cmocka_unit_test(test_dropout_statistics_and_mask),
        cmocka_unit_test(test_dropout_matches_definition),
        cmocka_unit_test(test_modules_match_ops),
        cmocka_unit_test(test_argmax_argmin_ties),
        cmocka_unit_test(test_nll_of_log_softmax_is_cross_entropy),
        cmocka_unit_test(test_init_helpers),
        cmocka_unit_test(test_accuracy),
        cmocka_unit_test(test_batch_norm_buffers_in_checkpoint),
        cmocka_unit_test(test_module_print),
    };
    return cmocka_run_group_tests(tests, load_refs, free_refs);
}
