/* Checkpoints of module buffers (record kind 4) and of an optimizer written
 * in this test against the public interface only: whatever its
 * visit_state yields is saved and restored, with no checkpoint code of its
 * own.  Round trips and resumes are bitwise; every mismatch is refused
 * with its status and message and changes nothing. */
#define _POSIX_C_SOURCE 200809L
#include "cg_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buffer_layer.h"
#include "ckpt_model.h"

static char dir[64];

static const char *in_dir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}
#define PATH(name) in_dir((char[160]){0}, 160, name)

/* ---- an optimizer that exists only here ----
 *
 * Averaged gradient descent: avg = first step ? g : beta avg + (1 - beta) g,
 * p -= lr avg.  Items: "beta" (f64 config), "mode" (text config), "ticks"
 * (u64 state, unless without_ticks) and "state.<name>.avg" (tensors
 * created at a parameter's first step). */
struct avg_opt {
    struct cg_optimizer base;
    double beta;
    char mode[8];
    uint64_t ticks;
    bool without_ticks;
    struct cg_tensor *avg[CG_TEST_TMOD_MAX];
    bool has[CG_TEST_TMOD_MAX];
};

static enum cg_status avg_step(struct cg_optimizer *self)
{
    struct avg_opt *a = (struct avg_opt *)self;
    for (size_t i = 0; i < self->n_params; i++) {
        struct cg_tensor *p = self->params[i].tensor, *g = p->grad;
        double lr = self->groups[self->params[i].group].lr;
        for (int64_t k = 0; k < p->numel; k++) {
            double v = a->has[i] ? a->beta * cg_tensor_at(a->avg[i], k) +
                                       (1 - a->beta) * cg_tensor_at(g, k)
                                 : cg_tensor_at(g, k);
            cg_tensor_set_at(a->avg[i], k, v);
            cg_tensor_set_at(p, k, cg_tensor_at(p, k) - lr * v);
        }
        a->has[i] = true;
    }
    a->ticks += 3;
    return CG_OK;
}

static void avg_visit(struct cg_optimizer *self, cg_state_visitor visit, void *user)
{
    struct avg_opt *a = (struct avg_opt *)self;
    visit(&(struct cg_state_item){.name = "beta", .type = CG_STATE_F64, .values = &a->beta,
                                  .count = 1, .config = true},
          user);
    visit(&(struct cg_state_item){.name = "mode", .type = CG_STATE_TEXT, .values = a->mode,
                                  .count = strlen(a->mode), .config = true},
          user);
    if (!a->without_ticks)
        visit(&(struct cg_state_item){.name = "ticks", .type = CG_STATE_U64, .values = &a->ticks,
                                      .count = 1},
              user);
    for (size_t i = 0; i < self->n_params; i++) {
        char name[CG_PARAM_NAME_MAX + 16];
        snprintf(name, sizeof name, "state.%s.avg", self->params[i].name);
        visit(&(struct cg_state_item){.name = name, .type = CG_STATE_TENSOR, .tensor = a->avg[i],
                                      .present = &a->has[i]},
              user);
    }
}

static void avg_free(struct cg_optimizer *self)
{
    struct avg_opt *a = (struct avg_opt *)self;
    for (size_t i = 0; i < self->n_params; i++) cg_tensor_free(a->avg[i]);
    free(a);
}

static const struct cg_optimizer_vtable avg_vtable = {
    .type_name = "TestAvg", .step = avg_step, .visit_state = avg_visit, .free = avg_free};

static struct cg_optimizer *avg_new(struct cg_module *model, double beta, const char *mode)
{
    struct avg_opt *a = calloc(1, sizeof *a);
    assert_non_null(a);
    assert_int_equal(cg_optimizer_init(&a->base, &avg_vtable, model, 0.1, 0, "avg_new"), CG_OK);
    assert_true(a->base.n_params <= CG_TEST_TMOD_MAX);
    a->beta = beta;
    snprintf(a->mode, sizeof a->mode, "%s", mode);
    for (size_t i = 0; i < a->base.n_params; i++) {
        const struct cg_tensor *p = a->base.params[i].tensor;
        a->avg[i] = cg_tensor_zeros(NULL, p->dtype, p->ndim, p->shape);
        assert_non_null(a->avg[i]);
    }
    return &a->base;
}

