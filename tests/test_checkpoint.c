/* Checkpoints: bitwise round trips and resumes, the documented byte layout,
 * every failure status with its message, no change on a failed load, and
 * atomic saves (no temp files; disk full / unwritable keeps the old file). */
#define _POSIX_C_SOURCE 200809L
#include "cg_test.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgrad/checkpoint.h"
#include "cgrad/module.h"
#include "cgrad/nn.h"
#include "cgrad/optim.h"
#include "ckpt_model.h"
#include "optim/optim_internal.h"

static char dir[64];

#define PATH_LEN (sizeof dir + 256)
static const char *in_dir(char *buf, const char *name)
{
    snprintf(buf, PATH_LEN, "%s/%.255s", dir, name);
    return buf;
}
/* "<dir>/name" in a compound literal that lives until the end of the block. */
#define path_in_dir(name) in_dir((char[PATH_LEN]){0}, name)

/* ---- the hand-made model of tests/support/ckpt_model.h ---- */

#define pspec cg_test_pspec
#define tmod cg_test_tmod
#define tmod_new cg_test_tmod_new
#define train cg_test_tmod_train
#define same_bits cg_test_same_bits
#define assert_same_state cg_test_assert_same_state

/* Both dtypes; names as nn's Sequential would give them. */
static const struct pspec base_spec[3] = {
    {"0.weight", CG_F32, 2, {3, 4}, false},
    {"0.bias", CG_F32, 1, {3}, false},
    {"1.scale", CG_F64, 2, {2, 2}, false}};

static const struct cg_sgd_options opts = {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01};

static struct cg_optimizer *new_opt(struct tmod *m)
{
    struct cg_optimizer *opt = cg_sgd_new(&m->base, opts);
    assert_non_null(opt);
    assert_non_null(cg_lr_step_new(opt, 2, 0.5));
    return opt;
}

/* ---- files ---- */

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0; /* the spare byte is written as a "stray byte" by test_damaged_files */
    fclose(f);
    *size = (size_t)n;
    return b;
}

static void write_all(const char *path, const void *b, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, size, f), size);
    fclose(f);
}

