/* cg_gradcheck_module: a smooth model passes in f64 and in f32 (through the
 * f64 shadow), with a loss function or the weighted output; the parameters
 * of an f32 model come back bit for bit (data, grads, dtype); misuse names
 * the function; buffers are left alone, also by a layer that updates them
 * in training mode; cg_gradcheck_report_print writes the verdict, the worst
 * elements, kinks and hints. */
#include "cg_test.h"
#include "buffer_layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct cg_module *smooth_model(enum cg_dtype dt)
{
    struct cg_rng rng = cg_rng_seed(3);
    struct cg_module *m = cg_sequential(cg_linear_new(4, 6, true, &rng), cg_tanh_new(),
                                        cg_linear_new(6, 3, true, &rng));
    assert_non_null(m);
    assert_int_equal(cg_module_to_dtype(m, dt), CG_OK);
    return m;
}

static struct cg_tensor *input(enum cg_dtype dt)
{
    struct cg_rng rng = cg_rng_seed(4);
    struct cg_tensor *x = cg_tensor_randn(NULL, dt, CG_SHAPE(5, 4), &rng);
    assert_non_null(x);
    return x;
}

static struct cg_tensor *sum_of_squares(struct cg_tape *t, struct cg_tensor *out,
                                        struct cg_tensor *x)
{
    (void)x;
    return cg_sum(t, cg_square(t, out));
}

static const int64_t n_checked = 5 * 4 + 6 * 4 + 6 + 3 * 6 + 3;

static void test_smooth_model_f64(void **state)
{
    (void)state;
    struct cg_module *m = smooth_model(CG_F64);
    struct cg_tensor *x = input(CG_F64);
    struct cg_gradcheck_report r;
    enum cg_status st = cg_gradcheck_module(m, x, NULL, NULL, &r);
    if (st != CG_OK) fail_msg("%s", r.message);
    assert_int_equal(r.checked, n_checked);
    assert_int_equal(r.shadow, 0);
    assert_int_equal(r.fast, 0);
    assert_non_null(strstr(r.message, "gradcheck passed: "));
    st = cg_gradcheck_module(m, x, sum_of_squares, NULL, &r);
    if (st != CG_OK) fail_msg("%s", r.message);
    assert_int_equal(r.checked, n_checked);
    /* forced fast mode passes too */
    struct cg_gradcheck_options fast = {.mode = CG_GRADCHECK_FAST};
    st = cg_gradcheck_module(m, x, sum_of_squares, &fast, &r);
    if (st != CG_OK) fail_msg("%s", r.message);
    assert_int_equal(r.fast, 1);
    assert_int_equal(r.probes, 4);
    assert_int_equal(r.checked, 0);
    assert_non_null(strstr(r.message, "random directional probes"));
    cg_tensor_free(x);
    cg_module_free(m);
}

struct param_copy {
    int n;
    struct cg_tensor *data[8], *grad[8];
};

static void copy_param(const char *name, struct cg_tensor *p, void *user)
{
    (void)name;
    struct param_copy *c = user;
    c->data[c->n] = cg_tensor_copy(NULL, p);
    c->grad[c->n] = cg_tensor_copy(NULL, p->grad);
    c->n++;
}

struct param_cmp {
    int n;
    const struct param_copy *want;
};

static void compare_param(const char *name, struct cg_tensor *p, void *user)
{
    struct param_cmp *c = user;
    const struct cg_tensor *d = c->want->data[c->n], *g = c->want->grad[c->n];
    if (p->dtype != CG_F32) fail_msg("%s is %s after the check", name, cg_dtype_name(p->dtype));
    assert_memory_equal(p->data, d->data, (size_t)p->numel * 4);
    assert_memory_equal(p->grad->data, g->data, (size_t)p->numel * 4);
    c->n++;
}

/* f32: checked in f64 through the shadow, compared with f32, and put back
 * exactly, grads included (pre-set here to values a training step left). */