/* ---- models ---- */

static const struct cg_test_pspec spec[4] = {
    {"0.weight", CG_F32, 2, {3, 4}, false},
    {"0.running_mean", CG_F32, 1, {4}, true},
    {"1.scale", CG_F64, 1, {2}, false},
    {"1.count", CG_F64, 0, {0}, true}};

/* The file's (kind, name) pairs in file order, "1:0.weight 4:0.running_mean ...". */
static void record_kinds(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char h[20], b[16];
    assert_int_equal(fread(h, 1, 20, f), 20);
    uint32_t n = h[12] | h[13] << 8 | (uint32_t)h[14] << 16 | (uint32_t)h[15] << 24;
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(fread(b, 1, 2, f), 2);
        size_t len = b[0] | (size_t)b[1] << 8;
        char name[256];
        assert_true(len < sizeof name);
        assert_int_equal(fread(name, 1, len, f), len);
        name[len] = '\0';
        assert_int_equal(fread(b, 1, 3, f), 3);
        int kind = b[0], ndim = b[2];
        assert_int_equal(fseek(f, 8L * ndim, SEEK_CUR), 0);
        assert_int_equal(fread(b, 1, 8, f), 8);
        long payload = 0;
        for (int k = 7; k >= 0; k--) payload = payload << 8 | b[k];
        assert_int_equal(fseek(f, payload + 4, SEEK_CUR), 0);
        used += (size_t)snprintf(out + used, size - used, "%s%d:%s", i ? " " : "", kind, name);
        assert_true(used < size);
    }
    fclose(f);
}

static void test_buffers_round_trip_and_resume(void **state)
{
    (void)state;
    const char *path = PATH("buffers.ckpt");
    struct cg_test_tmod *a = cg_test_tmod_new(spec, 4, 1), *b = cg_test_tmod_new(spec, 4, 2);
    struct cg_sgd_options o = {.lr = 0.05, .momentum = 0.9};
    struct cg_optimizer *oa = cg_sgd_new(&a->base, o), *ob = cg_sgd_new(&b->base, o);
    cg_test_tmod_train(a, oa, 3);
    assert_int_equal(cg_checkpoint_save(path, &a->base, oa, NULL), CG_OK);
    char kinds[1024];
    record_kinds(path, kinds, sizeof kinds);
    /* parameters, then buffers, then the optimizer's items (SGD's first) */
    const char *want = "1:0.weight 1:1.scale 4:0.running_mean 4:1.count 2:momentum";
    if (strncmp(kinds, want, strlen(want)) != 0) fail_msg("records: %s", kinds);
    assert_non_null(strstr(kinds, " 2:state.1.scale.momentum_buffer 2:type 2:step "));
    assert_int_equal(cg_checkpoint_load(path, &b->base, ob, NULL), CG_OK);
    cg_test_assert_same_state(a, oa, b, ob);
    cg_test_tmod_train(a, oa, 2);
    cg_test_tmod_train(b, ob, 2);
    cg_test_assert_same_state(a, oa, b, ob);
    cg_optimizer_free(oa);
    cg_optimizer_free(ob);
    cg_module_free(&a->base);
    cg_module_free(&b->base);
}

/* The buffer layer of tests/support in a real model: forward in training
 * mode moves its running mean, and a resumed run matches bit for bit. */
static void train_layer(struct cg_module *m, struct cg_optimizer *opt, struct cg_rng *rng, int n)
{
    struct cg_tape *tape = cg_tape_new();
    for (int s = 0; s < n; s++) {
        struct cg_tensor *x = cg_tensor_randn(tape, CG_F32, CG_SHAPE(5, 4), rng);
        struct cg_tensor *loss = cg_mse_loss_mean(tape, cg_module_forward(m, tape, x),
                                                  cg_tensor_zeros(tape, CG_F32, CG_SHAPE(5, 3)));
        cg_optimizer_zero_grad(opt);
        assert_int_equal(cg_backward(tape, loss), CG_OK);
        assert_int_equal(cg_optimizer_step(opt), CG_OK);
        cg_tape_reset(tape);
    }
    cg_tape_free(tape);
}

