/* Version-1 checkpoints written by cgrad 0.1 (tests/data/ckpt_v1_*.ckpt,
 * made by tests/gen_ckpt_v1.c) load into 0.2: the same parameters,
 * momentum buffers, step count, lr and schedule epoch as 0.2 computes for
 * the same training, bit for bit, and training continues identically.
 * So do OneCycleLR files from before it cycled momentum
 * (tests/data/ckpt_onecycle_old_*.ckpt, made by tests/gen_ckpt_onecycle_old.c)
 * into a OneCycleLR without cycling.  Files that do not fit are refused
 * with a message, changing nothing. */
#include "cg_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "ckpt_model.h"

#define FIXTURE(name) CG_TEST_DATA_DIR "/" name

static const struct cg_test_pspec spec[3] = {{"0.weight", CG_F32, 2, {3, 4}, false},
                                             {"0.bias", CG_F32, 1, {3}, false},
                                             {"1.scale", CG_F64, 2, {2, 2}, false}};

/* The two fixtures, as tests/gen_ckpt_v1.c made them. */
struct fixture {
    const char *path;
    uint64_t seed;
    struct cg_sgd_options options;
    bool cosine; /* CosineAnnealingLR(4, 0.01), else StepLR(2, 0.5) */
    int steps;
};

static const struct fixture step_fixture = {
    FIXTURE("ckpt_v1_step.ckpt"), 11,
    {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01}, false, 5};
static const struct fixture cosine_fixture = {
    FIXTURE("ckpt_v1_cosine.ckpt"), 12,
    {.lr = 0.2, .momentum = 0.5, .nesterov = true, .maximize = true}, true, 3};

static struct cg_optimizer *fixture_opt(struct cg_test_tmod *m, const struct fixture *fx)
{
    struct cg_optimizer *opt = cg_sgd_new(&m->base, fx->options);
    assert_non_null(opt);
    if (fx->cosine) assert_non_null(cg_lr_cosine_new(opt, 4, 0.01));
    else assert_non_null(cg_lr_step_new(opt, 2, 0.5));
    return opt;
}

static void check_fixture(const struct fixture *fx)
{
    /* 0.2 redoes 0.1's training ... */
    struct cg_test_tmod *ref = cg_test_tmod_new(spec, 3, fx->seed);
    struct cg_optimizer *oref = fixture_opt(ref, fx);
    cg_test_tmod_train(ref, oref, fx->steps);
    /* ... and loads 0.1's file into another model. */
    struct cg_test_tmod *m = cg_test_tmod_new(spec, 3, 99);
    struct cg_optimizer *opt = fixture_opt(m, fx);
    cg_test_tmod_train(m, opt, 1); /* state to overwrite */
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    if (cg_checkpoint_load(fx->path, &m->base, opt, meta) != CG_OK)
        fail_msg("%s: %s", fx->path, cg_last_error());
    cg_test_assert_same_state(ref, oref, m, opt);
    assert_int_equal(cg_optimizer_step_count(opt), (uint64_t)fx->steps);
    assert_int_equal(cg_lr_schedule_epoch(cg_optimizer_schedule(opt)), fx->steps);
    assert_true(cg_optimizer_get_lr(opt) == cg_optimizer_get_lr(oref));
    for (size_t i = 0; i < 3; i++) {
        assert_non_null(cg_sgd_momentum_buffer(opt, i));
        assert_true(cg_test_same_bits(cg_sgd_momentum_buffer(opt, i),
                                      cg_sgd_momentum_buffer(oref, i)));
    }
    uint64_t epoch = 0;
    assert_int_equal(cg_checkpoint_meta_get_u64(meta, "epoch", &epoch), CG_OK);
    assert_int_equal(epoch, (uint64_t)fx->steps);
    /* Weights only ... */
    struct cg_test_tmod *w = cg_test_tmod_new(spec, 3, 98);
    assert_int_equal(cg_checkpoint_load(fx->path, &w->base, NULL, NULL), CG_OK);
    cg_test_assert_same_state(ref, NULL, w, NULL);
    /* ... and training goes on as if never interrupted. */
    cg_test_tmod_train(ref, oref, 3);
    cg_test_tmod_train(m, opt, 3);
    cg_test_assert_same_state(ref, oref, m, opt);

    /* Optimizer only. */
    struct cg_test_tmod *o = cg_test_tmod_new(spec, 3, 97), *o_copy = cg_test_tmod_new(spec, 3, 97);
    struct cg_optimizer *oo = fixture_opt(o, fx);
    assert_int_equal(cg_checkpoint_load(fx->path, NULL, oo, NULL), CG_OK);
    cg_test_assert_same_state(o, NULL, o_copy, NULL); /* parameters untouched */
    assert_int_equal(cg_optimizer_step_count(oo), (uint64_t)fx->steps);

    cg_checkpoint_meta_free(meta);
    cg_optimizer_free(oref);
    cg_optimizer_free(opt);
    cg_optimizer_free(oo);
    cg_module_free(&ref->base);
    cg_module_free(&m->base);
    cg_module_free(&w->base);
    cg_module_free(&o->base);
    cg_module_free(&o_copy->base);
}

