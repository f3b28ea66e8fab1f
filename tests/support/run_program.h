/* Running an example program from a test, and reading files whole. */
#ifndef CG_TEST_RUN_PROGRAM_H
#define CG_TEST_RUN_PROGRAM_H

#include <stddef.h>

struct cg_test_run {
    int status; /* exit code */
    char *out;  /* stdout */
    char *err;  /* stderr */
};

/* Whole file as a NUL-terminated string (*len bytes, not counting the NUL;
 * len may be NULL); NULL if it cannot be read.  Caller frees. */
char *cg_test_slurp(const char *path, size_t *len);

/* Runs `bin` with the NULL-terminated arguments, stdout and stderr to
 * stdout.log / stderr.log in `logdir` (so the program sees no terminal).
 * Fails the current cmocka test if the program dies from a signal or a
 * sanitizer reports an error.  Free with cg_test_run_free. */
struct cg_test_run cg_test_run_program(const char *bin, const char *logdir,
                                       const char *const *args);
void cg_test_run_free(struct cg_test_run *r);

#endif
