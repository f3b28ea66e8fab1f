/* The sparse autoencoder: the seed model learns on a small IDX file written by
 * the test (in-process, allocation-free steps), and the example program
 * (examples/sparse_autoencoder) resumes bit for bit, parses its flags, reports
 * errors and writes metrics.csv and PNG pictures.
 *
 * The example binary is run with fork/exec, its stdout and stderr going to
 * files (so stdout is not a terminal), on data the test writes with
 * tests/support/idx_writer.h into a temporary directory. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp, fork */
#endif
#include "cg_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "idx_writer.h"
#include "run_program.h"

#define SAE_BIN CG_EXAMPLES_BIN_DIR "/sparse_autoencoder/sparse_autoencoder"

enum {
    N_TRAIN = 512, /* 32 batches of 16 for the example, 16 of 32 in-process */
    N_TEST = 10,   /* < 16, so reconstructions.png shows all of them in 10 columns */
    SIDE = 28,
};

static char tmpdir[64];
static char datadir[128];

/* ---- files and processes ---- */

static const char *tpath(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
    return buf;
}
#define TPATH(buf, name) tpath((buf), sizeof(buf), (name))

/* The example, run through tests/support/run_program.h with its logs in
 * tmpdir. */
static struct cg_test_run run_sae(const char *const *args)
{
    return cg_test_run_program(SAE_BIN, tmpdir, args);
}
#define RUN(...) run_sae((const char *const[]){__VA_ARGS__, NULL})

static void expect_contains(const char *text, const char *what, const char *context)
{
    if (!strstr(text, what)) fail_msg("%s: expected \"%s\" in:\n%s", context, what, text);
}

static void skip_without_binary(void)
{
    if (access(SAE_BIN, X_OK) != 0) {
        print_message("%s not built (CGRAD_BUILD_EXAMPLES=OFF?): skipped\n", SAE_BIN);
        skip();
    }
}

/* Common flags of the small runs: a 784-32-8-784 model on the test data. */
#define SMALL "--data", datadir, "--batch", "16", "--hidden", "32", "--bottleneck", "8", "--seed", "5"

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cg_test_sae_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(datadir, sizeof datadir, "%s/data", tmpdir);
    if (mkdir(datadir, 0755) != 0) return -1;
    return cg_test_write_mnist(datadir, N_TRAIN, N_TEST, 42);
}

static int group_teardown(void **state)
{
    (void)state;
    cg_test_remove_tree(tmpdir);
    return 0;
}

/* ---- 1. the seed model learns, and steps after the first allocate nothing ---- */

/* 400 steps of batch 32 over 512 images (25 epochs).  The mean loss of the
 * first 20 steps is 0.094..0.098 and that of the last 20 0.036..0.038, a
 * factor of 2.5..2.7 over twelve model seeds (lr 0.05 with a mean-reduced
 * MSE learns slowly: 800 steps reach only 3.7).  Requiring a factor of 2
 * leaves a 25% margin for other BLAS kernels and seeds. */
enum { STEPS = 400, WINDOW = 20 };
#define LOSS_FACTOR 2.0

