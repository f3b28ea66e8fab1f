/* safetensors: the weight file format of PyTorch and the Hugging Face
 * ecosystem (https://github.com/huggingface/safetensors), for taking a
 * model trained in cgrad to PyTorch and back.  See docs/interop.md.
 *
 *     cg_safetensors_save("sae.safetensors", model, NULL);   // C side
 *     ...                                                     // Python side
 *     model.load_state_dict(load_file("sae.safetensors"))     # torch.nn.Sequential
 *
 * Tensors are named like a PyTorch state_dict ("0.weight", "2.bias"), which
 * is what cg_module_visit_params yields, so a cgrad Sequential and the
 * equivalent torch.nn.Sequential exchange weights without renaming.
 *
 * FILE FORMAT (as the specification gives it)
 *   8 bytes   N, the header length, unsigned little-endian
 *   N bytes   a UTF-8 JSON object: for every tensor
 *               "name": {"dtype": "F32", "shape": [64, 256], "data_offsets": [BEGIN, END]}
 *             and optionally "__metadata__": {"key": "value", ...} (strings
 *             only).  The writer pads it with spaces to a multiple of 8.
 *   the rest  the data section: each tensor's bytes, row-major,
 *             little-endian, at [BEGIN, END) relative to the section start;
 *             the tensors cover it exactly, without gaps or overlaps.
 *
 * A file is rejected (CG_ERR_FORMAT or CG_ERR_CORRUPT, with a message naming
 * the file and the problem) when the header length exceeds 100,000,000
 * bytes or the file; the header is not one strict RFC 8259 JSON object
 * (duplicate keys, bad UTF-8, trailing commas, lone surrogates...);
 * a tensor entry lacks dtype, shape or data_offsets or has a dtype outside
 * BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 F16 BF16 I32 U32 F32 F64 I64 U64;
 * offsets are not contiguous from 0 (gaps, overlaps, END < BEGIN); END -
 * BEGIN differs from the shape's element count times the dtype size; the
 * data section is longer or shorter than the offsets say; __metadata__ is
 * not a map of strings. */
#ifndef CGRAD_SAFETENSORS_H
#define CGRAD_SAFETENSORS_H

#include "export.h"

#include <stddef.h>

#include "error.h"
#include "module.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest header the reader accepts (the reference implementation's limit). */
#define CG_SAFETENSORS_MAX_HEADER 100000000u

/* Writes n tensors under the given names (each name non-empty, unique and
 * not "__metadata__"; any UTF-8) with dtype F32 or F64 from each tensor's
 * dtype, in the given order.  `metadata` is NULL or a NULL-terminated list
 * of key, value strings: {"format", "pt", NULL} (written as __metadata__).
 * Atomic: written under a temporary name, fsynced and renamed, so `path` is
 * the old file or the complete new one.  Only reads the tensors.  Returns
 * CG_OK, CG_ERR_IO (message names the file and the system error),
 * CG_ERR_NOMEM, or CG_ERR_INVALID after misuse (NULL arguments, a bad or
 * repeated name, a metadata key without a value). */
CG_API enum cg_status cg_safetensors_save_tensors(const char *path, size_t n, const char *const *names,
                                           const struct cg_tensor *const *tensors,
                                           const char *const *metadata);

/* Writes model's state like a PyTorch state_dict: every parameter, then
 * every buffer (BatchNorm-style running statistics), named as
 * cg_module_visit_params / cg_module_visit_buffers name them, with
 * cg_safetensors_save_tensors. */
CG_API enum cg_status cg_safetensors_save(const char *path, struct cg_module *model,
                                   const char *const *metadata);

/* Loads `path` into model's parameters and buffers, like PyTorch's strict
 * load_state_dict: every parameter and buffer needs a tensor of the same
 * name and shape (dtype F32 or F64; converted to the model's dtype), and
 * every tensor in the file must be one of them.  The whole file is read and
 * checked first: on any error the model is unchanged.  Returns CG_OK or,
 * with a message naming the file and the tensor:
 *   CG_ERR_NOT_FOUND  no file at path
 *   CG_ERR_IO         cannot be read
 *   CG_ERR_FORMAT     not a valid safetensors file (see the list above)
 *   CG_ERR_CORRUPT    file shorter or longer than its header says
 *   CG_ERR_MISMATCH   missing or unexpected names, other shapes, a dtype
 *                     other than F32/F64
 *   CG_ERR_NOMEM      out of memory (a small multiple of the file size)
 *   CG_ERR_INVALID    misuse: path or model NULL */
CG_API enum cg_status cg_safetensors_load(const char *path, struct cg_module *model);

/* Reads the tensor `name` from path as a new persistent tensor (*out; the
 * caller frees it with cg_tensor_free) of dtype CG_F32 (file F32) or CG_F64
 * (file F64).  Same checks and statuses as cg_safetensors_load;
 * CG_ERR_NOT_FOUND also when the file has no tensor of that name;
 * CG_ERR_MISMATCH for another dtype or more than CG_MAX_DIMS dims.  *out is
 * NULL on any error. */
CG_API enum cg_status cg_safetensors_read_tensor(const char *path, const char *name,
                                          struct cg_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