static void test_v1_step_schedule_fixture(void **state)
{
    (void)state;
    check_fixture(&step_fixture);
}

static void test_v1_cosine_nesterov_fixture(void **state)
{
    (void)state;
    check_fixture(&cosine_fixture);
}

/* A version-1 file into an optimizer it does not fit: the status, a
 * message naming the file, the item, the version-1 record and both
 * values, and nothing changed. */
static void expect_refused(const struct fixture *fx, struct cg_sgd_options o, int schedule,
                           bool bias_group, const char *const *subs)
{
    struct cg_test_tmod *m = cg_test_tmod_new(spec, 3, 5), *copy = cg_test_tmod_new(spec, 3, 5);
    struct cg_optimizer *opt = cg_sgd_new(&m->base, o), *opt_copy = cg_sgd_new(&copy->base, o);
    struct cg_optimizer *both[2] = {opt, opt_copy};
    for (int k = 0; k < 2; k++) {
        if (bias_group)
            assert_int_equal(
                cg_optimizer_add_group(both[k], "*.bias", (struct cg_group_options){0}), 1);
        if (schedule == 1) assert_non_null(cg_lr_step_new(both[k], 2, 0.5));
        if (schedule == 2) assert_non_null(cg_lr_cosine_new(both[k], 4, 0.01));
    }
    cg_test_tmod_train(m, opt, 2);
    cg_test_tmod_train(copy, opt_copy, 2);
    assert_int_equal(cg_checkpoint_load(fx->path, &m->base, opt, NULL), CG_ERR_MISMATCH);
    cg_test_expect_error_(fx->path, subs);
    cg_test_assert_same_state(m, opt, copy, opt_copy);
    cg_optimizer_free(opt);
    cg_optimizer_free(opt_copy);
    cg_module_free(&m->base);
    cg_module_free(&copy->base);
}
#define EXPECT_REFUSED(fx, o, schedule, group, ...) \
    expect_refused(fx, o, schedule, group, (const char *const[]){__VA_ARGS__, NULL})

static void test_v1_mismatches(void **state)
{
    (void)state;
    struct cg_sgd_options o = step_fixture.options;
    o.momentum = 0.5;
    EXPECT_REFUSED(&step_fixture, o, 1, false,
                   "record 'momentum, from version-1 record sgd.options': 0.90000000000000002 in "
                   "the file, 0.5 in the SGD optimizer");
    o = step_fixture.options;
    o.weight_decay = 0;
    EXPECT_REFUSED(&step_fixture, o, 1, false, "record 'group.0.weight_decay, from version-1 "
                   "record sgd.options': 0.01 in the file, 0 in the SGD optimizer");
    EXPECT_REFUSED(&step_fixture, step_fixture.options, 1, true,
                   "record 'param_groups, from version-1 record sgd.options': [0, 0, 0] in the "
                   "file, [0, 1, 0]");
    EXPECT_REFUSED(&step_fixture, step_fixture.options, 0, false,
                   "from version-1 record lr_schedule", "create the learning-rate schedule");
    EXPECT_REFUSED(&step_fixture, step_fixture.options, 2, false,
                   "record 'schedule.type, from version-1 record lr_schedule.config': 'StepLR' "
                   "in the file, 'CosineAnnealingLR' in the SGD optimizer");
    o = cosine_fixture.options;
    o.nesterov = false;
    EXPECT_REFUSED(&cosine_fixture, o, 2, false, "record 'nesterov, from version-1 record "
                   "sgd.options': 1 in the file, 0 in the SGD optimizer");
}

