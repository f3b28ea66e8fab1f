/* Crash safety of the sparse autoencoder example: runs killed with SIGKILL at
 * random moments (some while a checkpoint is being written) leave a loadable
 * checkpoint, and --resume then finishes bit-identical to an uninterrupted
 * run; a full disk fails cleanly without touching the previous checkpoint;
 * a diverging run stops with a message instead of training on NaN.
 *
 * CG_CRASH_TRIALS=N (env) changes the number of kill trials (default 20),
 * e.g. to keep sanitizer builds short. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cg_test.h"
#include "idx_writer.h"

#define SAE_BIN CG_EXAMPLES_BIN_DIR "/sparse_autoencoder/sparse_autoencoder"
#define HIDDEN 32
#define CODE 8
#define EPOCHS "6"
#define MAX_KILLED 256

static char g_dir[256];       /* temp dir with the data set */
static char g_ref[320];       /* reference checkpoint */
static double g_ref_seconds;  /* duration of the uninterrupted run */

/* ---- small utilities ---- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_seconds(double s)
{
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static uint64_t mix(uint64_t *s) /* splitmix64: the trials' own seeded randomness */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) { return (double)(mix(s) >> 11) * 0x1.0p-53; }

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Whole file into a malloc'd buffer (NULL if missing). */
static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* ---- running the example ---- */

/* Starts the example with argv (NULL-terminated, without the program name);
 * its stdout and stderr go to `log` (NULL: /dev/null).  fsize_limit > 0 caps
 * the size of any file the child writes (a full disk), with SIGXFSZ ignored
 * so writes fail with EFBIG instead of killing it. */
static pid_t spawn(const char *const *args, const char *log, long fsize_limit)
{
    const char *argv[32] = {SAE_BIN};
    int n = 1;
    for (; args[n - 1] && n < 31; n++) argv[n] = args[n - 1];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    if (fsize_limit > 0) {
        struct rlimit rl = {(rlim_t)fsize_limit, (rlim_t)fsize_limit};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
    }
    execv(SAE_BIN, (char *const *)argv);
    _exit(127);
}

static int wait_status(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return status;
}