static struct cg_module *layer_model(uint64_t seed)
{
    struct cg_rng rng = cg_rng_seed(seed);
    struct cg_module *m = cg_sequential(cg_linear_new(4, 3, true, &rng),
                                        cg_test_buffer_layer_new(3));
    assert_non_null(m);
    return m;
}

static void test_buffer_layer_resume(void **state)
{
    (void)state;
    const char *path = PATH("layer.ckpt");
    struct cg_module *a = layer_model(1), *b = layer_model(2);
    struct cg_sgd_options o = {.lr = 0.1, .momentum = 0.5};
    struct cg_optimizer *oa = cg_sgd_new(a, o), *ob = cg_sgd_new(b, o);
    struct cg_rng da = cg_rng_seed(4);
    train_layer(a, oa, &da, 3);
    struct cg_rng db = da;
    assert_int_equal(cg_checkpoint_save(path, a, oa, NULL), CG_OK);
    assert_int_equal(cg_checkpoint_load(path, b, ob, NULL), CG_OK);
    train_layer(a, oa, &da, 3);
    train_layer(b, ob, &db, 3);
    const char *names[] = {"1.running_mean", "1.num_batches"};
    for (int k = 0; k < 2; k++)
        assert_true(
            cg_test_same_bits(cg_module_buffer(a, names[k]), cg_module_buffer(b, names[k])));
    assert_true(cg_tensor_at(cg_module_buffer(b, "1.num_batches"), 0) == 6);
    for (size_t i = 0; i < cg_optimizer_param_count(oa); i++)
        assert_true(cg_test_same_bits(cg_optimizer_param(oa, i), cg_optimizer_param(ob, i)));
    cg_optimizer_free(oa);
    cg_optimizer_free(ob);
    cg_module_free(a);
    cg_module_free(b);
}

/* Loading `path` into the model of `s` (n tensors) with a TestAvg or SGD
 * optimizer fails with `want` and every substring, changing nothing. */
static void expect_fails(const char *path, const struct cg_test_pspec *s, int n, int which_opt,
                         enum cg_status want, const char *const *subs)
{
    struct cg_test_tmod *m = cg_test_tmod_new(s, n, 7), *copy = cg_test_tmod_new(s, n, 7);
    struct cg_optimizer *opt = NULL, *opt_copy = NULL;
    if (which_opt) {
        const struct cg_sgd_options o = {.lr = 0.1};
        opt = which_opt == 1 ? avg_new(&m->base, 0.25, "fast") : cg_sgd_new(&m->base, o);
        opt_copy = which_opt == 1 ? avg_new(&copy->base, 0.25, "fast") : cg_sgd_new(&copy->base, o);
        cg_test_tmod_train(m, opt, 2);
        cg_test_tmod_train(copy, opt_copy, 2);
    }
    enum cg_status st = cg_checkpoint_load(path, &m->base, opt, NULL);
    if (st != want) fail_msg("%s: %s (%s)", path, cg_status_str(st), cg_last_error());
    cg_test_expect_error_(path, subs);
    cg_test_assert_same_state(m, opt, copy, opt_copy);
    cg_optimizer_free(opt);
    cg_optimizer_free(opt_copy);
    cg_module_free(&m->base);
    cg_module_free(&copy->base);
}
#define EXPECT_FAILS(path, s, n, which, want, ...) \
    expect_fails(path, s, n, which, want, (const char *const[]){__VA_ARGS__, NULL})

