/* Gradient check of a whole module: the input and every parameter.
 *
 * cg_gradcheck_module(model, input, loss_fn, opts, report) runs the check of
 * cgrad/gradcheck.h on f(input, parameters) = loss_fn(tape, model(input),
 * input), or, with loss_fn NULL, on the model's output reduced with the
 * check's random weights.  The report names the input "input" and the
 * parameters by their full state_dict names, elements by index tuples:
 * "input[1,4]", "2.weight[3,7]"; report.input and worst[].input count the
 * input as 0 and the parameters from 1 in cg_module_visit_params order.
 * The input gradient is checked too, also when the first layer is the only
 * one that sees it.
 *
 * An f32 model is checked through an f64 shadow unless opts->f64_shadow is
 * -1: the model is converted in place with cg_module_to_dtype(model,
 * CG_F64) (the API has no module clone), the input is copied to f64, the
 * f64 model is checked at f64 tolerances, its output and gradients are
 * compared with one f32 forward + backward done before the conversion, and
 * the model is converted back, its parameters, grads and buffers restored
 * bit for bit from saved copies.  report->shadow says so.  Parameters must stay
 * put during the check: do not free or replace them from a forward.
 *
 * Buffers (cg_module_visit_buffers: running statistics) are never
 * perturbed or checked: their contents are put back before every forward
 * and at the end, so a layer that updates them in training mode is checked
 * at fixed buffer values and left as it was.
 *
 * The model is used as it is (training flag included) and must be
 * deterministic.  Parameter data, grads and flags are restored afterwards,
 * also after a failure.  Returns what cg_gradcheck returns; misuse (model
 * or input NULL, input on a tape, input dtype other than the parameters')
 * is reported through the misuse handler as cg_gradcheck_module, with
 * CG_ERR_INVALID. */
#ifndef CGRAD_GRADCHECK_MODULE_H
#define CGRAD_GRADCHECK_MODULE_H

#include "export.h"
#include "gradcheck.h"
#include "module.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Builds a scalar (or any) loss on `tape` from the model's output; `input`
 * is the model's input (an autoencoder's target). */
typedef struct cg_tensor *(*cg_gradcheck_loss_fn)(struct cg_tape *tape, struct cg_tensor *output,
                                                  struct cg_tensor *input);

CG_API enum cg_status cg_gradcheck_module(struct cg_module *model, struct cg_tensor *input,
                                          cg_gradcheck_loss_fn loss_fn,
                                          const struct cg_gradcheck_options *opts,
                                          struct cg_gradcheck_report *report);

#ifdef __cplusplus
}
#endif
#endif
