/* The optimizers the examples offer through --optimizer, shared so that
 * every program spells and configures them the same way. */
#ifndef EX_OPTIMIZER_CHOICE_H
#define EX_OPTIMIZER_CHOICE_H

#include <stdbool.h>

#include <cgrad.h>

/* For usage texts and messages. */
#define EX_OPTIMIZER_NAMES "sgd, adam, adamw or rmsprop"

/* true for a name --optimizer accepts. */
bool ex_optimizer_known(const char *name);
/* The learning rate when --lr is not given: sgd_lr for SGD (each example's
 * own), 1e-3 (PyTorch's default) for the adaptive ones. */
double ex_optimizer_default_lr(const char *name, double sgd_lr);
/* A new optimizer over model's parameters: Adam, AdamW or RMSprop with lr
 * and PyTorch's other defaults, else SGD with lr and momentum.  NULL on
 * failure (cg_last_error says why). */
struct cg_optimizer *ex_optimizer_new(const char *name, double lr, double momentum,
                                      struct cg_module *model);

#endif
