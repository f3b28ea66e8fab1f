/* core's internal API for cg_gradcheck_module (nn/gradcheck_module.c): the
 * check proper, a forward + backward snapshot, and the f32/f64 comparison
 * of the shadow.  Not public. */
#ifndef CG_CORE_GRADCHECK_API_H
#define CG_CORE_GRADCHECK_API_H

#include <stdbool.h>
#include <stdint.h>

#include "cgrad/gradcheck.h"

/* For cg_gradcheck_module (nn) and the f32 shadow: one forward + backward
 * of fn at the inputs' current values (grads zeroed first, everything
 * restored after), giving the output values (malloc'd, *n_out of them) and
 * the gradient of sum(out * w) for every input element (malloc'd, inputs
 * concatenated).  w is drawn from seed as in the check, rounded to f32 so
 * an f32 and an f64 run use the same weights.  Free both with cg_free. */
enum cg_status cg_gradcheck_snapshot(cg_gradcheck_fn fn, void *user, int n,
                                     struct cg_tensor *const *in, uint64_t seed, double **out,
                                     int64_t *n_out, double **grad);
/* Compares an f32 snapshot with an f64 one (same inputs, same order) and
 * records the result in r (shadow fields, hint, message); false if they
 * differ beyond the f32 tolerance. */
bool cg_gradcheck_shadow_compare(int n, struct cg_tensor *const *in, const char *const *names,
                                 const double *out32, const double *out64, int64_t n_out,
                                 const double *grad32, const double *grad64,
                                 struct cg_gradcheck_report *r);
/* The check proper, on inputs of one dtype, without the shadow. */
enum cg_status cg_gradcheck_run(cg_gradcheck_fn fn, void *user, int n,
                                struct cg_tensor *const *in,
                                const struct cg_gradcheck_options *opts,
                                struct cg_gradcheck_report *r);
/* Option checks shared with cg_gradcheck_module (misuse reported as fn). */
bool cg_gradcheck_options_ok(const char *fn, const struct cg_gradcheck_options *o);

#endif
