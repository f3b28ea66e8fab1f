/* Allocation-failure injection, as SQLite tests it: for each sequence below,
 * allocation n is made to fail for n = 1, 2, ... until a run makes no
 * injected failure, so every allocation of the sequence fails once.  Each
 * failing run must end in CG_ERR_NOMEM (message "out of memory ...") or in
 * misuse with a message; never a crash, never a leak (the test command runs
 * this under AddressSanitizer's leak checker), never a half-changed model
 * after a failed checkpoint load, never a damaged file after a failed save.
 * After each failure the same sequence must still work once memory is back. */
#include "cg_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h" /* cg_alloc_fail_nth: internal test hook */
#include "idx_writer.h"

enum { BATCH = 8, PIX = 784, HIDDEN = 256, CODE = 64 };

struct fixture {
    char dir[64];
    char ckpt[128];
    struct cg_rng rng;
    struct cg_module *model; /* the seed model, 784-256-64-784 */
    struct cg_optimizer *opt;
    struct cg_tensor *x;     /* a persistent batch */
};

/* The seed sparse autoencoder's model. */
static struct cg_module *seed_model(struct cg_rng *rng)
{
    return cg_sequential(cg_linear_new(PIX, HIDDEN, true, rng), cg_hardshrink_new(0.1),
                         cg_linear_new(HIDDEN, CODE, true, rng), cg_linear_new(CODE, PIX, true, rng));
}

/* Status of a constructor's NULL result: NOMEM if its last error says so. */
static enum cg_status null_status(void)
{
    return strstr(cg_last_error(), "out of memory") ? CG_ERR_NOMEM : CG_ERR_INVALID;
}

typedef enum cg_status (*run_fn)(struct fixture *f);
typedef void (*after_fn)(struct fixture *f, enum cg_status st);

/* Fails allocation 1, 2, ... of run(f) in turn; after each failing run,
 * after(f, status) checks what the failure left behind.  Returns how many
 * allocations the sequence makes (the injection points). */
static size_t fail_each_allocation(const char *name, struct fixture *f, run_fn run, after_fn after)
{
    for (size_t n = 1;; n++) {
        cg_clear_error();
        cg_test_capture_misuse();
        cg_test_misuse_reset();
        cg_alloc_fail_nth(n);
        enum cg_status st = run(f);
        bool fired = cg_alloc_fail_fired();
        cg_alloc_fail_nth(0);
        int misuses = cg_test_misuse_count();
        cg_test_release_misuse();
        if (!fired) {
            if (st != CG_OK || misuses)
                fail_msg("%s: run without failure returned %s (%s)", name, cg_status_str(st),
                         cg_last_error());
            printf("%s: %zu allocations, each failed once\n", name, n - 1);
            return n - 1;
        }
        bool nomem = st == CG_ERR_NOMEM && strstr(cg_last_error(), "out of memory");
        bool misuse = st == CG_ERR_INVALID && misuses > 0 && cg_test_misuse_message()[0];
        if (!nomem && !misuse)
            fail_msg("%s: allocation %zu failed, the sequence returned %s with %d misuse "
                     "reports and message '%s'", name, n, cg_status_str(st), misuses,
                     cg_last_error());
        if (after) after(f, st);
    }
}

/* ---- building the seed model ---- */

static enum cg_status build_model(struct fixture *f)
{
    struct cg_rng rng = cg_rng_seed(7);
    struct cg_module *m = seed_model(&rng);
    if (!m) return null_status();
    cg_module_free(m);
    (void)f;
    return CG_OK;
}

/* ---- creating the optimizer ---- */

static enum cg_status create_optimizer(struct fixture *f)
{
    struct cg_optimizer *opt = cg_sgd_new(f->model, (struct cg_sgd_options){.lr = 0.1, .momentum = 0.9});
    if (!opt) return null_status();
    cg_optimizer_free(opt);
    return CG_OK;
}

/* ---- a OneCycleLR cycling the momentum of an SGD and an RMSprop created
 *      without one (it allocates their momentum buffers) ---- */