static void test_smooth_model_f32_shadow_restores_bits(void **state)
{
    (void)state;
    struct cg_module *m = smooth_model(CG_F32);
    struct cg_tensor *x = input(CG_F32);
    struct cg_tensor *w = cg_module_param(m, "0.weight");
    for (int64_t k = 0; k < w->numel; k++) cg_tensor_set_at(w->grad, k, 0.1f * (float)k + 1e-7f);
    struct param_copy before = {0};
    cg_module_visit_params(m, copy_param, &before);
    struct cg_gradcheck_report r;
    enum cg_status st = cg_gradcheck_module(m, x, sum_of_squares, NULL, &r);
    if (st != CG_OK) fail_msg("%s", r.message);
    assert_int_equal(r.shadow, 1);
    assert_int_equal(r.dtype, CG_F64);
    assert_true(r.shadow_out_err < 1e-5 && r.shadow_grad_err < 1e-4);
    assert_int_equal(x->dtype, CG_F32);
    struct param_cmp cmp = {0, &before};
    cg_module_visit_params(m, compare_param, &cmp);
    assert_int_equal(cmp.n, 4);
    for (int i = 0; i < before.n; i++) {
        cg_tensor_free(before.data[i]);
        cg_tensor_free(before.grad[i]);
    }
    cg_tensor_free(x);
    cg_module_free(m);
}

static void save_buffer(const char *name, struct cg_tensor *b, void *user)
{
    (void)name;
    struct param_copy *c = user;
    c->data[c->n++] = cg_tensor_copy(NULL, b);
}

static void same_buffer(const char *name, struct cg_tensor *b, void *user)
{
    struct param_cmp *c = user;
    const struct cg_tensor *want = c->want->data[c->n++];
    if (b->dtype != want->dtype) fail_msg("buffer %s changed dtype", name);
    assert_memory_equal(b->data, want->data, (size_t)b->numel * cg_dtype_size(b->dtype));
}

/* A layer that moves its running mean on every training-mode forward and
 * uses the moved mean without differentiating through the move: in
 * training mode the check sees the same buffers at every call (the report
 * is a gradient mismatch, not "fn is not deterministic"), in eval mode it
 * passes; either way the buffers are left exactly as they were, in f64 and
 * through the f32 shadow. */
static void test_buffers_untouched(void **state)
{
    (void)state;
    static const enum cg_dtype dts[2] = {CG_F64, CG_F32};
    for (int d = 0; d < 2; d++) {
        struct cg_rng rng = cg_rng_seed(5);
        struct cg_module *m = cg_sequential(cg_linear_new(4, 6, true, &rng),
                                            cg_test_buffer_layer_new(6),
                                            cg_linear_new(6, 3, true, &rng));
        assert_non_null(m);
        assert_int_equal(cg_module_to_dtype(m, dts[d]), CG_OK);
        struct cg_tensor *x = input(dts[d]);
        struct cg_tape *tape = cg_tape_new(); /* one real step moves the mean off 0 */
        assert_non_null(cg_module_forward(m, tape, x));
        cg_tape_free(tape);
        struct param_copy before = {0};
        cg_module_visit_buffers(m, save_buffer, &before);
        assert_int_equal(before.n, 2);
        struct cg_gradcheck_report r;
        enum cg_status st = cg_gradcheck_module(m, x, NULL, NULL, &r);
        assert_int_equal(st, CG_ERR_GRADCHECK);
        assert_null(strstr(r.message, "not deterministic"));
        assert_int_equal(r.shadow, dts[d] == CG_F32 ? 2 : 0); /* f64 failed: not compared */
        struct param_cmp cmp = {0, &before};
        cg_module_visit_buffers(m, same_buffer, &cmp);
        cg_module_set_training(m, false);
        st = cg_gradcheck_module(m, x, NULL, NULL, &r);
        if (st != CG_OK) fail_msg("%s: %s", cg_dtype_name(dts[d]), r.message);
        assert_int_equal(r.shadow, dts[d] == CG_F32);
        cmp.n = 0;
        cg_module_visit_buffers(m, same_buffer, &cmp);
        for (int i = 0; i < before.n; i++) cg_tensor_free(before.data[i]);
        cg_tensor_free(x);
        cg_module_free(m);
    }
}

