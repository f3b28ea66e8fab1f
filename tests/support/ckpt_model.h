/* A hand-made module for the checkpoint tests: parameters and buffers of
 * given names, dtypes and shapes (uniform in [-1, 1) from a seed), a
 * training step whose gradient depends on the state, and bitwise
 * comparisons.  tests/gen_ckpt_v1.c wrote the version-1 fixtures with the
 * same model and step. */
#ifndef CG_TEST_CKPT_MODEL_H
#define CG_TEST_CKPT_MODEL_H

#include <stdbool.h>

#include <cgrad.h>

struct cg_test_pspec {
    const char *name;
    enum cg_dtype dtype;
    int ndim;
    int64_t shape[2];
    bool buffer; /* a module buffer instead of a parameter */
};

#define CG_TEST_TMOD_MAX 6

struct cg_test_tmod {
    struct cg_module base;
    int n;
    struct cg_tensor *p[CG_TEST_TMOD_MAX];
    const struct cg_test_pspec *spec;
};

/* The model of n tensors (n <= CG_TEST_TMOD_MAX); asserts on failure. */
struct cg_test_tmod *cg_test_tmod_new(const struct cg_test_pspec *spec, int n, uint64_t seed);

/* `steps` times: grad = 2 (p - 0.1 i) for element i of every parameter,
 * an optimizer step, a schedule step (if opt has a schedule), and every
 * buffer element + 0.25 (so buffers change too). */
void cg_test_tmod_train(struct cg_test_tmod *m, struct cg_optimizer *opt, int steps);

/* Same dtype, size and bytes (both NULL counts as the same). */
bool cg_test_same_bits(const struct cg_tensor *a, const struct cg_tensor *b);

/* Asserts the two models hold the same bits, and (opt_a non-NULL) that the
 * optimizers agree on every state item, byte for byte. */
void cg_test_assert_same_state(struct cg_test_tmod *a, struct cg_optimizer *opt_a,
                               struct cg_test_tmod *b, struct cg_optimizer *opt_b);

/* Asserts that cg_last_error() starts with `path` (the file it names) and
 * contains every substring of the NULL-terminated list. */
void cg_test_expect_error_(const char *path, const char *const *subs);
#define CG_TEST_EXPECT_ERROR(path, ...) \
    cg_test_expect_error_(path, (const char *const[]){__VA_ARGS__, NULL})

#endif