/* ---- damaged version-1 files: valid CRCs, values 0.1 never wrote ---- */

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *b = malloc(4096);
    assert_non_null(b);
    *size = fread(b, 1, 4096, f);
    assert_true(*size > 20 && *size < 4096);
    fclose(f);
    return b;
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Offset of the record named `name` (layout in cgrad/checkpoint.h), its
 * payload and its end (where its CRC is). */
struct rec_at {
    size_t start, kind, payload, crc;
};

static struct rec_at find_record(const unsigned char *b, size_t size, const char *name)
{
    size_t pos = 20;
    while (pos < size) {
        struct rec_at r = {.start = pos};
        size_t len = b[pos] | (size_t)b[pos + 1] << 8;
        bool hit = len == strlen(name) && memcmp(b + pos + 2, name, len) == 0;
        pos += 2 + len;
        r.kind = pos;
        int ndim = b[pos + 2];
        pos += 3 + 8 * (size_t)ndim;
        uint64_t payload = 0;
        for (int k = 7; k >= 0; k--) payload = payload << 8 | b[pos + (size_t)k];
        pos += 8;
        r.payload = pos;
        pos += (size_t)payload;
        r.crc = pos;
        pos += 4;
        if (hit) return r;
    }
    fail_msg("no record '%s'", name);
    return (struct rec_at){0};
}

static void fix_crc(unsigned char *b, struct rec_at r)
{
    put_le(b + r.crc, crc32(0L, b + r.start, (uInt)(r.crc - r.start)), 4);
}

/* Loads the damaged bytes with an SGD optimizer like the fixture's: the
 * status and message, nothing changed (expect_refused's model). */
static void expect_damaged(const unsigned char *b, size_t size, enum cg_status want,
                           const char *const *subs)
{
    char path[] = "/tmp/cg_ckpt_v1_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, size), (ssize_t)size);
    close(fd);
    struct cg_test_tmod *m = cg_test_tmod_new(spec, 3, 5), *copy = cg_test_tmod_new(spec, 3, 5);
    struct cg_optimizer *opt = fixture_opt(m, &step_fixture);
    struct cg_optimizer *opt_copy = fixture_opt(copy, &step_fixture);
    enum cg_status st = cg_checkpoint_load(path, &m->base, opt, NULL);
    if (st != want) fail_msg("%s (%s)", cg_status_str(st), cg_last_error());
    cg_test_expect_error_(path, subs);
    cg_test_assert_same_state(m, opt, copy, opt_copy);
    remove(path);
    cg_optimizer_free(opt);
    cg_optimizer_free(opt_copy);
    cg_module_free(&m->base);
    cg_module_free(&copy->base);
}
#define EXPECT_DAMAGED(b, size, want, ...) \
    expect_damaged(b, size, want, (const char *const[]){__VA_ARGS__, NULL})

static void put_f64(unsigned char *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put_le(p, u, 8);
}

static void test_v1_damaged_records(void **state)
{
    (void)state;
    size_t size;
    unsigned char *b = read_file(step_fixture.path, &size);
    unsigned char *orig = malloc(size);
    assert_non_null(orig);
    memcpy(orig, b, size);
    struct rec_at o = find_record(b, size, "sgd.options");
    put_f64(b + o.payload + 8 * 4, 0.5); /* nesterov */
    fix_crc(b, o);
    EXPECT_DAMAGED(b, size, CG_ERR_FORMAT, "version-1 record 'sgd.options': nesterov is 0.5, "
                   "expected 0 or 1");
    memcpy(b, orig, size);
    struct rec_at c = find_record(b, size, "lr_schedule.config");
    put_f64(b + c.payload, 3); /* schedule type */
    fix_crc(b, c);
    EXPECT_DAMAGED(b, size, CG_ERR_FORMAT, "version-1 record 'lr_schedule.config': type 3");
    memcpy(b, orig, size);
    put_f64(b + c.payload + 16, 2.5); /* step_size */
    fix_crc(b, c);
    EXPECT_DAMAGED(b, size, CG_ERR_FORMAT, "period 2.5 (expected an integer >= 1)");
    memcpy(b, orig, size);
    struct rec_at s = find_record(b, size, "sgd.step");
    b[s.start + 2 + 7] = 'x'; /* "sgd.stex": not a version-1 name */
    fix_crc(b, s);
    EXPECT_DAMAGED(b, size, CG_ERR_MISMATCH, "the SGD optimizer's item 'step' has no record");
    memcpy(b, orig, size);
    struct rec_at w = find_record(b, size, "0.weight");
    b[w.kind] = 4; /* a buffer: version 2 only */
    fix_crc(b, w);
    EXPECT_DAMAGED(b, size, CG_ERR_FORMAT, "record '0.weight': unknown kind 4");
    free(orig);
    free(b);
}

