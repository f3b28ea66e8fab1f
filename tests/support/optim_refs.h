/* Optimizer and schedule references: reading tests/data/optim_refs.txt
 * (written by tests/gen_optim_refs.py from PyTorch; the format is described
 * there).  The reader is strict: a wrong magic or version, an unknown
 * keyword, a wrong number of values or a non-number makes cg_optref_load
 * fail with "path:line: what". */
#ifndef CG_TEST_OPTIM_REFS_H
#define CG_TEST_OPTIM_REFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cgrad.h>

#define CG_OPTREF_VERSION 2
#define CG_OPTREF_MAX_PARAMS 4
#define CG_OPTREF_MAX_STATE 3
#define CG_OPTREF_MAX_OPTS 24
#define CG_OPTREF_NAME_MAX 96

struct cg_optref_state {
    char what[CG_OPTREF_NAME_MAX];
    int count;      /* values: the numel of the parameters that have it */
    double *values; /* heap */
};

struct cg_optref_snapshot {
    double *p; /* every parameter, flattened (heap) */
    int n_state;
    struct cg_optref_state state[CG_OPTREF_MAX_STATE];
    uint64_t count[CG_OPTREF_MAX_PARAMS]; /* state['step'] per parameter */
};

struct cg_optref_case {
    char name[CG_OPTREF_NAME_MAX], kind[CG_OPTREF_NAME_MAX];
    enum cg_dtype dtype;
    int steps, n_opts;
    char opt_key[CG_OPTREF_MAX_OPTS][CG_OPTREF_NAME_MAX];
    double opt_value[CG_OPTREF_MAX_OPTS];
    struct cg_optref_snapshot *after; /* steps entries */
};

struct cg_optref_sched {
    char name[CG_OPTREF_NAME_MAX];
    int n;
    double *lr[2]; /* groups 0 and 1 */
    int n_momentum;      /* 0, or n + 1: at creation, then after each step */
    double *momentum[2]; /* OneCycleLR's cycled momentum of groups 0 and 1 */
};

struct cg_optref_file {
    int n_params;
    int ndim[CG_OPTREF_MAX_PARAMS];
    int64_t shape[CG_OPTREF_MAX_PARAMS][CG_MAX_DIMS];
    int64_t numel[CG_OPTREF_MAX_PARAMS], total; /* total: all parameters */
    double *p0;
    int steps;     /* gradient lines */
    double *grads; /* steps x total */
    int *mask;     /* steps x n_params: 0 = no grad in that step */
    int n_cases, n_scheds, n_metrics;
    struct cg_optref_case *cases;
    struct cg_optref_sched *scheds;
    double *metrics;
};

/* Reads `path` into *f.  0 on success; -1 with a message in err (and *f
 * empty) on any error. */
int cg_optref_load(const char *path, struct cg_optref_file *f, char *err, size_t err_size);
void cg_optref_free(struct cg_optref_file *f);
/* cg_optref_load that prints its message to stderr: for cmocka group setups. */
int cg_optref_load_or_report(const char *path, struct cg_optref_file *f);
/* The case's option `key` (fallback when absent). */
double cg_optref_opt(const struct cg_optref_case *c, const char *key, double fallback);
/* The schedule named `name`, or NULL. */
const struct cg_optref_sched *cg_optref_sched(const struct cg_optref_file *f, const char *name);

#endif