static void test_seed_model_learns_without_allocating(void **state)
{
    (void)state;
    struct cg_dataset train;
    assert_int_equal(cg_mnist_load(&train, datadir, CG_MNIST_TRAIN), CG_OK);
    assert_int_equal(train.count, N_TRAIN);
    assert_int_equal(train.rows * train.cols, SIDE * SIDE);

    struct cg_rng rng = cg_rng_seed(1);
    struct cg_module *model = cg_sequential(
        cg_linear_new(784, 256, true, &rng), cg_hardshrink_new(0.1),
        cg_linear_new(256, 64, true, &rng), cg_linear_new(64, 784, true, &rng));
    assert_non_null(model);
    struct cg_optimizer *opt = cg_sgd_new(model, (struct cg_sgd_options){.lr = 0.05, .momentum = 0.9});
    struct cg_tape *tape = cg_tape_new();
    struct cg_batches it;
    assert_non_null(opt);
    assert_non_null(tape);
    assert_int_equal(cg_batches_init(&it, &train,
                                     (struct cg_batches_options){.batch_size = 32, .rng = &rng}),
                     CG_OK);

    double losses[STEPS];
    size_t allocs = 0, reserved = 0;
    for (int step = 0; step < STEPS; step++) {
        struct cg_tensor *x = cg_batches_next(&it, tape);
        if (!x) x = cg_batches_next(&it, tape); /* end of an epoch: the next one starts */
        assert_non_null(x);
        assert_int_equal(x->shape[0], 32);
        struct cg_tensor *loss =
            cg_mse_loss(tape, cg_module_forward(model, tape, x), x, CG_REDUCTION_MEAN);
        assert_non_null(loss);
        losses[step] = cg_tensor_item(loss);
        assert_true(isfinite(losses[step]));
        cg_optimizer_zero_grad(opt);
        assert_int_equal(cg_backward(tape, loss), CG_OK);
        assert_int_equal(cg_optimizer_step(opt), CG_OK);
        cg_tape_reset(tape);
        if (step == 0) {
            allocs = cg_alloc_count();
            reserved = cg_tape_bytes_reserved(tape);
        } else if (cg_alloc_count() != allocs || cg_tape_bytes_reserved(tape) != reserved) {
            fail_msg("step %d allocated: %zu library allocations since step 1, arena %zu -> %zu "
                     "bytes", step + 1, cg_alloc_count() - allocs, reserved,
                     cg_tape_bytes_reserved(tape));
        }
    }

    double first = 0.0, last = 0.0;
    for (int i = 0; i < WINDOW; i++) {
        first += losses[i] / WINDOW;
        last += losses[STEPS - WINDOW + i] / WINDOW;
    }
    print_message("seed model, %d steps: mean loss of the first %d steps %.5f, last %d %.5f "
                  "(factor %.1f)\n", STEPS, WINDOW, first, WINDOW, last, first / last);
    if (!(last * LOSS_FACTOR < first))
        fail_msg("loss fell only from %.5f to %.5f (factor %.2f < %.1f)", first, last,
                 first / last, LOSS_FACTOR);

    cg_batches_free(&it);
    cg_tape_free(tape);
    cg_optimizer_free(opt);
    cg_module_free(model);
    cg_dataset_free(&train);
}

/* ---- checkpoints of the example's small model ---- */

struct loaded {
    struct cg_module *model;
    struct cg_optimizer *opt;
    struct cg_checkpoint_meta *meta;
};

/* Builds the example's --hidden H --bottleneck C model from another seed (so the
 * load must overwrite everything) and loads `path` into it with its SGD state. */
static struct loaded load_sized(const char *path, int64_t hidden, int64_t code)
{
    struct cg_rng rng = cg_rng_seed(99);
    struct loaded l;
    l.model = cg_sequential(cg_linear_new(784, hidden, true, &rng), cg_hardshrink_new(0.1),
                            cg_linear_new(hidden, code, true, &rng),
                            cg_linear_new(code, 784, true, &rng));
    assert_non_null(l.model);
    l.opt = cg_sgd_new(l.model, (struct cg_sgd_options){.lr = 0.05, .momentum = 0.9});
    l.meta = cg_checkpoint_meta_new();
    assert_non_null(l.opt);
    assert_non_null(l.meta);
    enum cg_status st = cg_checkpoint_load(path, l.model, l.opt, l.meta);
    if (st != CG_OK) fail_msg("loading %s: %s", path, cg_last_error());
    return l;
}

static struct loaded load_small(const char *path) { return load_sized(path, 32, 8); }

static void loaded_free(struct loaded *l)
{
    cg_checkpoint_meta_free(l->meta);
    cg_optimizer_free(l->opt);
    cg_module_free(l->model);
}

static uint64_t meta_u64(const struct loaded *l, const char *name)
{
    uint64_t v = 0;
    if (cg_checkpoint_meta_get_u64(l->meta, name, &v) != CG_OK)
        fail_msg("metadata %s: %s", name, cg_last_error());
    return v;
}

static void assert_same_bits(const struct cg_tensor *a, const struct cg_tensor *b, const char *what)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->dtype, b->dtype);
    assert_int_equal(a->numel, b->numel);
    size_t es = cg_dtype_size(a->dtype);
    if (memcmp(a->data, b->data, (size_t)a->numel * es) != 0) {
        int64_t i = 0;
        while (!memcmp((const char *)a->data + i * es, (const char *)b->data + i * es, es)) i++;
        fail_msg("%s differs first at element %lld: %.9g vs %.9g", what, (long long)i,
                 cg_tensor_at(a, i), cg_tensor_at(b, i));
    }
}

