/* The thread pool (cg_set_num_threads): every task runs once, split products
 * agree with unsplit ones, results repeat bit for bit for a given thread
 * count, a busy pool falls back to the same cut, the optimizer's update does
 * not depend on the cut at all, and training allocates nothing per step. */
#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "cg_test.h"
#include "parallel.h"

static atomic_int task_runs[CG_MAX_TASKS + 100];
static const char *program_path; /* argv[0], to run this program again */

static void count_task(void *ctx, int t)
{
    (void)ctx;
    atomic_fetch_add(&task_runs[t], 1);
}

static void check_each_ran_once(int n)
{
    for (int t = 0; t < n; t++) assert_int_equal(atomic_load(&task_runs[t]), 1);
    for (int t = n; t < CG_MAX_TASKS + 100; t++) assert_int_equal(atomic_load(&task_runs[t]), 0);
}

static void reset_runs(void)
{
    for (int t = 0; t < CG_MAX_TASKS + 100; t++) atomic_store(&task_runs[t], 0);
}

static void every_task_runs_once(void **state)
{
    (void)state;
    int counts[] = {1, 2, 3, 7, 64, CG_MAX_TASKS, CG_MAX_TASKS + 100};
    for (int threads = 1; threads <= 4; threads++) {
        cg_set_num_threads(threads);
        assert_int_equal(cg_get_num_threads(), threads);
        for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
            for (int rep = 0; rep < 20; rep++) {
                reset_runs();
                cg_parallel_run(counts[i], count_task, NULL);
                check_each_ran_once(counts[i]);
            }
    }
    cg_set_num_threads(1);
}

/* A task that calls back into the pool gets a serial run, not a deadlock. */
static void nested_task(void *ctx, int t)
{
    (void)t;
    cg_parallel_run(10, count_task, ctx);
}

static void nested_run_is_serial(void **state)
{
    (void)state;
    cg_set_num_threads(2);
    reset_runs();
    cg_parallel_run(4, nested_task, NULL);
    for (int t = 0; t < 10; t++) assert_int_equal(atomic_load(&task_runs[t]), 4);
    cg_set_num_threads(1);
}

static void split_range_covers_in_aligned_runs(void **state)
{
    (void)state;
    int64_t sizes[] = {0, 1, 15, 16, 17, 64, 100, 784, 1000003};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        for (int parts = 1; parts <= 7; parts++)
            for (int64_t align = 1; align <= 16; align *= 4) {
                int64_t expect = 0;
                for (int p = 0; p < parts; p++) {
                    int64_t lo, hi;
                    cg_split_range(sizes[i], parts, p, align, &lo, &hi);
                    assert_int_equal(lo, expect);
                    assert_true(hi >= lo);
                    if (hi < sizes[i]) assert_int_equal(hi % align, 0);
                    expect = hi;
                }
                assert_int_equal(expect, sizes[i]);
            }
}

/* y = linear(x, w, b); loss = sum(y * r): returns y and fills the grads. */
struct linear_case {
    struct cg_tensor *x, *w, *b, *r, *y;
};

static struct linear_case linear_case_new(enum cg_dtype dt, int64_t n, int64_t in, int64_t out)
{
    struct cg_rng rng = cg_rng_seed((uint64_t)(n * 1000 + in * 10 + out));
    struct linear_case c = {
        cg_tensor_randn(NULL, dt, CG_SHAPE(n, in), &rng),
        cg_tensor_randn(NULL, dt, CG_SHAPE(out, in), &rng),
        cg_tensor_randn(NULL, dt, CG_SHAPE(out), &rng),
        cg_tensor_randn(NULL, dt, CG_SHAPE(n, out), &rng),
        cg_tensor_empty(NULL, dt, CG_SHAPE(n, out)),
    };
    assert_non_null(c.y);
    assert_int_equal(cg_tensor_requires_grad(c.x, true), CG_OK);
    assert_int_equal(cg_tensor_requires_grad(c.w, true), CG_OK);
    assert_int_equal(cg_tensor_requires_grad(c.b, true), CG_OK);
    return c;
}

