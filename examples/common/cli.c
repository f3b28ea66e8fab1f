#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int ex_bad(const char *prog, const char *usage, const char *flag, const char *value,
           const char *why)
{
    fprintf(stderr, "%s: %s %s: %s\n\n%s", prog, flag, value ? value : "", why, usage);
    return 2;
}

int ex_parse_long(const char *prog, const char *usage, const char *flag, const char *v, long lo,
                  long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        char why[96];
        snprintf(why, sizeof why, "expected an integer in [%ld, %ld]", lo, hi);
        return ex_bad(prog, usage, flag, v, why);
    }
    *out = x;
    return 0;
}

int ex_parse_double(const char *prog, const char *usage, const char *flag, const char *v,
                    double lo, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || !isfinite(x) || x < lo) {
        char why[96];
        snprintf(why, sizeof why, "expected a finite number >= %g", lo);
        return ex_bad(prog, usage, flag, v, why);
    }
    *out = x;
    return 0;
}

int ex_make_dir(const char *prog, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) break;
        *p = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: cannot create directory %s: %s\n", prog, dir, strerror(errno));
        return 1;
    }
    return 0;
}
