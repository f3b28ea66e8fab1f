/* Helpers shared by the loss files (nn/losses.c, nn/losses_class.c). */
#ifndef CG_NN_LOSSES_INTERNAL_H
#define CG_NN_LOSSES_INTERNAL_H

#include <stdbool.h>

#include "cgrad/nn.h"

/* True if r is a valid reduction; misuse naming `fn` otherwise. */
bool cg_loss_reduction_ok(const char *fn, enum cg_reduction r);

#endif
