#include "cg_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static int misuse_count;
static char misuse_message[1024];

static void record_misuse(const char *message, void *user)
{
    (void)user;
    misuse_count++;
    snprintf(misuse_message, sizeof misuse_message, "%s", message);
}

void cg_test_capture_misuse(void) { cg_set_misuse_handler(record_misuse, NULL, NULL, NULL); }
void cg_test_release_misuse(void) { cg_set_misuse_handler(NULL, NULL, NULL, NULL); }
int cg_test_misuse_count(void) { return misuse_count; }
const char *cg_test_misuse_message(void) { return misuse_message; }

void cg_test_misuse_reset(void)
{
    misuse_count = 0;
    misuse_message[0] = '\0';
}

void cg_test_check_misuse(const char *expr, const char *file, int line, ...)
{
    if (misuse_count != 1) {
        cg_test_release_misuse();
        fail_msg("%s:%d: `%s` reported %d misuse errors, expected 1 (last: '%s')", file, line,
                 expr, misuse_count, misuse_message);
    }
    va_list ap;
    va_start(ap, line);
    for (const char *s; (s = va_arg(ap, const char *));) {
        if (!strstr(misuse_message, s)) {
            va_end(ap);
            cg_test_release_misuse();
            fail_msg("%s:%d: `%s`: message '%s' lacks '%s'", file, line, expr, misuse_message, s);
        }
    }
    va_end(ap);
}

void cg_test_assert_close(double a, double b, double atol, double rtol, const char *what,
                          const char *file, int line)
{
    bool same_nan = isnan(a) && isnan(b);
    bool same_inf = isinf(a) && isinf(b) && (a > 0) == (b > 0);
    if (same_nan || same_inf) return;
    if (!(fabs(a - b) <= atol + rtol * fabs(b)))
        fail_msg("%s:%d: %s: %.17g vs expected %.17g (diff %.3g, atol %.3g, rtol %.3g)", file,
                 line, what, a, b, fabs(a - b), atol, rtol);
}

void cg_test_assert_tensor(const struct cg_tensor *t, const double *expected, double atol,
                           double rtol, const char *file, int line)
{
    if (!t) fail_msg("%s:%d: tensor is NULL", file, line);
    for (int64_t i = 0; i < t->numel; i++) {
        char what[160];
        snprintf(what, sizeof what, "tensor '%s' element %lld", t->name, (long long)i);
        cg_test_assert_close(cg_tensor_at(t, i), expected[i], atol, rtol, what, file, line);
    }
}

struct cg_tensor *cg_test_randn(enum cg_dtype dtype, int ndim, const int64_t *shape,
                                uint64_t seed)
{
    struct cg_rng rng = cg_rng_seed(seed);
    struct cg_tensor *t = cg_tensor_randn(NULL, dtype, ndim, shape, &rng);
    assert_non_null(t);
    return t;
}

void cg_test_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    if (d) {
        for (struct dirent *e; (e = readdir(d));) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char child[1200];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            cg_test_remove_tree(child);
        }
        closedir(d);
    }
    rmdir(path);
}