static void test_buffer_mismatches(void **state)
{
    (void)state;
    const char *path = PATH("bufmis.ckpt");
    struct cg_test_tmod *a = cg_test_tmod_new(spec, 4, 1);
    assert_int_equal(cg_checkpoint_save(path, &a->base, NULL, NULL), CG_OK);
    cg_module_free(&a->base);
    EXPECT_FAILS(path, spec, 3, 0, CG_ERR_MISMATCH,
                 "record '1.count' matches no buffer of the model (the model has 1 buffers)");
    const struct cg_test_pspec extra[5] = {spec[0], spec[1], spec[2], spec[3],
                                           {"2.extra", CG_F32, 1, {2}, true}};
    EXPECT_FAILS(path, extra, 5, 0, CG_ERR_MISMATCH, "buffer '2.extra' [2] f32 of the model has no "
                 "record in the file");
    const struct cg_test_pspec shape[4] = {spec[0], {"0.running_mean", CG_F32, 1, {5}, true},
                                           spec[2], spec[3]};
    EXPECT_FAILS(path, shape, 4, 0, CG_ERR_MISMATCH,
                 "record '0.running_mean': shape [4] in file, [5] in model");
    const struct cg_test_pspec dtype[4] = {spec[0], spec[1], spec[2],
                                           {"1.count", CG_F32, 0, {0}, true}};
    EXPECT_FAILS(path, dtype, 4, 0, CG_ERR_MISMATCH,
                 "record '1.count': dtype f64 in file, f32 in model");
    /* A buffer is not a parameter of the same name. */
    const struct cg_test_pspec as_param[4] = {spec[0], {"0.running_mean", CG_F32, 1, {4}, false},
                                              spec[2], spec[3]};
    EXPECT_FAILS(path, as_param, 4, 0, CG_ERR_MISMATCH,
                 "parameter '0.running_mean' [4] f32 of the model has no record in the file");
}

static void test_user_optimizer_round_trip(void **state)
{
    (void)state;
    const char *path = PATH("avg.ckpt");
    struct cg_test_tmod *a = cg_test_tmod_new(spec, 4, 1), *b = cg_test_tmod_new(spec, 4, 2);
    struct cg_optimizer *oa = avg_new(&a->base, 0.25, "fast");
    struct cg_optimizer *ob = avg_new(&b->base, 0.25, "fast");
    assert_non_null(cg_lr_step_new(oa, 2, 0.5));
    assert_non_null(cg_lr_step_new(ob, 2, 0.5));
    cg_test_tmod_train(a, oa, 3);
    assert_int_equal(cg_checkpoint_save(path, &a->base, oa, NULL), CG_OK);
    cg_test_tmod_train(a, oa, 3);
    assert_int_equal(cg_checkpoint_load(path, &b->base, ob, NULL), CG_OK);
    assert_int_equal(((struct avg_opt *)ob)->ticks, 9);
    cg_test_tmod_train(b, ob, 3);
    cg_test_assert_same_state(a, oa, b, ob);
    assert_int_equal(cg_optimizer_step_count(ob), 6);

    /* State saved before the first step: a trained optimizer starts over,
     * its averages absent and zero-filled. */
    struct cg_test_tmod *c = cg_test_tmod_new(spec, 4, 3);
    struct cg_optimizer *oc = avg_new(&c->base, 0.25, "fast");
    assert_non_null(cg_lr_step_new(oc, 2, 0.5));
    assert_int_equal(cg_checkpoint_save(path, &c->base, oc, NULL), CG_OK);
    assert_int_equal(cg_checkpoint_load(path, &b->base, ob, NULL), CG_OK);
    cg_test_assert_same_state(c, oc, b, ob);
    struct avg_opt *ab = (struct avg_opt *)ob;
    for (size_t i = 0; i < ob->n_params; i++) {
        assert_false(ab->has[i]);
        for (int64_t k = 0; k < ab->avg[i]->numel; k++)
            assert_true(cg_tensor_at(ab->avg[i], k) == 0);
    }
    /* Optimizer only: model NULL on both sides. */
    cg_test_tmod_train(a, oa, 1);
    assert_int_equal(cg_checkpoint_save(path, NULL, oa, NULL), CG_OK);
    assert_int_equal(cg_checkpoint_load(path, NULL, ob, NULL), CG_OK);
    assert_int_equal(ab->ticks, ((struct avg_opt *)oa)->ticks);
    assert_true(cg_test_same_bits(ab->avg[0], ((struct avg_opt *)oa)->avg[0]));
    assert_int_equal(cg_checkpoint_load(path, &b->base, NULL, NULL), CG_ERR_MISMATCH);
    assert_non_null(
        strstr(cg_last_error(), "parameter '0.weight' [3,4] f32 of the model has no record"));

    cg_optimizer_free(oa);
    cg_optimizer_free(ob);
    cg_optimizer_free(oc);
    cg_module_free(&a->base);
    cg_module_free(&b->base);
    cg_module_free(&c->base);
}

