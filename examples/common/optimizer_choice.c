#include "optimizer_choice.h"

#include <string.h>

bool ex_optimizer_known(const char *name)
{
    return !strcmp(name, "sgd") || !strcmp(name, "adam") || !strcmp(name, "adamw") ||
           !strcmp(name, "rmsprop");
}

double ex_optimizer_default_lr(const char *name, double sgd_lr)
{
    return strcmp(name, "sgd") ? 1e-3 : sgd_lr;
}

struct cg_optimizer *ex_optimizer_new(const char *name, double lr, double momentum,
                                      struct cg_module *model)
{
    if (!strcmp(name, "adam")) return cg_adam_new(model, (struct cg_adam_options){.lr = lr});
    if (!strcmp(name, "adamw")) return cg_adamw_new(model, (struct cg_adam_options){.lr = lr});
    if (!strcmp(name, "rmsprop")) return cg_rmsprop_new(model, (struct cg_rmsprop_options){.lr = lr});
    return cg_sgd_new(model, (struct cg_sgd_options){.lr = lr, .momentum = momentum});
}
