/* The CNN example (examples/mnist_cnn): trains on a small IDX file the test
 * writes, its loss falls, it resumes bit for bit (SGD and Adam, dropout
 * stream included), evaluates deterministically in eval mode, writes its
 * outputs and reports bad flags and missing data. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif
#include "cg_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idx_writer.h"
#include "run_program.h"

#define CNN_BIN CG_EXAMPLES_BIN_DIR "/mnist_cnn/mnist_cnn"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cgrad_cnn_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    return cg_test_write_mnist(tmpdir, 192, 48, 11);
}

static int teardown(void **state)
{
    (void)state;
    cg_test_remove_tree(tmpdir);
    return 0;
}

static const char *tpath(const char *name)
{
    static char buf[4][256];
    static int next;
    next = (next + 1) % 4;
    snprintf(buf[next], sizeof buf[next], "%s/%s", tmpdir, name);
    return buf[next];
}

static void skip_without_binary(void)
{
    if (access(CNN_BIN, X_OK) != 0) {
        print_message("%s not built (CGRAD_BUILD_EXAMPLES=OFF?): skipped\n", CNN_BIN);
        skip();
    }
}

static struct cg_test_run run_cnn(const char *const *args)
{
    return cg_test_run_program(CNN_BIN, tmpdir, args);
}
#define RUN(...) run_cnn((const char *const[]){__VA_ARGS__, NULL})
#define TRAIN_FLAGS "--data", tmpdir, "--batch", "32", "--quiet"

/* Resume runs: 3 batches (the last one short) per epoch, 16 test images. */
#define SHORT_FLAGS TRAIN_FLAGS, "--limit", "80", "--test-limit", "16"

static void expect_ok(struct cg_test_run *r, const char *what)
{
    if (r->status != 0) fail_msg("%s: exit %d\nstdout:\n%s\nstderr:\n%s", what, r->status, r->out, r->err);
}

/* Loss per epoch from metrics.csv (epoch,train_loss,test_loss,test_accuracy,seconds). */
static int read_metrics(const char *path, double loss[], double acc[], int max)
{
    char *text = cg_test_slurp(path, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "epoch,train_loss,test_loss,test_accuracy,seconds\n"));
    int n = 0;
    for (char *line = strchr(text, '\n'); line && n < max; line = strchr(line + 1, '\n')) {
        int e;
        double tl, tsl, a, s;
        if (sscanf(line + 1, "%d,%lf,%lf,%lf,%lf", &e, &tl, &tsl, &a, &s) != 5) break;
        assert_int_equal(e, n + 1);
        loss[n] = tl, acc[n] = a, n++;
    }
    free(text);
    return n;
}

static void trains_and_writes_outputs(void **state)
{
    (void)state;
    skip_without_binary();
    struct cg_test_run r = RUN(TRAIN_FLAGS, "--epochs", "3", "--out", tpath("out"));
    expect_ok(&r, "training run");
    assert_non_null(strstr(r.out, "epoch 3/3  train_loss"));
    assert_non_null(strstr(r.out, "test_accuracy"));
    double loss[3], acc[3];
    assert_int_equal(read_metrics(tpath("out/metrics.csv"), loss, acc, 3), 3);
    /* from chance (ln 10 = 2.303) down, and each epoch lower */
    assert_true(loss[0] < 2.31);
    assert_true(loss[1] < loss[0] && loss[2] < loss[1]);
    assert_true(loss[2] < 0.9 * loss[0]);
    assert_true(acc[2] > 0.2); /* chance is 0.1 */
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        char *bytes = cg_test_slurp(tpath(i ? "out/confusion.png" : "out/filters.png"), &n);
        assert_non_null(bytes);
        assert_true(n > 8 && !memcmp(bytes, png, 8));
        free(bytes);
    }
    cg_test_run_free(&r);
}

/* Two epochs in one run give the same checkpoint bytes as one epoch, a
 * stop, and a resumed second epoch: the model, the optimizer state, the
 * shuffle position and the dropout stream all come back. */
