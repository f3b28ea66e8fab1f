/* Running an op: validate inputs, allocate the output, record for backward. */
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "tape_internal.h"

static bool input_ok(struct cg_tape *tape, const struct cg_op *op, int i,
                     const struct cg_tensor *t, enum cg_dtype dtype)
{
    if (!t) {
        cg_misuse(op->name, "input %d is NULL (hint: an earlier op failed; check cg_last_error())",
                  i);
        return false;
    }
    if (!cg_tensor_live_on(tape, t)) {
        cg_misuse(op->name,
                  "input %d ('%s') belongs to %s (hint: tensors from an op live until "
                  "cg_tape_reset; keep persistent data in tensors created with tape NULL)",
                  i, t->name, t->tape != tape ? "another tape" : "a step released by cg_tape_reset");
        return false;
    }
    if (t->dtype != dtype) {
        cg_misuse(op->name, "input %d ('%s') is %s but the op computes in %s (hint: convert "
                  "with cg_tensor_to or use one dtype throughout)",
                  i, t->name, cg_dtype_name(t->dtype), cg_dtype_name(dtype));
        return false;
    }
    return true;
}

static struct cg_record *new_record(struct cg_tape *tape)
{
    if (tape->n_records == tape->cap_records) {
        size_t cap = tape->cap_records ? 2 * tape->cap_records : 256;
        struct cg_record *r = cg_realloc(tape->records, cap * sizeof *r, "tape records");
        if (!r) return NULL;
        tape->records = r;
        tape->cap_records = cap;
    }
    return &tape->records[tape->n_records++];
}

struct cg_tensor *cg_op_apply(struct cg_tape *tape, const struct cg_op *op, int n_in,
                              struct cg_tensor *const *inputs, enum cg_dtype dtype,
                              int out_ndim, const int64_t *out_shape, const double *scalars,
                              int n_scalars)
{
    if (!op || !op->forward) {
        cg_misuse("cg_op_apply", "op or op->forward is NULL");
        return NULL;
    }
    if (!tape) {
        cg_misuse(op->name, "tape is NULL (hint: create one with cg_tape_new())");
        return NULL;
    }
    if (n_in < 1 || n_in > CG_MAX_INPUTS || n_scalars < 0 || n_scalars > CG_MAX_SCALARS) {
        cg_misuse(op->name, "%d inputs and %d scalars: need 1..%d inputs and 0..%d scalars", n_in,
                  n_scalars, CG_MAX_INPUTS, CG_MAX_SCALARS);
        return NULL;
    }
    if (!inputs || (n_scalars > 0 && !scalars)) {
        if (!inputs) cg_misuse(op->name, "inputs is NULL but n_in is %d", n_in);
        else cg_misuse(op->name, "scalars is NULL but n_scalars is %d", n_scalars);
        return NULL;
    }
    bool needs_grad = false;
    for (int i = 0; i < n_in; i++) {
        if (!input_ok(tape, op, i, inputs[i], inputs[0] ? inputs[0]->dtype : dtype)) return NULL;
        needs_grad |= (inputs[i]->flags & CG_REQUIRES_GRAD) != 0;
    }
    needs_grad = needs_grad && tape->grad_enabled;
    if (needs_grad && !op->backward) {
        cg_misuse(op->name, "an input requires grad but the op has no backward (hint: give "
                  "struct cg_op a backward function, or disable grad mode)");
        return NULL;
    }
    bool view = (op->flags & CG_OP_VIEW) != 0;
    struct cg_tensor *out = cg_tensor_alloc(tape, dtype, out_ndim, out_shape, !view, op->name);
    if (!out) return NULL;

    struct cg_record local;
    struct cg_record *rec = needs_grad ? new_record(tape) : &local;
    if (!rec) return NULL;
    cg_zero_bytes(rec, sizeof *rec);
    rec->op = op;
    rec->tape = tape;
    rec->out = out;
    rec->n_in = n_in;
    for (int i = 0; i < n_in; i++) rec->in[i] = inputs[i];
    for (int i = 0; i < n_scalars; i++) rec->scalar[i] = scalars[i];
    if (needs_grad) {
        out->flags |= CG_REQUIRES_GRAD;
        out->record = (int32_t)(tape->n_records - 1);
    }
    op->forward(rec);
    if (tape->anomaly && tape->anomaly_status == CG_OK && !cg_tensor_all_finite(out)) {
        char s[128];
        tape->anomaly_status = cg_fail(CG_ERR_NONFINITE,
                                       "anomaly: op '%s' produced a non-finite value in its "
                                       "forward output %s (record %d)",
                                       op->name, cg_tensor_shape_str(out, s, sizeof s), out->record);
        cg_log_message(2, "%s", cg_last_error());
    }
    return out;
}
