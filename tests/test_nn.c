/* Modules: Linear init and forward, Sequential naming and ownership, the
 * generic module functions, a user-defined layer, and gradcheck (f64) of
 * every layer and of the sparse autoencoder. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buffer_layer.h"
#include "cg_test.h"

/* ---- a user-defined layer, written as a user would: y = x * scale, with a
 *      learnable per-feature scale ---- */

struct scale_layer {
    struct cg_module base;
    struct cg_tensor *scale; /* [features] */
};

static struct cg_tensor *scale_forward(struct cg_module *self, struct cg_tape *tape,
                                       struct cg_tensor *x)
{
    return cg_mul(tape, x, ((struct scale_layer *)self)->scale);
}

static void scale_visit_params(struct cg_module *self, const char *prefix, cg_param_visitor visit,
                               void *user)
{
    cg_module_visit_param(prefix, "scale", ((struct scale_layer *)self)->scale, visit, user);
}

static void scale_free(struct cg_module *self)
{
    cg_tensor_free(((struct scale_layer *)self)->scale);
    free(self);
}

static const struct cg_module_vtable scale_vtable = {
    .type_name = "Scale",
    .forward = scale_forward,
    .visit_params = scale_visit_params,
    .free = scale_free,
};

static struct cg_module *scale_new(int64_t features, double init)
{
    struct scale_layer *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    cg_module_init(&s->base, &scale_vtable);
    s->scale = cg_tensor_full(NULL, CG_F32, CG_SHAPE(features), init);
    if (!s->scale || cg_module_init_param(s->scale, "scale") != CG_OK) {
        scale_free(&s->base);
        return NULL;
    }
    return &s->base;
}

/* ---- helpers ---- */

struct names {
    int n;
    char name[16][64];
    struct cg_tensor *t[16];
};

static void record_name(const char *name, struct cg_tensor *p, void *user)
{
    struct names *ns = user;
    assert_true(ns->n < 16);
    snprintf(ns->name[ns->n], sizeof ns->name[0], "%s", name);
    ns->t[ns->n++] = p;
}

static void set_values(struct cg_tensor *t, const double *v)
{
    for (int64_t i = 0; i < t->numel; i++) cg_tensor_set_at(t, i, v[i]);
}

/* ---- Linear ---- */

static void test_linear_init(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(42);
    struct cg_module *m = cg_linear_new(5, 3, true, &rng);
    assert_non_null(m);
    assert_string_equal(cg_module_type(m), "Linear");
    struct cg_tensor *w = cg_linear_weight(m), *b = cg_linear_bias(m);
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[0], 3);
    assert_int_equal(w->shape[1], 5);
    assert_int_equal(b->ndim, 1);
    assert_int_equal(b->shape[0], 3);
    assert_int_equal(w->dtype, CG_F32);
    assert_string_equal(w->name, "weight");
    assert_string_equal(b->name, "bias");
    assert_true(w->flags & CG_REQUIRES_GRAD);
    assert_true(w->flags & CG_PARAMETER);
    assert_true(b->flags & CG_REQUIRES_GRAD);
    assert_non_null(w->grad);
    assert_ptr_equal(cg_module_param(m, "weight"), w);
    assert_ptr_equal(cg_module_param(m, "bias"), b);

    /* Bound 1/sqrt(5); the values also spread over the range. */
    double bound = 1 / sqrt(5.0), lo = 1, hi = -1;
    for (int64_t i = 0; i < w->numel; i++) {
        double v = cg_tensor_at(w, i);
        assert_true(v >= -bound && v < bound);
        lo = fmin(lo, v);
        hi = fmax(hi, v);
        assert_true(cg_tensor_at(w->grad, i) == 0);
    }
    for (int64_t i = 0; i < b->numel; i++)
        assert_true(fabs(cg_tensor_at(b, i)) <= bound);
    assert_true(hi - lo > bound);

    /* Weight first, then bias, from the same stream as cg_tensor_uniform. */
    struct cg_rng r2 = cg_rng_seed(42);
    struct cg_tensor *ew = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(3, 5), -bound, bound, &r2);
    struct cg_tensor *eb = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(3), -bound, bound, &r2);
    assert_memory_equal(w->data, ew->data, 15 * sizeof(float));
    assert_memory_equal(b->data, eb->data, 3 * sizeof(float));
    /* The caller's rng advanced past exactly those draws. */
    assert_true(rng.state == r2.state && rng.inc == r2.inc);

    /* Deterministic per seed; another seed differs; f64 holds the same draws. */
    struct cg_rng r3 = cg_rng_seed(42), r4 = cg_rng_seed(43), r5 = cg_rng_seed(42);
    struct cg_module *same = cg_linear_new(5, 3, true, &r3);
    struct cg_module *other = cg_linear_new(5, 3, true, &r4);
    struct cg_module *wide = cg_linear_new_dtype(5, 3, true, CG_F64, &r5);
    assert_memory_equal(cg_linear_weight(same)->data, w->data, 15 * sizeof(float));
    assert_memory_not_equal(cg_linear_weight(other)->data, w->data, 15 * sizeof(float));
    assert_int_equal(cg_linear_weight(wide)->dtype, CG_F64);
    for (int64_t i = 0; i < 15; i++)
        assert_true((float)cg_tensor_at(cg_linear_weight(wide), i) == (float)cg_tensor_at(w, i));

    /* Without bias: one parameter. */
    struct cg_module *nb = cg_linear_new(2, 2, false, &rng);
    assert_null(cg_linear_bias(nb));
    assert_int_equal(cg_module_param_tensors(nb), 1);
    assert_int_equal(cg_module_param_elements(m), 18);

    cg_tensor_free(ew);
    cg_tensor_free(eb);
    cg_module_free(m);
    cg_module_free(same);
    cg_module_free(other);
    cg_module_free(wide);
    cg_module_free(nb);
}

