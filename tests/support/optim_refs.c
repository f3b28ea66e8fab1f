/* Reader for tests/data/optim_refs.txt (see optim_refs.h and
 * tests/gen_optim_refs.py for the format). */
#include "optim_refs.h"
#include "ref_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int copy_name(struct cg_ref_reader *r, char *dst, const char *src)
{
    if (strlen(src) >= CG_OPTREF_NAME_MAX) return cg_ref_fail(r, "name '%s' too long", src);
    strcpy(dst, src);
    return 0;
}

/* tokens [first, first + n) of the current line as n doubles (heap). */
static int read_values(struct cg_ref_reader *r, int first, int n, double **out)
{
    if (r->n_tok - first != n)
        return cg_ref_fail(r, "'%s': expected %d values, found %d", r->tok[0], n,
                           r->n_tok - first);
    *out = malloc((size_t)(n ? n : 1) * sizeof **out);
    if (!*out) return cg_ref_fail(r, "out of memory");
    for (int i = 0; i < n; i++)
        if (cg_ref_double(r, r->tok[first + i], &(*out)[i])) return -1;
    return 0;
}

static int read_grads(struct cg_ref_reader *r, struct cg_optref_file *f)
{
    long long v;
    if (r->n_tok != 2 || cg_ref_int(r, r->tok[1], 1, 100000, &v))
        return cg_ref_fail(r, "expected 'steps <n>'");
    f->steps = (int)v;
    f->grads = malloc((size_t)f->steps * (size_t)f->total * sizeof *f->grads);
    f->mask = malloc((size_t)f->steps * (size_t)f->n_params * sizeof *f->mask);
    if (!f->grads || !f->mask) return cg_ref_fail(r, "out of memory");
    for (int k = 0; k < f->steps; k++) {
        if (cg_ref_expect(r, "grad")) return -1;
        if (r->n_tok != 2 + f->n_params + f->total)
            return cg_ref_fail(r, "'grad' needs a step, %d masks and %lld values", f->n_params,
                               (long long)f->total);
        if (cg_ref_int(r, r->tok[1], k, k, &v)) return -1;
        for (int i = 0; i < f->n_params; i++) {
            if (cg_ref_int(r, r->tok[2 + i], 0, 1, &v)) return -1;
            f->mask[k * f->n_params + i] = (int)v;
        }
        for (int64_t i = 0; i < f->total; i++)
            if (cg_ref_double(r, r->tok[2 + f->n_params + i], &f->grads[k * f->total + i]))
                return -1;
    }
    return 0;
}

/* The current line is "case <name> <kind> <f32|f64> <steps>". */
static int read_case(struct cg_ref_reader *r, const struct cg_optref_file *f,
                     struct cg_optref_case *c)
{
    long long v;
    if (r->n_tok != 5) return cg_ref_fail(r, "expected 'case <name> <kind> <dtype> <steps>'");
    if (copy_name(r, c->name, r->tok[1]) || copy_name(r, c->kind, r->tok[2])) return -1;
    if (strcmp(r->tok[3], "f32") != 0 && strcmp(r->tok[3], "f64") != 0)
        return cg_ref_fail(r, "dtype '%s' is neither f32 nor f64", r->tok[3]);
    c->dtype = strcmp(r->tok[3], "f64") == 0 ? CG_F64 : CG_F32;
    if (cg_ref_int(r, r->tok[4], 1, f->steps, &v)) return -1;
    c->steps = (int)v;
    c->after = calloc((size_t)c->steps, sizeof *c->after);
    if (!c->after) return cg_ref_fail(r, "out of memory");
    int k = -1;
    for (;;) {
        int got = cg_ref_next_line(r);
        if (got < 0) return -1;
        if (got == 0) return cg_ref_fail(r, "case '%s' has no 'end'", c->name);
        const char *key = r->tok[0];
        struct cg_optref_snapshot *s = k >= 0 ? &c->after[k] : NULL;
        if (strcmp(key, "end") == 0) break;
        if (strcmp(key, "opt") == 0) {
            if (r->n_tok != 3 || k >= 0 || c->n_opts == CG_OPTREF_MAX_OPTS)
                return cg_ref_fail(r, "misplaced or malformed 'opt'");
            if (copy_name(r, c->opt_key[c->n_opts], r->tok[1]) ||
                cg_ref_double(r, r->tok[2], &c->opt_value[c->n_opts]))
                return -1;
            c->n_opts++;
        } else if (strcmp(key, "after") == 0) {
            if (r->n_tok != 2 || cg_ref_int(r, r->tok[1], k + 1, k + 1, &v)) return -1;
            if (++k >= c->steps) return cg_ref_fail(r, "more steps than announced");
        } else if (!s) {
            return cg_ref_fail(r, "'%s' before the first 'after'", key);
        } else if (strcmp(key, "p") == 0) {
            if (read_values(r, 1, (int)f->total, &s->p)) return -1;
        } else if (strcmp(key, "s") == 0) {
            if (r->n_tok < 2 || s->n_state == CG_OPTREF_MAX_STATE)
                return cg_ref_fail(r, "malformed 's' line");
            struct cg_optref_state *st = &s->state[s->n_state++];
            if (copy_name(r, st->what, r->tok[1])) return -1;
            st->count = r->n_tok - 2;
            if (read_values(r, 2, st->count, &st->values)) return -1;
        } else if (strcmp(key, "count") == 0) {
            if (r->n_tok != 1 + f->n_params) return cg_ref_fail(r, "'count' per parameter");
            for (int i = 0; i < f->n_params; i++) {
                if (cg_ref_int(r, r->tok[1 + i], 0, f->steps, &v)) return -1;
                s->count[i] = (uint64_t)v;
            }
        } else {
            return cg_ref_fail(r, "unknown keyword '%s' in case '%s'", key, c->name);
        }
    }
    if (r->n_tok != 1) return cg_ref_fail(r, "junk after 'end'");
    for (int i = 0; i < c->steps; i++)
        if (!c->after[i].p) return cg_ref_fail(r, "case '%s' lacks step %d", c->name, i);
    return 0;
}

