/* The built-in op list: one X(name) per op; each op family file defines
 * `const struct cg_op cg_op_<name>`.  Adding an op: add it here and define
 * its descriptor in its family file. */
#ifndef CG_CORE_OP_LIST_H
#define CG_CORE_OP_LIST_H

#include "cgrad/op.h"

#define CG_BUILTIN_OPS(X)                                                              \
    X(add) X(sub) X(mul) X(div) X(maximum) X(minimum)                                  \
    X(add_scalar) X(mul_scalar) X(pow_scalar)                                          \
    X(neg) X(abs) X(exp) X(log) X(sqrt) X(square) X(tanh) X(sigmoid) X(relu)           \
    X(hardshrink) X(softshrink) X(tanhshrink) X(clamp)                                 \
    X(erf) X(leaky_relu) X(elu) X(gelu) X(gelu_tanh) X(silu) X(softplus)               \
    X(matmul) X(linear)                                                                \
    X(sum) X(mean) X(sum_dim) X(mean_dim) X(max_dim) X(var_dim)                        \
    X(softmax) X(log_softmax) X(logsumexp)                                             \
    X(reshape) X(transpose) X(permute) X(cat) X(narrow) X(narrow_view)                 \
    X(index_select) X(gather) X(where) X(embedding)                        \
    X(conv2d) X(conv2d_relu) X(conv2d_relu_max_pool2d) X(max_pool2d) X(avg_pool2d) X(adaptive_avg_pool2d) X(batch_norm2d)

#define CG_DECLARE_OP(name) extern const struct cg_op cg_op_##name;
CG_BUILTIN_OPS(CG_DECLARE_OP)
#undef CG_DECLARE_OP

enum cg_op_id {
#define CG_OP_ENUM(name) CG_OP_##name,
    CG_BUILTIN_OPS(CG_OP_ENUM)
#undef CG_OP_ENUM
    CG_OP_COUNT
};

#endif