/* ---- metrics.csv and PNG files ---- */

struct metrics_row {
    int epoch;
    double train_mse, test_mse, code_zero_frac, seconds;
    char no_seconds[128]; /* the row up to its last comma: deterministic part */
};

/* Parses dir/metrics.csv, checking the header and every row; returns the
 * number of rows (at most max). */
static int read_metrics(const char *dir, struct metrics_row *rows, int max)
{
    char path[256];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    char *text = cg_test_slurp(path, NULL);
    if (!text) fail_msg("%s was not written", path);
    static const char header[] = "epoch,train_mse,test_mse,code_zero_frac,seconds\n";
    if (strncmp(text, header, strlen(header)) != 0) fail_msg("%s: bad header in:\n%s", path, text);
    int n = 0;
    for (char *line = text + strlen(header), *next; *line; line = next) {
        char *nl = strchr(line, '\n');
        if (!nl) fail_msg("%s: last line not terminated:\n%s", path, text);
        *nl = '\0';
        next = nl + 1;
        assert_true(n < max);
        struct metrics_row *r = &rows[n];
        int used = 0;
        if (sscanf(line, "%d,%lf,%lf,%lf,%lf%n", &r->epoch, &r->train_mse, &r->test_mse,
                   &r->code_zero_frac, &r->seconds, &used) != 5 || line[used] != '\0')
            fail_msg("%s: bad row \"%s\"", path, line);
        if (r->epoch != n + 1 || !isfinite(r->train_mse) || !isfinite(r->test_mse) ||
            !isfinite(r->seconds) || r->train_mse <= 0 || r->test_mse <= 0 || r->seconds < 0 ||
            !(r->code_zero_frac >= 0 && r->code_zero_frac <= 1))
            fail_msg("%s: row %d out of range: \"%s\"", path, n + 1, line);
        snprintf(r->no_seconds, sizeof r->no_seconds, "%.*s",
                 (int)(strrchr(line, ',') - line), line);
        n++;
    }
    free(text);
    return n;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A well-formed 8-bit grayscale PNG of width x height: signature, IHDR first
 * (with a correct CRC), IEND last. */
static void check_png(const char *path, uint32_t width, uint32_t height)
{
    size_t n = 0;
    uint8_t *p = (uint8_t *)cg_test_slurp(path, &n);
    if (!p) fail_msg("%s was not written", path);
    static const uint8_t sig[8] = {137, 'P', 'N', 'G', '\r', '\n', 26, '\n'};
    static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    assert_true(n > 8 + 25 + 12);
    assert_memory_equal(p, sig, 8);
    assert_int_equal(be32(p + 8), 13);
    assert_memory_equal(p + 12, "IHDR", 4);
    if (be32(p + 16) != width || be32(p + 20) != height)
        fail_msg("%s is %ux%u, expected %ux%u", path, be32(p + 16), be32(p + 20), width, height);
    assert_int_equal(p[24], 8); /* bit depth */
    assert_int_equal(p[25], 0); /* grayscale */
    assert_int_equal(crc32(0L, p + 12, 17), be32(p + 29));
    assert_memory_equal(p + n - 12, iend, 12);
    free(p);
}

/* cg_png_write_tiles: cols x rows tiles of 28x28 with 1-pixel borders. */
static uint32_t grid(int tiles) { return (uint32_t)(tiles * (SIDE + 1) + 1); }

static bool same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *pa = cg_test_slurp(a, &na), *pb = cg_test_slurp(b, &nb);
    assert_non_null(pa);
    assert_non_null(pb);
    bool same = na == nb && memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return same;
}

static void expect_success(const struct cg_test_run *r, const char *what)
{
    if (r->status != 0) fail_msg("%s exited %d; stderr:\n%s", what, r->status, r->err);
}

/* ---- 2. resume equals the uninterrupted run bitwise ---- */

