/* The tape: the context of one training step.
 *
 * Ops run eagerly.  Each op whose inputs require grad (while grad mode is on)
 * appends a record to the tape; cg_backward() walks the records in reverse
 * creation order, which is already topological.  The tape owns every tensor
 * an op returns, in an arena: cg_tape_reset() releases them all in O(1) and
 * keeps the memory, so a fixed-shape training loop makes no heap allocation
 * from its second step on.  In AddressSanitizer builds released memory is
 * poisoned, so using a tensor after the reset that released it is reported.
 *
 * Gradients always accumulate (+=): a leaf's grad keeps growing across
 * backward calls until zeroed (cg_tensor_zero_grad / optimizer zero_grad).
 * Gradients of intermediate (tape) tensors are recomputed by each backward.
 *
 * A tape is not thread-safe; use one tape per thread. */
#ifndef CGRAD_TAPE_H
#define CGRAD_TAPE_H

#include "export.h"
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* New empty tape (grad mode on).  NULL on out-of-memory (cg_last_error()).
 * Free with cg_tape_free(). */
CG_API struct cg_tape *cg_tape_new(void);
/* Frees the tape and every tensor it owns (their pointers become invalid).
 * NULL is ignored. */
CG_API void cg_tape_free(struct cg_tape *tape);
/* Releases every step tensor and record (using one afterwards is misuse,
 * reported by the next op that gets it); keeps the memory for reuse.
 * Grad mode and anomaly mode are kept.  NULL is ignored.  Never fails. */
CG_API void cg_tape_reset(struct cg_tape *tape);

/* Grad mode: when off, ops record nothing (evaluation).  Returns the
 * previous setting.  This and the accessors below report a NULL tape as
 * misuse and then return false, 0 or CG_ERR_INVALID. */
CG_API bool cg_tape_set_grad_enabled(struct cg_tape *tape, bool enabled);
/* The current grad mode (true after cg_tape_new). */
CG_API bool cg_tape_grad_enabled(const struct cg_tape *tape);

/* Anomaly mode: every op output (forward) and every gradient it produces
 * (backward) is checked for NaN/Inf; the first offender is reported through
 * cg_last_error() naming the op, and cg_backward returns CG_ERR_NONFINITE.
 * Forward anomalies are reported by cg_tape_anomaly_status() (and to the log
 * handler as a warning).  set_anomaly returns the previous setting (off
 * after cg_tape_new).  Costs one pass over every output and gradient. */
CG_API bool cg_tape_set_anomaly(struct cg_tape *tape, bool enabled);
/* CG_OK, or CG_ERR_NONFINITE once a forward anomaly has been seen in this
 * step (cg_tape_reset clears it; the message is the cg_last_error() of that
 * moment). */
CG_API enum cg_status cg_tape_anomaly_status(const struct cg_tape *tape);

/* Backpropagates from a scalar (1-element) `loss`: d(loss)/d(loss) = 1.
 * Adds into the grad of every leaf that requires grad (persistent leaves'
 * grads are theirs, allocated if missing); intermediate tensors get fresh
 * grads on the arena, valid until the next backward or reset.  Misuse:
 * tape or loss NULL, loss not a scalar, not from this tape's current step,
 * or not requiring grad (nothing it came from requires grad, or grad mode
 * was off).  Returns CG_OK, CG_ERR_INVALID (misuse, nothing changed),
 * CG_ERR_NOMEM, or CG_ERR_NONFINITE (anomaly mode only); after NOMEM or
 * NONFINITE the grads hold a partial sum: zero them before retrying.
 *
 * Like PyTorch (without retain_graph), a backward releases the records it
 * sweeps: a second backward in the same step through any of them is misuse
 * ("backward through the records a second time"), since its gradients would
 * be added twice.  To backward two losses that share records, use
 * cg_backward_retain for all but the last (or backward once through their
 * sum).  Also misuse: 64 backward calls in a row without cg_tape_reset while
 * the tape keeps growing (a training loop that forgot the reset; parameter
 * grads persist across resets, so accumulate micro-batches with a reset
 * after each backward). */
CG_API enum cg_status cg_backward(struct cg_tape *tape, struct cg_tensor *loss);
/* cg_backward that keeps the records it sweeps (PyTorch's
 * retain_graph=True), so a later backward of this step may sweep them again.
 * Same misuse and statuses as cg_backward. */
CG_API enum cg_status cg_backward_retain(struct cg_tape *tape, struct cg_tensor *loss);
/* Backpropagates from any tensor `out` with the upstream gradient `seed`
 * (same shape and dtype as out), like torch's out.backward(seed).  seed is
 * only read.  Misuse and statuses as cg_backward, plus misuse if seed is
 * NULL or differs from out in shape or dtype. */
CG_API enum cg_status cg_backward_seed(struct cg_tape *tape, struct cg_tensor *out,
                                const struct cg_tensor *seed);
/* cg_backward_seed that keeps the records it sweeps, like cg_backward_retain. */
CG_API enum cg_status cg_backward_seed_retain(struct cg_tape *tape, struct cg_tensor *out,
                                              const struct cg_tensor *seed);

/* Called by cg_backward_on_ready with a leaf (a tensor no op of the tape
 * produced: a parameter, an input) whose gradient this backward has
 * finished: no later part of the sweep writes leaf->grad again. */
typedef void (*cg_grad_ready_fn)(struct cg_tensor *leaf, void *user);
/* cg_backward that calls ready(leaf, user) exactly once for each leaf that
 * requires grad and received a gradient from this backward, right after the
 * sweep ran the last op that writes leaf->grad (the earliest op, in tape
 * order, with the leaf as input), while that gradient is still in cache.
 * The callback may read and write the leaf, its grad and memory of its own,
 * and run the thread pool; it must not touch the tape (no ops, no reset) or
 * any tensor the rest of the sweep still reads.  Leaves no path from loss
 * reaches are not reported.  In anomaly mode every callback waits until
 * the whole sweep has passed the checks, so a non-finite gradient is
 * reported before any callback ran.  Allocates nothing beyond what
 * cg_backward does.  Misuse and statuses as cg_backward, plus misuse (CG_ERR_INVALID,
 * nothing changed) if ready is NULL; after CG_ERR_NOMEM the leaves
 * reported so far have their complete gradients, the others a partial
 * sum. */
CG_API enum cg_status cg_backward_on_ready(struct cg_tape *tape, struct cg_tensor *loss,
                                           cg_grad_ready_fn ready, void *user);

/* Scratch memory from the arena (64-byte aligned, not zeroed), owned by the
 * tape and released by the next reset.  For custom ops that save extra data.
 * NULL on out-of-memory (CG_ERR_NOMEM in cg_last_error()) or after misuse
 * (tape NULL). */
CG_API void *cg_tape_alloc(struct cg_tape *tape, size_t bytes);

/* Statistics, for tests and benchmarks: records of the current step, and
 * arena bytes. */
CG_API size_t cg_tape_record_count(const struct cg_tape *tape);
CG_API size_t cg_tape_bytes_used(const struct cg_tape *tape);     /* arena bytes in use */
CG_API size_t cg_tape_bytes_reserved(const struct cg_tape *tape); /* arena bytes held */

#ifdef __cplusplus
}
#endif
#endif