static void test_linear_forward_by_hand(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        enum cg_dtype dt = d ? CG_F32 : CG_F64;
        struct cg_rng rng = cg_rng_seed(1);
        struct cg_module *m = cg_linear_new_dtype(3, 2, true, dt, &rng);
        const double wv[6] = {1, 2, 3, -1, 0, 0.5}, bv[2] = {0.5, -1};
        set_values(cg_linear_weight(m), wv);
        set_values(cg_linear_bias(m), bv);
        struct cg_tape *tape = cg_tape_new();
        const double xv[6] = {1, 1, 1, 2, 0, -2};
        struct cg_tensor *x = cg_tensor_from_doubles(NULL, dt, CG_SHAPE(2, 3), xv);
        cg_tensor_requires_grad(x, true);
        struct cg_tensor *y = cg_module_forward(m, tape, x);
        assert_non_null(y);
        assert_int_equal(y->shape[0], 2);
        assert_int_equal(y->shape[1], 2);
        /* [1+2+3+0.5, -1+0+0.5-1; 2+0-6+0.5, -2+0-1-1] */
        const double ey[4] = {6.5, -1.5, -3.5, -4};
        CG_ASSERT_TENSOR(y, ey, 0, 0);
        assert_int_equal(cg_backward(tape, cg_sum(tape, y)), CG_OK);
        /* d sum / dW[o,i] = sum_n x[n,i]; d/db = N; d/dx[n,i] = sum_o W[o,i]. */
        const double gw[6] = {3, 1, -1, 3, 1, -1}, gb[2] = {2, 2}, gx[6] = {0, 2, 3.5, 0, 2, 3.5};
        CG_ASSERT_TENSOR(cg_linear_weight(m)->grad, gw, 0, 0);
        CG_ASSERT_TENSOR(cg_linear_bias(m)->grad, gb, 0, 0);
        CG_ASSERT_TENSOR(x->grad, gx, 0, 0);
        cg_tensor_free(x);
        cg_tape_free(tape);
        cg_module_free(m);
    }
}