/* Runs the example with `flags` then `extra` (both NULL-terminated). */
static struct cg_test_run run_with(const char *const *flags, const char *const *extra)
{
    const char *args[32];
    int n = 0;
    for (; *flags; flags++) args[n++] = *flags;
    for (; *extra; extra++) args[n++] = *extra;
    assert_true(n < 32);
    args[n] = NULL;
    return run_sae(args);
}

/* Output directories and checkpoints of an uninterrupted and a resumed run. */
struct resume_paths {
    char full[128], split[128], a[160], b[160];
};

/* Trains `epochs` epochs with `flags` in one run (checkpoint p->a, outputs
 * in p->full), and as one epoch plus a resumed run (p->b, p->split). */
static void full_and_resumed(const char *tag, const char *const *flags, const char *epochs,
                             struct resume_paths *p)
{
    char name[64];
    snprintf(name, sizeof name, "%s_full", tag);
    TPATH(p->full, name);
    snprintf(name, sizeof name, "%s_split", tag);
    TPATH(p->split, name);
    snprintf(p->a, sizeof p->a, "%s/a.ckpt", p->full);
    snprintf(p->b, sizeof p->b, "%s/b.ckpt", p->split);
    const char *full = p->full, *split = p->split, *a = p->a, *b = p->b;
    struct cg_test_run r = run_with(flags, (const char *const[]){"--epochs", epochs, "--out", full,
                                                          "--save", a, NULL});
    expect_success(&r, "the uninterrupted run");
    cg_test_run_free(&r);
    r = run_with(flags, (const char *const[]){"--epochs", "1", "--out", split, "--save", b, NULL});
    expect_success(&r, "the first epoch");
    cg_test_run_free(&r);
    r = run_with(flags, (const char *const[]){"--epochs", epochs, "--out", split, "--resume", b,
                                              "--save", b, NULL});
    expect_success(&r, "the resumed run");
    expect_contains(r.out, "after epoch 1", "resumed run stdout");
    cg_test_run_free(&r);
}

static void test_resume_equals_uninterrupted_run(void **state)
{
    (void)state;
    skip_without_binary();
    struct resume_paths p;
    full_and_resumed("resume", (const char *const[]){SMALL, "--quiet", NULL}, "3", &p);
    const char *full = p.full, *split = p.split, *a = p.a, *b = p.b;

    struct loaded x = load_small(a), y = load_small(b);
    /* 3 epochs of 512/16 = 32 steps, and the training position after them */
    assert_int_equal(cg_optimizer_step_count(x.opt), 96);
    assert_int_equal(cg_optimizer_step_count(y.opt), 96);
    assert_int_equal(meta_u64(&x, "sae.epoch"), 3);
    assert_int_equal(meta_u64(&y, "sae.epoch"), 3);
    assert_int_equal(meta_u64(&x, "batches.epoch"), meta_u64(&y, "batches.epoch"));
    assert_int_equal(meta_u64(&x, "batches.position"), meta_u64(&y, "batches.position"));
    assert_true(cg_optimizer_get_lr(x.opt) == cg_optimizer_get_lr(y.opt));
    size_t n = cg_optimizer_param_count(x.opt);
    assert_int_equal(n, 6);
    assert_int_equal(cg_optimizer_param_count(y.opt), n);
    for (size_t i = 0; i < n; i++) {
        char what[96];
        assert_string_equal(cg_optimizer_param_name(x.opt, i), cg_optimizer_param_name(y.opt, i));
        snprintf(what, sizeof what, "parameter %s", cg_optimizer_param_name(x.opt, i));
        assert_same_bits(cg_optimizer_param(x.opt, i), cg_optimizer_param(y.opt, i), what);
        snprintf(what, sizeof what, "momentum buffer of %s", cg_optimizer_param_name(x.opt, i));
        assert_same_bits(cg_sgd_momentum_buffer(x.opt, i), cg_sgd_momentum_buffer(y.opt, i), what);
    }
    loaded_free(&x);
    loaded_free(&y);

    /* Same content, same writer, so the same bytes (no timestamps or paths
     * are stored). */
    assert_true(same_file(a, b));

    /* The per-epoch figures agree too (all but the timing column). */
    struct metrics_row rf[4], rs[4];
    assert_int_equal(read_metrics(full, rf, 4), 3);
    assert_int_equal(read_metrics(split, rs, 4), 3);
    for (int i = 0; i < 3; i++) assert_string_equal(rf[i].no_seconds, rs[i].no_seconds);
}

