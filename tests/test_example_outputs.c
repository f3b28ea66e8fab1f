/* The examples' new outputs.  mnist_classifier --export gives a file that
 * loads into the same MLP built in C.  The sparse autoencoder's plots,
 * denoising and export:
 * training_curves.png and filters.png are written; dead units are counted
 * as hand-derived (Hardshrink(1000) silences all 16 units, Hardshrink(0)
 * none); --noise runs repeat exactly, differ from clean training, and a run
 * resumed from a checkpoint reaches the uninterrupted run's metrics;
 * --export loads into the same architecture built in C; --plot-sweep and
 * the new flags reject bad input with a message. */
#define _POSIX_C_SOURCE 200809L
#include "cg_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "idx_writer.h"

#define BIN CG_EXAMPLES_BIN_DIR "/sparse_autoencoder/sparse_autoencoder"

static char dir[64];

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/cg_exout_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char data[128];
    snprintf(data, sizeof data, "%s/data", dir);
    mkdir(data, 0777);
    return cg_test_write_mnist(data, 256, 64, 5);
}

static int teardown(void **s)
{
    (void)s;
    cg_test_remove_tree(dir);
    return 0;
}

static char out_text[1 << 16], err_text[1 << 16];

static void read_into(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

/* Runs the example on the test data with the common small-model flags and
 * `args`; returns the exit status, output in out_text / err_text. */
static int run(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' --data '%s/data' --hidden 16 --bottleneck 8 --batch 32 --quiet %s "
             ">'%s/out.txt' 2>'%s/err.txt'", BIN, dir, args, dir, dir);
    int ws = system(cmd);
    assert_true(WIFEXITED(ws));
    char p[128];
    snprintf(p, sizeof p, "%s/out.txt", dir);
    read_into(p, out_text, sizeof out_text);
    snprintf(p, sizeof p, "%s/err.txt", dir);
    read_into(p, err_text, sizeof err_text);
    return WEXITSTATUS(ws);
}

static char *file_text(const char *name)
{
    static char buf[1 << 14];
    char p[160];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    read_into(p, buf, sizeof buf);
    return buf;
}