/* ---- OneCycleLR files from before it cycled momentum ---- */

/* A run of tests/gen_ckpt_onecycle_old.c: its files after 4 and 7 steps. */
struct old_onecycle {
    const char *at4, *at7;
    uint64_t seed;
    bool adam;
};

static const struct old_onecycle old_sgd = {FIXTURE("ckpt_onecycle_old_sgd_at4.ckpt"),
                                            FIXTURE("ckpt_onecycle_old_sgd_at7.ckpt"), 21,
                                            false};
static const struct old_onecycle old_adam = {FIXTURE("ckpt_onecycle_old_adam_at4.ckpt"),
                                             FIXTURE("ckpt_onecycle_old_adam_at7.ckpt"), 22,
                                             true};

/* The generator's optimizer and OneCycleLR, cycling momentum or not. */
static struct cg_optimizer *old_onecycle_opt(struct cg_test_tmod *m, const struct old_onecycle *fx,
                                             bool cycle)
{
    struct cg_optimizer *opt;
    struct cg_lr_schedule *s;
    if (fx->adam) {
        opt = cg_adam_new(&m->base, (struct cg_adam_options){.lr = 0.01, .betas = {0.8, 0.99}});
        assert_non_null(opt);
        s = cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
            .max_lr = 0.05, .total_steps = 8, .pct_start = 0.25, .anneal_linear = true,
            .three_phase = true, .no_cycle_momentum = !cycle});
    } else {
        opt = cg_sgd_new(&m->base, (struct cg_sgd_options){
            .lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
        assert_non_null(opt);
        assert_int_equal(cg_optimizer_add_group(opt, "*.bias", (struct cg_group_options){
                             .weight_decay = 0, .set_weight_decay = true}),
                         1);
        s = cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
            .max_lrs = (const double[]){0.4, 0.2}, .total_steps = 10,
            .no_cycle_momentum = !cycle});
    }
    assert_non_null(s);
    return opt;
}

static void load_ok(const char *path, struct cg_test_tmod *m, struct cg_optimizer *opt,
                    struct cg_checkpoint_meta *meta)
{
    if (cg_checkpoint_load(path, m ? &m->base : NULL, opt, meta) != CG_OK)
        fail_msg("%s: %s", path, cg_last_error());
}

/* The file after 4 steps, resumed without cycling for 3, is the old
 * version's file after 7, bit for bit. */
static void check_old_onecycle_resume(const struct old_onecycle *fx)
{
    struct cg_test_tmod *m = cg_test_tmod_new(spec, 3, 99);
    struct cg_optimizer *opt = old_onecycle_opt(m, fx, false);
    cg_test_tmod_train(m, opt, 1); /* state to overwrite */
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    load_ok(fx->at4, m, opt, meta);
    uint64_t epoch = 0;
    assert_int_equal(cg_checkpoint_meta_get_u64(meta, "epoch", &epoch), CG_OK);
    assert_int_equal(epoch, 4);
    assert_int_equal(cg_optimizer_step_count(opt), 4);
    assert_int_equal(cg_lr_schedule_epoch(cg_optimizer_schedule(opt)), 4);
    /* This version's run without cycling is the old one. */
    struct cg_test_tmod *ref = cg_test_tmod_new(spec, 3, fx->seed);
    struct cg_optimizer *oref = old_onecycle_opt(ref, fx, false);
    cg_test_tmod_train(ref, oref, 4);
    cg_test_assert_same_state(ref, oref, m, opt);
    cg_test_tmod_train(m, opt, 3);
    struct cg_test_tmod *end = cg_test_tmod_new(spec, 3, 98);
    struct cg_optimizer *oend = old_onecycle_opt(end, fx, false);
    load_ok(fx->at7, end, oend, NULL);
    cg_test_assert_same_state(end, oend, m, opt);
    cg_checkpoint_meta_free(meta);
    cg_optimizer_free(opt);
    cg_optimizer_free(oref);
    cg_optimizer_free(oend);
    cg_module_free(&m->base);
    cg_module_free(&ref->base);
    cg_module_free(&end->base);
}

static void test_onecycle_old_sgd_resumes(void **state)
{
    (void)state;
    check_old_onecycle_resume(&old_sgd);
}