/* The same with 2 threads and a model large enough that the products and
 * the SGD update are cut over the pool: the cut depends only on the shapes
 * and the thread count, so resuming still gives the same bytes. */
static void test_resume_with_two_threads(void **state)
{
    (void)state;
    skip_without_binary();
    struct resume_paths p;
    full_and_resumed("resume2",
                     (const char *const[]){"--data", datadir, "--batch", "32", "--hidden", "96",
                                           "--bottleneck", "32", "--seed", "5", "--threads", "2",
                                           "--quiet", NULL},
                     "2", &p);
    assert_true(same_file(p.a, p.b));
}

/* --optimizer adam, adamw and rmsprop resume as exactly as SGD: the
 * resumed run's checkpoint has the same bytes as the uninterrupted run's
 * (parameters, every state tensor, per-parameter step counts, lr). */
static void test_resume_every_optimizer(void **state)
{
    (void)state;
    skip_without_binary();
    static const char *const names[] = {"adam", "adamw", "rmsprop"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "resume_%s", names[i]);
        struct resume_paths p;
        full_and_resumed(tag, (const char *const[]){SMALL, "--quiet", "--optimizer", names[i],
                                                    NULL},
                         "2", &p);
        if (!same_file(p.a, p.b)) fail_msg("--optimizer %s: the resumed run ends elsewhere", names[i]);
    }
}

/* A checkpoint that cgrad 0.1's example wrote after one epoch
 * (tests/data/ckpt_v1_sae.ckpt; tests/data/README.md has the command, on
 * the data group_setup writes).  0.2 loads it with its momentum and step
 * count, resumes it for two more epochs, and a run split after epoch 2
 * gives the same file.  (An uninterrupted 0.2 run is not compared: its
 * first epoch depends on the BLAS kernels of the machine, the file's on
 * those of the machine that wrote it.) */
static void test_resume_a_0_1_checkpoint(void **state)
{
    (void)state;
    skip_without_binary();
    const char *v1 = CG_TEST_DATA_DIR "/ckpt_v1_sae.ckpt";
    struct loaded x = load_sized(v1, 4, 2);
    assert_int_equal(cg_optimizer_step_count(x.opt), 4); /* 64 images, batch 16 */
    assert_int_equal(meta_u64(&x, "sae.epoch"), 1);
    for (size_t i = 0; i < 6; i++) assert_non_null(cg_sgd_momentum_buffer(x.opt, i));

    char out[128], b[160], c[160], d[160];
    TPATH(out, "v1_resume");
    snprintf(b, sizeof b, "%s/b.ckpt", out);
    snprintf(c, sizeof c, "%s/c.ckpt", out);
    snprintf(d, sizeof d, "%s/d.ckpt", out);
#define V1_FLAGS "--data", datadir, "--batch", "16", "--hidden", "4", "--bottleneck", "2", "--seed", \
                 "5", "--limit", "64", "--quiet", "--out", out
    struct cg_test_run r = RUN(V1_FLAGS, "--epochs", "3", "--resume", v1, "--save", b);
    expect_success(&r, "resuming the 0.1 checkpoint");
    expect_contains(r.out, "ckpt_v1_sae.ckpt after epoch 1", "resumed run stdout");
    expect_contains(r.out, "does not record the --data", "resumed run stdout");
    expect_contains(r.out, "epoch 2/3", "resumed run stdout");
    expect_contains(r.out, "epoch 3/3", "resumed run stdout");
    cg_test_run_free(&r);
    r = RUN(V1_FLAGS, "--epochs", "2", "--resume", v1, "--save", c);
    expect_success(&r, "resuming the 0.1 checkpoint for one epoch");
    cg_test_run_free(&r);
    r = RUN(V1_FLAGS, "--epochs", "3", "--resume", c, "--save", d);
#undef V1_FLAGS
    expect_success(&r, "resuming that");
    cg_test_run_free(&r);
    assert_true(same_file(b, d));

    struct loaded y = load_sized(b, 4, 2);
    assert_int_equal(cg_optimizer_step_count(y.opt), 12);
    assert_int_equal(meta_u64(&y, "sae.epoch"), 3);
    const struct cg_tensor *w0 = cg_optimizer_param(x.opt, 0), *w1 = cg_optimizer_param(y.opt, 0);
    assert_true(memcmp(w0->data, w1->data, (size_t)w0->numel * sizeof(float)) != 0);
    loaded_free(&x);
    loaded_free(&y);
}