static void linear_case_run(struct linear_case *c, struct cg_tape *tape)
{
    cg_tensor_zero_grad(c->x);
    cg_tensor_zero_grad(c->w);
    cg_tensor_zero_grad(c->b);
    struct cg_tensor *y = cg_linear(tape, c->x, c->w, c->b);
    assert_non_null(y);
    assert_int_equal(cg_backward(tape, cg_sum(tape, cg_mul(tape, y, c->r))), CG_OK);
    memcpy(c->y->data, y->data, (size_t)y->numel * cg_dtype_size(y->dtype));
    cg_tape_reset(tape);
}

static void linear_case_free(struct linear_case *c)
{
    cg_tensor_free(c->x);
    cg_tensor_free(c->w);
    cg_tensor_free(c->b);
    cg_tensor_free(c->r);
    cg_tensor_free(c->y);
}

static void assert_all_close(const struct cg_tensor *a, const struct cg_tensor *b, double rtol)
{
    assert_int_equal(a->numel, b->numel);
    double scale = 0;
    for (int64_t i = 0; i < b->numel; i++) {
        double v = fabs(cg_tensor_at(b, i));
        scale = v > scale ? v : scale;
    }
    for (int64_t i = 0; i < a->numel; i++)
        CG_ASSERT_CLOSE(cg_tensor_at(a, i), cg_tensor_at(b, i), rtol * (scale + 1), rtol);
}

/* Split products (by rows, by columns, ragged last blocks) against the
 * one-thread result, forward and every gradient, both dtypes. */
static void split_linear_matches_one_thread(void **state)
{
    (void)state;
    const int64_t shapes[][3] = {{64, 784, 256}, {64, 256, 64}, {64, 64, 784}, {37, 100, 53},
                                 {300, 40, 33},  {5, 3, 2},     {1, 513, 129}};
    struct cg_tape *tape = cg_tape_new();
    for (int d = 0; d < 2; d++) {
        enum cg_dtype dt = d ? CG_F64 : CG_F32;
        double rtol = d ? 1e-12 : 2e-5;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            struct linear_case one = linear_case_new(dt, shapes[s][0], shapes[s][1], shapes[s][2]);
            cg_set_num_threads(1);
            linear_case_run(&one, tape);
            for (int threads = 2; threads <= 3; threads++) {
                struct linear_case many =
                    linear_case_new(dt, shapes[s][0], shapes[s][1], shapes[s][2]);
                cg_set_num_threads(threads);
                linear_case_run(&many, tape);
                assert_all_close(many.y, one.y, rtol);
                assert_all_close(many.x->grad, one.x->grad, rtol);
                assert_all_close(many.w->grad, one.w->grad, rtol);
                assert_all_close(many.b->grad, one.b->grad, rtol);
                linear_case_free(&many);
            }
            linear_case_free(&one);
        }
    }
    cg_set_num_threads(1);
    cg_tape_free(tape);
}

/* Batched matmul hands up to 32 products to the pool at once. */
static void split_matmul_matches_one_thread(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(3);
    struct cg_tape *tape = cg_tape_new();
    const int64_t shapes[][4] = {{40, 9, 70, 90}, {1, 200, 300, 100}};
    for (size_t s = 0; s < 2; s++) {
        int64_t bt = shapes[s][0], m = shapes[s][1], k = shapes[s][2], n = shapes[s][3];
        struct cg_tensor *a = cg_tensor_randn(NULL, CG_F32, CG_SHAPE(bt, m, k), &rng);
        struct cg_tensor *b = cg_tensor_randn(NULL, CG_F32, CG_SHAPE(bt, k, n), &rng);
        struct cg_tensor *keep[2][3];
        assert_int_equal(cg_tensor_requires_grad(a, true), CG_OK);
        assert_int_equal(cg_tensor_requires_grad(b, true), CG_OK);
        for (int run = 0; run < 2; run++) {
            cg_set_num_threads(run ? 2 : 1);
            cg_tensor_zero_grad(a);
            cg_tensor_zero_grad(b);
            struct cg_tensor *a3 = bt == 1 ? cg_reshape(tape, a, CG_SHAPE(m, k)) : a;
            struct cg_tensor *b3 = bt == 1 ? cg_reshape(tape, b, CG_SHAPE(k, n)) : b;
            struct cg_tensor *c = cg_matmul(tape, a3, b3);
            assert_non_null(c);
            assert_int_equal(cg_backward(tape, cg_sum(tape, cg_square(tape, c))), CG_OK);
            keep[run][0] = cg_tensor_copy(NULL, c);
            keep[run][1] = cg_tensor_copy(NULL, a->grad);
            keep[run][2] = cg_tensor_copy(NULL, b->grad);
            cg_tape_reset(tape);
        }
        for (int i = 0; i < 3; i++) {
            assert_all_close(keep[1][i], keep[0][i], 2e-5);
            cg_tensor_free(keep[0][i]);
            cg_tensor_free(keep[1][i]);
        }
        cg_tensor_free(a);
        cg_tensor_free(b);
    }
    cg_set_num_threads(1);
    cg_tape_free(tape);
}