static int read_sched(struct cg_ref_reader *r, struct cg_optref_file *f, int group)
{
    long long v;
    if (r->n_tok < 3 || cg_ref_int(r, r->tok[2], 1, 100000, &v))
        return cg_ref_fail(r, "expected '%s <name> <n> <values>'", r->tok[0]);
    struct cg_optref_sched *s = NULL;
    if (group == 0) {
        struct cg_optref_sched *grown =
            realloc(f->scheds, (size_t)(f->n_scheds + 1) * sizeof *grown);
        if (!grown) return cg_ref_fail(r, "out of memory");
        f->scheds = grown;
        s = &f->scheds[f->n_scheds++];
        memset(s, 0, sizeof *s);
        if (copy_name(r, s->name, r->tok[1])) return -1;
        s->n = (int)v;
    } else {
        if (f->n_scheds == 0 || strcmp(f->scheds[f->n_scheds - 1].name, r->tok[1]) != 0)
            return cg_ref_fail(r, "'sched_group1 %s' does not follow its 'sched'", r->tok[1]);
        s = &f->scheds[f->n_scheds - 1];
        if (v != s->n) return cg_ref_fail(r, "group 1 has %lld values, group 0 %d", v, s->n);
    }
    return read_values(r, 3, s->n, &s->lr[group]);
}

/* "sched_momentum[_group1] <name> <n> <values>" after its schedule's lines. */
static int read_sched_momentum(struct cg_ref_reader *r, struct cg_optref_file *f, int group)
{
    long long v;
    if (r->n_tok < 3 || cg_ref_int(r, r->tok[2], 1, 100000, &v))
        return cg_ref_fail(r, "expected '%s <name> <n> <values>'", r->tok[0]);
    struct cg_optref_sched *s = f->n_scheds ? &f->scheds[f->n_scheds - 1] : NULL;
    if (!s || strcmp(s->name, r->tok[1]) != 0 || s->momentum[group] ||
        (group == 1 && !s->momentum[0]))
        return cg_ref_fail(r, "misplaced '%s %s'", r->tok[0], r->tok[1]);
    if (v != s->n + 1)
        return cg_ref_fail(r, "'%s' needs %d values (creation and %d steps), not %lld",
                           r->tok[0], s->n + 1, s->n, v);
    s->n_momentum = (int)v;
    return read_values(r, 3, s->n_momentum, &s->momentum[group]);
}

