/* NumPy .npy output of a single tensor, for looking at cgrad data with
 * numpy.load (or any .npy reader). */
#ifndef CGRAD_NPY_H
#define CGRAD_NPY_H

#include "export.h"

#include "error.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes t to `path` in .npy format version 1.0: the magic "\x93NUMPY",
 * version 1.0, a little-endian u16 header length, the header dict
 * "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" ('<f8' for
 * CG_F64; shape "()" for a 0-d tensor, "(5,)" for 1-d) padded with spaces
 * and a newline so the data starts at a multiple of 64 bytes, then the
 * elements in C order, little-endian.  Atomic like cg_checkpoint_save: the
 * file is written under a temporary name and renamed.  Only reads t (any
 * tensor, persistent or on a tape).  Returns CG_OK, CG_ERR_IO (message
 * names the file and the system error; an existing file is left as it was),
 * CG_ERR_NOMEM, or CG_ERR_INVALID after misuse (path or t NULL). */
CG_API enum cg_status cg_tensor_save_npy(const char *path, const struct cg_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