static void test_misuse(void **state)
{
    (void)state;
    struct cg_module *m = smooth_model(CG_F64);
    struct cg_tensor *x32 = input(CG_F32);
    struct cg_gradcheck_report r;
    enum cg_status st = CG_OK;
    CG_EXPECT_MISUSE(st = cg_gradcheck_module(NULL, x32, NULL, NULL, &r), "cg_gradcheck_module",
                     "model is NULL");
    assert_int_equal(st, CG_ERR_INVALID);
    assert_non_null(strstr(r.message, "model is NULL"));
    CG_EXPECT_MISUSE(st = cg_gradcheck_module(m, NULL, NULL, NULL, &r), "input is NULL");
    CG_EXPECT_MISUSE(st = cg_gradcheck_module(m, x32, NULL, NULL, &r), "cg_gradcheck_module",
                     "the input is f32 but parameter '0.weight' is f64", "cg_module_to_dtype");
    assert_int_equal(st, CG_ERR_INVALID);
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *on_tape = cg_tensor_zeros(tape, CG_F64, CG_SHAPE(2, 4));
    CG_EXPECT_MISUSE(st = cg_gradcheck_module(m, on_tape, NULL, NULL, &r), "lives on a tape");
    struct cg_gradcheck_options bad = {.probes = -1};
    struct cg_tensor *x = input(CG_F64);
    CG_EXPECT_MISUSE(st = cg_gradcheck_module(m, x, NULL, &bad, &r), "cg_gradcheck_module",
                     "probes -1");
    assert_int_equal(st, CG_ERR_INVALID);
    cg_tape_free(tape);
    cg_tensor_free(x);
    cg_tensor_free(x32);
    cg_module_free(m);
}

/* ---- the printed report ---- */

static void sign_forward(struct cg_record *rec)
{
    for (int64_t i = 0; i < rec->out->numel; i++)
        cg_tensor_set_at(rec->out, i, fmax(cg_tensor_at(rec->in[0], i), 0.0) * 2);
}

/* 2 relu(x) whose backward flips the sign */
static void sign_backward(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0];
    for (int64_t i = 0; i < x->numel; i++) {
        double d = cg_tensor_at(x, i) > 0 ? -2 : 0;
        cg_tensor_set_at(x->grad, i,
                         cg_tensor_at(x->grad, i) + d * cg_tensor_at(rec->out->grad, i));
    }
}

static const struct cg_op sign_op = {.name = "flipped_relu", .forward = sign_forward,
                                     .backward = sign_backward};

static struct cg_tensor *sign_fn(struct cg_tape *t, struct cg_tensor *const *in, void *user)
{
    (void)user;
    return cg_op_apply(t, &sign_op, 1, in, in[0]->dtype, in[0]->ndim, in[0]->shape, NULL, 0);
}

static struct cg_tensor *relu_fn(struct cg_tape *t, struct cg_tensor *const *in, void *user)
{
    (void)user;
    return cg_relu(t, in[0]);
}

static char *print_to_string(const struct cg_gradcheck_report *r)
{
    static char buf[8192];
    FILE *f = tmpfile();
    assert_non_null(f);
    cg_gradcheck_report_print(r, f);
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_report_print(void **state)
{
    (void)state;
    struct cg_tensor *x = cg_tensor_from_doubles(NULL, CG_F64, CG_SHAPE(2, 4),
                                                 (const double[]){0, 1, 2, 3, -1, 0.5, 0, -2});
    struct cg_gradcheck_report r;
    assert_int_equal(cg_gradcheck(sign_fn, NULL, 1, &x, NULL, &r), CG_ERR_GRADCHECK);
    const char *text = print_to_string(&r);
    assert_non_null(strstr(text, "gradcheck failed: 4 of 8 elements checked fail"));
    assert_non_null(strstr(text, "  dtype: f64\n"));
    assert_non_null(strstr(text, "  mode: full, 8 elements checked"));
    assert_non_null(strstr(text, "  failing elements: 4;"));
    assert_non_null(strstr(text, "  worst 4:\n    input 0["));
    assert_non_null(
        strstr(text, "  non-differentiable at input 0[0,0]: left slope 0, right slope"));
    assert_non_null(strstr(text, "  hint: sign flipped: analytic = -numeric for input 0"));

    /* A passing check says so, with its largest error and the kinks. */
    assert_int_equal(cg_gradcheck(relu_fn, NULL, 1, &x, NULL, &r), CG_OK);
    text = print_to_string(&r);
    assert_non_null(strstr(text, "gradcheck passed: 8 elements checked in f64"));
    assert_non_null(strstr(text, "2 kinks skipped"));
    assert_null(strstr(text, "hint:"));
    cg_gradcheck_report_print(NULL, stdout); /* ignored */
    cg_gradcheck_report_print(&r, NULL);
    cg_tensor_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smooth_model_f64),
        cmocka_unit_test(test_smooth_model_f32_shadow_restores_bits),
        cmocka_unit_test(test_buffers_untouched),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_report_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
