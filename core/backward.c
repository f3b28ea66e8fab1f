/* Reverse-mode sweep over the tape's records. */
#include <inttypes.h>
#include <string.h>

#include "backward_hook.h"
#include "dims.h"
#include "error_internal.h"
#include "tape_internal.h"
#include "tensor_live.h"

/* Makes sure t->grad exists: on the arena for tape tensors, left unwritten
 * (CG_GRAD_NONE; the first op to write it assigns, or the sweep zeroes it
 * for an accumulating op), zeroed on the heap for persistent leaves
 * (normally allocated by cg_tensor_requires_grad). */
static bool ensure_grad(struct cg_tape *tape, struct cg_tensor *t)
{
    if (t->grad) return true;
    struct cg_tensor *g = cg_tensor_alloc(t->tape ? tape : NULL, t->dtype, t->ndim, t->shape, true,
                                          "cg_backward");
    if (!g) return false;
    if (t->tape)
        t->flags |= CG_GRAD_NONE;
    else
        memset(g->data, 0, (size_t)g->numel * cg_dtype_size(g->dtype));
    t->grad = g;
    return true;
}

/* Before an op that accumulates (+=): an unwritten grad becomes zeros.  A
 * persistent tensor's unwritten grad is zeroed already (zero_grad). */
static void make_accumulable(struct cg_tensor *t)
{
    if (!(t->flags & CG_GRAD_NONE)) return;
    if (t->tape) memset(t->grad->data, 0, (size_t)t->grad->numel * cg_dtype_size(t->dtype));
    t->flags &= ~(unsigned)CG_GRAD_NONE;
}

/* The hook's and anomaly mode's work stays out of the sweep's loop: inlined
 * there, it slowed a plain backward of tiny ops (bench/op_overhead) by 2%. */
#if defined(__GNUC__)
#define CG_COLD __attribute__((cold, noinline))
#else
#define CG_COLD
#endif

/* sweep_state bits of a record: released by a backward that did not retain
 * the records (a later backward through it would double-count), and, during
 * one call, on a path to the output, and (cg_backward_on_ready) which of its
 * inputs are leaves whose last contribution it writes. */
enum { CG_REC_SWEPT = 1u << 0, CG_REC_REACHED = 1u << 1, CG_REC_LAST_IN0 = 1u << 2 };
#define CG_REC_LAST_MASK (((1u << CG_MAX_INPUTS) - 1) * CG_REC_LAST_IN0)

/* A tensor flag private to this file, set only during plan_ready. */
enum { CG_LEAF_SEEN = 1u << 30 };

/* The hook of cg_backward_on_ready; NULL for the plain backwards. */
struct ready_hook {
    cg_grad_ready_fn ready;
    void *user;
};

/* Marks the records `out` depends on; returns the first of them that an
 * earlier backward has released, or -1. */
static int32_t mark_reached(struct cg_tape *tape, const struct cg_tensor *out)
{
    int32_t released = -1;
    tape->records[out->record].sweep_state |= CG_REC_REACHED;
    for (int32_t r = out->record; r >= 0; r--) {
        struct cg_record *rec = &tape->records[r];
        if (!(rec->sweep_state & CG_REC_REACHED)) continue;
        if ((rec->sweep_state & CG_REC_SWEPT) && released < 0) released = r;
        for (int i = 0; i < rec->n_in; i++) {
            const struct cg_tensor *in = rec->in[i];
            if (in->tape == tape && in->record >= 0)
                tape->records[in->record].sweep_state |= CG_REC_REACHED;
        }
    }
    return released;
}

static void clear_reached(struct cg_tape *tape, int32_t last)
{
    for (int32_t r = last; r >= 0; r--)
        tape->records[r].sweep_state &= ~(unsigned)(CG_REC_REACHED | CG_REC_LAST_MASK);
}

static bool is_grad_leaf(const struct cg_tensor *t)
{
    return t->record < 0 && (t->flags & CG_REQUIRES_GRAD);
}

/* Marks, for each leaf input of the reached records, the earliest record
 * (in tape order) that has it as input: the reverse sweep writes its last
 * contribution there.  A flag on the leaf while planning, instead of a
 * lookup table, keeps this allocation-free and linear. */
CG_COLD static void plan_ready(struct cg_tape *tape, int32_t last)
{
    for (int pass = 0; pass < 2; pass++)
        for (int32_t r = 0; r <= last; r++) {
            struct cg_record *rec = &tape->records[r];
            if (!(rec->sweep_state & CG_REC_REACHED)) continue;
            for (int i = 0; i < rec->n_in; i++) {
                struct cg_tensor *in = rec->in[i];
                if (!is_grad_leaf(in)) continue;
                if (pass == 1) in->flags &= ~(unsigned)CG_LEAF_SEEN;
                else if (!(in->flags & CG_LEAF_SEEN)) {
                    in->flags |= CG_LEAF_SEEN;
                    rec->sweep_state |= CG_REC_LAST_IN0 << i;
                }
            }
        }
}

