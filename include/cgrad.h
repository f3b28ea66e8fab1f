/* cgrad: a small, fast autograd neural-network library in C.
 * Umbrella header: includes every public header. */
#ifndef CGRAD_H
#define CGRAD_H

#include "cgrad/version.h"
#include "cgrad/error.h"
#include "cgrad/memory.h"
#include "cgrad/rng.h"
#include "cgrad/tensor.h"
#include "cgrad/tape.h"
#include "cgrad/op.h"
#include "cgrad/ops.h"
#include "cgrad/gradcheck.h"
#include "cgrad/module.h"
#include "cgrad/gradcheck_module.h"
#include "cgrad/nn.h"
#include "cgrad/conv_ops.h"
#include "cgrad/conv.h"
#include "cgrad/optim.h"
#include "cgrad/optimizers.h"
#include "cgrad/schedules.h"
#include "cgrad/checkpoint.h"
#include "cgrad/safetensors.h"
#include "cgrad/npy.h"
#include "cgrad/data.h"
#include "cgrad/image.h"
#include "cgrad/plot.h"

#endif
