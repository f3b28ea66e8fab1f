/* The general in-memory dataset and its batch iterator: every sample once
 * per epoch (shuffled and sequential, with and without drop_last), features,
 * float targets and int64 labels that belong together, an exact resume, no
 * heap allocation per batch, IDX input, and the misuse messages. */
#include "cg_test.h"
#include "idx_writer.h"

#include <stdio.h>
#include <string.h>

#define N 23

/* Sample i: features [2, 3] = 100 i + k, target [2] = (-i, i / 2), label i % 4. */
static void make(struct cg_tensor_dataset *ds)
{
    float f[N * 6], t[N * 2];
    int64_t l[N];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 6; k++) f[i * 6 + k] = (float)(100 * i + k);
        t[2 * i] = (float)-i, t[2 * i + 1] = (float)i / 2;
        l[i] = i % 4;
    }
    assert_int_equal(cg_tensor_dataset_from_arrays(ds, N, 2, (const int64_t[]){2, 3}, f, 1,
                                                   (const int64_t[]){2}, t, l),
                     CG_OK);
}

/* One epoch: checks each batch against its indices and counts visits. */
static int64_t run_epoch(struct cg_batches *it, struct cg_tape *tape, int *visits,
                         int64_t *first_indices)
{
    int64_t batches = 0;
    for (struct cg_tensor *x; (x = cg_batches_next(it, tape)); cg_tape_reset(tape), batches++) {
        int64_t b = cg_batches_size(it);
        const int64_t *idx = cg_batches_indices(it);
        const int64_t *lab = cg_batches_labels_i64(it);
        struct cg_tensor *t = cg_batches_targets(it, tape);
        assert_int_equal(x->ndim, 3);
        assert_int_equal(x->shape[0], b);
        assert_int_equal(x->shape[1], 2);
        assert_int_equal(x->shape[2], 3);
        assert_non_null(t);
        assert_int_equal(t->shape[0], b);
        for (int64_t r = 0; r < b; r++) {
            int64_t i = idx[r];
            visits[i]++;
            if (batches == 0 && first_indices) first_indices[r] = i;
            for (int k = 0; k < 6; k++) assert_true(cg_tensor_at(x, r * 6 + k) == 100.0 * i + k);
            assert_true(cg_tensor_at(t, 2 * r) == (double)-i);
            assert_true(cg_tensor_at(t, 2 * r + 1) == (double)i / 2);
            assert_int_equal(lab[r], i % 4);
        }
    }
    return batches;
}

static void test_every_sample_once_per_epoch(void **state)
{
    (void)state;
    struct cg_tensor_dataset ds;
    make(&ds);
    struct cg_tape *tape = cg_tape_new();
    for (int shuffle = 0; shuffle < 2; shuffle++)
        for (int drop = 0; drop < 2; drop++)
            for (int dt = 0; dt < 2; dt++) {
                struct cg_rng rng = cg_rng_seed(7);
                struct cg_batches it;
                struct cg_batches_options o = {.batch_size = 5, .rng = shuffle ? &rng : NULL,
                                               .drop_last = drop, .dtype = dt ? CG_F64 : CG_F32};
                assert_int_equal(cg_batches_init_tensor(&it, &ds, o), CG_OK);
                int64_t first[2][5];
                for (int epoch = 0; epoch < 2; epoch++) {
                    int visits[N] = {0};
                    int64_t nb = run_epoch(&it, tape, visits, first[epoch]);
                    assert_int_equal(nb, cg_batches_per_epoch(&it));
                    int once = 0, never = 0;
                    for (int i = 0; i < N; i++) once += visits[i] == 1, never += visits[i] == 0;
                    assert_int_equal(once, drop ? 20 : N);
                    assert_int_equal(never, drop ? 3 : 0);
                }
                /* a shuffled iterator reorders every epoch */
                if (shuffle) assert_true(memcmp(first[0], first[1], sizeof first[0]) != 0);
                else assert_int_equal(first[1][4], 4);
                cg_batches_free(&it);
            }
    cg_tape_free(tape);
    cg_tensor_dataset_free(&ds);
}