CG_COLD static void fire_ready(const struct cg_record *rec, const struct ready_hook *hook)
{
    for (int i = 0; i < rec->n_in; i++)
        if (rec->sweep_state & (CG_REC_LAST_IN0 << i)) hook->ready(rec->in[i], hook->user);
}

/* Anomaly mode: the first non-finite gradient rec's backward produced. */
CG_COLD static enum cg_status check_anomaly(const struct cg_record *rec, int32_t r)
{
    for (int i = 0; i < rec->n_in; i++) {
        struct cg_tensor *g = rec->in[i]->grad;
        if (g && (rec->in[i]->flags & CG_REQUIRES_GRAD) && !cg_tensor_all_finite(g))
            return cg_fail(CG_ERR_NONFINITE,
                           "anomaly: backward of op '%s' (record %d) produced a non-finite "
                           "gradient for its input %d ('%s')",
                           rec->op->name, r, i, rec->in[i]->name);
    }
    return CG_OK;
}

/* Records growing across backward calls without a reset mean a training loop
 * that forgot cg_tape_reset: memory grows and every step sweeps more. */
enum { CG_GROWING_BACKWARDS_LIMIT = 64 };

static bool growth_ok(struct cg_tape *tape, const char *fn)
{
    size_t prev = tape->records_at_last_backward;
    tape->records_at_last_backward = tape->n_records;
    if (tape->n_records <= prev) {
        tape->growing_backwards = 0;
        return true;
    }
    if (++tape->growing_backwards < CG_GROWING_BACKWARDS_LIMIT) return true;
    tape->growing_backwards = 0;
    cg_misuse(fn, "%d backward calls in a row without cg_tape_reset, and the tape keeps "
              "growing (%zu records now); memory grows and each step re-sweeps the old "
              "records (hint: call cg_tape_reset(tape) after each optimizer step; parameter "
              "gradients persist across resets, so accumulating micro-batches works with a "
              "reset after each backward)",
              CG_GROWING_BACKWARDS_LIMIT, tape->n_records);
    return false;
}

static enum cg_status sweep(struct cg_tape *tape, struct cg_tensor *out, const struct cg_tensor *seed,
                            bool retain, const struct ready_hook *hook, const char *fn)
{
    /* Only a record released by an earlier backward of this step can make
     * this one misuse, and only the ready plan needs every mark before the
     * sweep.  Otherwise (the common case) the records on a path to `out` are
     * marked during the sweep itself, each mark cleared as the sweep passes
     * it: no passes of their own over the records. */
    bool premark = out->record >= 0 && (tape->swept_any || hook);
    if (premark) {
        int32_t released = mark_reached(tape, out);
        if (released >= 0) {
            clear_reached(tape, out->record);
            const struct cg_record *rec = &tape->records[released];
            cg_misuse(fn, "trying to backward through the records a second time: record %d "
                      "(op '%s'%s%s%s) was already swept and released by an earlier "
                      "backward of this step, so its gradients would be added twice (hint: "
                      "to backward through shared records again, call cg_backward_retain for "
                      "the earlier backward (PyTorch's retain_graph=True), or backward once "
                      "through the sum of the losses; call cg_tape_reset between steps)",
                      (int)released, rec->op->name, rec->out->name[0] ? ", output '" : "",
                      rec->out->name, rec->out->name[0] ? "'" : "");
            return CG_ERR_INVALID;
        }
    }
    if (!growth_ok(tape, fn)) {
        if (out->record >= 0) clear_reached(tape, out->record);
        return CG_ERR_INVALID;
    }
    /* Gradients of intermediates are per-backward: forget earlier ones.  Only
     * records that existed at an earlier backward of this step can hold one. */
    for (size_t r = 0; r < tape->records_with_grads; r++) tape->records[r].out->grad = NULL;
    tape->records_with_grads = tape->n_records;
    if (!premark && out->record >= 0) tape->records[out->record].sweep_state |= CG_REC_REACHED;
    enum cg_status st = CG_OK;
    if (!ensure_grad(tape, out)) st = CG_ERR_NOMEM;
    else {
        make_accumulable(out);
        cg_accumulate(out->dtype, out->grad->data, seed->data, out->numel);
        if (hook && out->record < 0) hook->ready(out, hook->user);
    }
    if (hook && out->record >= 0) plan_ready(tape, out->record);

    int32_t r = out->record;
    for (; r >= 0 && st == CG_OK; r--) {
        struct cg_record *rec = &tape->records[r];
        if (!(rec->sweep_state & CG_REC_REACHED)) continue; /* not on a path to `out` */
        if (!premark) { /* inputs' records come earlier: the walk meets them later */
            rec->sweep_state &= ~(unsigned)CG_REC_REACHED;
            for (int i = 0; i < rec->n_in; i++)
                if (rec->in[i]->tape == tape && rec->in[i]->record >= 0)
                    tape->records[rec->in[i]->record].sweep_state |= CG_REC_REACHED;
        }
        bool assigns = (rec->op->flags & CG_OP_ASSIGNS_GRAD) != 0;
        for (int i = 0; i < rec->n_in && st == CG_OK; i++) {
            struct cg_tensor *in = rec->in[i];
            if (!(in->flags & CG_REQUIRES_GRAD)) continue;
            if (!ensure_grad(tape, in)) st = CG_ERR_NOMEM;
            else if (!assigns) make_accumulable(in);
        }
        if (st != CG_OK) break;
        tape->alloc_failed = false;
        rec->op->backward(rec);
        if (tape->alloc_failed) { /* its scratch: cg_last_error() says how much */
            st = CG_ERR_NOMEM;
            break;
        }
        if (!retain) {
            rec->sweep_state |= CG_REC_SWEPT;
            tape->swept_any = true;
        }
        if (tape->anomaly) st = check_anomaly(rec, r);
        /* Anomaly mode defers the callbacks until every gradient passed. */
        if (hook && st == CG_OK && !tape->anomaly) fire_ready(rec, hook);
    }
    if (hook && st == CG_OK && tape->anomaly && out->record >= 0)
        for (int32_t q = out->record; q >= 0; q--)
            if (tape->records[q].sweep_state & CG_REC_REACHED) fire_ready(&tape->records[q], hook);
    /* Unmarked: without premark, all but (after an error) those below r. */
    clear_reached(tape, premark ? out->record : r);
    return st;
}