static int temp_files_left(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* Loading `path` into a fresh base model/optimizer/meta must fail with
 * `want` and a message holding every given substring, changing nothing. */
static void expect_load_fails(const char *path, const struct pspec *spec, int n,
                              enum cg_status want, const char *const *subs)
{
    struct tmod *m = tmod_new(spec, n, 99), *copy = tmod_new(spec, n, 99);
    struct cg_optimizer *opt = new_opt(m), *opt_copy = new_opt(copy);
    train(m, opt, 1);
    train(copy, opt_copy, 1);
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    cg_checkpoint_meta_set_u64(meta, "keep", 5);
    enum cg_status st = cg_checkpoint_load(path, &m->base, opt, meta);
    if (st != want)
        fail_msg("load %s: %s (%s), expected %s", path, cg_status_str(st), cg_last_error(),
                 cg_status_str(want));
    for (; *subs; subs++)
        if (!strstr(cg_last_error(), *subs))
            fail_msg("message '%s' lacks '%s'", cg_last_error(), *subs);
    assert_same_state(m, opt, copy, opt_copy);
    uint64_t v = 0;
    assert_int_equal(cg_checkpoint_meta_get_u64(meta, "keep", &v), CG_OK);
    assert_int_equal(v, 5);
    assert_int_equal(cg_checkpoint_meta_count(meta), 1);
    cg_checkpoint_meta_free(meta);
    cg_optimizer_free(opt);
    cg_optimizer_free(opt_copy);
    cg_module_free(&m->base);
    cg_module_free(&copy->base);
}
#define EXPECT_LOAD_FAILS(path, spec, n, want, ...) \
    expect_load_fails(path, spec, n, want, (const char *const[]){__VA_ARGS__, NULL})

/* A trained base model + optimizer + metadata saved to `name`. */
#define save_reference(name) save_reference_to(path_in_dir(name))
static const char *save_reference_to(const char *path)
{
    struct tmod *m = tmod_new(base_spec, 3, 1);
    struct cg_optimizer *opt = new_opt(m);
    train(m, opt, 3);
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    cg_checkpoint_meta_set_u64(meta, "epoch", 3);
    assert_int_equal(cg_checkpoint_save(path, &m->base, opt, meta), CG_OK);
    cg_checkpoint_meta_free(meta);
    cg_optimizer_free(opt);
    cg_module_free(&m->base);
    return path;
}

/* ---- tests ---- */

static void test_roundtrip_bitwise(void **state)
{
    (void)state;
    const char *path = path_in_dir("rt.ckpt");
    struct tmod *a = tmod_new(base_spec, 3, 1), *b = tmod_new(base_spec, 3, 2);
    struct cg_optimizer *oa = new_opt(a), *ob = new_opt(b);
    train(a, oa, 3);
    struct cg_rng rng = cg_rng_seed(42);
    for (int i = 0; i < 5; i++) cg_rng_u32(&rng);
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new(), *got = cg_checkpoint_meta_new();
    assert_int_equal(cg_checkpoint_meta_set_u64(meta, "epoch", 0x0123456789abcdefULL), CG_OK);
    assert_int_equal(cg_checkpoint_meta_set_rng(meta, "rng", &rng), CG_OK);
    assert_int_equal(cg_checkpoint_meta_set_blob(meta, "note", "hello", 5), CG_OK);
    assert_int_equal(cg_checkpoint_meta_set_blob(meta, "empty", NULL, 0), CG_OK);
    cg_checkpoint_meta_set_u64(got, "stale", 1); /* replaced by the load */
    assert_int_equal(cg_checkpoint_save(path, &a->base, oa, meta), CG_OK);
    assert_int_equal(temp_files_left(), 0);

    assert_int_equal(cg_checkpoint_load(path, &b->base, ob, got), CG_OK);
    assert_same_state(a, oa, b, ob);
    assert_int_equal(cg_optimizer_step_count(ob), 3);
    assert_int_equal(cg_lr_schedule_epoch(cg_optimizer_schedule(ob)), 3);
    assert_true(cg_optimizer_get_lr(ob) == 0.05); /* 0.1 * 0.5^floor(3/2) */
    assert_non_null(cg_sgd_momentum_buffer(ob, 2));
    assert_int_equal(cg_checkpoint_meta_count(got), 4);
    assert_string_equal(cg_checkpoint_meta_name(got, 0), "empty");
    assert_string_equal(cg_checkpoint_meta_name(got, 3), "rng");
    uint64_t epoch = 0;
    assert_int_equal(cg_checkpoint_meta_get_u64(got, "epoch", &epoch), CG_OK);
    assert_true(epoch == 0x0123456789abcdefULL);
    struct cg_rng back = {0, 0};
    assert_int_equal(cg_checkpoint_meta_get_rng(got, "rng", &back), CG_OK);
    assert_true(back.state == rng.state && back.inc == rng.inc);
    assert_int_equal(cg_rng_u32(&back), cg_rng_u32(&rng));
    size_t size = 99;
    const char *note = cg_checkpoint_meta_get_blob(got, "note", &size);
    assert_int_equal(size, 5);
    assert_memory_equal(note, "hello", 5);
    assert_non_null(cg_checkpoint_meta_get_blob(got, "empty", &size));
    assert_int_equal(size, 0);
    assert_int_equal(cg_checkpoint_meta_get_u64(got, "stale", &epoch), CG_ERR_NOT_FOUND);

    /* Weights only: optimizer state and metadata in the file are ignored. */
    struct tmod *c = tmod_new(base_spec, 3, 3);
    assert_int_equal(cg_checkpoint_load(path, &c->base, NULL, NULL), CG_OK);
    assert_same_state(a, NULL, c, NULL);
    /* A state saved before the first step resets a trained optimizer. */
    struct tmod *fresh = tmod_new(base_spec, 3, 4);
    struct cg_optimizer *ofresh = new_opt(fresh);
    assert_int_equal(cg_checkpoint_save(path, &fresh->base, ofresh, NULL), CG_OK);
    assert_int_equal(cg_checkpoint_load(path, &b->base, ob, NULL), CG_OK);
    assert_same_state(fresh, ofresh, b, ob);
    assert_null(cg_sgd_momentum_buffer(ob, 0));
    assert_true(cg_optimizer_get_lr(ob) == 0.1);

    cg_checkpoint_meta_free(meta);
    cg_checkpoint_meta_free(got);
    cg_optimizer_free(oa);
    cg_optimizer_free(ob);
    cg_optimizer_free(ofresh);
    cg_module_free(&a->base);
    cg_module_free(&b->base);
    cg_module_free(&c->base);
    cg_module_free(&fresh->base);
}

/* 3 steps, save, 3 more == load into a different model, 3 more: bitwise. */
static void test_resume_bitwise(void **state)
{
    (void)state;
    const char *path = path_in_dir("resume.ckpt");
    struct tmod *a = tmod_new(base_spec, 3, 1), *b = tmod_new(base_spec, 3, 7);
    struct cg_optimizer *oa = new_opt(a), *ob = new_opt(b);
    train(a, oa, 3);
    assert_int_equal(cg_checkpoint_save(path, &a->base, oa, NULL), CG_OK);
    train(a, oa, 3);
    assert_int_equal(cg_checkpoint_load(path, &b->base, ob, NULL), CG_OK);
    train(b, ob, 3);
    assert_same_state(a, oa, b, ob);
    assert_int_equal(cg_optimizer_step_count(ob), 6);
    assert_true(cg_optimizer_get_lr(ob) == 0.0125);
    cg_optimizer_free(oa);
    cg_optimizer_free(ob);
    cg_module_free(&a->base);
    cg_module_free(&b->base);
}

/* End to end with nn's layers and real backward passes: an autoencoder
 * trained 3 steps, saved (with its RNG in the metadata), trained 3 more,
 * equals a different model loaded from the file and trained 3 more. */
static struct cg_module *autoencoder(int64_t hidden, uint64_t seed)
{
    struct cg_rng rng = cg_rng_seed(seed);
    struct cg_module *m = cg_sequential(cg_linear_new(8, hidden, true, &rng),
                                        cg_hardshrink_new(0.1),
                                        cg_linear_new(hidden, 8, true, &rng));
    assert_non_null(m);
    return m;
}

static void train_nn(struct cg_module *m, struct cg_optimizer *opt, struct cg_tape *tape,
                     struct cg_rng *rng, int steps)
{
    for (int s = 0; s < steps; s++) {
        struct cg_tensor *x = cg_tensor_randn(tape, CG_F32, CG_SHAPE(4, 8), rng);
        struct cg_tensor *loss = cg_mse_loss_mean(tape, cg_module_forward(m, tape, x), x);
        assert_non_null(loss);
        cg_optimizer_zero_grad(opt);
        assert_int_equal(cg_backward(tape, loss), CG_OK);
        cg_optimizer_clip_grad_norm(opt, 0.5);
        assert_int_equal(cg_optimizer_step(opt), CG_OK);
        cg_lr_schedule_step(cg_optimizer_schedule(opt));
        cg_tape_reset(tape);
    }
}

static void test_resume_nn_model(void **state)
{
    (void)state;
    const char *path = path_in_dir("sae.ckpt");
    const struct cg_sgd_options o = {.lr = 0.05, .momentum = 0.9, .nesterov = true};
    struct cg_tape *tape = cg_tape_new();
    struct cg_module *a = autoencoder(16, 1), *b = autoencoder(16, 2);
    struct cg_optimizer *oa = cg_sgd_new(a, o), *ob = cg_sgd_new(b, o);
    assert_non_null(cg_lr_cosine_new(oa, 4, 0.001));
    assert_non_null(cg_lr_cosine_new(ob, 4, 0.001));
    assert_string_equal(cg_optimizer_param_name(oa, 2), "2.weight");
    struct cg_rng data = cg_rng_seed(5);
    train_nn(a, oa, tape, &data, 3);
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    cg_checkpoint_meta_set_rng(meta, "data_rng", &data);
    assert_int_equal(cg_checkpoint_save(path, a, oa, meta), CG_OK);
    train_nn(a, oa, tape, &data, 3);

    cg_checkpoint_meta_clear(meta);
    assert_int_equal(cg_checkpoint_load(path, b, ob, meta), CG_OK);
    struct cg_rng data_b;
    assert_int_equal(cg_checkpoint_meta_get_rng(meta, "data_rng", &data_b), CG_OK);
    train_nn(b, ob, tape, &data_b, 3);
    for (size_t i = 0; i < cg_optimizer_param_count(oa); i++) {
        assert_true(same_bits(cg_optimizer_param(oa, i), cg_optimizer_param(ob, i)));
        assert_true(same_bits(cg_sgd_momentum_buffer(oa, i), cg_sgd_momentum_buffer(ob, i)));
    }
    assert_true(cg_optimizer_get_lr(oa) == cg_optimizer_get_lr(ob));

    /* Another hidden size: refused, naming the first differing record. */
    struct cg_module *c = autoencoder(12, 3);
    assert_int_equal(cg_checkpoint_load(path, c, NULL, NULL), CG_ERR_MISMATCH);
    assert_non_null(strstr(cg_last_error(), "sae.ckpt: record '0.weight': shape [16,8] in file, "
                                            "[12,8] in model"));
    cg_checkpoint_meta_free(meta);
    cg_optimizer_free(oa);
    cg_optimizer_free(ob);
    cg_module_free(a);
    cg_module_free(b);
    cg_module_free(c);
    cg_tape_free(tape);
}

/* The documented layout, byte for byte (written independently with
 * Python's struct and zlib.crc32): parameter f32 [2] "w" = {1, -2}, buffer
 * f64 scalar "m" = 0.5, metadata u64 "epoch" = 258. */
static const unsigned char golden[110] = {
    0x43, 0x47, 0x52, 0x41, 0x44, 0x43, 0x4b, 0x50, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
    0xf7, 0xdc, 0xde, 0x24, 0x01, 0x00, 0x77, 0x01, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00,
    0x00, 0xc0, 0x79, 0x9c, 0x65, 0x58, 0x01, 0x00, 0x6d, 0x04, 0x02, 0x00, 0x08, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x3f, 0x6f, 0x04, 0xe3, 0x51,
    0x05, 0x00, 0x65, 0x70, 0x6f, 0x63, 0x68, 0x03, 0x03, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x44, 0x4f, 0x23, 0xbe,
};
static const struct pspec golden_spec[2] = {{"w", CG_F32, 1, {2}, false},
                                            {"m", CG_F64, 0, {0}, .buffer = true}};

static void test_golden_layout(void **state)
{
    (void)state;
    const char *path = path_in_dir("golden.ckpt");
    struct tmod *m = tmod_new(golden_spec, 2, 1);
    cg_tensor_set_at(m->p[0], 0, 1.0);
    cg_tensor_set_at(m->p[0], 1, -2.0);
    cg_tensor_set_at(m->p[1], 0, 0.5);
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    cg_checkpoint_meta_set_u64(meta, "epoch", 258);
    assert_int_equal(cg_checkpoint_save(path, &m->base, NULL, meta), CG_OK);
    size_t size;
    unsigned char *bytes = read_all(path, &size);
    assert_int_equal(size, sizeof golden);
    assert_memory_equal(bytes, golden, sizeof golden);
    free(bytes);
    /* ...and the golden bytes load into another model. */
    struct tmod *n = tmod_new(golden_spec, 2, 2);
    cg_checkpoint_meta_clear(meta);
    assert_int_equal(cg_checkpoint_load(path, &n->base, NULL, meta), CG_OK);
    assert_true(cg_tensor_at(n->p[0], 1) == -2.0 && cg_tensor_at(n->p[1], 0) == 0.5);
    uint64_t epoch = 0;
    assert_int_equal(cg_checkpoint_meta_get_u64(meta, "epoch", &epoch), CG_OK);
    assert_int_equal(epoch, 258);
    cg_checkpoint_meta_free(meta);
    cg_module_free(&m->base);
    cg_module_free(&n->base);
}

static void test_damaged_files(void **state)
{
    (void)state;
    const char *path = save_reference("damaged.ckpt");
    const char *bad = path_in_dir("bad.ckpt");
    size_t size;
    unsigned char *b = read_all(path, &size);
    /* A payload byte of the first record (0.weight: name at 22, payload at
     * 22 + 8 + 3 + 16 + 8). */
    assert_memory_equal(b + 22, "0.weight", 8);
    b[60] ^= 0x10;
    write_all(bad, b, size);
    EXPECT_LOAD_FAILS(bad, base_spec, 3, CG_ERR_CORRUPT, bad, "record '0.weight'", "CRC mismatch");
    b[60] ^= 0x10;
    write_all(bad, b, size - 10);
    EXPECT_LOAD_FAILS(bad, base_spec, 3, CG_ERR_CORRUPT, bad, "truncated");
    write_all(bad, b, 12);
    EXPECT_LOAD_FAILS(bad, base_spec, 3, CG_ERR_CORRUPT, "truncated", "header");
    write_all(bad, b, size + 1); /* one stray byte at the end */
    EXPECT_LOAD_FAILS(bad, base_spec, 3, CG_ERR_CORRUPT, "1 unexpected bytes");
    b[0] = 'X';
    write_all(bad, b, size);
    EXPECT_LOAD_FAILS(bad, base_spec, 3, CG_ERR_FORMAT, bad, "not a cgrad checkpoint", "magic");
    b[0] = 'C';
    b[8] = 3;
    write_all(bad, b, size);
    EXPECT_LOAD_FAILS(bad, base_spec, 3, CG_ERR_FORMAT, "version 3", "reads versions 1 to 2");
    b[8] = 0;
    write_all(bad, b, size);
    EXPECT_LOAD_FAILS(bad, base_spec, 3, CG_ERR_FORMAT, "version 0");
    b[8] = 2;
    b[12] ^= 1; /* record count: caught by the header CRC */
    write_all(bad, b, size);
    EXPECT_LOAD_FAILS(bad, base_spec, 3, CG_ERR_CORRUPT, "header CRC mismatch");
    b[12] ^= 1;
    EXPECT_LOAD_FAILS(path_in_dir("missing.ckpt"), base_spec, 3, CG_ERR_NOT_FOUND,
                      "missing.ckpt: not found");
    EXPECT_LOAD_FAILS(dir, base_spec, 3, CG_ERR_IO, "not a regular file");
    free(b);
}

static void test_model_mismatch(void **state)
{
    (void)state;
    const char *path = save_reference("mismatch.ckpt");
    const struct pspec other_shape[3] = {{"0.weight", CG_F32, 2, {3, 5}, false}, base_spec[1],
                                         base_spec[2]};
    EXPECT_LOAD_FAILS(path, other_shape, 3, CG_ERR_MISMATCH,
                      "mismatch.ckpt: record '0.weight': shape [3,4] in file, [3,5] in model");
    const struct pspec other_dtype[3] = {base_spec[0], base_spec[1],
                                         {"1.scale", CG_F32, 2, {2, 2}, false}};
    EXPECT_LOAD_FAILS(path, other_dtype, 3, CG_ERR_MISMATCH,
                      "record '1.scale': dtype f64 in file, f32 in model");
    const struct pspec extra_param[4] = {base_spec[0], base_spec[1], base_spec[2],
                                         {"2.weight", CG_F32, 1, {4}, false}};
    EXPECT_LOAD_FAILS(path, extra_param, 4, CG_ERR_MISMATCH, "parameter '2.weight'",
                      "has no record in the file");
    EXPECT_LOAD_FAILS(path, base_spec, 2, CG_ERR_MISMATCH,
                      "record '1.scale' matches no parameter of the model");

    /* Optimizer state that does not fit. */
    struct tmod *m = tmod_new(base_spec, 3, 5);
    struct cg_sgd_options o = opts;
    o.momentum = 0.5;
    struct cg_optimizer *opt = cg_sgd_new(&m->base, o);
    assert_non_null(cg_lr_step_new(opt, 2, 0.5));
    assert_int_equal(cg_checkpoint_load(path, &m->base, opt, NULL), CG_ERR_MISMATCH);
    CG_TEST_EXPECT_ERROR(path, "record 'momentum': 0.90000000000000002 in the file, 0.5 in the SGD "
                         "optimizer", "hint");
    cg_optimizer_free(opt);
    opt = cg_sgd_new(&m->base, opts); /* no schedule */
    assert_int_equal(cg_checkpoint_load(path, &m->base, opt, NULL), CG_ERR_MISMATCH);
    CG_TEST_EXPECT_ERROR(path, "record 'schedule.", "does not have",
                         "create the learning-rate schedule");
    assert_non_null(cg_lr_cosine_new(opt, 5, 0)); /* other schedule type */
    assert_int_equal(cg_checkpoint_load(path, &m->base, opt, NULL), CG_ERR_MISMATCH);
    CG_TEST_EXPECT_ERROR(path, "record 'schedule.type': 'StepLR' in the file, "
                         "'CosineAnnealingLR' in "
                         "the SGD optimizer");
    cg_optimizer_free(opt);
    opt = cg_sgd_new(&m->base, opts); /* other groups */
    assert_true(cg_optimizer_add_group(opt, "*.bias", (struct cg_group_options){0}) == 1);
    assert_non_null(cg_lr_step_new(opt, 2, 0.5));
    assert_int_equal(cg_checkpoint_load(path, &m->base, opt, NULL), CG_ERR_MISMATCH);
    CG_TEST_EXPECT_ERROR(path,
                         "record 'param_groups': [0, 0, 0] in the file, [0, 1, 0] in the SGD");
    cg_optimizer_free(opt);
    /* A file without optimizer state cannot restore one. */
    opt = new_opt(m);
    const char *weights = path_in_dir("weights.ckpt");
    assert_int_equal(cg_checkpoint_save(weights, &m->base, NULL, NULL), CG_OK);
    assert_int_equal(cg_checkpoint_load(weights, &m->base, opt, NULL), CG_ERR_MISMATCH);
    CG_TEST_EXPECT_ERROR(weights, "holds no optimizer state", "pass opt NULL");
    cg_optimizer_free(opt);
    cg_module_free(&m->base);
}

/* Every truncation and every single-byte change is rejected as FORMAT or
 * CORRUPT, and random garbage never crashes nor allocates much. */
static void test_exhaustive_damage(void **state)
{
    (void)state;
    const char *path = save_reference("small.ckpt");
    const char *bad = path_in_dir("fuzz.ckpt");
    size_t size;
    unsigned char *b = read_all(path, &size);
    struct tmod *m = tmod_new(base_spec, 3, 8), *copy = tmod_new(base_spec, 3, 8);
    struct cg_optimizer *opt = new_opt(m);
    for (size_t len = 0; len < size; len++) {
        write_all(bad, b, len);
        enum cg_status st = cg_checkpoint_load(bad, &m->base, opt, NULL);
        if (st != CG_ERR_CORRUPT && st != CG_ERR_FORMAT)
            fail_msg("truncated to %zu: %s (%s)", len, cg_status_str(st), cg_last_error());
    }
    for (size_t i = 0; i < size; i++) {
        for (int flip = 0; flip < 2; flip++) {
            b[i] ^= flip ? 0xff : 0x01;
            write_all(bad, b, size);
            enum cg_status st = cg_checkpoint_load(bad, &m->base, opt, NULL);
            if (st != CG_ERR_CORRUPT && st != CG_ERR_FORMAT)
                fail_msg("byte %zu ^ %d: %s (%s)", i, flip ? 0xff : 1, cg_status_str(st),
                         cg_last_error());
            b[i] ^= flip ? 0xff : 0x01;
        }
    }
    struct cg_rng rng = cg_rng_seed(3);
    for (int k = 0; k < 300; k++) {
        size_t n = 20 + cg_rng_below(&rng, 400);
        unsigned char g[420];
        for (size_t i = 0; i < n; i++) g[i] = (unsigned char)cg_rng_u32(&rng);
        memcpy(g, b, 20); /* valid header: random records */
        if (k % 2) memcpy(g, b, n < size ? n : size), g[20 + cg_rng_below(&rng, (uint32_t)n - 20)] ^= 0x40;
        write_all(bad, g, n);
        size_t bytes_before = cg_alloc_bytes();
        enum cg_status st = cg_checkpoint_load(bad, &m->base, NULL, NULL);
        assert_true(st != CG_OK);
        /* The file, its record index and the match table: a few KiB. */
        assert_true(cg_alloc_bytes() - bytes_before < 16 * n + 4096);
    }
    assert_same_state(m, NULL, copy, NULL);
    /* A header announcing 4 billion records in 40 bytes allocates nothing big. */
    memcpy(b + 12, "\xff\xff\xff\xff", 4);
    write_all(bad, b, 40);
    size_t bytes_before = cg_alloc_bytes();
    assert_int_equal(cg_checkpoint_load(bad, &m->base, NULL, NULL), CG_ERR_CORRUPT);
    assert_true(cg_alloc_bytes() - bytes_before < 4096);
    free(b);
    cg_optimizer_free(opt);
    cg_module_free(&m->base);
    cg_module_free(&copy->base);
}

static void test_save_failures_keep_old_file(void **state)
{
    (void)state;
    const char *path = save_reference("keep.ckpt");
    size_t size;
    unsigned char *old = read_all(path, &size);
    static const struct pspec big_spec[1] = {{"w", CG_F32, 2, {256, 256}, false}};
    struct tmod *big = tmod_new(big_spec, 1, 1);

    /* Disk full: a 64 KiB file-size limit makes the write fail (EFBIG). */
    struct rlimit lim, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &lim), 0);
    small = lim;
    small.rlim_cur = 65536;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    enum cg_status st = cg_checkpoint_save(path, &big->base, NULL, NULL);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    assert_int_equal(st, CG_ERR_IO);
    assert_non_null(strstr(cg_last_error(), "keep.ckpt: cannot write checkpoint"));
    assert_non_null(strstr(cg_last_error(), "previous file is left unchanged"));
    size_t now;
    unsigned char *cur = read_all(path, &now);
    assert_int_equal(now, size);
    assert_memory_equal(cur, old, size);
    free(cur);
    assert_int_equal(temp_files_left(), 0);

    /* No such directory. */
    assert_int_equal(cg_checkpoint_save(path_in_dir("nodir/x.ckpt"), &big->base, NULL, NULL),
                     CG_ERR_IO);
    assert_non_null(strstr(cg_last_error(), "cannot create temporary file"));
    /* The target is a (non-empty) directory: the rename fails. */
    const char *sub = path_in_dir("sub.ckpt");
    assert_int_equal(mkdir(sub, 0700), 0);
    write_all(path_in_dir("sub.ckpt/inside"), "x", 1);
    assert_int_equal(cg_checkpoint_save(sub, &big->base, NULL, NULL), CG_ERR_IO);
    assert_non_null(strstr(cg_last_error(), "cannot rename"));
    assert_int_equal(temp_files_left(), 0);
    remove(path_in_dir("sub.ckpt/inside"));
    rmdir(sub);

    /* Unwritable directory (root ignores permissions, so only as a user). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(dir, 0500), 0);
        st = cg_checkpoint_save(path, &big->base, NULL, NULL);
        chmod(dir, 0700);
        assert_int_equal(st, CG_ERR_IO);
        cur = read_all(path, &now);
        assert_int_equal(now, size);
        assert_memory_equal(cur, old, size);
        free(cur);
    }
    /* The old file still loads. */
    struct tmod *m = tmod_new(base_spec, 3, 1);
    assert_int_equal(cg_checkpoint_load(path, &m->base, NULL, NULL), CG_OK);
    cg_module_free(&m->base);
    free(old);
    cg_module_free(&big->base);
}

