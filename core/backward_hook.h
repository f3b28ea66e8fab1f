/* For layers above core: cg_backward_on_ready whose misuse messages name
 * the caller's public function. */
#ifndef CG_CORE_BACKWARD_HOOK_H
#define CG_CORE_BACKWARD_HOOK_H

#include "cgrad/tape.h"

enum cg_status cg_backward_on_ready_as(struct cg_tape *tape, struct cg_tensor *loss,
                                       cg_grad_ready_fn ready, void *user, const char *fn);

#endif
