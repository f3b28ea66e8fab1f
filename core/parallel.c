/* The worker pool behind cg_set_num_threads.
 *
 * Helpers wait for a job by spinning briefly on a generation counter (jobs
 * inside one training step come every few tens of microseconds, faster than
 * a futex wake-up), then sleep on a condition variable; the caller waiting
 * for its helpers does the same.  The spinning is bounded (50 us) so that on
 * a machine where another process keeps a core busy, waiting threads do not
 * take the time of the threads doing the work; and when helpers make the
 * caller wait longer than its own share took and than a scheduler time
 * slice, the next jobs run serially for a while (see
 * serial_backoff_seconds).  The caller takes part in its own job; every
 * thread starts with its own tasks and then claims any task nobody has
 * started, so a helper that is slow to wake delays nothing (its share just
 * loses cache locality).  One caller at a time owns the pool (trylock); any
 * other caller, or a task that calls back in, runs its tasks serially
 * instead of waiting or oversubscribing the cores. */
#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cblas.h>

#include "cgrad/memory.h"

struct job {
    cg_task_fn fn;
    void *ctx;
    int ntasks, threads;
    atomic_bool claimed[CG_MAX_TASKS];
    atomic_int done; /* tasks finished */
};

static struct {
    pthread_mutex_t owner;     /* held by the caller whose job is running */
    pthread_mutex_t sleep_mu;  /* with `wake`: helpers that stopped spinning */
    pthread_cond_t wake;
    pthread_cond_t finished;   /* with sleep_mu: the owner waiting for helpers */
    atomic_int owner_sleeping;
    double serial_until;       /* owner only: run jobs serially until then */
    atomic_uint generation;    /* bumped for every job and for shutdown */
    _Atomic(struct job *) job; /* the running job, NULL between jobs */
    atomic_int inside;         /* helpers that may be reading `job` */
    atomic_int sleepers;
    atomic_bool stop;
    atomic_int threads;        /* configured count, caller included */
    int helpers;               /* started helper threads */
    pthread_t tid[CG_MAX_THREADS];
    bool hooks_tried, hooks_ok; /* atexit and pthread_atfork handlers */
} pool = {
    .owner = PTHREAD_MUTEX_INITIALIZER,
    .sleep_mu = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .finished = PTHREAD_COND_INITIALIZER,
    .threads = 1,
};

/* Spinning longer than this before sleeping only burns a core that another
 * thread or process may need: on a busy machine a spinning helper takes time
 * from the caller it is meant to help. */
static const double spin_seconds = 50e-6;

/* After a job whose helpers made the owner wait longer than its own share
 * took and longer than stall_seconds (a helper descheduled, its core busy
 * with another process), the next jobs run serially for this long: on such
 * a machine the helpers would make every job slower than one thread.  Then
 * the pool is tried again. */
static const double serial_backoff_seconds = 0.02;

/* A wait this long means a helper lost its core for a scheduler time slice
 * (milliseconds).  Shorter waits are a helper waking from its sleep or a
 * share a little larger than the owner's: counting those as stalls sent
 * half the jobs of a 2-thread autoencoder epoch to run serially. */
static const double stall_seconds = 1e-3;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef bool (*ready_fn)(const void *arg);

/* Waits until ready(arg): spins for at most spin_seconds, then sleeps on cv
 * (with sleep_mu), counted in *sleeping so that wakers know to signal.
 * Returns true if it had to sleep. */
static bool spin_then_sleep(ready_fn ready, const void *arg, pthread_cond_t *cv,
                            atomic_int *sleeping)
{
    double deadline = 0;
    for (unsigned spins = 0; !ready(arg); spins++) {
        if ((spins & 63) != 63) {
            cpu_relax();
            continue;
        }
        double t = now_seconds();
        if (deadline == 0) deadline = t + spin_seconds;
        if (t < deadline) continue;
        pthread_mutex_lock(&pool.sleep_mu);
        atomic_fetch_add(sleeping, 1);
        while (!ready(arg)) pthread_cond_wait(cv, &pool.sleep_mu);
        atomic_fetch_sub(sleeping, 1);
        pthread_mutex_unlock(&pool.sleep_mu);
        return true;
    }
    return false;
}