/* Saved mid-epoch, restored into a fresh iterator: the same batches. */
static void test_resume_is_exact_and_allocation_free(void **state)
{
    (void)state;
    struct cg_tensor_dataset ds;
    make(&ds);
    struct cg_tape *tape = cg_tape_new();
    struct cg_rng r1 = cg_rng_seed(3), r2 = cg_rng_seed(3);
    struct cg_batches a, b;
    struct cg_batches_options o = {.batch_size = 4, .rng = &r1};
    assert_int_equal(cg_batches_init_tensor(&a, &ds, o), CG_OK);
    o.rng = &r2;
    assert_int_equal(cg_batches_init_tensor(&b, &ds, o), CG_OK);
    /* 1.5 epochs on a, then save */
    for (int k = 0; k < 10; k++) {
        if (!cg_batches_next(&a, tape)) k--; /* epoch boundary */
        cg_tape_reset(tape);
    }
    struct cg_batches_state s = cg_batches_state(&a);
    assert_int_equal(cg_batches_restore(&b, &s), CG_OK);
    size_t allocs = cg_alloc_count();
    for (int k = 0; k < 30; k++) {
        struct cg_tensor *xa = cg_batches_next(&a, tape), *xb = cg_batches_next(&b, tape);
        assert_true((xa == NULL) == (xb == NULL));
        if (xa) {
            assert_int_equal(cg_batches_size(&a), cg_batches_size(&b));
            assert_memory_equal(cg_batches_indices(&a), cg_batches_indices(&b),
                                (size_t)cg_batches_size(&a) * sizeof(int64_t));
            assert_memory_equal(xa->data, xb->data, (size_t)xa->numel * sizeof(float));
        }
        cg_tape_reset(tape);
    }
    assert_int_equal(cg_alloc_count(), allocs); /* no heap allocation per batch */
    cg_batches_free(&a);
    cg_batches_free(&b);
    cg_tape_free(tape);
    cg_tensor_dataset_free(&ds);
}

static void test_from_idx(void **state)
{
    (void)state;
    uint8_t img[3 * 2 * 2] = {0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8}, lab[3] = {7, 0, 9};
    assert_int_equal(cg_test_write_idx_images("tds_images.idx", img, 3, 2, 2, 1), 0);
    assert_int_equal(cg_test_write_idx_labels("tds_labels.idx", lab, 3, 0), 0);
    struct cg_tensor_dataset ds;
    assert_int_equal(cg_tensor_dataset_from_idx(&ds, "tds_images.idx", "tds_labels.idx"), CG_OK);
    assert_int_equal(ds.count, 3);
    assert_int_equal(ds.sample_ndim, 2);
    assert_int_equal(ds.sample_shape[1], 2);
    assert_true(ds.features[1] == 1.0f && ds.features[2] == 51.0f / 255.0f);
    assert_int_equal(ds.labels[2], 9);
    assert_null(ds.targets);
    cg_tensor_dataset_free(&ds);
    assert_int_equal(cg_tensor_dataset_from_idx(&ds, "no_such.idx", NULL), CG_ERR_NOT_FOUND);
    assert_null(ds.features);
    remove("tds_images.idx");
    remove("tds_labels.idx");
}

static void test_misuse(void **state)
{
    (void)state;
    struct cg_tensor_dataset ds;
    float f[4] = {0};
    CG_EXPECT_MISUSE(cg_tensor_dataset_from_arrays(&ds, 0, 1, (const int64_t[]){4}, f, 0, NULL,
                                                   NULL, NULL),
                     "cg_tensor_dataset_from_arrays", "count 0");
    CG_EXPECT_MISUSE(cg_tensor_dataset_from_arrays(&ds, 1, 1, (const int64_t[]){-4}, f, 0, NULL,
                                                   NULL, NULL),
                     "cg_tensor_dataset_from_arrays", "size -4");
    CG_EXPECT_MISUSE(cg_tensor_dataset_from_arrays(&ds, 1, 9, (const int64_t[]){4}, f, 0, NULL,
                                                   NULL, NULL),
                     "sample rank 9");
    struct cg_batches it;
    struct cg_tensor_dataset empty = {0};
    CG_EXPECT_MISUSE(cg_batches_init_tensor(&it, &empty, (struct cg_batches_options){.batch_size = 2}),
                     "cg_batches_init_tensor", "no features");
    make(&ds);
    CG_EXPECT_MISUSE(cg_batches_init_tensor(&it, &ds, (struct cg_batches_options){.batch_size = 0}),
                     "batch_size 0");
    struct cg_dataset raw = {.count = 1, .rows = 1, .cols = 1, .images = (uint8_t[]){3}};
    assert_int_equal(cg_batches_init(&it, &raw, (struct cg_batches_options){.batch_size = 1}), CG_OK);
    CG_EXPECT_MISUSE(cg_batches_targets(&it, NULL), "cg_batches_targets", "uint8 images");
    cg_batches_free(&it);
    cg_tensor_dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_sample_once_per_epoch),
        cmocka_unit_test(test_resume_is_exact_and_allocation_free),
        cmocka_unit_test(test_from_idx),
        cmocka_unit_test(test_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