static const char *save_avg(const char *name, double beta, const char *mode, bool without_ticks)
{
    static char paths[8][160];
    static int next;
    const char *path = in_dir(paths[next++ % 8], sizeof paths[0], name);
    struct cg_test_tmod *m = cg_test_tmod_new(spec, 4, 1);
    struct cg_optimizer *opt = avg_new(&m->base, beta, mode);
    ((struct avg_opt *)opt)->without_ticks = without_ticks;
    cg_test_tmod_train(m, opt, 2);
    assert_int_equal(cg_checkpoint_save(path, &m->base, opt, NULL), CG_OK);
    cg_optimizer_free(opt);
    cg_module_free(&m->base);
    return path;
}

static void test_user_optimizer_mismatches(void **state)
{
    (void)state;
    EXPECT_FAILS(save_avg("beta.ckpt", 0.5, "fast", false), spec, 4, 1, CG_ERR_MISMATCH,
                 "record 'beta': 0.5 in the file, 0.25 in the TestAvg optimizer (hint: create the "
                 "optimizer with the settings it was saved with)");
    EXPECT_FAILS(save_avg("mode.ckpt", 0.25, "slow", false), spec, 4, 1, CG_ERR_MISMATCH,
                 "record 'mode': 'slow' in the file, 'fast' in the TestAvg optimizer");
    EXPECT_FAILS(save_avg("noticks.ckpt", 0.25, "fast", true), spec, 4, 1, CG_ERR_MISMATCH,
                 "the TestAvg optimizer's item 'ticks' has no record in the file");
    /* The file has more than the optimizer yields: found after every item
     * matched, and still nothing (averages, step count, lr) has changed. */
    const char *ticks = save_avg("ticks.ckpt", 0.25, "fast", false);
    struct cg_test_tmod *m = cg_test_tmod_new(spec, 4, 1), *copy = cg_test_tmod_new(spec, 4, 1);
    struct cg_optimizer *opt = avg_new(&m->base, 0.25, "fast");
    struct cg_optimizer *opt_copy = avg_new(&copy->base, 0.25, "fast");
    ((struct avg_opt *)opt)->without_ticks = ((struct avg_opt *)opt_copy)->without_ticks = true;
    cg_test_tmod_train(m, opt, 1);
    cg_test_tmod_train(copy, opt_copy, 1);
    assert_int_equal(cg_checkpoint_load(ticks, &m->base, opt, NULL), CG_ERR_MISMATCH);
    CG_TEST_EXPECT_ERROR(ticks, "record 'ticks' is optimizer state this TestAvg optimizer does "
                         "not have");
    cg_test_assert_same_state(m, opt, copy, opt_copy);
    cg_optimizer_free(opt);
    cg_optimizer_free(opt_copy);
    cg_module_free(&m->base);
    cg_module_free(&copy->base);
    /* Another optimizer's file, both ways. */
    EXPECT_FAILS(ticks, spec, 4, 2, CG_ERR_MISMATCH, "record 'type': the file holds the state of "
                 "a 'TestAvg' optimizer, not of a 'SGD' one");
    const char *sgd = PATH("sgd.ckpt");
    m = cg_test_tmod_new(spec, 4, 1);
    opt = cg_sgd_new(&m->base, (struct cg_sgd_options){.lr = 0.1});
    assert_int_equal(cg_checkpoint_save(sgd, &m->base, opt, NULL), CG_OK);
    cg_optimizer_free(opt);
    cg_module_free(&m->base);
    EXPECT_FAILS(sgd, spec, 4, 1, CG_ERR_MISMATCH, "'SGD' optimizer, not of a 'TestAvg' one");
}

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/cg_ckpt_state_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    cg_test_remove_tree(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffers_round_trip_and_resume),
        cmocka_unit_test(test_buffer_layer_resume),
        cmocka_unit_test(test_buffer_mismatches),
        cmocka_unit_test(test_user_optimizer_round_trip),
        cmocka_unit_test(test_user_optimizer_mismatches),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