static int read_all(struct cg_ref_reader *r, struct cg_optref_file *f)
{
    if (cg_ref_header(r, "optimizer reference", "CGRAD-OPTIMREF", CG_OPTREF_VERSION,
                      "tests/gen_optim_refs.py"))
        return -1;
    int got, cap = 0;
    long long v;
    while ((got = cg_ref_next_line(r)) == 1) {
        const char *key = r->tok[0];
        if (strcmp(key, "shape") == 0) {
            if (f->n_params == CG_OPTREF_MAX_PARAMS || r->n_tok < 2 ||
                r->n_tok - 1 > CG_MAX_DIMS || f->p0)
                return cg_ref_fail(r, "misplaced or malformed 'shape'");
            int i = f->n_params++;
            f->ndim[i] = r->n_tok - 1;
            f->numel[i] = 1;
            for (int d = 0; d < f->ndim[i]; d++) {
                if (cg_ref_int(r, r->tok[1 + d], 1, 1 << 20, &v)) return -1;
                f->shape[i][d] = v;
                f->numel[i] *= v;
            }
            f->total += f->numel[i];
        } else if (strcmp(key, "p0") == 0) {
            if (!f->n_params || f->p0) return cg_ref_fail(r, "misplaced 'p0'");
            if (read_values(r, 1, (int)f->total, &f->p0)) return -1;
        } else if (strcmp(key, "steps") == 0) {
            if (!f->p0 || f->grads) return cg_ref_fail(r, "misplaced 'steps'");
            if (read_grads(r, f)) return -1;
        } else if (strcmp(key, "case") == 0) {
            if (!f->grads) return cg_ref_fail(r, "'case' before the gradients");
            if (f->n_cases == cap) {
                cap = cap ? 2 * cap : 64;
                struct cg_optref_case *grown = realloc(f->cases, (size_t)cap * sizeof *grown);
                if (!grown) return cg_ref_fail(r, "out of memory");
                f->cases = grown;
            }
            struct cg_optref_case *c = &f->cases[f->n_cases++];
            memset(c, 0, sizeof *c);
            if (read_case(r, f, c)) return -1;
        } else if (strcmp(key, "metrics") == 0) {
            if (r->n_tok < 2 || cg_ref_int(r, r->tok[1], 1, 100000, &v) || f->metrics)
                return cg_ref_fail(r, "malformed 'metrics'");
            f->n_metrics = (int)v;
            if (read_values(r, 2, f->n_metrics, &f->metrics)) return -1;
        } else if (strcmp(key, "sched") == 0 || strcmp(key, "sched_group1") == 0) {
            if (read_sched(r, f, key[5] == '_')) return -1;
        } else if (strcmp(key, "sched_momentum") == 0 ||
                   strcmp(key, "sched_momentum_group1") == 0) {
            if (read_sched_momentum(r, f, key[14] == '_')) return -1;
        } else {
            return cg_ref_fail(r, "unknown keyword '%s'", key);
        }
    }
    if (got < 0) return -1;
    if (!f->n_cases || !f->n_scheds) return cg_ref_fail(r, "no cases or no schedules");
    for (int i = 0; i < f->n_scheds; i++)
        if (!f->scheds[i].lr[1] || (f->scheds[i].momentum[0] && !f->scheds[i].momentum[1]))
            return cg_ref_fail(r, "schedule '%s' lacks group 1", f->scheds[i].name);
    return 0;
}

int cg_optref_load(const char *path, struct cg_optref_file *f, char *err, size_t err_size)
{
    struct cg_ref_reader r = {.path = path, .err = err, .err_size = err_size};
    memset(f, 0, sizeof *f);
    r.f = fopen(path, "r");
    if (!r.f) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = read_all(&r, f);
    free(r.line);
    fclose(r.f);
    if (rc) cg_optref_free(f);
    return rc;
}

int cg_optref_load_or_report(const char *path, struct cg_optref_file *f)
{
    char err[512];
    int rc = cg_optref_load(path, f, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    return rc;
}

void cg_optref_free(struct cg_optref_file *f)
{
    for (int c = 0; c < f->n_cases; c++) {
        struct cg_optref_case *cs = &f->cases[c];
        for (int k = 0; cs->after && k < cs->steps; k++) {
            free(cs->after[k].p);
            for (int i = 0; i < cs->after[k].n_state; i++) free(cs->after[k].state[i].values);
        }
        free(cs->after);
    }
    for (int i = 0; i < f->n_scheds; i++) {
        free(f->scheds[i].lr[0]);
        free(f->scheds[i].lr[1]);
        free(f->scheds[i].momentum[0]);
        free(f->scheds[i].momentum[1]);
    }
    free(f->cases);
    free(f->scheds);
    free(f->p0);
    free(f->grads);
    free(f->mask);
    free(f->metrics);
    memset(f, 0, sizeof *f);
}

double cg_optref_opt(const struct cg_optref_case *c, const char *key, double fallback)
{
    for (int i = 0; i < c->n_opts; i++)
        if (strcmp(c->opt_key[i], key) == 0) return c->opt_value[i];
    return fallback;
}

const struct cg_optref_sched *cg_optref_sched(const struct cg_optref_file *f, const char *name)
{
    for (int i = 0; i < f->n_scheds; i++)
        if (strcmp(f->scheds[i].name, name) == 0) return &f->scheds[i];
    return NULL;
}
