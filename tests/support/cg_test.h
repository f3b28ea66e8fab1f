/* Shared helpers for cgrad's cmocka tests. Include after cmocka's headers. */
#ifndef CG_TEST_H
#define CG_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cgrad.h>

/* Installs a misuse handler that records messages instead of aborting. */
void cg_test_capture_misuse(void);
/* Restores the default (aborting) handler. */
void cg_test_release_misuse(void);
/* Number of misuse reports since the last capture/reset, and the last message. */
int cg_test_misuse_count(void);
const char *cg_test_misuse_message(void);
void cg_test_misuse_reset(void);

/* Asserts that evaluating `expr` reported exactly one misuse whose message
 * contains every one of the given substrings (NULL-terminated). */
#define CG_EXPECT_MISUSE(expr, ...)                                                  \
    do {                                                                             \
        cg_test_capture_misuse();                                                    \
        cg_test_misuse_reset();                                                      \
        (void)(expr);                                                                \
        cg_test_check_misuse(#expr, __FILE__, __LINE__, __VA_ARGS__, (const char *)NULL); \
        cg_test_release_misuse();                                                    \
    } while (0)
void cg_test_check_misuse(const char *expr, const char *file, int line, ...);

/* Asserts |a - b| <= atol + rtol * |b| with a message naming `what`. */
void cg_test_assert_close(double a, double b, double atol, double rtol, const char *what,
                          const char *file, int line);
#define CG_ASSERT_CLOSE(a, b, atol, rtol) \
    cg_test_assert_close((a), (b), (atol), (rtol), #a " vs " #b, __FILE__, __LINE__)

/* Asserts every element of t equals (within atol/rtol) expected[i]. */
void cg_test_assert_tensor(const struct cg_tensor *t, const double *expected, double atol,
                           double rtol, const char *file, int line);
#define CG_ASSERT_TENSOR(t, expected, atol, rtol) \
    cg_test_assert_tensor((t), (expected), (atol), (rtol), __FILE__, __LINE__)

/* A persistent tensor of normal(0, 1) values drawn from cg_rng_seed(seed);
 * fails the test if it cannot be made. */
struct cg_tensor *cg_test_randn(enum cg_dtype dtype, int ndim, const int64_t *shape,
                                uint64_t seed);

/* Removes a file or a directory tree (without following symlinks); errors
 * are ignored.  For tests' temporary directories. */
void cg_test_remove_tree(const char *path);

#endif
