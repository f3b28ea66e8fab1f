/* Small helpers the example programs share: option values and output
 * directories, with messages that name the program. */
#ifndef EX_CLI_H
#define EX_CLI_H

/* Prints "prog: flag value: why" and the usage text to stderr; returns 2
 * (the exit status for a usage error). */
int ex_bad(const char *prog, const char *usage, const char *flag, const char *value,
           const char *why);
/* An integer in [lo, hi] / a finite number >= lo from v into *out: 0, or 2
 * after ex_bad. */
int ex_parse_long(const char *prog, const char *usage, const char *flag, const char *v, long lo,
                  long hi, long *out);
int ex_parse_double(const char *prog, const char *usage, const char *flag, const char *v,
                    double lo, double *out);
/* mkdir -p dir: 0, or 1 after printing why not. */
int ex_make_dir(const char *prog, const char *dir);

#endif