/* Runs to completion; returns the exit code (or 128 + signal). */
static int run(const char *const *args, const char *log, long fsize_limit)
{
    int status = wait_status(spawn(args, log, fsize_limit));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- checkpoints ---- */

static struct cg_module *sae_model(void)
{
    struct cg_rng rng = cg_rng_seed(99); /* values are overwritten by the load */
    int64_t pix = CG_TEST_MNIST_SIDE * CG_TEST_MNIST_SIDE;
    return cg_sequential(cg_linear_new(pix, HIDDEN, true, &rng), cg_hardshrink_new(0.1),
                         cg_linear_new(HIDDEN, CODE, true, &rng),
                         cg_linear_new(CODE, pix, true, &rng));
}

/* Loads `path` into a fresh model (with an SGD optimizer like the example's);
 * returns the status, the epoch from the metadata, and the model if wanted. */
static enum cg_status load_ckpt(const char *path, uint64_t *epoch, struct cg_module **model_out)
{
    struct cg_module *m = sae_model();
    struct cg_optimizer *opt = cg_sgd_new(m, (struct cg_sgd_options){.lr = 0.05, .momentum = 0.9});
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    assert_non_null(opt);
    assert_non_null(meta);
    enum cg_status st = cg_checkpoint_load(path, m, opt, meta);
    if (st == CG_OK) assert_int_equal(cg_checkpoint_meta_get_u64(meta, "sae.epoch", epoch), CG_OK);
    cg_checkpoint_meta_free(meta);
    cg_optimizer_free(opt);
    if (model_out && st == CG_OK) *model_out = m;
    else cg_module_free(m);
    return st;
}

struct param_cmp {
    struct cg_module *other;
    int compared, differing;
};

static void compare_param(const char *name, struct cg_tensor *p, void *user)
{
    struct param_cmp *c = user;
    struct cg_tensor *q = cg_module_param(c->other, name);
    c->compared++;
    if (!q || q->numel != p->numel || q->dtype != p->dtype ||
        memcmp(p->data, q->data, (size_t)p->numel * cg_dtype_size(p->dtype)) != 0) {
        c->differing++;
        print_message("parameter %s differs from the reference\n", name);
    }
}

/* The final checkpoint of a trial equals the reference: every parameter
 * bitwise through the API, and the whole file byte for byte (optimizer state
 * and training position included). */
static void assert_same_as_reference(const char *path, int trial)
{
    struct cg_module *ref = NULL, *got = NULL;
    uint64_t e_ref = 0, e_got = 0;
    assert_int_equal(load_ckpt(g_ref, &e_ref, &ref), CG_OK);
    assert_int_equal(load_ckpt(path, &e_got, &got), CG_OK);
    assert_int_equal(e_got, 6);
    struct param_cmp c = {ref, 0, 0};
    cg_module_visit_params(got, compare_param, &c);
    assert_int_equal(c.compared, 6);
    if (c.differing)
        fail_msg("trial %d: %d parameters differ from the reference", trial, c.differing);
    cg_module_free(ref);
    cg_module_free(got);
    size_t n1 = 0, n2 = 0;
    unsigned char *a = read_all(g_ref, &n1), *b = read_all(path, &n2);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/cg_crash_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) return -1;
    if (cg_test_write_mnist(g_dir, 256, 64, 5)) return -1;
    /* Reference: one uninterrupted run, also timed to spread the kills. */
    char out[600];
    snprintf(g_ref, sizeof g_ref, "%s/ref.ckpt", g_dir);
    snprintf(out, sizeof out, "%s/ref_out", g_dir);
    const char *args[] = {"--data", g_dir, "--epochs", EPOCHS, "--batch", "16", "--hidden", "32",
                          "--bottleneck", "8", "--quiet", "--seed", "3", "--out", out, "--save", g_ref,
                          NULL};
    double t0 = now_seconds();
    int rc = run(args, NULL, 0);
    g_ref_seconds = now_seconds() - t0;
    if (rc != 0) {
        fprintf(stderr, "reference run of %s failed with %d\n", SAE_BIN, rc);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_dir[0]) cg_test_remove_tree(g_dir);
    return 0;
}

/* ---- kill and resume ---- */

struct trial_stats {
    int kills, kills_in_write, resumes, fresh_restarts;
    pid_t killed[MAX_KILLED];
    int n_killed;
};

/* Starts one run (resuming if the checkpoint exists) and kills it after
 * `delay` seconds or, when poll_tmp is set, as soon as its temp checkpoint
 * appears after that delay; delay < 0 lets it finish.  Returns 1 if it was
 * killed, 0 if it finished. */
static int run_and_kill(const char *dir, const char *ckpt, double delay, int poll_tmp,
                        struct trial_stats *ts)
{
    int resume = file_exists(ckpt);
    char out[1024];
    snprintf(out, sizeof out, "%s/out", dir);
    const char *args[] = {"--data", g_dir, "--epochs", EPOCHS, "--batch", "16", "--hidden", "32",
                          "--bottleneck", "8", "--quiet", "--seed", "3", "--out", out, "--save", ckpt,
                          resume ? "--resume" : NULL, ckpt, NULL};
    if (resume) ts->resumes++;
    pid_t pid = spawn(args, NULL, 0);
    assert_true(pid > 0);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", ckpt, (long)pid);
    int status = 0;
    pid_t done = 0;
    if (delay < 0) {
        status = wait_status(pid);
        done = pid;
    }
    sleep_seconds(delay);
    if (poll_tmp && !done) /* busy-wait: a checkpoint write lasts well under a millisecond */
        while ((done = waitpid(pid, &status, WNOHANG)) == 0 && !file_exists(tmp)) {}
    if (done == 0) {
        kill(pid, SIGKILL);
        status = wait_status(pid);
    }
    if (WIFEXITED(status)) {
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_false(file_exists(tmp)); /* a finished run leaves no temp file */
        return 0;
    }
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ts->kills++;
    if (ts->n_killed < MAX_KILLED) ts->killed[ts->n_killed++] = pid;
    /* The dead process cannot remove its temp file: its presence proves the
     * kill landed inside cg_checkpoint_save. */
    if (file_exists(tmp)) ts->kills_in_write++;
    return 1;
}

