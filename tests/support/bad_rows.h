/* Table-driven bad-call tests shared by test_bad_inputs.c and
 * test_bad_files.c.  A table is an X-macro ROWS_<AREA>(X) whose rows are
 *     X(id, misuses, check, "substring", ...)
 * misuses: misuse reports the call must make (1, or 0 for status rows);
 * check: an expression that is true when the result is as expected;
 * substrings (up to 4): looked for in the misuse message, or in
 * cg_last_error() for status rows. */
#ifndef CG_BAD_ROWS_H
#define CG_BAD_ROWS_H

#include <stddef.h>

struct cg_bad_row {
    const char *id, *expr;
    int misuses;     /* misuse reports expected */
    int (*fn)(void); /* runs the call; returns 1 if the result is as expected */
    const char *subs[4];
};

#define CG_ROW_FN(id, n, check, ...) \
    static int row_##id(void) { return (check) ? 1 : 0; }
#define CG_ROW_ENTRY(id, n, check, ...) {#id, #check, n, row_##id, {__VA_ARGS__}},
/* Defines the row functions and `rows_<AREA>[]`, and a cmocka test
 * `test_<AREA>` that runs them under `suite`'s name. */
#define CG_ROW_AREA(suite, name)                                                          \
    ROWS_##name(CG_ROW_FN)                                                                \
    static const struct cg_bad_row rows_##name[] = {ROWS_##name(CG_ROW_ENTRY)};           \
    static void test_##name(void **s)                                                     \
    {                                                                                     \
        (void)s;                                                                          \
        cg_test_run_rows(suite, #name, rows_##name, sizeof rows_##name / sizeof rows_##name[0]); \
    }

/* Runs every row with the misuse handler captured; prints each failing row
 * (and, with CG_BAD_ROWS_VERBOSE set, each row's id before it runs) and a
 * summary line, adds n to the total, and fails the cmocka test if any row
 * failed. */
void cg_test_run_rows(const char *suite, const char *area, const struct cg_bad_row *rows, size_t n);
/* Rows run so far by cg_test_run_rows. */
int cg_test_rows_total(void);

#endif