static void test_linear_misuse(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(0);
    CG_EXPECT_MISUSE(cg_linear_new(0, 3, true, &rng), "cg_linear_new", "in = 0");
    CG_EXPECT_MISUSE(cg_linear_new(3, 2, true, NULL), "cg_linear_new", "rng NULL");
    struct cg_module *m = cg_linear_new(3, 2, true, &rng);
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(4, 5));
    CG_EXPECT_MISUSE(cg_module_forward(m, tape, x), "Linear(3 -> 2)", "[4,5] f32", "[N,3]");
    struct cg_tensor *x64 = cg_tensor_zeros(tape, CG_F64, CG_SHAPE(4, 3));
    CG_EXPECT_MISUSE(cg_module_forward(m, tape, x64), "is f32 but the input is f64",
                     "cg_module_to_dtype");
    CG_EXPECT_MISUSE(cg_module_forward(m, tape, NULL), "cg_module_forward", "Linear");
    CG_EXPECT_MISUSE(cg_module_forward(NULL, tape, x), "cg_module_forward", "module is NULL");
    struct cg_module *r = cg_relu_new();
    CG_EXPECT_MISUSE(cg_linear_weight(r), "cg_linear_weight", "ReLU", "not a Linear");
    CG_EXPECT_MISUSE(cg_sequential_size(r), "cg_sequential_size", "not a Sequential");
    cg_module_free(r);
    cg_module_free(m);
    cg_tape_free(tape);
}

/* ---- activations ---- */

static void test_activation_modules(void **state)
{
    (void)state;
    assert_true(CG_SHRINK_DEFAULT_LAMBDA == 0.5);
    struct cg_module *ms[6] = {cg_relu_new(), cg_hardshrink_new(CG_SHRINK_DEFAULT_LAMBDA),
                               cg_softshrink_new(CG_SHRINK_DEFAULT_LAMBDA), cg_tanhshrink_new(),
                               cg_sigmoid_new(), cg_tanh_new()};
    const char *types[6] = {"ReLU", "Hardshrink", "Softshrink", "Tanhshrink", "Sigmoid", "Tanh"};
    const double xv[5] = {-1, -0.5, 0, 0.5, 0.7};
    const double expect[6][5] = {
        {0, 0, 0, 0.5, 0.7},
        {-1, 0, 0, 0, 0.7}, /* the closed band [-0.5, 0.5] maps to 0 */
        {-0.5, 0, 0, 0, 0.7 - 0.5},
        {-1 + tanh(1.0), -0.5 + tanh(0.5), 0, 0.5 - tanh(0.5), 0.7 - tanh(0.7)},
        {1 / (1 + exp(1.0)), 1 / (1 + exp(0.5)), 0.5, 1 / (1 + exp(-0.5)), 1 / (1 + exp(-0.7))},
        {tanh(-1.0), tanh(-0.5), 0, tanh(0.5), tanh(0.7)},
    };
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_from_doubles(tape, CG_F64, CG_SHAPE(1, 5), xv);
    for (int i = 0; i < 6; i++) {
        assert_non_null(ms[i]);
        assert_string_equal(cg_module_type(ms[i]), types[i]);
        assert_int_equal(cg_module_param_tensors(ms[i]), 0);
        CG_ASSERT_TENSOR(cg_module_forward(ms[i], tape, x), expect[i], 1e-15, 1e-14);
        cg_module_free(ms[i]);
    }
    struct cg_module *h = cg_hardshrink_new(0.1);
    CG_ASSERT_CLOSE(cg_shrink_lambda(h), 0.1, 0, 0);
    cg_module_free(h);
    CG_EXPECT_MISUSE(cg_hardshrink_new(-1), "cg_hardshrink_new", "lambda = -1", ">= 0");
    CG_EXPECT_MISUSE(cg_softshrink_new(-0.5), "cg_softshrink_new", "lambda = -0.5");
    CG_EXPECT_MISUSE(cg_hardshrink_new(NAN), "cg_hardshrink_new", "lambda = nan");
    cg_tape_free(tape);
}

/* ---- Sequential and the generic module functions ---- */

static struct cg_module *small_model(struct cg_rng *rng)
{
    return cg_sequential(cg_linear_new(4, 3, true, rng), cg_relu_new(),
                         cg_linear_new(3, 2, true, rng), cg_linear_new(2, 4, false, rng));
}

