#include "bad_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_test.h"

static int rows_total;

int cg_test_rows_total(void) { return rows_total; }

void cg_test_run_rows(const char *suite, const char *area, const struct cg_bad_row *rows, size_t n)
{
    int failures = 0;
    const char *verbose = getenv("CG_BAD_ROWS_VERBOSE");
    cg_test_capture_misuse();
    for (size_t i = 0; i < n; i++) {
        const struct cg_bad_row *r = &rows[i];
        if (verbose) {
            printf("  %s: %s\n", area, r->id);
            fflush(stdout);
        }
        cg_clear_error();
        cg_test_misuse_reset();
        int ok = r->fn();
        int count = cg_test_misuse_count();
        const char *msg = r->misuses ? cg_test_misuse_message() : cg_last_error();
        const char *why = NULL, *lacking = NULL;
        if (count != r->misuses) why = "wrong number of misuse reports";
        else if (!ok) why = "unexpected result";
        for (int k = 0; !why && k < 4 && r->subs[k]; k++)
            if (!strstr(msg, r->subs[k])) why = "message lacks", lacking = r->subs[k];
        if (why) {
            failures++;
            print_message("FAIL %s/%s: %s%s%s%s (misuses %d, expected %d)\n  `%s`\n  message: %s\n",
                          area, r->id, why, lacking ? " '" : "", lacking ? lacking : "",
                          lacking ? "'" : "", count, r->misuses, r->expr, msg);
        }
    }
    cg_test_release_misuse();
    rows_total += (int)n;
    print_message("%s: %-10s %3zu rows, %d failed\n", suite, area, n, failures);
    if (failures) fail_msg("%d of %zu %s rows failed", failures, n, area);
}
