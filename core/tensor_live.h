/* The one test of whether a tensor may still be used: persistent tensors
 * always, tape tensors until the cg_tape_reset that releases their step. */
#ifndef CG_CORE_TENSOR_LIVE_H
#define CG_CORE_TENSOR_LIVE_H

#include <stdbool.h>

#include "cgrad/tensor.h"

struct cg_tape;

/* True if t is persistent or belongs to the current step of `tape` (false for
 * a NULL t, or a tape tensor when tape is NULL). */
bool cg_tensor_is_live(const struct cg_tape *tape, const struct cg_tensor *t);

/* For functions without a tape argument: true if t is persistent or from the
 * current step of its own tape; otherwise reports misuse naming `fn` and
 * returns false.  t must not be NULL. */
bool cg_tensor_check_live(const struct cg_tensor *t, const char *fn);

#endif
