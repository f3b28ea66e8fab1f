/* Errors: every misuse path of the core reports a message naming the
 * function and the values; status names; cg_last_error/cg_clear_error;
 * handlers; the default handler prints and aborts (checked in a child). */
#define _POSIX_C_SOURCE 200809L
#include "cg_test.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error_internal.h" /* cg_fail / cg_misuse, for the recoverable-path tests */

struct fixture {
    struct cg_tape *tape;
    struct cg_tensor *a32, *b32, *a64, *w32, *bias32;
};

static int setup(void **state)
{
    struct fixture *f = test_calloc(1, sizeof *f);
    f->tape = cg_tape_new();
    f->a32 = cg_tensor_ones(NULL, CG_F32, CG_SHAPE(2, 3));
    f->b32 = cg_tensor_ones(NULL, CG_F32, CG_SHAPE(2, 3));
    f->a64 = cg_tensor_ones(NULL, CG_F64, CG_SHAPE(2, 3));
    f->w32 = cg_tensor_ones(NULL, CG_F32, CG_SHAPE(4, 3));
    f->bias32 = cg_tensor_ones(NULL, CG_F32, CG_SHAPE(4));
    cg_tensor_set_name(f->a64, "a64");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    cg_tensor_free(f->a32), cg_tensor_free(f->b32), cg_tensor_free(f->a64);
    cg_tensor_free(f->w32), cg_tensor_free(f->bias32);
    cg_tape_free(f->tape);
    test_free(f);
    cg_test_release_misuse();
    return 0;
}

static void test_null_inputs_to_ops(void **state)
{
    struct fixture *f = *state;
    struct cg_tape *t = f->tape;
    struct cg_tensor *a = f->a32;
    CG_EXPECT_MISUSE(assert_null(cg_exp(t, NULL)), "exp", "NULL", "earlier op failed");
    CG_EXPECT_MISUSE(assert_null(cg_relu(t, NULL)), "relu", "NULL");
    CG_EXPECT_MISUSE(assert_null(cg_hardshrink(t, NULL, 0.5)), "hardshrink", "NULL");
    CG_EXPECT_MISUSE(assert_null(cg_clamp(t, NULL, 0, 1)), "clamp", "NULL");
    CG_EXPECT_MISUSE(assert_null(cg_add(t, NULL, a)), "add", "NULL");
    CG_EXPECT_MISUSE(assert_null(cg_mul(t, a, NULL)), "mul", "NULL");
    CG_EXPECT_MISUSE(assert_null(cg_matmul(t, a, NULL)), "matmul", "NULL");
    CG_EXPECT_MISUSE(assert_null(cg_linear(t, NULL, f->w32, NULL)), "linear", "x is NULL");
    CG_EXPECT_MISUSE(assert_null(cg_linear(t, a, NULL, NULL)), "linear", "weight is NULL");
    CG_EXPECT_MISUSE(assert_null(cg_sum(t, NULL)), "sum", "NULL");
    CG_EXPECT_MISUSE(assert_null(cg_mean(t, NULL)), "mean", "NULL");
    /* tape NULL */
    CG_EXPECT_MISUSE(assert_null(cg_exp(NULL, a)), "exp", "tape is NULL", "cg_tape_new");
    CG_EXPECT_MISUSE(assert_null(cg_sum(NULL, a)), "sum", "tape is NULL");
    /* Nothing was recorded or allocated on the tape by the failed calls. */
    assert_int_equal(cg_tape_record_count(t), 0);
    assert_int_equal(cg_tape_bytes_used(t), 0);
}