static void test_sequential_names(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(3);
    struct cg_module *m = small_model(&rng);
    assert_non_null(m);
    assert_string_equal(cg_module_type(m), "Sequential");
    assert_int_equal(cg_sequential_size(m), 4);
    assert_string_equal(cg_module_type(cg_sequential_child(m, 1)), "ReLU");
    struct names ns = {0};
    cg_module_visit_params(m, record_name, &ns);
    const char *expect[5] = {"0.weight", "0.bias", "2.weight", "2.bias", "3.weight"};
    assert_int_equal(ns.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(ns.name[i], expect[i]);
        assert_ptr_equal(cg_module_param(m, expect[i]), ns.t[i]);
    }
    assert_ptr_equal(ns.t[3], cg_linear_bias(cg_sequential_child(m, 2)));
    assert_null(cg_module_param(m, "1.weight"));
    assert_null(cg_module_param(m, "3.bias"));
    assert_null(cg_module_param(m, "weight"));
    assert_int_equal(cg_module_param_tensors(m), 5);
    assert_int_equal(cg_module_param_elements(m), 12 + 3 + 6 + 2 + 8);
    struct cg_tensor *ps[3];
    assert_int_equal(cg_module_collect_params(m, ps, 3), 5);
    for (int i = 0; i < 3; i++) assert_ptr_equal(ps[i], ns.t[i]);
    CG_EXPECT_MISUSE(cg_sequential_child(m, 4), "index 4", "4 modules");

    /* Nested containers and a user-defined layer get dotted names. */
    struct cg_module *nested =
        cg_sequential(cg_sequential(cg_linear_new(2, 2, true, &rng), scale_new(2, 1.0)),
                      cg_tanh_new(), scale_new(2, 0.5));
    struct names nn = {0};
    cg_module_visit_params(nested, record_name, &nn);
    const char *expect2[4] = {"0.0.weight", "0.0.bias", "0.1.scale", "2.scale"};
    assert_int_equal(nn.n, 4);
    for (int i = 0; i < 4; i++) assert_string_equal(nn.name[i], expect2[i]);
    cg_module_free(nested);
    cg_module_free(m);
}

static void test_sequential_forward(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(5);
    struct cg_module *m = small_model(&rng);
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_randn(tape, CG_F32, CG_SHAPE(6, 4), &rng);
    struct cg_tensor *y = cg_module_forward(m, tape, x);
    /* The same composition written with the plain functions. */
    struct cg_tensor *h = cg_linear(tape, x, cg_module_param(m, "0.weight"),
                                    cg_module_param(m, "0.bias"));
    h = cg_relu(tape, h);
    h = cg_linear(tape, h, cg_module_param(m, "2.weight"), cg_module_param(m, "2.bias"));
    h = cg_linear(tape, h, cg_module_param(m, "3.weight"), NULL);
    assert_int_equal(y->shape[0], 6);
    assert_int_equal(y->shape[1], 4);
    assert_memory_equal(y->data, h->data, 24 * sizeof(float));

    /* An empty Sequential is the identity. */
    struct cg_module *empty = cg_sequential_new(0, NULL);
    assert_int_equal(cg_sequential_size(empty), 0);
    assert_ptr_equal(cg_module_forward(empty, tape, x), x);
    cg_module_free(empty);
    /* The array form with a count. */
    struct cg_module *parts[2] = {cg_relu_new(), cg_tanh_new()};
    struct cg_module *two = cg_sequential_new(2, parts);
    assert_int_equal(cg_sequential_size(two), 2);
    cg_module_free(two);
    cg_tape_free(tape);
    cg_module_free(m);
}

static void test_sequential_ownership_misuse(void **state)
{
    (void)state;
    /* A NULL in the middle (a failed constructor): the others are freed
     * (ASan would report a leak otherwise) and the result is NULL. */
    struct cg_module *none = NULL;
    struct cg_module *s = NULL;
    CG_EXPECT_MISUSE(s = cg_sequential(cg_relu_new(), none, cg_tanh_new()), "cg_sequential",
                     "module 1 of 3 is NULL");
    assert_null(s);
    struct cg_module *r = cg_relu_new();
    struct cg_module *dup[2] = {r, r};
    CG_EXPECT_MISUSE(s = cg_sequential_new(2, dup), "module 1 is the same object as module 0");
    assert_null(s);
    CG_EXPECT_MISUSE(cg_sequential_new(-1, NULL), "n = -1");
    /* A failed last constructor is not mistaken for the end of the list. */
    CG_EXPECT_MISUSE(s = cg_sequential(cg_relu_new(), cg_tanh_new(), none), "cg_sequential",
                     "module 2 of 3 is NULL");
    assert_null(s);
}