/* Tells the owner, if it went to sleep, that a helper finished something. */
static void notify_owner(void)
{
    if (atomic_load(&pool.owner_sleeping) == 0) return;
    pthread_mutex_lock(&pool.sleep_mu);
    pthread_cond_broadcast(&pool.finished);
    pthread_mutex_unlock(&pool.sleep_mu);
}

static bool job_done(const void *arg)
{
    const struct job *j = arg;
    return atomic_load(&j->done) == j->ntasks;
}

static bool helpers_out(const void *arg)
{
    (void)arg;
    return atomic_load(&pool.inside) == 0;
}

static bool new_generation(const void *arg)
{
    return atomic_load(&pool.generation) != *(const unsigned *)arg || atomic_load(&pool.stop);
}

static void run_task(struct job *j, int t)
{
    if (atomic_load_explicit(&j->claimed[t], memory_order_relaxed) ||
        atomic_exchange(&j->claimed[t], true))
        return;
    j->fn(j->ctx, t);
    if (atomic_fetch_add(&j->done, 1) == j->ntasks - 1) notify_owner();
}

/* Thread `self` first runs tasks self, self + threads, ... (so the same
 * thread keeps touching the same rows from op to op and its cache stays
 * warm), then takes whatever a slower thread has not started. */
static void run_tasks(struct job *j, int self)
{
    for (int t = self; t < j->ntasks; t += j->threads) run_task(j, t);
    for (int t = 0; t < j->ntasks; t++) run_task(j, t);
}

/* Returns the new generation, or the old one when told to stop. */
static unsigned wait_for_work(unsigned seen)
{
    spin_then_sleep(new_generation, &seen, &pool.wake, &pool.sleepers);
    return atomic_load(&pool.generation);
}

static void *helper_main(void *arg)
{
    int self = (int)(intptr_t)arg;
    unsigned seen = atomic_load(&pool.generation);
    while (!atomic_load(&pool.stop)) {
        seen = wait_for_work(seen);
        /* `inside` is raised before `job` is read, so the owner, which
         * clears `job` and then waits for inside == 0, never returns (and
         * frees the job on its stack) while a helper still holds it. */
        atomic_fetch_add(&pool.inside, 1);
        struct job *j = atomic_load(&pool.job);
        if (j) run_tasks(j, self);
        if (atomic_fetch_sub(&pool.inside, 1) == 1) notify_owner();
    }
    return NULL;
}

static void broadcast_wake(void)
{
    pthread_mutex_lock(&pool.sleep_mu);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.sleep_mu);
}

static void wake_helpers(void)
{
    if (atomic_load(&pool.sleepers) > 0) broadcast_wake();
}

/* Caller holds pool.owner. */
static void stop_helpers(void)
{
    if (pool.helpers == 0) return;
    atomic_store(&pool.stop, true);
    atomic_fetch_add(&pool.generation, 1);
    broadcast_wake();
    for (int i = 0; i < pool.helpers; i++) pthread_join(pool.tid[i], NULL);
    pool.helpers = 0;
    atomic_store(&pool.stop, false);
}

/* Joins the helpers at exit so leak checkers see no live thread stacks. */
static void shutdown_at_exit(void)
{
    pthread_mutex_lock(&pool.owner);
    stop_helpers();
    pthread_mutex_unlock(&pool.owner);
}

/* fork(): the child has none of the helper threads.  The handlers hold the
 * pool's locks across the fork (so no job is half-run in the child) and the
 * child forgets the helpers, starting new ones if it runs a job. */
static void before_fork(void)
{
    pthread_mutex_lock(&pool.owner);
    pthread_mutex_lock(&pool.sleep_mu);
}

static void after_fork_parent(void)
{
    pthread_mutex_unlock(&pool.sleep_mu);
    pthread_mutex_unlock(&pool.owner);
}

static void after_fork_child(void)
{
    pool.helpers = 0;
    atomic_store(&pool.sleepers, 0);
    atomic_store(&pool.inside, 0);
    /* The copied condition variable may still count a parent's helper as a
     * waiter, and glibc's broadcast would wait for it forever. */
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.finished, NULL);
    atomic_store(&pool.owner_sleeping, 0);
    after_fork_parent();
}

