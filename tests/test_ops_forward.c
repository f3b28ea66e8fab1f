/* Every built-in op against PyTorch: forward values and input gradients for
 * a fixed upstream gradient, in f64 and f32, from tests/data/op_refs.txt
 * (written by tests/gen_op_refs.py).  Plus the hand-written cases torch can
 * not supply (cgrad's NaN propagation in softshrink, misuse of lambda) and
 * checks that the reference reader rejects malformed files. */
#include "cg_test.h"
#include "op_list.h"
#include "nn/loss_op_list.h"
#include "op_refs.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* f64 matches torch to rounding; f32 inputs are torch's values rounded to
 * float, so allow float-sized error on values of order 1. */
#define F64_TOL 1e-12
#define F32_TOL 1e-5

static struct cg_opref_file refs;

static int load_refs(void **state)
{
    (void)state;
    if (cg_opref_setup(CG_TEST_DATA_DIR "/op_refs.txt", &refs) != 0) return -1;
    /* The convolution family has its own file (tests/gen_conv_refs.py). */
    char err[512];
    if (cg_opref_append(CG_TEST_DATA_DIR "/conv_refs.txt", &refs, err, sizeof err) != 0) {
        fprintf(stderr, "reference file unusable: %s\n", err);
        return -1;
    }
    return 0;
}

static int free_refs(void **state)
{
    (void)state;
    cg_opref_free(&refs);
    return 0;
}

static void run_op(const char *op, enum cg_dtype dtype)
{
    int n = cg_opref_count_op(&refs, op);
    if (n == 0) fail_msg("op '%s' has no case in op_refs.txt (add one to gen_op_refs.py)", op);
    struct cg_tape *tape = cg_tape_new();
    assert_non_null(tape);
    cg_test_capture_misuse(); /* a misuse fails the case instead of aborting */
    for (int i = 0; i < refs.n_cases; i++)
        if (strcmp(refs.cases[i].op, op) == 0)
            cg_opref_check_case(tape, &refs.cases[i], dtype, dtype == CG_F64 ? F64_TOL : F32_TOL);
    cg_test_release_misuse();
    cg_tape_free(tape);
}

