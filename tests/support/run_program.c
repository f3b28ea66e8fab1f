/* See run_program.h. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fork */
#endif
#include "cg_test.h"
#include "run_program.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Whole file as a NUL-terminated string (*len bytes, not counting the NUL);
 * NULL if it cannot be read.  Caller frees. */
char *cg_test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) free(buf);
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

void cg_test_run_free(struct cg_test_run *r)
{
    free(r->out);
    free(r->err);
}

/* Runs the example with the NULL-terminated arguments, stdout and stderr to
 * log files in tmpdir (so the program sees no terminal).  Fails the test if
 * the program dies from a signal (a crash, or a sanitizer abort). */
struct cg_test_run cg_test_run_program(const char *bin, const char *logdir,
                                       const char *const *args)
{
    char out_path[4096], err_path[4096];
    snprintf(out_path, sizeof out_path, "%s/stdout.log", logdir);
    snprintf(err_path, sizeof err_path, "%s/stderr.log", logdir);
    const char *argv[32] = {bin};
    int argc = 1;
    for (; args[argc - 1]; argc++) {
        assert_true(argc < 31);
        argv[argc] = args[argc - 1];
    }
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* only async-signal-safe calls between fork and exec */
        int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0 || dup2(fo, STDOUT_FILENO) < 0 || dup2(fe, STDERR_FILENO) < 0)
            _exit(126);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    if (!WIFEXITED(ws)) {
        char *err = cg_test_slurp(err_path, NULL);
        fail_msg("%s died from signal %d; stderr:\n%s", bin, WTERMSIG(ws), err ? err : "");
    }
    struct cg_test_run r = {WEXITSTATUS(ws), cg_test_slurp(out_path, NULL), cg_test_slurp(err_path, NULL)};
    assert_non_null(r.out);
    assert_non_null(r.err);
    /* Sanitizers exit with a status (1, or 23 for leaks) rather than a
     * signal, which an expected exit 1 would hide. */
    if (strstr(r.err, "Sanitizer") || strstr(r.err, "runtime error:"))
        fail_msg("%s reported a sanitizer error:\n%s", bin, r.err);
    return r;
}
