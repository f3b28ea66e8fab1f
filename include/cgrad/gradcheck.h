/* Gradient checking by finite differences, for built-in ops and for your
 * own layers and ops.
 *
 * cg_gradcheck(fn, user, n, inputs, opts, report) calls fn(tape, inputs,
 * user), which must build its output on `tape` (a private tape the check
 * creates) from the given inputs and return it (returning an input itself is
 * allowed too).  A non-scalar output is reduced with fixed weights
 * w ~ uniform(-1, 1) drawn from opts->seed and rounded to f32 (so an f32
 * run and its f64 shadow check the same function; w = 1 for a one-element
 * output), i.e. the checked function is f = sum(out * w), accumulated in
 * double.
 *
 * Steps:
 *  1. Backward twice with the inputs' grads zeroed: the two gradients must
 *     agree ("backward is not deterministic"; report.analytic / numeric then
 *     hold the first and the second value).  The same holds for f itself.
 *  2. Accumulation: the inputs' grads are pre-filled with known non-zero
 *     values p before a third backward; grad - p must equal the gradient
 *     ("overwritten, not accumulated": `=` instead of `+=` in a backward).
 *  3. Two more backward passes probe the upstream gradient (seed 2w must
 *     give twice the gradient) and, for a batched output, the first sample
 *     alone; they only feed the hints.
 *  4. Numeric gradient, with grad mode off; every perturbed element is
 *     restored bit for bit.  Full mode: for each element x,
 *     c1 = (f(x+h) - f(x-h)) / (x+h - x-h), the step actually taken after
 *     rounding to the dtype.  An element passes when
 *         |analytic - c1| <= atol + rtol * |c1|.
 *     Otherwise f(x+-2h) give c2 and the 4-point value d4 = (4 c1 - c2) / 3;
 *     the error estimate is |c1 - d4| plus the rounding error of the
 *     evaluations (unit roundoff times the weighted outputs that changed,
 *     over the step).  Within atol + rtol |c1| + estimate the element passes
 *     (unless no_error_estimate).  Otherwise the one-sided slopes
 *     l = (f(x) - f(x-h)) / h and r = (f(x+h) - f(x)) / h are compared: when
 *     they disagree beyond tolerance the point is non-differentiable (a
 *     kink, or a jump like hardshrink's at +-lambda); it passes,
 *     counted in report.kinks, when the analytic value lies within [l, r]
 *     (a valid subgradient), unless fail_on_kinks.
 *     Fast mode (PyTorch's fast_mode): `probes` random unit directions u
 *     (entries +-1/sqrt(n) over all n input elements, from the seed)
 *     compare the analytic g . u with the central difference of f along u,
 *     with the same tolerance, estimate and one-sided slopes (a probe
 *     across a kink is replaced by another).  On a failure one probe per
 *     input finds the failing inputs, and the full element test above runs
 *     on a spread of their elements (all of them if few), within max_evals
 *     calls of fn, so the report still names elements.  Mode AUTO (the
 *     default) is full up to fast_above elements in total, fast above.
 *  5. f64 shadow (opts->f64_shadow 1; cg_gradcheck_module does it by
 *     default): f32 inputs are copied to f64, the copy is checked (at the
 *     f64 defaults), and the f32 forward and gradients are compared with the
 *     f64 ones (max |d| <= 1e-4 * max|f64| + 1e-3 |f64| per element).
 *
 * The report counts the failing elements, keeps the worst 5 (name, index
 * tuple, analytic, numeric, errors, estimate) and the first 5 kinks, and
 * sets hints when a pattern fits (enum cg_gradcheck_hint).
 * cg_gradcheck_report_print writes it out.
 *
 * Inputs must be persistent tensors of one dtype (they are perturbed in
 * place).  Their data, grad contents and requires_grad flag are restored
 * afterwards; a grad the check had to allocate is freed again.  The same
 * tensor may be passed as several inputs.  fn must be deterministic.
 * Defaults (opts NULL or fields 0):
 *   CG_F64: eps 1e-6, atol 1e-5, rtol 1e-3 (PyTorch's gradcheck defaults).
 *   CG_F32: eps 1e-3, atol 1e-2, rtol 1e-2 (float rounding makes f64-strict
 *           tolerances meaningless; the f64 shadow gives the strict check).
 *   probes 4, fast_above 4096 elements, max_evals 4096, seed 0. */
#ifndef CGRAD_GRADCHECK_H
#define CGRAD_GRADCHECK_H

#include "export.h"
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "tape.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cg_tensor *(*cg_gradcheck_fn)(struct cg_tape *tape, struct cg_tensor *const *inputs,
                                             void *user);

enum cg_gradcheck_mode {
    CG_GRADCHECK_AUTO = 0, /* full up to fast_above elements, fast above */
    CG_GRADCHECK_FULL = 1, /* every element */
    CG_GRADCHECK_FAST = 2  /* random directional probes, localize on failure */
};