static bool check_out(struct cg_tape *tape, struct cg_tensor *out, const char *fn)
{
    if (!tape || !out) {
        cg_misuse(fn, "%s is NULL", tape ? "output tensor" : "tape");
        return false;
    }
    if (!cg_tensor_is_live(tape, out)) {
        cg_misuse(fn, "tensor '%s' is not from this tape's current step (it belongs to %s)",
                  out->name,
                  out->tape != tape ? "another tape" : "a step released by cg_tape_reset");
        return false;
    }
    if (!(out->flags & CG_REQUIRES_GRAD)) {
        cg_misuse(fn, "tensor '%s' does not require grad: nothing it was computed from requires "
                  "grad, or grad mode was off (hint: cg_tensor_requires_grad on the parameters)",
                  out->name);
        return false;
    }
    return true;
}

static enum cg_status backward_scalar(struct cg_tape *tape, struct cg_tensor *loss, bool retain,
                                      const struct ready_hook *hook, const char *fn)
{
    if (!check_out(tape, loss, fn)) return CG_ERR_INVALID;
    if (loss->numel != 1) {
        char s[128];
        cg_misuse(fn, "loss %s has %" PRId64 " elements; backward needs a scalar "
                  "(hint: reduce with cg_sum or cg_mean, or use cg_backward_seed)",
                  cg_tensor_shape_str(loss, s, sizeof s), loss->numel);
        return CG_ERR_INVALID;
    }
    double one_d = 1.0;
    float one_f = 1.0f;
    struct cg_tensor seed = *loss;
    seed.data = loss->dtype == CG_F64 ? (void *)&one_d : (void *)&one_f;
    return sweep(tape, loss, &seed, retain, hook, fn);
}

static enum cg_status backward_seeded(struct cg_tape *tape, struct cg_tensor *out,
                                      const struct cg_tensor *seed, bool retain, const char *fn)
{
    if (!check_out(tape, out, fn)) return CG_ERR_INVALID;
    if (!seed || seed->dtype != out->dtype || !cg_tensor_same_shape(seed, out)) {
        char a[128], b[128];
        cg_misuse(fn, "seed %s must match output %s in shape and dtype",
                  cg_tensor_shape_str(seed, a, sizeof a), cg_tensor_shape_str(out, b, sizeof b));
        return CG_ERR_INVALID;
    }
    return sweep(tape, out, seed, retain, NULL, fn);
}

enum cg_status cg_backward(struct cg_tape *tape, struct cg_tensor *loss)
{
    return backward_scalar(tape, loss, false, NULL, "cg_backward");
}

enum cg_status cg_backward_retain(struct cg_tape *tape, struct cg_tensor *loss)
{
    return backward_scalar(tape, loss, true, NULL, "cg_backward_retain");
}

enum cg_status cg_backward_seed(struct cg_tape *tape, struct cg_tensor *out,
                                const struct cg_tensor *seed)
{
    return backward_seeded(tape, out, seed, false, "cg_backward_seed");
}

enum cg_status cg_backward_seed_retain(struct cg_tape *tape, struct cg_tensor *out,
                                       const struct cg_tensor *seed)
{
    return backward_seeded(tape, out, seed, true, "cg_backward_seed_retain");
}

enum cg_status cg_backward_on_ready_as(struct cg_tape *tape, struct cg_tensor *loss,
                                       cg_grad_ready_fn ready, void *user, const char *fn)
{
    if (!ready) {
        cg_misuse(fn, "ready is NULL (hint: without a callback, call cg_backward)");
        return CG_ERR_INVALID;
    }
    const struct ready_hook hook = {ready, user};
    return backward_scalar(tape, loss, false, &hook, fn);
}

enum cg_status cg_backward_on_ready(struct cg_tape *tape, struct cg_tensor *loss,
                                    cg_grad_ready_fn ready, void *user)
{
    return cg_backward_on_ready_as(tape, loss, ready, user, "cg_backward_on_ready");
}