/* Restored values are range-checked: a file with valid CRCs but a negative
 * lr, an epoch past INT64_MAX or a negative group momentum is rejected and
 * changes nothing. */
static void test_out_of_range_values(void **state)
{
    (void)state;
    static const char *const record[3] = {"'group.0.lr'", "'schedule.epoch'",
                                          "'group.0.momentum'"};
    for (int k = 0; k < 3; k++) {
        struct tmod *m = tmod_new(base_spec, 3, 1);
        struct cg_optimizer *opt = new_opt(m);
        if (k == 0) opt->groups[0].lr = -1; /* what a crafted file could hold */
        else if (k == 1) opt->schedule->epoch = -5; /* stored as u64 2^64 - 5 */
        else opt->groups[0].momentum = -0.5;
        const char *path = path_in_dir("range.ckpt");
        assert_int_equal(cg_checkpoint_save(path, &m->base, opt, NULL), CG_OK);
        struct tmod *m2 = tmod_new(base_spec, 3, 2);
        struct cg_optimizer *opt2 = new_opt(m2);
        double lr = cg_optimizer_get_lr(opt2);
        double momentum = cg_optimizer_get_group_momentum(opt2, 0);
        assert_int_equal(cg_checkpoint_load(path, &m2->base, opt2, NULL), CG_ERR_FORMAT);
        assert_non_null(strstr(cg_last_error(), record[k]));
        assert_non_null(strstr(cg_last_error(), "out of range"));
        assert_float_equal(cg_optimizer_get_lr(opt2), lr, 0);
        assert_float_equal(cg_optimizer_get_group_momentum(opt2, 0), momentum, 0);
        assert_int_equal(cg_lr_schedule_epoch(cg_optimizer_schedule(opt2)), 0);
        cg_optimizer_free(opt);
        cg_optimizer_free(opt2);
        cg_module_free(&m->base);
        cg_module_free(&m2->base);
    }
}