static void test_dtype_mismatch(void **state)
{
    struct fixture *f = *state;
    struct cg_tape *t = f->tape;
    CG_EXPECT_MISUSE(assert_null(cg_add(t, f->a32, f->a64)), "add", "input 1", "'a64'", "f64",
                     "f32", "cg_tensor_to");
    CG_EXPECT_MISUSE(assert_null(cg_sub(t, f->a64, f->a32)), "sub", "input 1", "f32", "f64");
    CG_EXPECT_MISUSE(assert_null(cg_mul(t, f->a32, f->a64)), "mul", "f64", "f32");
    CG_EXPECT_MISUSE(assert_null(cg_div(t, f->a32, f->a64)), "div", "f64", "f32");
    struct cg_tensor *w64 = cg_tensor_ones(NULL, CG_F64, CG_SHAPE(4, 3));
    CG_EXPECT_MISUSE(assert_null(cg_linear(t, f->a32, w64, NULL)), "linear", "f64", "f32");
    CG_EXPECT_MISUSE(assert_null(cg_linear(t, f->a32, f->w32, cg_tensor_to(t, f->bias32, CG_F64))),
                     "linear", "input 2", "f64", "f32");
    struct cg_tensor *m64 = cg_tensor_ones(NULL, CG_F64, CG_SHAPE(3, 2));
    CG_EXPECT_MISUSE(assert_null(cg_matmul(t, f->a32, m64)), "matmul", "f64", "f32");
    assert_int_equal(cg_tape_record_count(t), 0);
    cg_tensor_free(w64), cg_tensor_free(m64);
}

static void test_shrink_lambda_and_clamp(void **state)
{
    struct fixture *f = *state;
    struct cg_tape *t = f->tape;
    CG_EXPECT_MISUSE(assert_null(cg_hardshrink(t, f->a32, -0.5)), "hardshrink", "lambda = -0.5",
                     ">= 0");
    CG_EXPECT_MISUSE(assert_null(cg_softshrink(t, f->a64, -1e-3)), "softshrink",
                     "lambda = -0.001", ">= 0");
    CG_EXPECT_MISUSE(assert_null(cg_hardshrink(t, f->a32, NAN)), "hardshrink", "lambda = nan");
    CG_EXPECT_MISUSE(assert_null(cg_softshrink(t, f->a32, NAN)), "softshrink", "lambda = nan");
    /* lambda = 0 is valid (identity except at 0). */
    cg_test_capture_misuse();
    cg_test_misuse_reset();
    assert_non_null(cg_hardshrink(t, f->a32, 0.0));
    assert_non_null(cg_softshrink(t, f->a32, 0.0));
    assert_int_equal(cg_test_misuse_count(), 0);
    cg_test_release_misuse();

    CG_EXPECT_MISUSE(assert_null(cg_clamp(t, f->a32, 2.0, 1.0)), "clamp", "lo = 2", "hi = 1",
                     "lo <= hi", "INFINITY");
    CG_EXPECT_MISUSE(assert_null(cg_clamp(t, f->a32, NAN, 1.0)), "clamp", "lo = nan");
    struct cg_tensor *c = cg_clamp(t, f->a32, -INFINITY, 0.5); /* one-sided is fine */
    assert_true(cg_tensor_at(c, 0) == 0.5);
    c = cg_clamp(t, f->a32, 0.25, 0.25); /* lo == hi is fine */
    assert_true(cg_tensor_at(c, 5) == 0.25);
}

static void test_creation_shape_errors(void **state)
{
    (void)state;
    const int64_t shape9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CG_EXPECT_MISUSE(assert_null(cg_tensor_zeros(NULL, CG_F32, 9, shape9)), "cg_tensor_zeros",
                     "ndim 9", "0..8");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_ones(NULL, CG_F64, -1, shape9)), "cg_tensor_ones",
                     "ndim -1");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_empty(NULL, CG_F32, 2, NULL)), "cg_tensor_empty",
                     "shape NULL");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_empty(NULL, CG_F32, CG_SHAPE(2, -3))),
                     "cg_tensor_empty", "bad size -3", "dim 1", ">= 0");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_full(NULL, CG_F64, CG_SHAPE(-1), 1.0)),
                     "cg_tensor_full", "bad size -1", "dim 0");
    /* Overflowing element counts are refused, not wrapped. */
    CG_EXPECT_MISUSE(assert_null(cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(1LL << 40, 1LL << 40))),
                     "cg_tensor_zeros", "bad size", "dim 1");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_zeros(NULL, (enum cg_dtype)7, CG_SHAPE(2))),
                     "cg_tensor_zeros", "unknown dtype 7", "CG_F32");
    struct cg_rng rng = cg_rng_seed(1);
    CG_EXPECT_MISUSE(assert_null(cg_tensor_randn(NULL, CG_F32, CG_SHAPE(2, -2), &rng)),
                     "cg_tensor_randn", "bad size -2");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_rand(NULL, CG_F32, CG_SHAPE(2), NULL)),
                     "cg_tensor_rand", "rng is NULL", "cg_rng_seed");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(2), 2.0, 1.0, &rng)),
                     "cg_tensor_uniform", "lo 2 > hi 1");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_from_data(NULL, CG_F32, CG_SHAPE(2, 3), NULL)),
                     "cg_tensor_from_data", "data is NULL", "6 elements");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_from_doubles(NULL, CG_F64, CG_SHAPE(4), NULL)),
                     "cg_tensor_from_doubles", "values is NULL", "4 elements");
    /* The failed calls leaked nothing: their memory was returned (ASan checks). */
}

