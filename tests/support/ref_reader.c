/* Line reader shared by the reference-file readers (see ref_reader.h). */
#include "ref_reader.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cg_ref_fail(struct cg_ref_reader *r, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(r->err, r->err_size, "%s:%d: %s", r->path, r->line_no, what);
    return -1;
}

int cg_ref_next_line(struct cg_ref_reader *r)
{
    for (;;) {
        errno = 0;
        ssize_t len = getline(&r->line, &r->cap, r->f);
        if (len < 0) return ferror(r->f) ? cg_ref_fail(r, "read error: %s", strerror(errno)) : 0;
        r->line_no++;
        r->n_tok = 0;
        for (char *p = r->line; *p;) {
            while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') *p++ = '\0';
            if (!*p) break;
            if (r->n_tok == CG_REF_MAX_TOKENS)
                return cg_ref_fail(r, "more than %d tokens", CG_REF_MAX_TOKENS);
            r->tok[r->n_tok++] = p;
            while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
        }
        if (r->n_tok > 0 && r->tok[0][0] != '#') return 1;
    }
}

int cg_ref_expect(struct cg_ref_reader *r, const char *keyword)
{
    int got = cg_ref_next_line(r);
    if (got < 0) return -1;
    if (got == 0) return cg_ref_fail(r, "unexpected end of file, expected '%s'", keyword);
    if (strcmp(r->tok[0], keyword) != 0)
        return cg_ref_fail(r, "expected '%s', found '%s'", keyword, r->tok[0]);
    return 0;
}

int cg_ref_double(struct cg_ref_reader *r, const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    /* ERANGE on underflow is fine (denormals); overflow to inf is not. */
    if (end == s || *end || (errno == ERANGE && isinf(*v) && !strstr(s, "inf")))
        return cg_ref_fail(r, "'%s' is not a number", s);
    return 0;
}

int cg_ref_int(struct cg_ref_reader *r, const char *s, long long lo, long long hi, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    if (end == s || *end || errno == ERANGE || *v < lo || *v > hi)
        return cg_ref_fail(r, "'%s' is not an integer in [%lld, %lld]", s, lo, hi);
    return 0;
}

int cg_ref_header(struct cg_ref_reader *r, const char *kind, const char *magic, int version,
                  const char *generator)
{
    int got = cg_ref_next_line(r);
    if (got < 0) return -1;
    if (got == 0 || r->n_tok != 2 || strcmp(r->tok[0], magic) != 0)
        return cg_ref_fail(r, "not an %s file (expected first line '%s %d')", kind, magic,
                           version);
    long long v;
    if (cg_ref_int(r, r->tok[1], 0, 1000000, &v)) return -1;
    if (v != version)
        return cg_ref_fail(r, "version %lld, this reader understands %d (regenerate the file "
                           "with %s or update the reader)", v, version, generator);
    return 0;
}