static void test_zero_grad_and_training(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(8);
    struct cg_module *inner = cg_sequential(cg_linear_new(4, 4, true, &rng), scale_new(4, 2.0));
    struct cg_module *m = cg_sequential(inner, cg_tanh_new(), cg_linear_new(4, 2, true, &rng));
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_randn(tape, CG_F32, CG_SHAPE(3, 4), &rng);
    assert_int_equal(cg_backward(tape, cg_sum(tape, cg_module_forward(m, tape, x))), CG_OK);
    struct cg_tensor *ps[8];
    size_t n = cg_module_collect_params(m, ps, 8);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        double norm = 0;
        for (int64_t k = 0; k < ps[i]->numel; k++) norm += fabs(cg_tensor_at(ps[i]->grad, k));
        assert_true(norm > 0);
    }
    cg_module_zero_grad(m);
    for (size_t i = 0; i < n; i++)
        for (int64_t k = 0; k < ps[i]->numel; k++) assert_true(cg_tensor_at(ps[i]->grad, k) == 0);

    /* Modules start in training mode; the flag recurses into every child. */
    assert_true(m->training && inner->training);
    cg_module_set_training(m, false);
    assert_false(m->training);
    assert_false(inner->training);
    assert_false(cg_sequential_child(inner, 1)->training);
    assert_false(cg_sequential_child(m, 2)->training);
    cg_module_set_training(m, true);
    assert_true(cg_sequential_child(inner, 0)->training);
    cg_tape_free(tape);
    cg_module_free(m);
}

static void test_to_dtype(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(9);
    struct cg_module *m = cg_sequential(cg_linear_new(4, 3, true, &rng), cg_hardshrink_new(0.1),
                                        scale_new(3, 1.5), cg_linear_new(3, 2, true, &rng));
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_randn(NULL, CG_F32, CG_SHAPE(5, 4), &rng);
    struct cg_tensor *y32 = cg_module_forward(m, tape, x);
    assert_int_equal(cg_module_to_dtype(m, CG_F64), CG_OK);
    struct cg_tensor *ps[8];
    size_t n = cg_module_collect_params(m, ps, 8);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ps[i]->dtype, CG_F64);
        assert_int_equal(ps[i]->grad->dtype, CG_F64);
        assert_true(ps[i]->flags & CG_REQUIRES_GRAD);
    }
    struct cg_tensor *x64 = cg_tensor_to(tape, x, CG_F64);
    struct cg_tensor *y64 = cg_module_forward(m, tape, x64);
    assert_non_null(y64);
    assert_int_equal(y64->dtype, CG_F64);
    for (int64_t i = 0; i < y64->numel; i++)
        CG_ASSERT_CLOSE(cg_tensor_at(y64, i), cg_tensor_at(y32, i), 1e-5, 1e-5);
    assert_int_equal(cg_backward(tape, cg_sum(tape, y64)), CG_OK);
    /* f32 input to an f64 model is misuse with a hint. */
    CG_EXPECT_MISUSE(cg_module_forward(m, tape, x), "Linear(4 -> 3) is f64", "cg_module_to_dtype");
    /* And back. */
    assert_int_equal(cg_module_to_dtype(m, CG_F32), CG_OK);
    assert_int_equal(cg_module_param(m, "2.scale")->dtype, CG_F32);
    CG_EXPECT_MISUSE(cg_module_to_dtype(NULL, CG_F64), "cg_module_to_dtype", "NULL");
    cg_tensor_free(x);
    cg_tape_free(tape);
    cg_module_free(m);
}

/* ---- gradcheck (f64) ---- */

struct gc_model {
    struct cg_module *m;
    bool sae_loss; /* mse(model(x), x) instead of model(x) */
};