/* forward_<op>_f64 / forward_<op>_f32 for every op in the built-in list. */
#define CG_FORWARD_TESTS(name)                                                  \
    static void forward_##name##_f64(void **state)                             \
    {                                                                          \
        (void)state;                                                           \
        run_op(#name, CG_F64);                                                 \
    }                                                                          \
    static void forward_##name##_f32(void **state)                             \
    {                                                                          \
        (void)state;                                                           \
        run_op(#name, CG_F32);                                                 \
    }
CG_BUILTIN_OPS(CG_FORWARD_TESTS)
CG_LOSS_OPS(CG_FORWARD_TESTS)
#undef CG_FORWARD_TESTS

/* The loss ops of nn/ (not in core's table), by name. */
static const char *const loss_ops[] = {
#define CG_LOSS_NAME(name) #name,
    CG_LOSS_OPS(CG_LOSS_NAME)
#undef CG_LOSS_NAME
};
#define N_LOSS_OPS (int)(sizeof loss_ops / sizeof loss_ops[0])

static bool is_op_name(const char *name)
{
    for (int i = 0; i < cg_builtin_op_count(); i++)
        if (!strcmp(cg_builtin_op(i)->name, name)) return true;
    for (int i = 0; i < N_LOSS_OPS; i++)
        if (!strcmp(loss_ops[i], name)) return true;
    return false;
}

static void require_reference(const char *name)
{
    if (!cg_opref_known(name))
        fail_msg("op '%s' is unknown to cg_opref_run (tests/support/op_refs.c)", name);
    if (cg_opref_count_op(&refs, name) == 0)
        fail_msg("op '%s' has no reference case in op_refs.txt", name);
}

/* Through the public op table and the loss list, so an op added there
 * without a reference case (or without a dispatch entry here) fails. */
static void test_every_builtin_op_has_a_reference_case(void **state)
{
    (void)state;
    int n = cg_builtin_op_count();
    assert_true(n >= 29);
    for (int i = 0; i < n; i++) {
        const struct cg_op *op = cg_builtin_op(i);
        assert_non_null(op);
        require_reference(op->name);
    }
    assert_null(cg_builtin_op(n));
    assert_null(cg_builtin_op(-1));
    for (int i = 0; i < N_LOSS_OPS; i++) require_reference(loss_ops[i]);
    /* and no case names an op that does not exist */
    for (int c = 0; c < refs.n_cases; c++)
        if (!is_op_name(refs.cases[c].op) && strcmp(refs.cases[c].op, "conv1d") != 0)
            fail_msg("case %s names unknown op '%s'", refs.cases[c].name, refs.cases[c].op);
}

/* cgrad propagates NaN through the shrink ops (PyTorch's softshrink returns
 * 0); the gradient mask passes the upstream gradient at NaN, as torch's. */
static void check_nan_propagation(enum cg_dtype dtype)
{
    struct cg_tape *tape = cg_tape_new();
    double xs[4] = {NAN, 1.0, -NAN, 0.25};
    struct cg_tensor *x = cg_tensor_from_doubles(NULL, dtype, CG_SHAPE(4), xs);
    struct cg_tensor *seed = cg_tensor_from_doubles(NULL, dtype, CG_SHAPE(4),
                                                    (const double[]){0.5, -2.0, 3.0, 4.0});
    assert_int_equal(cg_tensor_requires_grad(x, true), CG_OK);

    struct cg_tensor *y = cg_softshrink(tape, x, 0.5);
    assert_non_null(y);
    assert_true(isnan(cg_tensor_at(y, 0)));
    assert_true(cg_tensor_at(y, 1) == 0.5);
    assert_true(isnan(cg_tensor_at(y, 2)));
    assert_true(cg_tensor_at(y, 3) == 0.0);
    assert_int_equal(cg_backward_seed(tape, y, seed), CG_OK);
    const double g_soft[4] = {0.5, -2.0, 3.0, 0.0};
    for (int i = 0; i < 4; i++) assert_true(cg_tensor_at(x->grad, i) == g_soft[i]);

    /* hardshrink and relu keep NaN too, and pass the upstream gradient at
     * NaN: torch 1.13 gives x.grad = [0.5, -2, 3, 0] for hardshrink(x, 0.5)
     * and [0.5, -2, 3, 4] for relu(x) with this seed, in f32 and f64. */
    cg_tensor_zero_grad(x);
    struct cg_tensor *h = cg_hardshrink(tape, x, 0.5);
    assert_true(isnan(cg_tensor_at(h, 0)) && isnan(cg_tensor_at(h, 2)));
    assert_true(cg_tensor_at(h, 1) == 1.0 && cg_tensor_at(h, 3) == 0.0);
    assert_int_equal(cg_backward_seed(tape, h, seed), CG_OK);
    for (int i = 0; i < 4; i++) assert_true(cg_tensor_at(x->grad, i) == g_soft[i]);
    cg_tensor_zero_grad(x);
    struct cg_tensor *r = cg_relu(tape, x);
    assert_true(isnan(cg_tensor_at(r, 0)) && isnan(cg_tensor_at(r, 2)));
    assert_true(cg_tensor_at(r, 1) == 1.0 && cg_tensor_at(r, 3) == 0.25);
    assert_int_equal(cg_backward_seed(tape, r, seed), CG_OK);
    const double g_relu[4] = {0.5, -2.0, 3.0, 4.0};
    for (int i = 0; i < 4; i++) assert_true(cg_tensor_at(x->grad, i) == g_relu[i]);

    cg_tensor_free(x);
    cg_tensor_free(seed);
    cg_tape_free(tape);
}

static void test_softshrink_nan_propagates_f64(void **state)
{
    (void)state;
    check_nan_propagation(CG_F64);
}

static void test_softshrink_nan_propagates_f32(void **state)
{
    (void)state;
    check_nan_propagation(CG_F32);
}

/* lambda < 0 or NaN is misuse (PyTorch accepts it); so is clamp lo > hi.
 * The failed call returns NULL and records nothing. */
static void test_bad_parameters_are_misuse(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_from_doubles(NULL, CG_F64, CG_SHAPE(3),
                                                 (const double[]){-1.0, 0.0, 1.0});
    assert_int_equal(cg_tensor_requires_grad(x, true), CG_OK);
    struct cg_tensor *y = x;

    CG_EXPECT_MISUSE(y = cg_softshrink(tape, x, -0.1), "softshrink", "lambda", "-0.1", ">= 0");
    assert_null(y);
    y = x;
    CG_EXPECT_MISUSE(y = cg_hardshrink(tape, x, -2.0), "hardshrink", "lambda", "-2");
    assert_null(y);
    y = x;
    CG_EXPECT_MISUSE(y = cg_softshrink(tape, x, NAN), "softshrink", "lambda");
    assert_null(y);
    y = x;
    CG_EXPECT_MISUSE(y = cg_hardshrink(tape, x, NAN), "hardshrink", "lambda");
    assert_null(y);
    y = x;
    CG_EXPECT_MISUSE(y = cg_clamp(tape, x, 1.0, -1.0), "clamp", "lo = 1", "hi = -1");
    assert_null(y);
    assert_int_equal(cg_tape_record_count(tape), 0);

    /* lambda == 0 is fine: both shrinks become the identity off 0 */
    struct cg_tensor *s = cg_softshrink(tape, x, 0.0);
    assert_non_null(s);
    CG_ASSERT_TENSOR(s, ((const double[]){-1.0, 0.0, 1.0}), 0, 0);
    assert_int_equal(cg_tape_record_count(tape), 1);

    cg_tensor_free(x);
    cg_tape_free(tape);
}

/* An input used twice gets both contributions (gradients accumulate). */
static void test_same_input_twice_accumulates(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *a = cg_tensor_from_doubles(NULL, CG_F64, CG_SHAPE(3),
                                                 (const double[]){-1.5, 0.5, 2.0});
    assert_int_equal(cg_tensor_requires_grad(a, true), CG_OK);
    struct cg_tensor *y = cg_add(tape, cg_mul(tape, a, a), a); /* a^2 + a */
    assert_int_equal(cg_backward(tape, cg_sum(tape, y)), CG_OK);
    CG_ASSERT_TENSOR(y, ((const double[]){0.75, 0.75, 6.0}), 0, 0);
    CG_ASSERT_TENSOR(a->grad, ((const double[]){-2.0, 2.0, 5.0}), 0, 0); /* 2a + 1 */
    cg_tensor_free(a);
    cg_tape_free(tape);
}

/* ---- the reader itself ---- */

static const char *const good_case =
    "case c1 clamp\nscalars 2 -inf 0.1\ninputs 1\nin 2 2 3 1 2 3 4 5 6\n"
    "gout 1 6 1 1 1 1 1 1\nout 1 6 0 0 0 0 0 0\ngrad 2 2 3 0 0 0 0 0 0\nend\n";

/* Writes `text` to a scratch file and loads it; returns the load result
 * and leaves the message in err. */
static int load_text(const char *text, struct cg_opref_file *f, char *err, size_t size)
{
    const char *path = "op_refs_scratch.txt";
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    int rc = cg_opref_load(path, f, err, size);
    remove(path);
    return rc;
}

static void expect_rejected(const char *text, const char *substr)
{
    struct cg_opref_file f;
    char err[512] = "";
    if (load_text(text, &f, err, sizeof err) == 0) {
        cg_opref_free(&f);
        fail_msg("malformed file accepted (expected '%s'):\n%s", substr, text);
    }
    assert_int_equal(f.n_cases, 0);
    if (!strstr(err, substr)) fail_msg("message '%s' lacks '%s'", err, substr);
    if (!strstr(err, "op_refs_scratch.txt:")) fail_msg("message '%s' lacks the file name", err);
}

static void test_reader_accepts_and_parses_exactly(void **state)
{
    (void)state;
    char text[1024], err[512] = "";
    snprintf(text, sizeof text, "CGRAD-OPREF 1\n# comment\n\n%s", good_case);
    struct cg_opref_file f;
    assert_int_equal(load_text(text, &f, err, sizeof err), 0);
    assert_int_equal(f.n_cases, 1);
    const struct cg_opref_case *c = &f.cases[0];
    assert_string_equal(c->name, "c1");
    assert_string_equal(c->op, "clamp");
    assert_int_equal(c->n_scalars, 2);
    assert_true(isinf(c->scalars[0]) && c->scalars[0] < 0);
    assert_true(c->scalars[1] == 0.1); /* strtod round-trips %.17g exactly */
    assert_int_equal(c->n_inputs, 1);
    assert_int_equal(c->in[0].ndim, 2);
    assert_int_equal(c->in[0].numel, 6);
    assert_true(c->in[0].values[5] == 6.0);
    assert_int_equal(c->out.shape[0], 6);
    cg_opref_free(&f);
    assert_null(f.cases);
}

static void test_reader_rejects_malformed(void **state)
{
    (void)state;
    char text[1024];
    expect_rejected("CGRAD-SGDREF 1\n", "not an op reference file");
    expect_rejected("", "not an op reference file");
    expect_rejected("CGRAD-OPREF 2\n", "version 2");
    expect_rejected("CGRAD-OPREF 1\n", "no cases");
    snprintf(text, sizeof text, "CGRAD-OPREF 1\n%s%s", good_case, good_case);
    expect_rejected(text, "duplicate case name 'c1'");
    expect_rejected("CGRAD-OPREF 1\ncase c1 relu\nscalars 0\ninputs 1\nin 2 2 3 1 2 3 4 5\n",
                    "shape has 6 elements but the line has 5 values");
    expect_rejected("CGRAD-OPREF 1\ncase c1 relu\nscalars 0\ninputs 1\nin 1 2 1 2x\n",
                    "'2x' is not a number");
    expect_rejected("CGRAD-OPREF 1\ncase c1 relu\nscalars 1\n", "'scalars 1' followed by 0");
    expect_rejected("CGRAD-OPREF 1\ncase c1 relu\nscalars 0\ninputs 9\n", "'9' is not an integer");
    expect_rejected("CGRAD-OPREF 1\ncase c1 relu\nscalars 0\ninputs 1\nin 9 1 1 1 1 1 1 1 1 1 1\n",
                    "'9' is not an integer");
    expect_rejected("CGRAD-OPREF 1\ncase c1 relu\nscalars 0\ninputs 1\nin 1 2 1 2\n"
                    "gout 1 2 1 1\nout 1 2 1 2\n", "unexpected end of file, expected 'grad'");
    expect_rejected("CGRAD-OPREF 1\ncase c1 relu\nscalars 0\ninputs 1\nin 1 2 1 2\n"
                    "gout 1 2 1 1\nout 1 3 1 2 3\n", "'out' and 'gout' shapes differ");
    expect_rejected("CGRAD-OPREF 1\ncase c1 relu\ninputs 1\n", "expected 'scalars', found 'inputs'");
    expect_rejected("CGRAD-OPREF 1\ncase c1\n", "expected 'case <name> <op>'");
    expect_rejected("CGRAD-OPREF 1\nin 1 1 1\n", "expected 'case', found 'in'");
}

static void test_reader_missing_file(void **state)
{
    (void)state;
    struct cg_opref_file f;
    char err[512] = "";
    assert_int_equal(cg_opref_load("no/such/op_refs.txt", &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "no/such/op_refs.txt: cannot open"));
}

#define CG_FORWARD_ENTRIES(name) \
    cmocka_unit_test(forward_##name##_f64), cmocka_unit_test(forward_##name##_f32),

int main(void)
{
    const struct CMUnitTest tests[] = {
        CG_BUILTIN_OPS(CG_FORWARD_ENTRIES)
        CG_LOSS_OPS(CG_FORWARD_ENTRIES)
        cmocka_unit_test(test_every_builtin_op_has_a_reference_case),
        cmocka_unit_test(test_softshrink_nan_propagates_f64),
        cmocka_unit_test(test_softshrink_nan_propagates_f32),
        cmocka_unit_test(test_bad_parameters_are_misuse),
        cmocka_unit_test(test_same_input_twice_accumulates),
        cmocka_unit_test(test_reader_accepts_and_parses_exactly),
        cmocka_unit_test(test_reader_rejects_malformed),
        cmocka_unit_test(test_reader_missing_file),
    };
    return cmocka_run_group_tests(tests, load_refs, free_refs);
}
