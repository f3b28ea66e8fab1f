/* Gradient checking by central differences, for built-in ops and for your
 * own layers and ops.
 *
 * cg_gradcheck(fn, user, n, inputs, opts, report) calls fn(tape, inputs,
 * user), which must build its output on `tape` from the given inputs.  A
 * non-scalar output is reduced with fixed random weights w (seeded), i.e.
 * the checked function is sum(out * w).  Each element of each input is
 * perturbed by +-eps; the numeric derivative (f(x+eps) - f(x-eps)) / (2 eps)
 * is compared with the analytic gradient from cg_backward:
 *     |analytic - numeric| <= atol + rtol * |numeric|.
 * The check also fails when an input gets no gradient at all while the numeric
 * one is non-zero, and when a second backward gives a different gradient.
 *
 * Inputs must be persistent tensors (they are perturbed in place and restored;
 * their grads are zeroed and restored afterwards).  fn must be deterministic.
 * Defaults (opts NULL or fields 0):
 *   CG_F64: eps 1e-6, atol 1e-5, rtol 1e-3 (PyTorch's gradcheck defaults).
 *   CG_F32: eps 1e-3, atol 1e-2, rtol 1e-2 (float rounding makes f64-strict
 *           tolerances meaningless; use f64 for exact checks). */
#ifndef CGRAD_GRADCHECK_H
#define CGRAD_GRADCHECK_H

#include <stdint.h>

#include "error.h"
#include "tape.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cg_tensor *(*cg_gradcheck_fn)(struct cg_tape *tape, struct cg_tensor *const *inputs,
                                             void *user);

struct cg_gradcheck_options {
    double eps, atol, rtol; /* 0: dtype default */
    uint64_t seed;          /* for the reduction weights */
};

struct cg_gradcheck_report {
    int passed;         /* 1 if the check passed */
    int input;          /* input index of the worst element (-1: none) */
    int64_t element;    /* flat element index of the worst element */
    double analytic;    /* analytic gradient there */
    double numeric;     /* numeric gradient there */
    double abs_err;     /* |analytic - numeric| */
    double rel_err;     /* abs_err / max(|numeric|, tiny) */
    int64_t checked;    /* elements checked */
    char message[512];  /* human-readable summary */
};

/* Returns CG_OK if the gradients match, CG_ERR_GRADCHECK if not (details in
 * *report and cg_last_error()), CG_ERR_INVALID on misuse (fn returned NULL,
 * input on a tape, ...), CG_ERR_NOMEM.  report may be NULL. */
enum cg_status cg_gradcheck(cg_gradcheck_fn fn, void *user, int n_inputs,
                            struct cg_tensor *const *inputs,
                            const struct cg_gradcheck_options *opts,
                            struct cg_gradcheck_report *report);

#ifdef __cplusplus
}
#endif
#endif