static struct cg_tensor *gc_forward(struct cg_tape *tape, struct cg_tensor *const *in, void *u)
{
    const struct gc_model *g = u;
    struct cg_tensor *y = cg_module_forward(g->m, tape, in[0]);
    return g->sae_loss ? cg_mse_loss_mean(tape, y, in[0]) : y;
}

/* gradcheck of g->m w.r.t. x and every parameter. */
static void gradcheck_model(struct gc_model *g, struct cg_tensor *x, const char *what)
{
    struct cg_tensor *in[16] = {x};
    size_t n = cg_module_collect_params(g->m, in + 1, 15);
    assert_true(n < 16);
    struct cg_gradcheck_report rep;
    if (cg_gradcheck(gc_forward, g, (int)n + 1, in, NULL, &rep) != CG_OK)
        fail_msg("gradcheck of %s failed: %s", what, rep.message);
    int64_t total = x->numel + (int64_t)cg_module_param_elements(g->m);
    assert_int_equal(rep.checked, total);
}

/* Moves elements of x within `gap` of a kink (0 or +-lambda) to 0.3 away. */
static void avoid_kinks(struct cg_tensor *x, double lambda, double gap)
{
    for (int64_t i = 0; i < x->numel; i++) {
        double v = cg_tensor_at(x, i);
        if (fabs(v) < gap || fabs(fabs(v) - lambda) < gap) cg_tensor_set_at(x, i, v + 0.3);
    }
}

static void test_gradcheck_layers(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(21);
    struct cg_module *layers[7] = {cg_linear_new(4, 3, true, &rng), cg_relu_new(),
                                   cg_hardshrink_new(0.5), cg_softshrink_new(0.5),
                                   cg_tanhshrink_new(), cg_sigmoid_new(), cg_tanh_new()};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(cg_module_to_dtype(layers[i], CG_F64), CG_OK);
        struct cg_tensor *x = cg_tensor_randn(NULL, CG_F64, CG_SHAPE(3, 4), &rng);
        avoid_kinks(x, 0.5, 1e-3);
        struct gc_model g = {layers[i], false};
        gradcheck_model(&g, x, cg_module_type(layers[i]));
        cg_tensor_free(x);
        cg_module_free(layers[i]);
    }
    /* A user-defined layer, alone and inside a Sequential. */
    struct cg_module *m = cg_sequential(cg_linear_new(3, 4, true, &rng), scale_new(4, 0.7),
                                        cg_tanh_new());
    assert_int_equal(cg_module_to_dtype(m, CG_F64), CG_OK);
    struct cg_tensor *x = cg_tensor_randn(NULL, CG_F64, CG_SHAPE(5, 3), &rng);
    struct gc_model g = {m, false};
    gradcheck_model(&g, x, "Sequential with Scale");
    cg_tensor_free(x);
    cg_module_free(m);
}

/* The sparse autoencoder at small widths: Linear(12->8), Hardshrink(0.1),
 * Linear(8->5), Linear(5->12), made in f32 and converted with one call. */
static void test_gradcheck_sparse_autoencoder(void **state)
{
    (void)state;
    const double lambda = 0.1;
    struct cg_rng rng = cg_rng_seed(2024);
    struct cg_module *sae = cg_sequential(cg_linear_new(12, 8, true, &rng), cg_hardshrink_new(lambda),
                                          cg_linear_new(8, 5, true, &rng),
                                          cg_linear_new(5, 12, true, &rng));
    assert_non_null(sae);
    assert_int_equal(cg_module_to_dtype(sae, CG_F64), CG_OK);
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = NULL;
    int draws = 0;
    for (bool near = true; near; draws++) {
        /* Re-draw until no pre-activation is within 1e-3 of +-lambda. */
        cg_tensor_free(x);
        x = cg_tensor_rand(NULL, CG_F64, CG_SHAPE(4, 12), &rng);
        cg_tape_reset(tape);
        struct cg_tensor *pre = cg_module_forward(cg_sequential_child(sae, 0), tape, x);
        near = false;
        for (int64_t i = 0; i < pre->numel; i++)
            near |= fabs(fabs(cg_tensor_at(pre, i)) - lambda) < 1e-3;
        assert_true(draws < 100);
    }
    struct gc_model g = {sae, false};
    gradcheck_model(&g, x, "sparse autoencoder output");
    g.sae_loss = true;
    gradcheck_model(&g, x, "sparse autoencoder mse loss");
    cg_tensor_free(x);
    cg_tape_free(tape);
    cg_module_free(sae);
}