/* Caller holds pool.owner.  A failed pthread_create leaves fewer helpers:
 * the tasks still all run, the caller claims the rest. */
static void start_helpers(void)
{
    if (!pool.hooks_tried) {
        pool.hooks_tried = true;
        pool.hooks_ok = atexit(shutdown_at_exit) == 0 &&
                        pthread_atfork(before_fork, after_fork_parent, after_fork_child) == 0;
    }
    if (!pool.hooks_ok) return; /* could not promise a clean exit or fork: stay serial */
    while (pool.helpers < pool.threads - 1 &&
           pthread_create(&pool.tid[pool.helpers], NULL, helper_main,
                          (void *)(intptr_t)(pool.helpers + 1)) == 0)
        pool.helpers++;
}

void cg_parallel_run(int ntasks, cg_task_fn fn, void *ctx)
{
    if (ntasks <= 0) return;
    if (ntasks == 1 || ntasks > CG_MAX_TASKS || atomic_load(&pool.threads) == 1 ||
        pthread_mutex_trylock(&pool.owner) != 0) {
        for (int t = 0; t < ntasks; t++) fn(ctx, t);
        return;
    }
    double start = now_seconds();
    if (start < pool.serial_until) {
        pthread_mutex_unlock(&pool.owner);
        for (int t = 0; t < ntasks; t++) fn(ctx, t);
        return;
    }
    if (pool.helpers < pool.threads - 1) start_helpers();
    struct job j = {.fn = fn, .ctx = ctx, .ntasks = ntasks, .threads = pool.helpers + 1};
    for (int t = 0; t < ntasks; t++) atomic_init(&j.claimed[t], false);
    atomic_init(&j.done, 0);
    atomic_store(&pool.job, &j);
    atomic_fetch_add(&pool.generation, 1);
    wake_helpers();
    run_tasks(&j, 0);
    double own_done = now_seconds();
    if (!job_done(&j)) {
        spin_then_sleep(job_done, &j, &pool.finished, &pool.owner_sleeping);
        double end = now_seconds();
        double waited = end - own_done;
        if (waited > own_done - start && waited > stall_seconds)
            pool.serial_until = end + serial_backoff_seconds;
    }
    atomic_store(&pool.job, NULL);
    spin_then_sleep(helpers_out, NULL, &pool.finished, &pool.owner_sleeping);
    pthread_mutex_unlock(&pool.owner);
}

void cg_split_range(int64_t n, int parts, int part, int64_t align, int64_t *begin, int64_t *end)
{
    int64_t units = (n + align - 1) / align;
    int64_t b = units * part / parts * align, e = units * (part + 1) / parts * align;
    *begin = b < n ? b : n;
    *end = e < n ? e : n;
}

static void set_threads(int n)
{
    if (n > CG_MAX_THREADS) n = CG_MAX_THREADS;
    pthread_mutex_lock(&pool.owner);
    if (n != atomic_load(&pool.threads)) stop_helpers();
    atomic_store(&pool.threads, n);
    pthread_mutex_unlock(&pool.owner);
    /* cgrad splits the products itself; OpenBLAS threads on top would
     * oversubscribe the cores. */
    openblas_set_num_threads(1);
}

static int env_threads(void)
{
    const char *env = getenv("CGRAD_NUM_THREADS");
    int n = env ? atoi(env) : 0;
    return n > 0 ? n : 0;
}

/* CGRAD_NUM_THREADS applies to programs that never call
 * cg_set_num_threads; an explicit call made later overrides it.  Without
 * either, OpenBLAS is still set to one thread per call at the first use, so
 * results do not depend on whether cg_set_num_threads(1) was called. */
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static void apply_env(void)
{
    int n = env_threads();
    if (n > 0) set_threads(n);
    else openblas_set_num_threads(1);
}

int cg_parallel_threads(void)
{
    pthread_once(&env_once, apply_env);
    return atomic_load(&pool.threads);
}

void cg_set_num_threads(int n)
{
    pthread_once(&env_once, apply_env);
    if (n <= 0) n = env_threads();
    if (n > 0) set_threads(n);
}

int cg_get_num_threads(void) { return cg_parallel_threads(); }
