/* The loss ops of nn/: one X(name) per op, in the style of core/op_list.h;
 * each loss file defines `const struct cg_op cg_op_<name>`.  They are not in
 * core's table (core does not depend on nn), so the op coverage tests walk
 * both lists.  Adding a loss op: add it here and define its descriptor. */
#ifndef CG_NN_LOSS_OP_LIST_H
#define CG_NN_LOSS_OP_LIST_H

#include "cgrad/op.h"

#define CG_LOSS_OPS(X)                                                                 \
    X(mse_loss) X(l1_loss) X(bce_loss) X(bce_with_logits_loss)                         \
    X(huber_loss) X(smooth_l1_loss) X(kl_div_loss)                                     \
    X(cross_entropy_loss) X(l1_penalty) X(nll_loss) X(cross_entropy_loss_with)

#define CG_DECLARE_LOSS_OP(name) extern const struct cg_op cg_op_##name;
CG_LOSS_OPS(CG_DECLARE_LOSS_OP)
#undef CG_DECLARE_LOSS_OP

#endif