/* A small sparse autoencoder trained for `steps` steps; returns its
 * parameters concatenated (caller frees).  Counts allocations from step 2. */
static float *train_autoencoder(int steps, size_t *count, size_t *allocs_after_first)
{
    struct cg_rng rng = cg_rng_seed(11);
    struct cg_module *model = cg_sequential(cg_linear_new(196, 128, true, &rng),
                                            cg_hardshrink_new(0.1),
                                            cg_linear_new(128, 32, true, &rng),
                                            cg_linear_new(32, 196, true, &rng));
    struct cg_optimizer *opt = cg_sgd_new(model, (struct cg_sgd_options){.lr = 0.05, .momentum = 0.9});
    struct cg_tensor *x = cg_tensor_rand(NULL, CG_F32, CG_SHAPE(48, 196), &rng);
    struct cg_tape *tape = cg_tape_new();
    assert_non_null(opt);
    assert_non_null(x);
    size_t allocs = 0;
    for (int step = 0; step < steps; step++, cg_tape_reset(tape)) {
        struct cg_tensor *loss = cg_mse_loss_mean(tape, cg_module_forward(model, tape, x), x);
        cg_optimizer_zero_grad(opt);
        assert_int_equal(cg_backward(tape, loss), CG_OK);
        assert_int_equal(cg_optimizer_step(opt), CG_OK);
        if (step == 0) allocs = cg_alloc_count();
    }
    if (allocs_after_first) *allocs_after_first = cg_alloc_count() - allocs;
    size_t total = 0;
    for (size_t i = 0; i < cg_optimizer_param_count(opt); i++)
        total += (size_t)cg_optimizer_param(opt, i)->numel;
    float *out = malloc(total * sizeof *out), *dst = out;
    assert_non_null(out);
    for (size_t i = 0; i < cg_optimizer_param_count(opt); i++) {
        const struct cg_tensor *p = cg_optimizer_param(opt, i);
        memcpy(dst, p->data, (size_t)p->numel * sizeof *dst);
        dst += p->numel;
    }
    *count = total;
    cg_tape_free(tape);
    cg_tensor_free(x);
    cg_optimizer_free(opt);
    cg_module_free(model);
    return out;
}

static void training_repeats_bit_for_bit(void **state)
{
    (void)state;
    size_t n1, n2, n3, allocs;
    cg_set_num_threads(1);
    float *one = train_autoencoder(30, &n1, NULL);
    cg_set_num_threads(2);
    float *a = train_autoencoder(30, &n2, &allocs);
    float *b = train_autoencoder(30, &n3, NULL);
    assert_int_equal(allocs, 0); /* the pool allocates nothing per step */
    assert_int_equal(n1, n2);
    assert_int_equal(n2, n3);
    assert_memory_equal(a, b, n2 * sizeof *a);
    for (size_t i = 0; i < n1; i++) CG_ASSERT_CLOSE(a[i], one[i], 1e-4, 1e-3);
    free(one), free(a), free(b);
    cg_set_num_threads(1);
}

/* Two threads of the user's train at once: one gets the pool, the other
 * runs the same cut serially, and both match a run alone bit for bit. */