static int exists(const char *name)
{
    char p[160];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void test_plots_and_dead_units(void **s)
{
    (void)s;
    if (access(BIN, X_OK) != 0) skip();
    char args[512];
    snprintf(args, sizeof args, "--epochs 2 --lambda 1000 --out '%s/dead'", dir);
    assert_int_equal(run(args), 0);
    if (!strstr(out_text, "16 of 16 units never active")) fail_msg("stdout:\n%s", out_text);
    assert_true(exists("dead/training_curves.png") && exists("dead/filters.png"));
    snprintf(args, sizeof args, "--epochs 1 --lambda 0 --out '%s/alive' --filters-per-unit", dir);
    assert_int_equal(run(args), 0);
    if (!strstr(out_text, "each unit stretched") || !strstr(out_text, "0 of 16 units never active"))
        fail_msg("stdout:\n%s", out_text);
}

static void test_noise_repeats_and_resumes(void **s)
{
    (void)s;
    if (access(BIN, X_OK) != 0) skip();
    char args[512], straight[1 << 14], clean[1 << 14];
    snprintf(args, sizeof args, "--epochs 2 --noise 0.3 --out '%s/n1'", dir);
    assert_int_equal(run(args), 0);
    snprintf(straight, sizeof straight, "%s", file_text("n1/metrics.csv"));
    snprintf(args, sizeof args, "--epochs 2 --out '%s/n0'", dir);
    assert_int_equal(run(args), 0);
    snprintf(clean, sizeof clean, "%s", file_text("n0/metrics.csv"));
    /* epoch,train_mse,test_mse,code_zero_frac: compare up to the seconds. */
    char *a = strstr(straight, "\n2,"), *b = strstr(clean, "\n2,");
    assert_non_null(a);
    assert_non_null(b);
    assert_false(strncmp(a, b, 30) == 0);
    /* One epoch, save, resume for the second: the same epoch-2 metrics. */
    snprintf(args, sizeof args, "--epochs 1 --noise 0.3 --out '%s/n2' --save '%s/n2.ckpt'", dir, dir);
    assert_int_equal(run(args), 0);
    snprintf(args, sizeof args, "--epochs 2 --noise 0.3 --out '%s/n2' --resume '%s/n2.ckpt'", dir, dir);
    assert_int_equal(run(args), 0);
    char *c = strstr(file_text("n2/metrics.csv"), "\n2,");
    assert_non_null(c);
    const char *end = strrchr(a, ',');
    assert_memory_equal(a, c, (size_t)(end - a));
}

static void test_export_loads_in_c(void **s)
{
    (void)s;
    if (access(BIN, X_OK) != 0) skip();
    char args[512], path[160];
    snprintf(path, sizeof path, "%s/sae.safetensors", dir);
    snprintf(args, sizeof args, "--epochs 1 --out '%s/ex' --export '%s'", dir, path);
    assert_int_equal(run(args), 0);
    struct cg_rng rng = cg_rng_seed(99);
    struct cg_module *m = cg_sequential(cg_linear_new(784, 16, true, &rng), cg_hardshrink_new(0.1),
                                        cg_linear_new(16, 8, true, &rng),
                                        cg_linear_new(8, 784, true, &rng));
    assert_int_equal(cg_safetensors_load(path, m), CG_OK);
    struct cg_tensor *w = NULL;
    assert_int_equal(cg_safetensors_read_tensor(path, "3.bias", &w), CG_OK);
    assert_int_equal(w->numel, 784);
    cg_tensor_free(w);
    cg_module_free(m);
}

#define CLS_BIN CG_EXAMPLES_BIN_DIR "/mnist_classifier/mnist_classifier"

static void test_classifier_export(void **s)
{
    (void)s;
    if (access(CLS_BIN, X_OK) != 0) skip();
    char cmd[1024], path[160];
    snprintf(path, sizeof path, "%s/cls.safetensors", dir);
    snprintf(cmd, sizeof cmd, "'%s' --data '%s/data' --epochs 1 --export '%s' >'%s/cls.txt' 2>&1",
             CLS_BIN, dir, path, dir);
    int ws = system(cmd);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    struct cg_rng rng = cg_rng_seed(1);
    struct cg_module *m = cg_sequential(cg_linear_new(784, 256, true, &rng), cg_relu_new(),
                                        cg_linear_new(256, 10, true, &rng));
    assert_int_equal(cg_safetensors_load(path, m), CG_OK);
    cg_module_free(m);
    snprintf(cmd, sizeof cmd, "'%s' --export x.bin >/dev/null 2>&1", CLS_BIN);
    ws = system(cmd);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 2);
}

static void test_bad_input(void **s)
{
    (void)s;
    if (access(BIN, X_OK) != 0) skip();
    assert_int_equal(run("--noise -1"), 2);
    assert_non_null(strstr(err_text, "--noise -1: expected a finite number >= 0"));
    assert_int_equal(run("--export model.bin"), 2);
    assert_non_null(strstr(err_text, "ending in .safetensors"));
    char args[512], csv[160];
    snprintf(csv, sizeof csv, "%s/bad.csv", dir);
    FILE *f = fopen(csv, "w");
    fputs("lambda,test_mse,code_zero_frac\n0.1,0.05,0.3\n0.2;0.06\n", f);
    fclose(f);
    snprintf(args, sizeof args, "--plot-sweep '%s' --out '%s'", csv, dir);
    assert_int_equal(run(args), 1);
    if (!strstr(err_text, "bad.csv line 3: expected 3 numbers")) fail_msg("stderr:\n%s", err_text);
    f = fopen(csv, "w");
    fputs("lambda,test_mse,code_zero_frac\n0.1,0.05,0.3\n0.2,0.06,0.5\n", f);
    fclose(f);
    assert_int_equal(run(args), 0);
    assert_true(exists("lambda_sweep.png"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plots_and_dead_units),
        cmocka_unit_test(test_noise_repeats_and_resumes),
        cmocka_unit_test(test_export_loads_in_c),
        cmocka_unit_test(test_classifier_export),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