/* ---- module buffers ---- */

struct name_list {
    int n;
    char names[8][32];
};

static void note_name(const char *name, struct cg_tensor *t, void *user)
{
    (void)t;
    struct name_list *l = user;
    if (l->n < 8) snprintf(l->names[l->n++], 32, "%s", name);
}

static void test_buffers(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(3);
    struct cg_module *m = cg_sequential(cg_linear_new(3, 2, true, &rng),
                                        cg_test_buffer_layer_new(2));
    assert_non_null(m);
    struct name_list params = {0}, bufs = {0};
    cg_module_visit_params(m, note_name, &params);
    cg_module_visit_buffers(m, note_name, &bufs);
    /* Buffers have state_dict names and are not parameters. */
    assert_int_equal(params.n, 3);
    assert_string_equal(params.names[2], "1.scale");
    assert_int_equal(bufs.n, 2);
    assert_string_equal(bufs.names[0], "1.running_mean");
    assert_string_equal(bufs.names[1], "1.num_batches");
    assert_int_equal(cg_module_buffer_tensors(m), 2);
    struct cg_tensor *rm = cg_module_buffer(m, "1.running_mean");
    assert_non_null(rm);
    assert_null(cg_module_buffer(m, "1.scale"));
    assert_null(cg_module_param(m, "1.running_mean"));
    assert_false(rm->flags & CG_REQUIRES_GRAD);
    assert_true(rm->flags & CG_BUFFER);

    /* Training updates the buffers; eval only reads them; no gradient. */
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_from_doubles(NULL, CG_F32, CG_SHAPE(2, 3),
                                                 (const double[]){1, 2, 3, -1, 0, 4});
    cg_backward(tape, cg_sum(tape, cg_module_forward(m, tape, x)));
    double after_train = cg_tensor_at(rm, 0);
    assert_true(after_train != 0);
    assert_null(rm->grad);
    assert_float_equal(cg_tensor_at(cg_module_buffer(m, "1.num_batches"), 0), 1, 0);
    cg_tape_reset(tape);
    cg_module_set_training(m, false);
    cg_module_forward(m, tape, x);
    assert_float_equal(cg_tensor_at(rm, 0), after_train, 0);

    /* cg_module_to_dtype converts buffers with the parameters. */
    assert_int_equal(cg_module_to_dtype(m, CG_F64), CG_OK);
    assert_int_equal(cg_module_buffer(m, "1.running_mean")->dtype, CG_F64);
    assert_int_equal(cg_module_buffer(m, "1.num_batches")->dtype, CG_F64);
    assert_float_equal(cg_tensor_at(cg_module_buffer(m, "1.running_mean"), 0), after_train, 1e-7);

    /* A buffer never requires grad. */
    struct cg_tensor *t = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(2));
    cg_tensor_requires_grad(t, true);
    CG_EXPECT_MISUSE(cg_module_init_buffer(t, "b"), "cg_module_init_buffer", "requires grad");
    CG_EXPECT_MISUSE(cg_module_init_buffer(NULL, "b"), "cg_module_init_buffer", "NULL");
    cg_tensor_free(t);
    cg_tensor_free(x);
    cg_tape_free(tape);
    cg_module_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_init),
        cmocka_unit_test(test_linear_forward_by_hand),
        cmocka_unit_test(test_linear_misuse),
        cmocka_unit_test(test_activation_modules),
        cmocka_unit_test(test_sequential_names),
        cmocka_unit_test(test_sequential_forward),
        cmocka_unit_test(test_sequential_ownership_misuse),
        cmocka_unit_test(test_zero_grad_and_training),
        cmocka_unit_test(test_to_dtype),
        cmocka_unit_test(test_gradcheck_layers),
        cmocka_unit_test(test_gradcheck_sparse_autoencoder),
        cmocka_unit_test(test_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