struct contender {
    float *params;
    size_t count;
};

static void *contend(void *arg)
{
    struct contender *c = arg;
    c->params = train_autoencoder(30, &c->count, NULL);
    return NULL;
}

static void busy_pool_gives_the_same_bits(void **state)
{
    (void)state;
    cg_set_num_threads(2);
    size_t n;
    float *alone = train_autoencoder(30, &n, NULL);
    struct contender c[2] = {{0}};
    pthread_t tid[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&tid[i], NULL, contend, &c[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(tid[i], NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c[i].count, n);
        assert_memory_equal(c[i].params, alone, n * sizeof *alone);
        free(c[i].params);
    }
    free(alone);
    cg_set_num_threads(1);
}

/* The update is element by element: any thread count gives the same bits,
 * for every option combination, and zero_grad clears every element. */
static void sgd_update_does_not_depend_on_threads(void **state)
{
    (void)state;
    const struct cg_sgd_options opts[] = {
        {.lr = 0.1},
        {.lr = 0.1, .momentum = 0.9},
        {.lr = 0.1, .momentum = 0.9, .dampening = 0.3, .weight_decay = 0.01},
        {.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01, .maximize = true},
    };
    for (size_t o = 0; o < sizeof opts / sizeof *opts; o++) {
        struct cg_tensor *p[2][2];
        for (int run = 0; run < 2; run++) {
            struct cg_rng rng = cg_rng_seed(7);
            p[run][0] = cg_tensor_randn(NULL, CG_F32, CG_SHAPE(300, 170), &rng);
            p[run][1] = cg_tensor_randn(NULL, CG_F64, CG_SHAPE(77), &rng);
            for (int i = 0; i < 2; i++)
                assert_int_equal(cg_tensor_requires_grad(p[run][i], true), CG_OK);
            cg_set_num_threads(run ? 3 : 1);
            struct cg_optimizer *opt = cg_sgd_new_params(p[run], 2, opts[o]);
            assert_non_null(opt);
            for (int step = 0; step < 3; step++) {
                struct cg_tape *t32 = cg_tape_new(), *t64 = cg_tape_new();
                struct cg_tensor *l32 = cg_sum(t32, cg_tanh(t32, p[run][0]));
                struct cg_tensor *l64 = cg_sum(t64, cg_square(t64, p[run][1]));
                cg_optimizer_zero_grad(opt);
                for (int i = 0; i < 2; i++)
                    for (int64_t k = 0; k < p[run][i]->grad->numel; k++)
                        assert_true(cg_tensor_at(p[run][i]->grad, k) == 0);
                assert_int_equal(cg_backward(t32, l32), CG_OK);
                assert_int_equal(cg_backward(t64, l64), CG_OK);
                assert_int_equal(cg_optimizer_step(opt), CG_OK);
                cg_tape_free(t32);
                cg_tape_free(t64);
            }
            cg_optimizer_free(opt);
        }
        for (int i = 0; i < 2; i++) {
            assert_memory_equal(p[0][i]->data, p[1][i]->data,
                                (size_t)p[0][i]->numel * cg_dtype_size(p[0][i]->dtype));
            cg_tensor_free(p[0][i]);
            cg_tensor_free(p[1][i]);
        }
    }
    cg_set_num_threads(1);
}

/* A child forked after the helpers started has none of them: its jobs still
 * run every task, and exit() (which joins helpers) does not hang or crash. */
static void fork_after_helpers_started(void **state)
{
    (void)state;
#if defined(__SANITIZE_THREAD__)
    skip(); /* ThreadSanitizer cannot start threads in a forked child */
#endif
    cg_set_num_threads(2);
    reset_runs();
    cg_parallel_run(8, count_task, NULL); /* helpers now exist */
    check_each_ran_once(8);
    /* Let the helper stop spinning and sleep on the condition variable: a
     * child whose copy of it still counts that waiter must not hang. */
    nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        reset_runs();
        cg_parallel_run(50, count_task, NULL);
        int ok = 1;
        for (int t = 0; t < 50; t++) ok &= atomic_load(&task_runs[t]) == 1;
        cg_set_num_threads(3); /* stops the (absent) helpers, starts new ones lazily */
        reset_runs();
        cg_parallel_run(9, count_task, NULL);
        for (int t = 0; t < 9; t++) ok &= atomic_load(&task_runs[t]) == 1;
        exit(ok ? 0 : 3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    cg_set_num_threads(1);
}

/* CGRAD_NUM_THREADS alone (no cg_set_num_threads call) sets the count. */
static void environment_alone_sets_the_count(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "CGRAD_NUM_THREADS=3 CG_TEST_ENV_CHILD=1 %s", program_path);
    /* The child asks for the count first thing and exits; see main(). */
    int status = system(cmd);
    assert_int_equal(status, 0);
}

/* A program that never calls cg_set_num_threads: OpenBLAS follows cgrad's
 * count (one thread per call) from the first product, even when OpenBLAS
 * itself was told to start more threads. */
static void blas_follows_without_a_call(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "env -u CGRAD_NUM_THREADS OPENBLAS_NUM_THREADS=2 CG_TEST_BLAS_CHILD=1 %s",
             program_path);
    assert_int_equal(system(cmd), 0);
}