static void test_arange_linspace_errors(void **state)
{
    (void)state;
    CG_EXPECT_MISUSE(assert_null(cg_tensor_arange(NULL, CG_F32, 0, 5, 0)), "cg_tensor_arange",
                     "start 0", "stop 5", "step 0", "non-zero");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_arange(NULL, CG_F64, 0, INFINITY, 1)),
                     "cg_tensor_arange", "stop inf", "finite");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_arange(NULL, CG_F64, 0, NAN, 1)), "cg_tensor_arange",
                     "stop nan");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_arange(NULL, CG_F64, 0, 1e300, 1e-300)),
                     "cg_tensor_arange", "too many");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_linspace(NULL, CG_F32, 0, 1, 0)), "cg_tensor_linspace",
                     "n = 0", "at least 1");
    CG_EXPECT_MISUSE(assert_null(cg_tensor_linspace(NULL, CG_F64, 0, 1, -3)),
                     "cg_tensor_linspace", "n = -3");
    /* An empty arange (stop on the wrong side) is not an error, as torch. */
    struct cg_tensor *e = cg_tensor_arange(NULL, CG_F32, 5, 0, 1);
    assert_int_equal(e->numel, 0);
    cg_tensor_free(e);
}

static void test_item_and_access_errors(void **state)
{
    struct fixture *f = *state;
    CG_EXPECT_MISUSE(cg_tensor_item(f->a32), "cg_tensor_item", "[2,3] f32", "6 elements",
                     "exactly 1");
    CG_EXPECT_MISUSE(cg_tensor_item(NULL), "cg_tensor_item", "(null)");
    struct cg_tensor *empty = cg_tensor_zeros(NULL, CG_F64, CG_SHAPE(0));
    CG_EXPECT_MISUSE(cg_tensor_item(empty), "cg_tensor_item", "[0] f64", "0 elements");
    CG_EXPECT_MISUSE(cg_tensor_get(f->a64, CG_INDEX(0, 3)), "cg_tensor_get", "index 3", "dim 1",
                     "'a64'", "[2,3] f64");
    CG_EXPECT_MISUSE(cg_tensor_at(NULL, 0), "cg_tensor_at", "0 elements");
    CG_EXPECT_MISUSE(cg_tensor_copy(NULL, NULL), "cg_tensor_copy", "NULL");
    CG_EXPECT_MISUSE(cg_tensor_to(NULL, f->a32, (enum cg_dtype)3), "cg_tensor_to",
                     "unknown dtype 3");
    CG_EXPECT_MISUSE(cg_tensor_detach(NULL, NULL), "cg_tensor_detach", "NULL");
    CG_EXPECT_MISUSE(cg_tensor_convert(NULL, CG_F64), "cg_tensor_convert", "persistent");
    cg_tensor_free(empty);
}

/* Returned value after misuse with a handler that returns. */
static void test_misuse_returns_and_changes_nothing(void **state)
{
    struct fixture *f = *state;
    cg_test_capture_misuse();
    cg_test_misuse_reset();
    assert_true(cg_tensor_item(f->a32) == 0.0);
    assert_true(cg_tensor_at(f->a32, 100) == 0.0);
    cg_tensor_set_at(f->a32, 6, 5.0);
    cg_tensor_set(f->a32, CG_INDEX(2, 0), 5.0);
    for (int64_t i = 0; i < 6; i++) assert_true(cg_tensor_at(f->a32, i) == 1.0);
    assert_int_equal(cg_backward(f->tape, NULL), CG_ERR_INVALID);
    assert_int_equal(cg_test_misuse_count(), 5);
    cg_test_release_misuse();
}