static void check_resume(const char *threads, const char *optimizer)
{
    struct cg_test_run a = RUN(SHORT_FLAGS, "--threads", threads, "--optimizer", optimizer,
                               "--epochs", "2", "--out", tpath("ra"), "--save", tpath("a.ckpt"));
    expect_ok(&a, "uninterrupted run");
    struct cg_test_run b1 = RUN(SHORT_FLAGS, "--threads", threads, "--optimizer", optimizer,
                                "--epochs", "1", "--out", tpath("rb"), "--save", tpath("b.ckpt"));
    expect_ok(&b1, "first half");
    struct cg_test_run b2 = RUN(SHORT_FLAGS, "--threads", threads, "--optimizer", optimizer,
                                "--epochs", "2", "--out", tpath("rb"), "--resume", tpath("b.ckpt"),
                                "--save", tpath("b.ckpt"));
    expect_ok(&b2, "resumed half");
    assert_non_null(strstr(b2.out, "resumed from"));
    size_t na = 0, nb = 0;
    char *ca = cg_test_slurp(tpath("a.ckpt"), &na), *cb = cg_test_slurp(tpath("b.ckpt"), &nb);
    assert_non_null(ca), assert_non_null(cb);
    assert_true(na > 1000);
    assert_int_equal(na, nb);
    if (memcmp(ca, cb, na) != 0)
        fail_msg("%s, %s thread(s): resumed checkpoint differs", optimizer, threads);
    free(ca), free(cb);
    cg_test_run_free(&a), cg_test_run_free(&b1), cg_test_run_free(&b2);
}

static void resumes_bit_for_bit(void **state)
{
    (void)state;
    skip_without_binary();
    check_resume("1", "sgd");
    check_resume("2", "sgd");
}

static void resumes_bit_for_bit_with_adam(void **state)
{
    (void)state;
    skip_without_binary();
    check_resume("1", "adam");
}

/* "test_loss X  test_accuracy Y" from a line of out that contains key. */
static void test_figures(const char *out, const char *key, char *buf, size_t size)
{
    const char *line = strstr(out, key);
    if (!line) fail_msg("no \"%s\" in:\n%s", key, out);
    const char *from = strstr(line, "test_loss");
    assert_non_null(from);
    const char *acc = strstr(from, "test_accuracy ");
    assert_non_null(acc);
    size_t n = (size_t)(acc + strlen("test_accuracy ") + 6 - from); /* "0.1234" */
    assert_true(n < size);
    memcpy(buf, from, n);
    buf[n] = '\0';
}

/* The test pass runs in eval mode (dropout off): two --eval-only runs on a
 * checkpoint agree, and with the figures printed right after training,
 * although the dropout stream has moved on by then. */
static void evaluation_is_deterministic(void **state)
{
    (void)state;
    skip_without_binary();
    struct cg_test_run t = RUN(SHORT_FLAGS, "--epochs", "1", "--out", tpath("ev"), "--save",
                               tpath("ev.ckpt"));
    expect_ok(&t, "training run");
    char trained[128], first[128], second[128];
    test_figures(t.out, "epoch 1/1", trained, sizeof trained);
    for (int i = 0; i < 2; i++) {
        struct cg_test_run e = RUN(SHORT_FLAGS, "--resume", tpath("ev.ckpt"), "--eval-only",
                                   "--out", tpath("ev"));
        expect_ok(&e, "--eval-only run");
        test_figures(e.out, "eval after 1 epochs", i ? second : first, sizeof first);
        cg_test_run_free(&e);
    }
    assert_string_equal(first, second);
    assert_string_equal(first, trained);
    cg_test_run_free(&t);
}

static void bad_flags_and_missing_data(void **state)
{
    (void)state;
    skip_without_binary();
    struct cg_test_run r = RUN("--help");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: mnist_cnn"));
    cg_test_run_free(&r);
    r = RUN("--optimizer", "lbfgs");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--optimizer lbfgs: expected sgd, adam, adamw or rmsprop"));
    cg_test_run_free(&r);
    r = RUN("--lr", "0");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "expected a learning rate > 0"));
    cg_test_run_free(&r);
    r = RUN("--epochs", "-1");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "expected an integer"));
    cg_test_run_free(&r);
    r = RUN("--eval-only");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "needs --resume"));
    cg_test_run_free(&r);
    r = RUN("--data", tpath("nowhere"), "--quiet");
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "nowhere"));
    cg_test_run_free(&r);
    r = RUN(TRAIN_FLAGS, "--resume", tpath("missing.ckpt"));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "cannot resume from"));
    cg_test_run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trains_and_writes_outputs),
        cmocka_unit_test(resumes_bit_for_bit),
        cmocka_unit_test(resumes_bit_for_bit_with_adam),
        cmocka_unit_test(evaluation_is_deterministic),
        cmocka_unit_test(bad_flags_and_missing_data),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