struct cg_gradcheck_options {
    double eps, atol, rtol; /* 0: dtype default */
    uint64_t seed;          /* reduction weights, accumulation pre-fill, probes */
    /* Added fields (0 keeps the defaults): */
    int fail_on_kinks;       /* 1: a non-differentiable point fails */
    int no_error_estimate;   /* 1: plain atol/rtol, no finite-difference error estimate */
    int no_accumulation;     /* 1: skip the pre-filled-gradient check */
    int f64_shadow;          /* 1: also check an f64 copy of f32 inputs; -1: never
                              * (0: off for cg_gradcheck, on for cg_gradcheck_module) */
    enum cg_gradcheck_mode mode;
    int probes;              /* fast mode directions (0: 4) */
    int64_t fast_above;      /* AUTO switches to fast above this many elements (0: 4096) */
    int64_t max_evals;       /* fast mode: cap on calls of fn (0: 4096) */
    /* Report names of the inputs (n entries, may be NULL): "input",
     * "2.weight".  NULL: "input i", with the tensor's name when it has one. */
    const char *const *input_names;
};

/* Patterns recognised in a failure (report.hints is a bit set). */
enum cg_gradcheck_hint {
    CG_GRADCHECK_HINT_SIGN = 1u << 0,             /* analytic = -numeric */
    CG_GRADCHECK_HINT_SCALE = 1u << 1,            /* analytic = c * numeric (report.scale) */
    CG_GRADCHECK_HINT_NO_GRADIENT = 1u << 2,      /* an input got no gradient at all */
    CG_GRADCHECK_HINT_NOT_ACCUMULATED = 1u << 3,  /* grad overwritten, not added to */
    CG_GRADCHECK_HINT_NONDETERMINISTIC = 1u << 4, /* two backward passes differ */
    CG_GRADCHECK_HINT_FIRST_SAMPLE = 1u << 5,     /* right only for sample 0 of the batch */
    CG_GRADCHECK_HINT_UPSTREAM_IGNORED = 1u << 6, /* doubling d(out) did not double it */
    CG_GRADCHECK_HINT_TRANSPOSED = 1u << 7,       /* analytic is the numeric, transposed */
    CG_GRADCHECK_HINT_SHIFTED = 1u << 8,          /* analytic is the numeric, off by one */
    CG_GRADCHECK_HINT_F32_DIFFERS = 1u << 9       /* f32 results differ from the f64 shadow */
};

#define CG_GRADCHECK_SHOWN 5
#define CG_GRADCHECK_NAME_MAX 96

/* One element in a report. */
struct cg_gradcheck_element {
    char name[CG_GRADCHECK_NAME_MAX]; /* "2.weight[3,7]", "input 0[1,4]" */
    int input;                        /* index into the inputs */
    int64_t element;                  /* flat index */
    int ndim;
    int64_t index[CG_MAX_DIMS];       /* index tuple */
    double analytic, numeric;         /* numeric: central difference */
    double abs_err, rel_err;
    double err_est;                   /* finite-difference error estimate */
    double left, right;               /* one-sided slopes (kinks; 0 otherwise) */
};

struct cg_gradcheck_report {
    int passed;         /* 1 if the check passed */
    int input;          /* input index of the worst element (-1: none) */
    int64_t element;    /* flat element index of the worst element */
    double analytic;    /* analytic gradient there */
    double numeric;     /* numeric gradient there */
    double abs_err;     /* |analytic - numeric| */
    double rel_err;     /* abs_err / |numeric|; 0 if both 0, inf if only numeric is 0 */
    int64_t checked;    /* elements compared one by one (0 if the check stopped
                         * before the numeric step, or fast mode passed) */
    char message[512];  /* "gradcheck passed/failed: ..." or the error message */
    /* Added fields: */
    int64_t failed;     /* failing elements among those checked */
    int64_t kinks;      /* non-differentiable points that passed as subgradients */
    double max_abs_err; /* largest |analytic - numeric| seen (kinks excluded) */
    int n_worst;        /* entries in worst[], worst first */
    struct cg_gradcheck_element worst[CG_GRADCHECK_SHOWN];
    int n_kinks_shown;  /* entries in kink[], first found first */
    struct cg_gradcheck_element kink[CG_GRADCHECK_SHOWN];
    unsigned hints;     /* enum cg_gradcheck_hint bits */
    double scale;       /* the factor c of CG_GRADCHECK_HINT_SCALE */
    char hint_input[CG_GRADCHECK_NAME_MAX]; /* the input the first hint is about */
    int fast;           /* 1: fast mode ran */
    int probes;         /* directional probes compared */
    int probes_failed;
    int64_t evals;      /* calls of fn */
    enum cg_dtype dtype; /* dtype the gradients were checked in */
    int shadow;         /* f32 checked through an f64 shadow: 1 and compared with
                         * it; 2 and not compared (the f64 check failed first) */
    double shadow_out_err, shadow_grad_err; /* max |f32 - f64| / max |f64| */
    char shadow_worst[CG_GRADCHECK_NAME_MAX]; /* where the gradients differ most */
    int64_t batch;      /* shape[0] of input 0, named by the scale hint */
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

/* Writes the report: verdict, dtypes and mode, counts, the worst elements
 * with their errors and estimates, kinks, and each hint in words.  report or
 * f NULL: nothing is written. */
CG_API void cg_gradcheck_report_print(const struct cg_gradcheck_report *report, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