static void test_status_str(void **state)
{
    (void)state;
    static const char *const names[CG_STATUS_COUNT] = {
        [CG_OK] = "CG_OK",
        [CG_ERR_INVALID] = "CG_ERR_INVALID",
        [CG_ERR_NOMEM] = "CG_ERR_NOMEM",
        [CG_ERR_NOT_FOUND] = "CG_ERR_NOT_FOUND",
        [CG_ERR_IO] = "CG_ERR_IO",
        [CG_ERR_FORMAT] = "CG_ERR_FORMAT",
        [CG_ERR_CORRUPT] = "CG_ERR_CORRUPT",
        [CG_ERR_MISMATCH] = "CG_ERR_MISMATCH",
        [CG_ERR_GRADCHECK] = "CG_ERR_GRADCHECK",
        [CG_ERR_NONFINITE] = "CG_ERR_NONFINITE",
    };
    for (int s = 0; s < CG_STATUS_COUNT; s++) {
        assert_non_null(names[s]); /* a new status must be added here too */
        assert_string_equal(cg_status_str((enum cg_status)s), names[s]);
    }
    assert_string_equal(cg_status_str(CG_STATUS_COUNT), "CG_ERR_UNKNOWN");
    assert_string_equal(cg_status_str((enum cg_status)-1), "CG_ERR_UNKNOWN");
    assert_string_equal(cg_status_str((enum cg_status)1000), "CG_ERR_UNKNOWN");
}