static void test_meta_api(void **state)
{
    (void)state;
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    uint64_t v = 0;
    assert_int_equal(cg_checkpoint_meta_set_u64(meta, "b", 1), CG_OK);
    assert_int_equal(cg_checkpoint_meta_set_u64(meta, "a", 2), CG_OK);
    assert_int_equal(cg_checkpoint_meta_set_u64(meta, "b", 3), CG_OK); /* replaces */
    assert_int_equal(cg_checkpoint_meta_count(meta), 2);
    assert_string_equal(cg_checkpoint_meta_name(meta, 0), "a");
    assert_null(cg_checkpoint_meta_name(meta, 2));
    assert_int_equal(cg_checkpoint_meta_get_u64(meta, "b", &v), CG_OK);
    assert_int_equal(v, 3);
    assert_int_equal(cg_checkpoint_meta_get_u64(meta, "zz", &v), CG_ERR_NOT_FOUND);
    assert_non_null(strstr(cg_last_error(), "no metadata entry 'zz'"));
    assert_int_equal(cg_checkpoint_meta_set_blob(meta, "a", "xyz", 3), CG_OK); /* type change */
    assert_int_equal(cg_checkpoint_meta_get_u64(meta, "a", &v), CG_ERR_MISMATCH);
    struct cg_rng r;
    assert_int_equal(cg_checkpoint_meta_get_rng(meta, "a", &r), CG_ERR_MISMATCH);
    assert_null(cg_checkpoint_meta_get_blob(meta, "b", NULL));
    CG_EXPECT_MISUSE(cg_checkpoint_meta_set_u64(meta, "", 1), "cg_checkpoint_meta_set_u64",
                     "0 bytes");
    CG_EXPECT_MISUSE(cg_checkpoint_meta_set_blob(meta, "x", NULL, 4), "data is NULL");
    CG_EXPECT_MISUSE(cg_checkpoint_save(NULL, NULL, NULL, NULL), "cg_checkpoint_save",
                     "path is NULL");
    CG_EXPECT_MISUSE(cg_checkpoint_load("x", NULL, NULL, NULL), "cg_checkpoint_load",
                     "model and opt are both NULL");
    CG_EXPECT_MISUSE(cg_checkpoint_save("x", NULL, NULL, NULL), "cg_checkpoint_save",
                     "model and opt are both NULL");
    cg_checkpoint_meta_clear(meta);
    assert_int_equal(cg_checkpoint_meta_count(meta), 0);
    cg_checkpoint_meta_free(meta);
}

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/cg_ckpt_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) remove(path_in_dir(e->d_name));
    closedir(d);
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_bitwise),
        cmocka_unit_test(test_resume_bitwise),
        cmocka_unit_test(test_resume_nn_model),
        cmocka_unit_test(test_golden_layout),
        cmocka_unit_test(test_damaged_files),
        cmocka_unit_test(test_model_mismatch),
        cmocka_unit_test(test_exhaustive_damage),
        cmocka_unit_test(test_save_failures_keep_old_file),
        cmocka_unit_test(test_meta_api),
        cmocka_unit_test(test_out_of_range_values),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