static void test_onecycle_old_adam_resumes(void **state)
{
    (void)state;
    check_old_onecycle_resume(&old_adam);
}

/* Into a OneCycleLR that cycles: refused, saying why and how to resume,
 * and nothing changed (with the model, and optimizer only). */
static void test_onecycle_old_into_cycling(void **state)
{
    (void)state;
    const struct old_onecycle *const all[2] = {&old_sgd, &old_adam};
    for (int k = 0; k < 4; k++) {
        const struct old_onecycle *fx = all[k % 2];
        bool with_model = k < 2;
        struct cg_test_tmod *m = cg_test_tmod_new(spec, 3, 5), *copy = cg_test_tmod_new(spec, 3, 5);
        struct cg_optimizer *opt = old_onecycle_opt(m, fx, true);
        struct cg_optimizer *opt_copy = old_onecycle_opt(copy, fx, true);
        cg_test_tmod_train(m, opt, 2);
        cg_test_tmod_train(copy, opt_copy, 2);
        assert_int_equal(cg_checkpoint_load(fx->at4, with_model ? &m->base : NULL, opt, NULL),
                         CG_ERR_MISMATCH);
        CG_TEST_EXPECT_ERROR(fx->at4, "the file has no 'schedule.cycle_momentum' record",
                             "written before OneCycleLR cycled momentum (off)",
                             fx->adam ? "the Adam optimizer's item is 1"
                                      : "the SGD optimizer's item is 1",
                             "hint: this OneCycleLR cycles momentum; create it with "
                             "`.no_cycle_momentum = true` to resume the file");
        cg_test_assert_same_state(m, opt, copy, opt_copy);
        cg_optimizer_free(opt);
        cg_optimizer_free(opt_copy);
        cg_module_free(&m->base);
        cg_module_free(&copy->base);
    }
}

/* This version's files hold the record: they load into their own kind of
 * OneCycleLR, and the other kind is a mismatch of values. */
static void test_onecycle_current_files(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "compat_onecycle_%d.ckpt", (int)getpid());
    for (int saved = 0; saved < 2; saved++) {
        bool cycle = saved == 1;
        struct cg_test_tmod *a = cg_test_tmod_new(spec, 3, 7);
        struct cg_optimizer *oa = old_onecycle_opt(a, &old_sgd, cycle);
        cg_test_tmod_train(a, oa, 3);
        assert_int_equal(cg_checkpoint_save(path, &a->base, oa, NULL), CG_OK);
        struct cg_test_tmod *b = cg_test_tmod_new(spec, 3, 8);
        struct cg_optimizer *ob = old_onecycle_opt(b, &old_sgd, cycle);
        load_ok(path, b, ob, NULL);
        cg_test_assert_same_state(a, oa, b, ob);
        struct cg_test_tmod *c = cg_test_tmod_new(spec, 3, 8), *copy = cg_test_tmod_new(spec, 3, 8);
        struct cg_optimizer *oc = old_onecycle_opt(c, &old_sgd, !cycle);
        struct cg_optimizer *ocopy = old_onecycle_opt(copy, &old_sgd, !cycle);
        assert_int_equal(cg_checkpoint_load(path, &c->base, oc, NULL), CG_ERR_MISMATCH);
        CG_TEST_EXPECT_ERROR(path, cycle ? "record 'schedule.cycle_momentum': 1 in the file, 0 "
                                           "in the SGD optimizer"
                                         : "record 'schedule.cycle_momentum': 0 in the file, 1 "
                                           "in the SGD optimizer");
        cg_test_assert_same_state(c, oc, copy, ocopy);
        remove(path);
        cg_optimizer_free(oa);
        cg_optimizer_free(ob);
        cg_optimizer_free(oc);
        cg_optimizer_free(ocopy);
        cg_module_free(&a->base);
        cg_module_free(&b->base);
        cg_module_free(&c->base);
        cg_module_free(&copy->base);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_step_schedule_fixture),
        cmocka_unit_test(test_v1_cosine_nesterov_fixture),
        cmocka_unit_test(test_v1_mismatches),
        cmocka_unit_test(test_v1_damaged_records),
        cmocka_unit_test(test_onecycle_old_sgd_resumes),
        cmocka_unit_test(test_onecycle_old_adam_resumes),
        cmocka_unit_test(test_onecycle_old_into_cycling),
        cmocka_unit_test(test_onecycle_current_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
