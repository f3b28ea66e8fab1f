/* The optimizer's named state, as checkpoints see it: the implementation's
 * items, then the base's, then the schedule's (names in cgrad/optim.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "optim/optim_internal.h"

static void visit_base(struct cg_optimizer *opt, cg_state_visitor visit, void *user)
{
    const char *type = cg_optimizer_type(opt);
    visit(&(struct cg_state_item){.name = "type", .type = CG_STATE_TEXT, .values = (void *)type,
                                  .count = strlen(type), .config = true},
          user);
    visit(&(struct cg_state_item){.name = "step", .type = CG_STATE_U64, .values = &opt->steps,
                                  .count = 1},
          user);
    visit(&(struct cg_state_item){.name = "param_groups", .type = CG_STATE_U64,
                                  .values = opt->group_of_, .count = opt->n_params,
                                  .config = true},
          user);
    for (size_t g = 0; g < opt->n_groups; g++) {
        char name[64];
        snprintf(name, sizeof name, "group.%zu.lr", g);
        visit(&(struct cg_state_item){.name = name, .type = CG_STATE_F64,
                                      .values = &opt->groups[g].lr, .count = 1,
                                      .bounded = true, .min = 0, .max = INFINITY},
              user);
        snprintf(name, sizeof name, "group.%zu.weight_decay", g);
        visit(&(struct cg_state_item){.name = name, .type = CG_STATE_F64,
                                      .values = &opt->groups[g].weight_decay, .count = 1,
                                      .config = true},
              user);
        if (!opt->vtable || !opt->vtable->set_momentum) continue;
        /* Optional: a file from before momentum was per group lacks it, and
         * the constructor's value (a config item of the optimizer) holds. */
        bool present = true;
        snprintf(name, sizeof name, "group.%zu.momentum", g);
        visit(&(struct cg_state_item){.name = name, .type = CG_STATE_F64,
                                      .values = &opt->groups[g].momentum, .count = 1,
                                      .present = &present, .bounded = true, .min = 0,
                                      .max = INFINITY},
              user);
    }
}

void cg_optimizer_visit_state(struct cg_optimizer *opt, cg_state_visitor visit, void *user)
{
    if (!opt || !visit) return;
    if (opt->vtable && opt->vtable->visit_state) opt->vtable->visit_state(opt, visit, user);
    visit_base(opt, visit, user);
    if (opt->schedule) cg_lr_schedule_visit_state(opt->schedule, visit, user);
}

struct find_state {
    char name[CG_PARAM_NAME_MAX + 64];
    const struct cg_tensor *found;
};

static void find_visitor(const struct cg_state_item *item, void *user)
{
    struct find_state *f = user;
    if (item->type == CG_STATE_TENSOR && strcmp(item->name, f->name) == 0 &&
        (!item->present || *item->present))
        f->found = item->tensor;
}

const struct cg_tensor *cg_optimizer_state_tensor(struct cg_optimizer *opt, const char *param,
                                                  const char *what)
{
    if (!opt || !param || !what) return NULL;
    struct find_state f = {.found = NULL};
    int n = snprintf(f.name, sizeof f.name, "state.%s.%s", param, what);
    if (n < 0 || (size_t)n >= sizeof f.name) return NULL;
    cg_optimizer_visit_state(opt, find_visitor, &f);
    return f.found;
}
