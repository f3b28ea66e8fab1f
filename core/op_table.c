#include "cgrad/ops.h"
#include "op_list.h"

static const struct cg_op *const op_table[] = {
#define CG_OP_PTR(name) &cg_op_##name,
    CG_BUILTIN_OPS(CG_OP_PTR)
#undef CG_OP_PTR
};

_Static_assert(sizeof op_table / sizeof op_table[0] == CG_OP_COUNT,
               "op table and enum cg_op_id out of sync");

int cg_builtin_op_count(void) { return CG_OP_COUNT; }

const struct cg_op *cg_builtin_op(int i)
{
    return i >= 0 && i < CG_OP_COUNT ? op_table[i] : NULL;
}
