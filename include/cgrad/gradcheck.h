/* Gradient checking by central differences, for built-in ops and for your
 * own layers and ops.
 *
 * cg_gradcheck(fn, user, n, inputs, opts, report) calls fn(tape, inputs,
 * user), which must build its output on `tape` (a private tape the check
 * creates) from the given inputs and return it (returning an input itself is
 * allowed too).  A non-scalar output is reduced with fixed weights
 * w ~ uniform(-1, 1) drawn from opts->seed (w = 1 for a one-element output),
 * i.e. the checked function is f = sum(out * w), accumulated in double.
 *
 * Steps:
 *  1. fn + cg_backward_seed(out, w) twice, with the inputs' grads zeroed
 *     before each.  The second gradient must equal the first to within
 *     1e-3 * (atol + rtol * |first|), else the check fails ("backward is not
 *     deterministic"; report.analytic / report.numeric then hold the first
 *     and the second backward's value).  The same holds for f itself.
 *  2. With grad mode off, each element x of each input is set to x + eps and
 *     x - eps (rounded to the dtype) and restored bit for bit afterwards;
 *     numeric = (f(x+) - f(x-)) / (x+ - x-), the step actually taken.
 *  3. Every element must satisfy
 *         |analytic - numeric| <= atol + rtol * |numeric|.
 *     The report names the worst element: largest
 *     |analytic - numeric| - (atol + rtol * |numeric|), NaN/Inf counting as
 *     worst.  If an input whose analytic gradient is entirely 0 fails, the
 *     report names that input instead ("input i got no gradient ...").
 *
 * Inputs must be persistent tensors of one dtype (they are perturbed in
 * place).  Their data, grad contents and requires_grad flag are restored
 * afterwards; a grad the check had to allocate is freed again.  The same
 * tensor may be passed as several inputs.  fn must be deterministic, and it
 * is called 2 + 2 * (total input elements) times.
 * Defaults (opts NULL or fields 0):
 *   CG_F64: eps 1e-6, atol 1e-5, rtol 1e-3 (PyTorch's gradcheck defaults).
 *   CG_F32: eps 1e-3, atol 1e-2, rtol 1e-2 (float rounding makes f64-strict
 *           tolerances meaningless; use f64 for exact checks).
 * Check non-smooth functions (relu, shrinks, abs, max) away from their kinks:
 * within eps of a kink the central difference is meaningless. */
#ifndef CGRAD_GRADCHECK_H
#define CGRAD_GRADCHECK_H

#include "export.h"
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
    double rel_err;     /* abs_err / |numeric|; 0 if both 0, inf if only numeric is 0 */
    int64_t checked;    /* elements compared (0 if the check stopped before step 3) */
    char message[512];  /* "gradcheck passed/failed: ..." or the error message */
};

/* Returns CG_OK if the gradients match, CG_ERR_GRADCHECK if not (details in
 * *report and cg_last_error()), CG_ERR_NOMEM, or CG_ERR_INVALID:
 *  - misuse, reported through the misuse handler first: fn or inputs NULL,
 *    n_inputs < 1, an input on a tape, mixed dtypes, negative or non-finite
 *    options, fn returning a tensor from elsewhere;
 *  - fn returned NULL (its misuse was already reported) or changed its output
 *    shape, or eps is below the dtype's resolution at some input value:
 *    message in cg_last_error() only.
 * report may be NULL; otherwise it is always filled (passed = 1 only on
 * CG_OK; input = -1 when no element is named). */
CG_API enum cg_status cg_gradcheck(cg_gradcheck_fn fn, void *user, int n_inputs,
                            struct cg_tensor *const *inputs,
                            const struct cg_gradcheck_options *opts,
                            struct cg_gradcheck_report *report);

#ifdef __cplusplus
}
#endif
#endif
