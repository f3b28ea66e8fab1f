/* Line reader shared by the reference-file readers (op_refs.c,
 * optim_refs.c): whitespace-separated tokens, '#' comment lines, and
 * "path:line: what" error messages. */
#ifndef CG_TEST_REF_READER_H
#define CG_TEST_REF_READER_H

#include <stddef.h>
#include <stdio.h>

#define CG_REF_MAX_TOKENS 4096

struct cg_ref_reader {
    FILE *f;
    const char *path;
    int line_no;
    char *line;
    size_t cap;
    int n_tok;
    char *tok[CG_REF_MAX_TOKENS];
    char *err;
    size_t err_size;
};

/* Writes "path:line: <message>" into r->err; returns -1. */
int cg_ref_fail(struct cg_ref_reader *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Next line that is neither blank nor a '#' comment, split on whitespace.
 * Returns 1 with tokens, 0 at end of file, -1 on error. */
int cg_ref_next_line(struct cg_ref_reader *r);
/* Like cg_ref_next_line, but end of file is an error and the first token
 * must be `keyword`. */
int cg_ref_expect(struct cg_ref_reader *r, const char *keyword);
int cg_ref_double(struct cg_ref_reader *r, const char *s, double *v);
int cg_ref_int(struct cg_ref_reader *r, const char *s, long long lo, long long hi, long long *v);
/* Reads the first line "<magic> <version>"; fails unless it matches, with
 * "not an <kind> file" or a version message naming `generator`, the
 * script that writes the file. */
int cg_ref_header(struct cg_ref_reader *r, const char *kind, const char *magic, int version,
                  const char *generator);

#endif
