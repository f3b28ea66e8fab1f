/* SequentialLR: phases of closed-form schedules, each counting its epochs
 * from 0 at its milestone -- PyTorch 1.13 steps the next scheduler with
 * step(0) there, which uses its closed form. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "optim/optim_internal.h"
#include "cgrad/schedules.h"

struct sequential {
    struct cg_lr_schedule base;
    size_t n;                        /* milestones; n + 1 phases */
    uint64_t *milestones;
    size_t n_phases;                 /* so far */
    struct cg_lr_schedule **phases;  /* owned */
};

static const struct cg_lr_schedule_vtable sequential_vtable;

bool cg_lr_sequential_collecting(const struct cg_lr_schedule *s)
{
    if (s->vtable != &sequential_vtable) return false;
    const struct sequential *q = (const struct sequential *)s;
    return q->n_phases < q->n + 1;
}

/* The phase for `epoch` and the epoch within it. */
static const struct cg_lr_schedule *phase_at(const struct sequential *q, int64_t epoch,
                                             int64_t *local)
{
    size_t k = 0; /* bisect_right(milestones, epoch) */
    while (k < q->n && q->milestones[k] <= (uint64_t)epoch) k++;
    *local = k ? epoch - (int64_t)q->milestones[k - 1] : epoch;
    return q->phases[k];
}

static double sequential_lr_at(const struct cg_lr_schedule *s, size_t group, double base_lr,
                               int64_t epoch)
{
    (void)base_lr;
    const struct sequential *q = (const struct sequential *)s;
    if (q->n_phases < q->n + 1) {
        cg_misuse("cg_lr_schedule_step", "Sequential Schedulers expects number of schedulers "
                  "provided to be one more than the number of milestone points, but got number "
                  "of schedulers %zu and the number of milestones to be equal to %zu (hint: "
                  "create the phases on the optimizer right after cg_lr_sequential_new)",
                  q->n_phases, q->n);
        return NAN;
    }
    int64_t local;
    const struct cg_lr_schedule *p = phase_at(q, epoch, &local);
    return p->vtable->lr_at(p, group, p->base_lrs[group], local);
}

/* The phases' settings, renamed "schedule.phase<k>.<setting>". */
struct rename {
    cg_state_visitor visit;
    void *user;
    size_t phase;
};

static void rename_item(const struct cg_state_item *item, void *user)
{
    const struct rename *r = user;
    char name[128];
    const char *rest = strncmp(item->name, "schedule.", 9) == 0 ? item->name + 9 : item->name;
    snprintf(name, sizeof name, "schedule.phase%zu.%s", r->phase, rest);
    struct cg_state_item copy = *item;
    copy.name = name;
    r->visit(&copy, r->user);
}

static void sequential_visit(struct cg_lr_schedule *s, cg_state_visitor visit, void *user)
{
    struct sequential *q = (struct sequential *)s;
    cg_lr_visit_config(visit, user, "schedule.milestones", CG_STATE_U64, q->milestones, q->n);
    for (size_t k = 0; k < q->n_phases; k++) {
        struct cg_lr_schedule *p = q->phases[k];
        const char *type = p->vtable->type_name;
        struct rename r = {visit, user, k};
        rename_item(&(struct cg_state_item){.name = "type", .type = CG_STATE_TEXT,
                                            .values = (void *)type, .count = strlen(type),
                                            .config = true},
                    &r);
        p->vtable->visit_state(p, rename_item, &r);
    }
}

static void sequential_free(struct cg_lr_schedule *s)
{
    struct sequential *q = (struct sequential *)s;
    for (size_t k = 0; k < q->n_phases; k++) cg_lr_schedule_destroy(q->phases[k]);
    cg_free(q->phases);
    cg_free(q->milestones);
}

static const struct cg_lr_schedule_vtable sequential_vtable = {
    .type_name = "SequentialLR",
    .lr_at = sequential_lr_at,
    .visit_state = sequential_visit,
    .free = sequential_free,
};

bool cg_lr_sequential_add(struct cg_lr_schedule *seq, struct cg_lr_schedule *phase,
                          const char *fn)
{
    struct sequential *q = (struct sequential *)seq;
    if (!phase->vtable->lr_at || phase->vtable == &sequential_vtable) {
        cg_misuse(fn, "a %s cannot be a phase of a SequentialLR (hint: phases are schedules "
                      "with a closed form: StepLR, MultiStepLR, ExponentialLR, LinearLR, "
                      "CosineAnnealingLR, OneCycleLR)", phase->vtable->type_name);
        return false;
    }
    phase->parent = seq;
    q->phases[q->n_phases++] = phase;
    /* The first phase sets the lrs of epoch 0, as PyTorch's initial step. */
    if (!cg_lr_sequential_collecting(seq)) cg_lr_schedule_apply(seq);
    return true;
}

struct cg_lr_schedule *cg_lr_sequential_new(struct cg_optimizer *opt, size_t n,
                                            const int64_t *milestones)
{
    static const char fn[] = "cg_lr_sequential_new";
    bool ok = n > 0 && milestones;
    for (size_t i = 0; ok && i < n; i++)
        ok = milestones[i] >= 1 && (i == 0 || milestones[i] > milestones[i - 1]);
    if (!ok) {
        cg_misuse(fn, "%zu milestones%s: need at least one, each >= 1 and larger than the one "
                  "before", n, milestones ? "" : " (NULL)");
        return NULL;
    }
    if (opt && opt->schedule) {
        cg_misuse(fn, "the optimizer already has a learning-rate schedule (hint: create the "
                      "SequentialLR first, then its phases)");
        return NULL;
    }
    struct sequential *q =
        (struct sequential *)cg_lr_schedule_alloc(opt, &sequential_vtable, sizeof *q, fn);
    if (!q) return NULL;
    q->milestones = cg_malloc(n * sizeof *q->milestones, "SequentialLR milestones");
    q->phases = cg_calloc(n + 1, sizeof *q->phases, "SequentialLR phases");
    if (!q->milestones || !q->phases) {
        cg_lr_schedule_destroy(&q->base);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) q->milestones[i] = (uint64_t)milestones[i];
    q->n = n;
    /* Attached without setting lrs: the phases are not there yet. */
    for (size_t g = 0; g < opt->n_groups; g++) opt->groups[g].initial_lr = q->base.base_lrs[g];
    opt->schedule = &q->base;
    return &q->base;
}
