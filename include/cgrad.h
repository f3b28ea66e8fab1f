/* cgrad: a small, fast autograd neural-network library in C.
 * Umbrella header: includes every public header. */
#ifndef CGRAD_H
#define CGRAD_H

#include "cgrad/error.h"
#include "cgrad/memory.h"
#include "cgrad/rng.h"
#include "cgrad/tensor.h"
#include "cgrad/tape.h"
#include "cgrad/op.h"
#include "cgrad/ops.h"
#include "cgrad/gradcheck.h"
#if __has_include("cgrad/nn.h")
#include "cgrad/nn.h"
#endif
#if __has_include("cgrad/optim.h")
#include "cgrad/optim.h"
#endif
#if __has_include("cgrad/checkpoint.h")
#include "cgrad/checkpoint.h"
#endif
#if __has_include("cgrad/data.h")
#include "cgrad/data.h"
#endif

#endif