/* ---- 3. the program's command line, errors and outputs ---- */

static void test_help(void **state)
{
    (void)state;
    skip_without_binary();
    for (int i = 0; i < 2; i++) {
        struct cg_test_run r = i ? RUN("--epochs", "2", "-h") : RUN("--help");
        assert_int_equal(r.status, 0);
        expect_contains(r.out, "usage: sparse_autoencoder", "--help stdout");
        expect_contains(r.out, "--resume FILE", "--help stdout");
        expect_contains(r.out, "--eval-only", "--help stdout");
        assert_string_equal(r.err, "");
        cg_test_run_free(&r);
    }
}

static void test_bad_flags_exit_2_with_usage(void **state)
{
    (void)state;
    skip_without_binary();
    static const struct {
        const char *args[3];
        const char *says[2]; /* on stderr, besides the usage text */
    } cases[] = {
        {{"--epochs", "-1"}, {"--epochs -1", "expected an integer in [0, 100000]"}},
        {{"--lr", "abc"}, {"--lr abc", "expected a finite number >= 0"}},
        {{"--lr", "nan"}, {"--lr nan", "finite"}},
        {{"--batch", "0"}, {"--batch 0", "[1, "}},
        {{"--lambda", "-0.5"}, {"--lambda -0.5", ">= 0"}},
        {{"--bogus", "1"}, {"--bogus", "unknown option"}},
        {{"--bogus"}, {"--bogus", NULL}},
        {{"--epochs"}, {"--epochs", "needs a value"}},
        {{"stray"}, {"stray", "unexpected argument"}},
        {{"--eval-only"}, {"--eval-only", "needs --resume"}},
        {{"--optimizer", "lbfgs"}, {"--optimizer lbfgs", "expected sgd, adam, adamw or rmsprop"}},
        {{"--lr", "0"}, {"--lr 0", "expected a learning rate > 0"}},
        {{"--epochs", "0"}, {"--epochs 0", "untrained model"}},
        {{"--code", "8"}, {"--bottleneck", "the code is the Hardshrink output"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *a = cases[i].args;
        struct cg_test_run r = run_sae((const char *const[]){"--data", datadir, a[0], a[1], a[2], NULL});
        char ctx[96];
        snprintf(ctx, sizeof ctx, "stderr for %s %s", a[0], a[1] ? a[1] : "");
        if (r.status != 2) fail_msg("%s: exit %d, expected 2; stderr:\n%s", ctx, r.status, r.err);
        expect_contains(r.err, "usage: sparse_autoencoder", ctx);
        for (int k = 0; k < 2 && cases[i].says[k]; k++) expect_contains(r.err, cases[i].says[k], ctx);
        assert_string_equal(r.out, ""); /* nothing ran */
        cg_test_run_free(&r);
    }
}

static void test_missing_data_exits_1_naming_it(void **state)
{
    (void)state;
    skip_without_binary();
    char nowhere[128], partial[128], out[128], file[192];
    TPATH(nowhere, "no_such_dir");
    TPATH(out, "missing_out");
    struct cg_test_run r = RUN("--data", nowhere, "--epochs", "1", "--quiet", "--out", out);
    assert_int_equal(r.status, 1);
    expect_contains(r.err, nowhere, "stderr");
    expect_contains(r.err, "train-images-idx3-ubyte", "stderr");
    expect_contains(r.err, "--data DIR", "stderr"); /* says how to fix it */
    cg_test_run_free(&r);
    assert_int_not_equal(access(out, F_OK), 0); /* nothing written */

    /* Training files present, test images gone: that file is named. */
    TPATH(partial, "partial");
    assert_int_equal(mkdir(partial, 0755), 0);
    assert_int_equal(cg_test_write_mnist(partial, 20, 5, 7), 0);
    snprintf(file, sizeof file, "%s/t10k-images-idx3-ubyte.gz", partial);
    assert_int_equal(unlink(file), 0);
    r = RUN("--data", partial, "--epochs", "1", "--quiet", "--out", out);
    assert_int_equal(r.status, 1);
    expect_contains(r.err, partial, "stderr");
    expect_contains(r.err, "t10k-images-idx3-ubyte", "stderr");
    cg_test_run_free(&r);
}

static void test_run_writes_metrics_and_pictures(void **state)
{
    (void)state;
    skip_without_binary();
    char out[128];
    TPATH(out, "outputs");
    struct cg_test_run r = RUN(SMALL, "--epochs", "2", "--out", out);
    expect_success(&r, "a 2-epoch run");
    /* Not a terminal: plain progress lines, no carriage returns. */
    if (strchr(r.out, '\r')) fail_msg("stdout has a carriage return:\n%s", r.out);
    expect_contains(r.out, "epoch 1/2: 128/512 samples, loss ", "stdout");
    expect_contains(r.out, "epoch 2/2: 512/512 samples, loss ", "stdout");
    expect_contains(r.out, "epoch 2/2  train_mse ", "stdout");
    expect_contains(r.out, "metrics.csv", "stdout");
    cg_test_run_free(&r);

    struct metrics_row rows[4];
    assert_int_equal(read_metrics(out, rows, 4), 2);
    char png[192];
    /* N_TEST (< 16) test images over their reconstructions: N_TEST x 2 tiles */
    snprintf(png, sizeof png, "%s/reconstructions.png", out);
    check_png(png, grid(N_TEST), grid(2));
    /* 32 first-layer filters, 16 per row */
    snprintf(png, sizeof png, "%s/filters.png", out);
    check_png(png, grid(16), grid(2));
}

static void test_eval_only_prints_test_mse(void **state)
{
    (void)state;
    skip_without_binary();
    char out[128], eval[128], ckpt[192], p1[192], p2[192];
    TPATH(out, "eval_train");
    TPATH(eval, "eval_only");
    snprintf(ckpt, sizeof ckpt, "%s/e.ckpt", out);
    struct cg_test_run r = RUN(SMALL, "--quiet", "--epochs", "1", "--out", out, "--save", ckpt);
    expect_success(&r, "a 1-epoch run");
    cg_test_run_free(&r);
    struct metrics_row row;
    assert_int_equal(read_metrics(out, &row, 1), 1);

    r = RUN(SMALL, "--eval-only", "--resume", ckpt, "--out", eval);
    expect_success(&r, "--eval-only");
    const char *at = strstr(r.out, "test_mse ");
    if (!at) fail_msg("--eval-only printed no test_mse:\n%s", r.out);
    expect_contains(r.out, "eval after 1 epochs", "stdout");
    double mse = strtod(at + strlen("test_mse "), NULL);
    cg_test_run_free(&r);
    /* The same model on the same test set: the figure of the training run
     * (printed with 5 decimals, stored with 6). */
    CG_ASSERT_CLOSE(mse, row.test_mse, 6e-6, 0.0);

    /* The pictures come from the same weights, so they are the same files. */
    snprintf(p1, sizeof p1, "%s/reconstructions.png", out);
    snprintf(p2, sizeof p2, "%s/reconstructions.png", eval);
    check_png(p2, grid(N_TEST), grid(2));
    assert_true(same_file(p1, p2));
    snprintf(p2, sizeof p2, "%s/metrics.csv", eval);
    assert_int_not_equal(access(p2, F_OK), 0); /* evaluation adds no training rows */
}

/* On resume: an explicit --lr is the rate trained with (and printed), else
 * the checkpoint's; other data, batch or model flags are refused, naming the
 * flag, before anything is trained. */
static void test_resume_flags(void **state)
{
    (void)state;
    skip_without_binary();
    char out[128], ckpt[192], more[192], other[128];
    TPATH(out, "flags");
    snprintf(ckpt, sizeof ckpt, "%s/f.ckpt", out);
    snprintf(more, sizeof more, "%s/g.ckpt", out);
    struct cg_test_run r = RUN(SMALL, "--quiet", "--epochs", "1", "--out", out, "--save", ckpt);
    expect_success(&r, "a 1-epoch run");
    cg_test_run_free(&r);

    r = RUN(SMALL, "--quiet", "--epochs", "2", "--out", out, "--resume", ckpt, "--lr", "0.5",
            "--save", more);
    expect_success(&r, "resume with --lr 0.5");
    expect_contains(r.out, "lr 0.5 from --lr (the checkpoint's was 0.05)", "stdout");
    expect_contains(r.out, "lr 0.5, momentum", "stdout");
    cg_test_run_free(&r);
    struct loaded l = load_small(more);
    assert_true(cg_optimizer_get_lr(l.opt) == 0.5);
    loaded_free(&l);
    /* Without --lr the checkpoint's rate goes on (0.5 now), and says so. */
    r = RUN(SMALL, "--quiet", "--epochs", "2", "--out", out, "--resume", more);
    expect_success(&r, "resume without --lr");
    expect_contains(r.out, "lr 0.5 from the checkpoint", "stdout");
    cg_test_run_free(&r);

    TPATH(other, "flags_data");
    assert_int_equal(mkdir(other, 0755), 0);
    assert_int_equal(cg_test_write_mnist(other, N_TRAIN, N_TEST, 42), 0);
    static const struct {
        const char *flag, *value, *says;
    } cases[] = {
        {"--batch", "32", "this run has --batch 32, but the checkpoint was trained with --batch 16"},
        {"--lambda", "0.2", "this run has --lambda 0.20000000000000001, but the checkpoint was "
                            "trained with --lambda 0.10000000000000001"},
        {"--limit", "100", "this run has --limit 100, but the checkpoint was trained with --limit "
                           "512 training images"},
        {"--data", NULL, "this run has --data"},
        {"--hidden", "48", "other --hidden"},
        {"--momentum", "0.5", "momentum"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *v = cases[i].value ? cases[i].value : other;
        r = RUN(SMALL, "--quiet", "--epochs", "3", "--out", out, "--resume", ckpt, cases[i].flag, v);
        char ctx[192];
        snprintf(ctx, sizeof ctx, "resume with %s %s", cases[i].flag, v);
        if (r.status != 1) fail_msg("%s: exit %d, expected 1; stderr:\n%s", ctx, r.status, r.err);
        expect_contains(r.err, cases[i].says, ctx);
        if (strstr(r.out, "epoch 2/")) fail_msg("%s trained:\n%s", ctx, r.out);
        cg_test_run_free(&r);
    }
}

/* --out and --save are checked before the first epoch, not after it. */
static void test_output_paths_checked_before_training(void **state)
{
    (void)state;
    skip_without_binary();
    char out[128];
    TPATH(out, "paths");
    static const char *const bad[][2] = {{"--out", "/proc/nope"}, {"--save", "/nonexistent/x.ckpt"}};
    for (int i = 0; i < 2; i++) {
        struct cg_test_run r = i ? RUN(SMALL, "--quiet", "--epochs", "1", "--out", out, bad[i][0], bad[i][1])
                         : RUN(SMALL, "--quiet", "--epochs", "1", bad[i][0], bad[i][1]);
        char said[96];
        snprintf(said, sizeof said, "%s %s", bad[i][0], bad[i][1]);
        if (r.status != 1) fail_msg("%s: exit %d, expected 1; stderr:\n%s", said, r.status, r.err);
        expect_contains(r.err, said, "stderr");
        if (strstr(r.out, "epoch 1/")) fail_msg("%s: trained before failing:\n%s", said, r.out);
        cg_test_run_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_model_learns_without_allocating),
        cmocka_unit_test(test_resume_equals_uninterrupted_run),
        cmocka_unit_test(test_resume_with_two_threads),
        cmocka_unit_test(test_resume_every_optimizer),
        cmocka_unit_test(test_resume_a_0_1_checkpoint),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bad_flags_exit_2_with_usage),
        cmocka_unit_test(test_missing_data_exits_1_naming_it),
        cmocka_unit_test(test_run_writes_metrics_and_pictures),
        cmocka_unit_test(test_eval_only_prints_test_mse),
        cmocka_unit_test(test_resume_flags),
        cmocka_unit_test(test_output_paths_checked_before_training),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