/* The child of blas_follows_without_a_call: one matmul, then the counts. */
static int blas_child(void)
{
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *a = cg_tensor_ones(NULL, CG_F32, CG_SHAPE(2, 2));
    struct cg_tensor *y = cg_matmul(tape, a, a);
    int ok = y && cg_tensor_at(y, 0) == 2.0 && cg_get_num_threads() == 1 &&
             openblas_get_num_threads() == 1;
    if (!ok) fprintf(stderr, "openblas_get_num_threads() = %d after the first product\n",
                     openblas_get_num_threads());
    cg_tensor_free(a);
    cg_tape_free(tape);
    return ok ? 0 : 1;
}

static void thread_count_setting(void **state)
{
    (void)state;
    cg_set_num_threads(3);
    assert_int_equal(cg_get_num_threads(), 3);
    unsetenv("CGRAD_NUM_THREADS");
    cg_set_num_threads(0); /* nothing set: unchanged */
    assert_int_equal(cg_get_num_threads(), 3);
    setenv("CGRAD_NUM_THREADS", "2", 1);
    cg_set_num_threads(-1);
    assert_int_equal(cg_get_num_threads(), 2);
    setenv("CGRAD_NUM_THREADS", "many", 1);
    cg_set_num_threads(0);
    assert_int_equal(cg_get_num_threads(), 2);
    unsetenv("CGRAD_NUM_THREADS");
    cg_set_num_threads(100000); /* capped */
    assert_int_equal(cg_get_num_threads(), CG_MAX_THREADS);
    reset_runs();
    cg_parallel_run(CG_MAX_TASKS, count_task, NULL);
    check_each_ran_once(CG_MAX_TASKS);
    cg_set_num_threads(1);
    assert_int_equal(cg_get_num_threads(), 1);
}

int main(int argc, char **argv)
{
    (void)argc;
    program_path = argv[0];
    if (getenv("CG_TEST_ENV_CHILD")) /* started by environment_alone_sets_the_count */
        return cg_get_num_threads() == 3 && cg_parallel_threads() == 3 ? 0 : 1;
    if (getenv("CG_TEST_BLAS_CHILD")) return blas_child();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_task_runs_once),
        cmocka_unit_test(nested_run_is_serial),
        cmocka_unit_test(split_range_covers_in_aligned_runs),
        cmocka_unit_test(split_linear_matches_one_thread),
        cmocka_unit_test(split_matmul_matches_one_thread),
        cmocka_unit_test(training_repeats_bit_for_bit),
        cmocka_unit_test(busy_pool_gives_the_same_bits),
        cmocka_unit_test(sgd_update_does_not_depend_on_threads),
        cmocka_unit_test(thread_count_setting),
        cmocka_unit_test(environment_alone_sets_the_count),
        cmocka_unit_test(blas_follows_without_a_call),
        cmocka_unit_test(fork_after_helpers_started),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