static enum cg_status create_cycling_schedule(struct fixture *f)
{
    for (int which = 0; which < 2; which++) {
        struct cg_optimizer *opt =
            which ? cg_rmsprop_new(f->model, (struct cg_rmsprop_options){.lr = 0.01})
                  : cg_sgd_new(f->model, (struct cg_sgd_options){.lr = 0.1});
        if (!opt) return null_status();
        struct cg_lr_schedule *s = cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
            .max_lr = 0.1, .total_steps = 10});
        enum cg_status st = s ? CG_OK : null_status();
        /* A refused schedule leaves the optimizer as it was. */
        if (!s && (cg_optimizer_schedule(opt) || cg_optimizer_get_group_momentum(opt, 0) != 0))
            st = CG_ERR_MISMATCH;
        cg_optimizer_free(opt);
        if (st != CG_OK) return st;
    }
    return CG_OK;
}

/* ---- a training step, on a new tape (its first step allocates) ---- */

static enum cg_status training_step(struct fixture *f)
{
    struct cg_tape *tape = cg_tape_new();
    if (!tape) return null_status();
    struct cg_tensor *h = cg_module_forward(cg_sequential_child(f->model, 0), tape, f->x);
    struct cg_tensor *c = cg_module_forward(cg_sequential_child(f->model, 1), tape, h);
    struct cg_tensor *z = cg_module_forward(cg_sequential_child(f->model, 2), tape, c);
    struct cg_tensor *y = cg_module_forward(cg_sequential_child(f->model, 3), tape, z);
    struct cg_tensor *loss = cg_add(tape, cg_mse_loss_mean(tape, y, f->x), cg_l1_penalty(tape, c, 1e-3));
    cg_optimizer_zero_grad(f->opt);
    enum cg_status st = loss ? cg_backward(tape, loss) : null_status();
    if (st == CG_OK) st = cg_optimizer_step(f->opt);
    cg_tape_free(tape);
    return st;
}

static void step_works_again(struct fixture *f, enum cg_status st)
{
    (void)st;
    assert_int_equal(training_step(f), CG_OK);
}

/* ---- gradcheck of a small layer ---- */

static struct cg_tensor *tanh_linear(struct cg_tape *tape, struct cg_tensor *const *in, void *user)
{
    (void)user;
    return cg_tanh(tape, cg_linear(tape, in[0], in[1], in[2]));
}

static enum cg_status gradcheck_layer(struct fixture *f)
{
    (void)f;
    struct cg_rng rng = cg_rng_seed(3);
    struct cg_tensor *in[3] = {
        cg_tensor_rand(NULL, CG_F64, CG_SHAPE(2, 3), &rng),
        cg_tensor_rand(NULL, CG_F64, CG_SHAPE(4, 3), &rng),
        cg_tensor_rand(NULL, CG_F64, CG_SHAPE(4), &rng),
    };
    enum cg_status st = CG_OK;
    for (int i = 0; i < 3 && st == CG_OK; i++) {
        if (!in[i]) st = null_status();
        else st = cg_tensor_requires_grad(in[i], true);
    }
    struct cg_gradcheck_report rep;
    if (st == CG_OK) st = cg_gradcheck(tanh_linear, NULL, 3, in, NULL, &rep);
    for (int i = 0; i < 3; i++) cg_tensor_free(in[i]);
    return st;
}

/* ---- MNIST load ---- */

static enum cg_status load_mnist(struct fixture *f)
{
    struct cg_dataset ds;
    enum cg_status st = cg_mnist_load(&ds, f->dir, CG_MNIST_TRAIN);
    if (st == CG_OK) {
        bool ok = ds.count == 40 && ds.rows == 28 && ds.labels;
        cg_dataset_free(&ds);
        return ok ? CG_OK : CG_ERR_FORMAT;
    }
    /* A failed load leaves the dataset empty, nothing to free. */
    assert_true(ds.count == 0 && !ds.images && !ds.labels);
    return st;
}

/* ---- checkpoint save and load ---- */

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    *len = fread(b, 1, (size_t)n, fp);
    fclose(fp);
    return b;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static unsigned char *old_file;
static size_t old_len;

static enum cg_status save_checkpoint(struct fixture *f)
{
    return cg_checkpoint_save(f->ckpt, f->model, f->opt, NULL);
}

/* The failed save left the previous file, byte for byte, and no temp file. */
static void file_intact(struct fixture *f, enum cg_status st)
{
    (void)st;
    size_t len = 0;
    unsigned char *now = read_all(f->ckpt, &len);
    assert_non_null(now);
    assert_int_equal(len, old_len);
    assert_memory_equal(now, old_file, len);
    free(now);
    assert_int_equal(count_entries(f->dir), 5); /* 4 MNIST files + the checkpoint */
}