/* After every kill: the checkpoint, if any, is complete and loadable. */
static void assert_loadable(const char *ckpt, int trial)
{
    if (!file_exists(ckpt)) return;
    uint64_t epoch = 0;
    enum cg_status st = load_ckpt(ckpt, &epoch, NULL);
    if (st != CG_OK)
        fail_msg("trial %d: checkpoint after SIGKILL does not load (%s): %s", trial,
                 cg_status_str(st), cg_last_error());
    assert_true(epoch >= 1 && epoch <= 6);
}

/* Temp files left behind belong to killed processes only. */
static void check_leftovers(const char *dir, const struct trial_stats *ts, int *leftovers)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        const char *p = strstr(e->d_name, ".tmp.");
        if (!p) continue;
        long pid = strtol(p + 5, NULL, 10);
        int killed = 0;
        for (int i = 0; i < ts->n_killed; i++) killed |= ts->killed[i] == (pid_t)pid;
        if (!killed) fail_msg("temp file %s/%s of a process that was not killed", dir, e->d_name);
        (*leftovers)++;
    }
    closedir(d);
}

static void test_kill_and_resume(void **state)
{
    (void)state;
    const char *env = getenv("CG_CRASH_TRIALS");
    int trials = env && atoi(env) > 0 ? atoi(env) : 20;
    uint64_t rs = 20240611;
    struct trial_stats ts = {0};
    int leftovers = 0;
    char dir[320], ckpt[400];
    for (int t = 0; t < trials; t++) {
        snprintf(dir, sizeof dir, "%s/trial%d", g_dir, t);
        snprintf(ckpt, sizeof ckpt, "%s/sae.ckpt", dir);
        assert_int_equal(mkdir(dir, 0755), 0);
        int before = ts.n_killed;
        /* Every third trial aims at a checkpoint write; the others kill at a
         * uniform moment of the run.  Some trials kill the resumed run too. */
        int kills_wanted = 1 + (uniform01(&rs) < 0.3);
        for (int k = 0; k < kills_wanted; k++) {
            int poll_tmp = t % 3 == 0;
            double delay = uniform01(&rs) * g_ref_seconds * (poll_tmp ? 0.8 : 1.0);
            if (run_and_kill(dir, ckpt, delay, poll_tmp, &ts)) assert_loadable(ckpt, t);
            else break; /* finished before the kill */
        }
        if (!file_exists(ckpt) && ts.n_killed > before) ts.fresh_restarts++;
        /* Resume (or start afresh if no checkpoint was written) to the end. */
        assert_int_equal(run_and_kill(dir, ckpt, -1.0, 0, &ts), 0);
        check_leftovers(dir, &ts, &leftovers);
        assert_same_as_reference(ckpt, t);
        cg_test_remove_tree(dir);
    }
    print_message("crash_resume: %d trials, %d kills (%d during a checkpoint write), %d resumes, "
                  "%d restarts without a checkpoint, %d temp files left by killed runs; final "
                  "models all bit-identical to the uninterrupted run (which took %.3f s)\n",
                  trials, ts.kills, ts.kills_in_write, ts.resumes, ts.fresh_restarts, leftovers,
                  g_ref_seconds);
    assert_int_equal(leftovers, ts.kills_in_write);
    assert_true(ts.kills >= trials / 4);
    if (trials >= 9) assert_true(ts.kills_in_write >= 1);
}

/* ---- full disk ---- */

/* Fails the test showing the child's log (copied: fail_msg does not return). */
static void fail_with_log(const char *what, const char *log)
{
    static char text[4096];
    size_t n = 0;
    unsigned char *buf = read_all(log, &n);
    snprintf(text, sizeof text, "%.*s", (int)(n < sizeof text ? n : sizeof text - 1),
             buf ? (const char *)buf : "");
    free(buf);
    fail_msg("%s; the program's output was:\n%s", what, text);
}