static void test_last_error_and_clear(void **state)
{
    struct fixture *f = *state;
    cg_clear_error();
    assert_string_equal(cg_last_error(), "");
    /* A misuse message starts with the function name. */
    CG_EXPECT_MISUSE(cg_tensor_item(f->a32), "cg_tensor_item");
    assert_string_equal(cg_last_error(), cg_test_misuse_message());
    assert_int_equal(strncmp(cg_last_error(), "cg_tensor_item: ", 16), 0);
    cg_clear_error();
    assert_string_equal(cg_last_error(), "");
    /* A recoverable failure keeps its message and returns the status. */
    assert_int_equal(cg_fail(CG_ERR_NOT_FOUND, "%s: not found", "data/x.idx"), CG_ERR_NOT_FOUND);
    assert_string_equal(cg_last_error(), "data/x.idx: not found");
    /* The next error replaces it. */
    CG_EXPECT_MISUSE(cg_tensor_linspace(NULL, CG_F32, 0, 1, 0), "cg_tensor_linspace");
    assert_int_equal(strncmp(cg_last_error(), "cg_tensor_linspace: n = 0", 25), 0);
    /* A long message is truncated, not overflowed. */
    char big[3000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cg_fail(CG_ERR_IO, "%s", big);
    assert_true(strlen(cg_last_error()) > 500 && strlen(cg_last_error()) < sizeof big - 1);
    cg_clear_error();
}

static void counting_handler(const char *message, void *user)
{
    char *out = user;
    snprintf(out, 256, "%s", message);
}

static void test_handler_install_and_restore(void **state)
{
    struct fixture *f = *state;
    char seen[256] = "";
    cg_misuse_handler old = counting_handler;
    void *old_user = seen;
    cg_set_misuse_handler(counting_handler, seen, &old, &old_user);
    assert_null(old); /* the default is reported as NULL */
    assert_null(old_user);
    cg_tensor_item(f->a64);
    assert_non_null(strstr(seen, "cg_tensor_item: tensor [2,3] f64 has 6 elements"));
    cg_set_misuse_handler(NULL, NULL, &old, &old_user);
    assert_ptr_equal(old, counting_handler);
    assert_ptr_equal(old_user, seen);
}

static int log_level = -1;
static char log_text[512];
static void log_handler(int level, const char *message, void *user)
{
    (void)user;
    log_level = level;
    snprintf(log_text, sizeof log_text, "%s", message);
}

/* The library prints nothing by itself; warnings go to the log hook. */
static void test_log_handler(void **state)
{
    struct fixture *f = *state;
    struct cg_tensor *neg = cg_tensor_full(NULL, CG_F32, CG_SHAPE(2), -1.0);
    cg_set_log_handler(log_handler, NULL);
    cg_tape_set_anomaly(f->tape, true);
    assert_non_null(cg_log(f->tape, neg));
    assert_int_equal(log_level, 2);
    assert_non_null(strstr(log_text, "'log'"));
    cg_set_log_handler(NULL, NULL);
    cg_tape_reset(f->tape);
    log_level = -1;
    assert_non_null(cg_log(f->tape, neg));
    assert_int_equal(log_level, -1); /* silent again */
    cg_tape_set_anomaly(f->tape, false);
    cg_tape_reset(f->tape);
    cg_tensor_free(neg);
}

/* Runs cg_tensor_item(a32) (a misuse) under the default handler in a forked
 * child, after writing `before` (if not NULL) to stdout without a newline;
 * the child's stderr (and stdout, when `before` is set) goes to buf.  Returns
 * the child's wait status. */
static int misuse_in_child(const struct fixture *f, const char *before, char *buf, size_t cap)
{
    cg_test_release_misuse();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        if (before) dup2(fds[1], STDOUT_FILENO);
        signal(SIGABRT, SIG_DFL);
        if (before) fputs(before, stdout);
        cg_tensor_item(f->a32);
        _exit(0); /* only reached if the default handler returned */
    }
    close(fds[1]);
    size_t n = 0;
    for (ssize_t r; n < cap - 1 && (r = read(fds[0], buf + n, cap - 1 - n)) > 0;) n += (size_t)r;
    buf[n] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* The default misuse handler prints "cgrad: <message>" to stderr and aborts:
 * run a misuse in a forked child and inspect how it died. */
static void test_default_handler_aborts(void **state)
{
    char buf[1024];
    int status = misuse_in_child(*state, NULL, buf, sizeof buf);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    if (!strstr(buf, "cgrad: cg_tensor_item: tensor [2,3] f32 has 6 elements; item needs "
                     "exactly 1\n"))
        fail_msg("child's stderr: '%s'", buf);
}

/* Output the program wrote to stdout before the misuse is not lost by the
 * abort: the default handler flushes first.  (No newline, so neither a line-
 * nor a fully-buffered stdout has written it yet.) */
static void test_default_handler_flushes_stdout(void **state)
{
    char buf[1024];
    int status = misuse_in_child(*state, "epoch 3 loss 0.25", buf, sizeof buf);
    assert_true(WIFSIGNALED(status));
    const char *out = strstr(buf, "epoch 3 loss 0.25"), *err = strstr(buf, "cgrad: cg_tensor_item");
    if (!out || !err || out > err) fail_msg("child's output: '%s'", buf);
}

/* Users of the installed library have no source tree: no message of the
 * library may send them to one of its files ("hint: scripts/...").  The
 * library file is searched for such a path after a space or "(", as a
 * message writes it (absolute paths in debug info start with '/'). */
static void test_messages_name_no_source_tree_files(void **state)
{
    (void)state;
    FILE *f = fopen(CG_LIBRARY_FILE, "rb");
    if (!f) fail_msg("cannot open %s", CG_LIBRARY_FILE);
    static const char *const dirs[] = {"scripts/", "tests/", "examples/", "fuzz/", "bench/",
                                       "docs/"};
    static char buf[1 << 16];
    char carry[16] = "";
    size_t n, total = 0;
    while ((n = fread(buf + 15, 1, sizeof buf - 16, f)) > 0) {
        memcpy(buf, carry, 15); /* the tail of the previous block */
        size_t len = n + 15;
        for (size_t i = 0; i + 1 < len; i++) {
            if (buf[i] != ' ' && buf[i] != '(') continue;
            for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
                size_t dl = strlen(dirs[d]);
                if (i + 1 + dl <= len && !memcmp(buf + i + 1, dirs[d], dl)) {
                    fclose(f);
                    fail_msg("%s has a message naming '%s' near offset %zu", CG_LIBRARY_FILE,
                             dirs[d], total + i);
                }
            }
        }
        memcpy(carry, buf + len - 15, 15);
        total += n;
    }
    fclose(f);
    assert_true(total > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_null_inputs_to_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtype_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shrink_lambda_and_clamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_creation_shape_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arange_linspace_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_item_and_access_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misuse_returns_and_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_str, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_error_and_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handler_install_and_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_handler_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_handler_flushes_stdout, setup, teardown),
        cmocka_unit_test(test_messages_name_no_source_tree_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