/* A fresh model and optimizer with other values than the file's. */
static struct cg_module *target_model;
static struct cg_optimizer *target_opt;
static float *target_snapshot;
static size_t target_floats;

static void visit_copy(const char *name, struct cg_tensor *p, void *user)
{
    (void)name;
    float **cursor = user;
    memcpy(*cursor, p->data, (size_t)p->numel * sizeof(float));
    *cursor += p->numel;
}

static void visit_compare(const char *name, struct cg_tensor *p, void *user)
{
    float **cursor = user;
    if (memcmp(*cursor, p->data, (size_t)p->numel * sizeof(float)))
        fail_msg("parameter %s changed by a failed load", name);
    *cursor += p->numel;
}

static enum cg_status load_checkpoint(struct fixture *f)
{
    return cg_checkpoint_load(f->ckpt, target_model, target_opt, NULL);
}

static void model_untouched(struct fixture *f, enum cg_status st)
{
    (void)f, (void)st;
    float *cursor = target_snapshot;
    cg_module_visit_params(target_model, visit_compare, &cursor);
    assert_int_equal(cg_optimizer_step_count(target_opt), 0);
    assert_true(cg_optimizer_get_lr(target_opt) == 0.5);
}

static void test_every_allocation_fails_once(void **state)
{
    struct fixture *f = *state;
    size_t total = 0;
    total += fail_each_allocation("seed model", f, build_model, NULL);
    total += fail_each_allocation("optimizer", f, create_optimizer, NULL);
    total += fail_each_allocation("cycling OneCycleLR", f, create_cycling_schedule, NULL);
    total += fail_each_allocation("training step", f, training_step, step_works_again);
    total += fail_each_allocation("gradcheck", f, gradcheck_layer, NULL);
    total += fail_each_allocation("MNIST load", f, load_mnist, NULL);

    assert_int_equal(cg_checkpoint_save(f->ckpt, f->model, f->opt, NULL), CG_OK);
    old_file = read_all(f->ckpt, &old_len);
    assert_non_null(old_file);
    assert_int_equal(training_step(f), CG_OK); /* the model now differs from the file */
    total += fail_each_allocation("checkpoint save", f, save_checkpoint, file_intact);

    struct cg_rng rng = cg_rng_seed(99);
    target_model = seed_model(&rng);
    target_opt = cg_sgd_new(target_model, (struct cg_sgd_options){.lr = 0.5, .momentum = 0.9});
    assert_non_null(target_opt);
    target_floats = 0;
    for (size_t i = 0; i < cg_optimizer_param_count(target_opt); i++)
        target_floats += (size_t)cg_optimizer_param(target_opt, i)->numel;
    target_snapshot = malloc(target_floats * sizeof(float));
    assert_non_null(target_snapshot);
    float *cursor = target_snapshot;
    cg_module_visit_params(target_model, visit_copy, &cursor);
    total += fail_each_allocation("checkpoint load", f, load_checkpoint, model_untouched);
    printf("allocation-failure injection points in all: %zu\n", total);

    free(old_file);
    free(target_snapshot);
    cg_optimizer_free(target_opt);
    cg_module_free(target_model);
}

static int setup(void **state)
{
    static struct fixture f;
    snprintf(f.dir, sizeof f.dir, "/tmp/cg_alloc_fail_XXXXXX");
    if (!mkdtemp(f.dir)) return -1;
    snprintf(f.ckpt, sizeof f.ckpt, "%s/model.ckpt", f.dir);
    if (cg_test_write_mnist(f.dir, 40, 8, 5) != 0) return -1;
    f.rng = cg_rng_seed(1);
    f.model = seed_model(&f.rng);
    f.opt = cg_sgd_new(f.model, (struct cg_sgd_options){.lr = 0.1, .momentum = 0.9});
    f.x = cg_tensor_rand(NULL, CG_F32, CG_SHAPE(BATCH, PIX), &f.rng);
    if (!f.model || !f.opt || !f.x) return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    cg_tensor_free(f->x);
    cg_optimizer_free(f->opt);
    cg_module_free(f->model);
    cg_test_remove_tree(f->dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