static int file_contains(const char *path, const char *needle)
{
    size_t n = 0;
    unsigned char *buf = read_all(path, &n);
    if (!buf) return 0;
    unsigned char *nb = realloc(buf, n + 1);
    if (!nb) {
        free(buf);
        return 0;
    }
    nb[n] = 0;
    int found = strstr((char *)nb, needle) != NULL;
    free(nb);
    return found;
}

static void test_full_disk(void **state)
{
    (void)state;
    char dir[320], ckpt[400], out[400], log[400];
    snprintf(dir, sizeof dir, "%s/full", g_dir);
    snprintf(ckpt, sizeof ckpt, "%s/sae.ckpt", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(log, sizeof log, "%s/log.txt", g_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    const char *first[] = {"--data", g_dir, "--epochs", "2", "--batch", "16", "--hidden", "32",
                           "--bottleneck", "8", "--quiet", "--seed", "3", "--out", out, "--save", ckpt,
                           NULL};
    assert_int_equal(run(first, log, 0), 0);
    size_t n_before = 0;
    unsigned char *before = read_all(ckpt, &n_before);
    assert_non_null(before);
    /* The checkpoint (~260 kB) no longer fits: any file is capped at 64 kB. */
    const char *more[] = {"--data", g_dir, "--epochs", "4", "--batch", "16", "--hidden", "32",
                          "--bottleneck", "8", "--quiet", "--seed", "3", "--out", out, "--save", ckpt,
                          "--resume", ckpt, NULL};
    int rc = run(more, log, 64 * 1024);
    assert_int_not_equal(rc, 0);
    assert_true(rc < 128); /* a clean exit, not a crash */
    if (!file_contains(log, "checkpoint") || !file_contains(log, ckpt))
        fail_with_log("full disk: stderr should name the checkpoint", log);
    assert_true(file_contains(log, "File too large") || file_contains(log, "No space"));
    size_t n_after = 0;
    unsigned char *after = read_all(ckpt, &n_after);
    assert_non_null(after);
    assert_int_equal(n_after, n_before);
    assert_memory_equal(after, before, n_before);
    uint64_t epoch = 0;
    assert_int_equal(load_ckpt(ckpt, &epoch, NULL), CG_OK);
    assert_int_equal(epoch, 2);
    int leftovers = 0;
    struct trial_stats none = {0};
    check_leftovers(dir, &none, &leftovers); /* the failed save removed its temp file */
    free(before);
    free(after);
}

/* ---- divergence ---- */

static void test_nonfinite_loss(void **state)
{
    (void)state;
    char out[320], ckpt[320], log[320];
    snprintf(out, sizeof out, "%s/nan_out", g_dir);
    snprintf(ckpt, sizeof ckpt, "%s/nan.ckpt", g_dir);
    snprintf(log, sizeof log, "%s/nan_log.txt", g_dir);
    const char *args[] = {"--data", g_dir, "--epochs", EPOCHS, "--batch", "16", "--hidden", "32",
                          "--bottleneck", "8", "--quiet", "--seed", "3", "--out", out, "--save", ckpt,
                          "--lr", "1000", NULL, NULL};
    int rc = run(args, log, 0);
    assert_int_equal(rc, 1);
    assert_true(file_contains(log, "loss became"));
    assert_true(file_contains(log, "inf") || file_contains(log, "nan"));
    assert_true(file_contains(log, "--lr"));
    /* It stopped in the first epoch: no checkpoint of a diverged model. */
    assert_false(file_exists(ckpt));
    /* --anomaly: the message names the first op that produced Inf/NaN. */
    args[19] = "--anomaly";
    rc = run(args, log, 0);
    assert_int_equal(rc, 1);
    if (!file_contains(log, "op '")) fail_with_log("--anomaly should name the op", log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_and_resume),
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_nonfinite_loss),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
