/* examples/shrink_functions: --help and bad flags, then a full run: both
 * plots written, the table's values hand-derived (x = -3: hard -3, soft -2,
 * tanh -3 - tanh(-3); derivatives 1, 1, tanh(3)^2), and the --export file
 * holding derivatives from cg_backward equal to the closed forms
 * d hardshrink = [|x| > 1], d softshrink = [|x| > 1], d tanhshrink = tanh(x)^2. */
#define _POSIX_C_SOURCE 200809L
#include "cg_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIN CG_EXAMPLES_BIN_DIR "/shrink_functions/shrink_functions"

static char dir[64];

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/cg_shrink_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    cg_test_remove_tree(dir);
    return 0;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs the example with `args` (shell words), stdout to dir/out.txt and
 * stderr to dir/err.txt; returns its exit status. */
static int run(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s/out.txt' 2>'%s/err.txt'", BIN, args, dir, dir);
    int ws = system(cmd);
    assert_true(WIFEXITED(ws));
    return WEXITSTATUS(ws);
}

static const char *file(const char *name)
{
    static char buf[2][128];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void test_flags(void **s)
{
    (void)s;
    if (access(BIN, X_OK) != 0) skip();
    assert_int_equal(run("--help"), 0);
    assert_non_null(strstr(read_text(file("out.txt")), "--export FILE"));
    static const struct {
        const char *args, *msg;
    } bad[] = {
        {"--bogus", "--bogus: unknown option"},
        {"--sigma 0", "--sigma 0: expected a finite number > 0"},
        {"--sigma", "--sigma: needs a value"},
        {"--seed -3", "--seed -3: expected an integer >= 0"},
        {"--export x.bin", "expected a file name ending in .safetensors"},
        {"stray", "stray: unexpected argument"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(run(bad[i].args), 2);
        const char *err = read_text(file("err.txt"));
        if (!strstr(err, bad[i].msg) || !strstr(err, "usage:"))
            fail_msg("'%s': expected '%s' and the usage in:\n%s", bad[i].args, bad[i].msg, err);
    }
}

static void test_run_and_export(void **s)
{
    (void)s;
    if (access(BIN, X_OK) != 0) skip();
    char args[512];
    snprintf(args, sizeof args, "--out '%s/plots' --export '%s/all.safetensors'", dir, dir);
    assert_int_equal(run(args), 0);
    const char *out = read_text(file("out.txt"));
    char want[160];
    snprintf(want, sizeof want, "%7.3f  %10.4f %10.4f %10.4f   %6.3f %6.3f %6.3f", -3.0, -3.0, -2.0,
             -3.0 - tanh(-3.0), 1.0, 1.0, tanh(3.0) * tanh(3.0));
    if (!strstr(out, want)) fail_msg("expected the row '%s' in:\n%s", want, out);
    assert_non_null(strstr(out, "best Hardshrink lambda"));
    assert_int_equal(access(file("plots/shrink_functions.png"), F_OK), 0);
    assert_int_equal(access(file("plots/denoise.png"), F_OK), 0);
    const char *path = file("all.safetensors");
    struct cg_tensor *x, *dh, *ds, *dt;
    assert_int_equal(cg_safetensors_read_tensor(path, "x", &x), CG_OK);
    assert_int_equal(cg_safetensors_read_tensor(path, "d_hardshrink", &dh), CG_OK);
    assert_int_equal(cg_safetensors_read_tensor(path, "d_softshrink", &ds), CG_OK);
    assert_int_equal(cg_safetensors_read_tensor(path, "d_tanhshrink", &dt), CG_OK);
    assert_int_equal(x->numel, 100);
    for (int64_t i = 0; i < 100; i++) {
        double v = cg_tensor_at(x, i);
        CG_ASSERT_CLOSE(cg_tensor_at(dh, i), fabs(v) > 1.0 ? 1.0 : 0.0, 0, 0);
        CG_ASSERT_CLOSE(cg_tensor_at(ds, i), fabs(v) > 1.0 ? 1.0 : 0.0, 0, 0);
        CG_ASSERT_CLOSE(cg_tensor_at(dt, i), tanh(v) * tanh(v), 1e-12, 1e-12);
    }
    cg_tensor_free(x);
    cg_tensor_free(dh);
    cg_tensor_free(ds);
    cg_tensor_free(dt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_run_and_export),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
