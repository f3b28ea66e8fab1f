/* Defining differentiable ops (built-in and user-defined alike).
 *
 * An op is a struct cg_op: a name, a forward function and a backward
 * function.  cg_op_apply() allocates the output on the tape, fills a record
 * with the inputs and scalar parameters, calls forward, and keeps the record
 * for backward when any input requires grad and grad mode is on.
 *
 * forward(rec):  computes rec->out->data from rec->in[i]->data and
 *                rec->scalar[]; it may keep tensors in rec->saved[] and
 *                scratch from cg_tape_alloc(rec->tape, ...) in rec->aux.
 * backward(rec): reads rec->out->grad->data and ADDS (+=) the gradient of
 *                each input into rec->in[i]->grad->data.  rec->in[i]->grad is
 *                NULL for inputs that need no gradient: skip those.
 *                An op flagged CG_OP_ASSIGNS_GRAD may instead find an input's
 *                grad unwritten (cg_grad_assign below) and then writes it
 *                with = : the sweep then skips zeroing it first.
 * Both must handle CG_F32 and CG_F64 (rec->out->dtype); all inputs share
 * the output's dtype unless the op says otherwise.
 *
 * Example: see examples/custom_layer and tests/test_custom_op.c. */
#ifndef CGRAD_OP_H
#define CGRAD_OP_H

#include "export.h"
#include "tape.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CG_MAX_INPUTS 4
#define CG_MAX_SAVED 4
#define CG_MAX_SCALARS 4

struct cg_record;

enum cg_op_flags {
    /* The output shares the first input's data (reshape-like): cg_op_apply
     * allocates no data for it and forward sets rec->out->data. */
    CG_OP_VIEW = 1u << 0,
    /* backward calls cg_grad_assign(in) for every input with a grad and,
     * when it returns true, writes EVERY element of in->grad with = (no
     * read).  Without the flag the sweep zeroes unwritten grads before
     * backward, so accumulating ops need not care. */
    CG_OP_ASSIGNS_GRAD = 1u << 1
};

/* For backward of a CG_OP_ASSIGNS_GRAD op: true when t->grad holds no
 * gradient yet (CG_GRAD_NONE: fresh, its contents undefined) and the caller
 * must assign every element; clears the flag, so a second use of the same
 * input in one op accumulates.  Call it once per input, before any thread
 * writes.  To stay bit for bit with accumulating into zeros, write
 * (T)0 + value rather than value (0 + -0 is +0).  An unwritten grad of a
 * persistent tensor (t->tape NULL) holds zeros (zero_grad), so a GEMM may
 * keep beta 1 there (OpenBLAS's beta 0 costs a zeroing pass of its own):
 * cg_grad_assign_scratch. */
static inline bool cg_grad_assign(struct cg_tensor *t)
{
    bool fresh = (t->flags & CG_GRAD_NONE) != 0;
    t->flags &= ~(unsigned)CG_GRAD_NONE;
    return fresh;
}

/* cg_grad_assign for ops that keep accumulating (a GEMM with beta 1, a
 * sum): true when t's grad was unwritten tape scratch, which the caller
 * must then zero or overwrite; an unwritten persistent grad holds zeros. */
static inline bool cg_grad_assign_scratch(struct cg_tensor *t)
{
    return cg_grad_assign(t) && t->tape;
}

struct cg_op {
    const char *name;
    void (*forward)(struct cg_record *rec);
    void (*backward)(struct cg_record *rec);
    unsigned flags; /* enum cg_op_flags */
};

struct cg_record {
    const struct cg_op *op;
    struct cg_tape *tape;
    struct cg_tensor *out;
    int n_in;
    struct cg_tensor *in[CG_MAX_INPUTS];
    struct cg_tensor *saved[CG_MAX_SAVED]; /* filled by forward, optional */
    double scalar[CG_MAX_SCALARS];         /* op parameters (lambda, dim, ...) */
    void *aux;                             /* scratch from forward, optional */
    unsigned sweep_state;                  /* internal: backward bookkeeping */
};

/* Runs `op` on `n_in` (1..CG_MAX_INPUTS) inputs, producing a tensor of
 * dtype/shape on the tape (out_shape is copied).  `scalars` (n_scalars <=
 * CG_MAX_SCALARS, may be NULL) are copied into rec->scalar.  Inputs must be
 * non-NULL, share one dtype, and be persistent or from this tape's current
 * step.  The record keeps pointers to op and the inputs: they must stay
 * valid until the tape is reset (a static const struct cg_op is simplest).
 * Misuse (NULL returned, nothing recorded): op or op->forward NULL, tape
 * NULL, counts out of range, a bad input as above, a bad dtype or shape, or
 * op->backward NULL while an input requires grad and grad mode is on.
 * Returns the output (owned by the tape) or NULL after misuse or
 * out-of-memory (CG_ERR_NOMEM in cg_last_error()). */
CG_API struct cg_tensor *cg_op_apply(struct cg_tape *tape, const struct cg_op *op, int n_in,
                              struct cg_tensor *const *inputs, enum cg_dtype dtype,
                              int out_ndim, const int64_t *out_shape, const double *scalars,
                              int n_scalars);

/* Convenience accessors for kernels. */
#define CG_F32P(t) ((float *)(t)->data)
#define CG_F64P(t) ((double *)(t)->data)

#ifdef __cplusplus
}
#endif
#endif
