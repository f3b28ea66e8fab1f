/* Shared state of the gradient check (core/gradcheck*.c); private to core.
 * What nn/gradcheck_module.c builds on is in gradcheck_api.h. */
#ifndef CG_CORE_GRADCHECK_INTERNAL_H
#define CG_CORE_GRADCHECK_INTERNAL_H

#include <stdbool.h>

#include "cgrad/gradcheck.h"
#include "gradcheck_api.h"

#define CG_GC_FN "cg_gradcheck"

/* Per-element verdicts. */
enum gc_state { GC_UNCHECKED = 0, GC_PASS, GC_KINK, GC_FAIL };

struct gc_check {
    cg_gradcheck_fn fn;
    void *user;
    int n;
    struct cg_tensor *const *in;
    const char *const *names;
    struct cg_tape *tape;
    double eps, atol, rtol, roundoff;
    uint64_t seed;
    int fail_on_kinks, no_estimate, no_accumulation, probes;
    enum cg_gradcheck_mode mode;
    int64_t fast_above, max_evals, evals;
    int64_t total;   /* elements over all inputs */
    int64_t *offset; /* start of input i in the per-element arrays */
    /* fn's output shape on the first call, the reduction weights, and the
     * output values of the last evaluation (for the rounding estimate) */
    int out_ndim;
    int64_t out_shape[CG_MAX_DIMS];
    int64_t out_numel;
    double *w, *prev_out;
    double f0;       /* f at the unperturbed inputs */
    /* per element: analytic, numeric, error estimate, state */
    double *ana, *num, *est;
    unsigned char *state;
    /* from the probing backward passes (hints only) */
    double *ana_first;   /* gradient from sample 0 of the output alone, or NULL */
    bool *upstream_ignored; /* per input */
};

/* gradcheck.c: evaluations */
enum cg_status gc_eval(struct gc_check *c, const char *when, bool keep_out, double *f,
                       double *round_est);
int gc_first_use(const struct gc_check *c, int i);
void gc_describe(char *buf, size_t size, const struct gc_check *c, int i, int64_t k);

/* gradcheck_numeric.c: full and fast numeric checks */
enum cg_status gc_check_element(struct gc_check *c, int i, int64_t k,
                                struct cg_gradcheck_report *r);
enum cg_status gc_numeric_full(struct gc_check *c, struct cg_gradcheck_report *r);
enum cg_status gc_numeric_fast(struct gc_check *c, struct cg_gradcheck_report *r);

/* gradcheck_report.c: verdict, diagnosis and messages */
double gc_tol(const struct gc_check *c, double numeric);
void gc_element(const struct gc_check *c, int i, int64_t k, double a, double n,
                struct cg_gradcheck_element *e);
void gc_set_top(struct cg_gradcheck_report *r, const struct cg_gradcheck_element *e);
void gc_add_kink(struct cg_gradcheck_report *r, const struct cg_gradcheck_element *e);
/* Appends "(hint: ...)" for each bit of r->hints to r->message. */
void gc_append_hints(struct cg_gradcheck_report *r);
bool gc_verdict(struct gc_check *c, struct cg_gradcheck_report *r);

/* cg_gradcheck with the f64 shadow of f32 inputs (gradcheck_shadow.c). */
enum cg_status cg_gradcheck_shadowed(cg_gradcheck_fn fn, void *user, int n,
                                     struct cg_tensor *const *in,
                                     const struct cg_gradcheck_options *opts,
                                     struct cg_gradcheck_report *r);
#endif
