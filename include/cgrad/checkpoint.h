/* Checkpoints: a module's parameters, the optimizer's state and user
 * metadata in one CRC-checked file, written atomically.
 *
 *     struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
 *     cg_checkpoint_meta_set_u64(meta, "epoch", epoch);
 *     cg_checkpoint_meta_set_rng(meta, "rng", &rng);
 *     if (cg_checkpoint_save("sae.ckpt", model, opt, meta) != CG_OK)
 *         fprintf(stderr, "%s\n", cg_last_error());
 *     ...
 *     // resume: build the same model, optimizer and schedule, then
 *     enum cg_status st = cg_checkpoint_load("sae.ckpt", model, opt, meta);
 *     cg_checkpoint_meta_get_u64(meta, "epoch", &epoch);
 *     cg_checkpoint_meta_get_rng(meta, "rng", &rng);
 *
 * FILE FORMAT (version 2; docs/checkpoint-format.md has the full story)
 *
 * Every integer is unsigned little-endian; f32/f64 values are IEEE-754
 * binary32/binary64 stored little-endian.  This holds on every host (the
 * code serializes byte by byte).  CRC32 is zlib's crc32() (the ISO-HDLC /
 * PNG polynomial 0xEDB88320, initial value 0).
 *
 *   header (20 bytes)
 *     offset 0   8 bytes  magic "CGRADCKP"
 *     offset 8   u32      format version, 2
 *     offset 12  u32      record count N
 *     offset 16  u32      CRC32 of bytes 0..15
 *   then N records back to back; nothing follows the last record.
 *
 *   record
 *     u16        name length L, 1..65535
 *     L bytes    name (no NUL byte, not NUL-terminated)
 *     u8         kind:  1 model parameter, 2 optimizer state, 3 user metadata,
 *                       4 model buffer
 *     u8         dtype: 1 f32, 2 f64, 3 u64, 4 raw bytes (1 byte per element)
 *     u8         ndim, 0..8 (0: a scalar, one element)
 *     ndim x u64 shape, C order (shape[0] outermost)
 *     u64        payload length in bytes = product(shape) * element size
 *     payload    the elements, row-major
 *     u32        CRC32 of the record from its name length through its payload
 *
 *   (kind, name) pairs are unique.  Allowed dtypes per kind: parameters and
 *   buffers f32/f64; optimizer state f32/f64/u64, or raw bytes with ndim 1
 *   (text); metadata u64 scalars (ndim 0) or raw-byte blobs (ndim 1, shape
 *   [size]).
 *
 *   records written by cg_checkpoint_save, in this order
 *     kind 1  one per parameter, in cg_module_visit_params order, named like
 *             a PyTorch state_dict ("0.weight"), the parameter's dtype/shape
 *     kind 4  one per buffer, in cg_module_visit_buffers order ("1.running_mean")
 *     kind 2  one per item of cg_optimizer_visit_state, named like the item
 *             ("type", "step", "group.0.lr", "momentum",
 *             "state.0.weight.momentum_buffer", "schedule.epoch", ...):
 *             a tensor item has its tensor's dtype/shape (and is left out
 *             while its present flag is false); a u64/f64 item of count n
 *             is u64/f64 [n]; a text item is raw bytes [length]
 *     kind 3  one per metadata entry, sorted by name
 *
 * Version 1 (cgrad 0.1) had kinds 1-3 and SGD's own record names; such
 * files still load (their optimizer records are read as the items of an
 * SGD optimizer with one parameter group).  A reader must reject a version
 * it does not know, unknown kinds and dtypes.
 */
#ifndef CGRAD_CHECKPOINT_H
#define CGRAD_CHECKPOINT_H

#include "export.h"
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "module.h"
#include "optim.h"
#include "rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CG_CHECKPOINT_VERSION 2

/* User metadata: named uint64 values and byte blobs (epoch, RNG state,
 * anything a program needs to resume).  Names are 1..65535 bytes; setting an
 * existing name replaces its value. */
struct cg_checkpoint_meta;

/* New empty metadata set; NULL on out-of-memory.  Free with
 * cg_checkpoint_meta_free (NULL ignored). */
CG_API struct cg_checkpoint_meta *cg_checkpoint_meta_new(void);
CG_API void cg_checkpoint_meta_free(struct cg_checkpoint_meta *meta);
/* Removes every entry (meta NULL ignored). */
CG_API void cg_checkpoint_meta_clear(struct cg_checkpoint_meta *meta);

/* Set a value (the blob is copied; size may be 0).  CG_OK, CG_ERR_NOMEM, or
 * CG_ERR_INVALID after misuse (NULL meta/name/data, empty or too long name). */
CG_API enum cg_status cg_checkpoint_meta_set_u64(struct cg_checkpoint_meta *meta, const char *name,
                                          uint64_t value);
CG_API enum cg_status cg_checkpoint_meta_set_blob(struct cg_checkpoint_meta *meta, const char *name,
                                           const void *data, size_t size);
/* Stores an RNG's position as a 16-byte blob (state, inc; little-endian). */
CG_API enum cg_status cg_checkpoint_meta_set_rng(struct cg_checkpoint_meta *meta, const char *name,
                                          const struct cg_rng *rng);

/* Get a value.  get_u64/get_rng return CG_OK, CG_ERR_NOT_FOUND (no such
 * name) or CG_ERR_MISMATCH (the entry has the other type / is not a 16-byte
 * RNG blob), with a message; *out is written only on CG_OK; misuse
 * (CG_ERR_INVALID) for a NULL argument or a bad name.  get_blob returns the
 * stored bytes (owned by meta, valid until it changes) and stores their size
 * in *size (if size is non-NULL), or returns NULL if there is no blob of that
 * name (a u64 entry is not a blob) or after misuse. */
CG_API enum cg_status cg_checkpoint_meta_get_u64(const struct cg_checkpoint_meta *meta,
                                          const char *name, uint64_t *out);
CG_API const void *cg_checkpoint_meta_get_blob(const struct cg_checkpoint_meta *meta, const char *name,
                                        size_t *size);
CG_API enum cg_status cg_checkpoint_meta_get_rng(const struct cg_checkpoint_meta *meta,
                                          const char *name, struct cg_rng *out);

/* Entries, sorted by name: count (0 for meta NULL) and i-th name (owned by
 * meta, valid until it changes; NULL when out of range). */
CG_API size_t cg_checkpoint_meta_count(const struct cg_checkpoint_meta *meta);
CG_API const char *cg_checkpoint_meta_name(const struct cg_checkpoint_meta *meta, size_t i);

/* Saves model's parameters and buffers (when model is non-NULL), opt's
 * state (when non-NULL: every item cg_optimizer_visit_state yields -- its
 * settings, step count, groups, schedule, momentum buffers, ...) and the
 * metadata (when non-NULL) to `path`.  Atomic: writes "<path>.tmp.<pid>",
 * flushes and fsyncs it, renames it over `path` and fsyncs the directory, so
 * `path` is either the old file or the complete new one.  Returns CG_OK;
 * CG_ERR_IO (cannot create, write -- e.g. disk full --, sync or rename; the
 * temp file is removed and an existing `path` is left intact) with a message
 * naming the file and the system error; CG_ERR_NOMEM; CG_ERR_INVALID after
 * misuse (path NULL, or model and opt both NULL) or when the module's
 * tensors change while saving. */
CG_API enum cg_status cg_checkpoint_save(const char *path, struct cg_module *model,
                                         struct cg_optimizer *opt,
                                         const struct cg_checkpoint_meta *meta);

/* Loads `path` into model, opt and meta_out, each when non-NULL (model and
 * opt may not both be NULL).
 *
 * The whole file is read and checked first; nothing is changed unless every
 * check passes, so a failed load leaves model, opt and meta_out untouched.
 *   model: every parameter and buffer of the model must have a record of
 *     the same name, shape and dtype, and every parameter or buffer record
 *     must belong to the model.  model NULL restores only the optimizer
 *     (the file's parameters and buffers are ignored).
 *   opt: the file must hold the state of an optimizer of the same type
 *     (cg_optimizer_type).  Each item of cg_optimizer_visit_state is matched
 *     to the record of its name: a config item (momentum, weight decay, the
 *     parameters' groups, the schedule and its settings) must hold the same
 *     values; any other item is restored (lr, step count, schedule epoch,
 *     momentum buffers).  An item with a present flag that has no record
 *     starts fresh (not present, zero-filled); any other missing item, and
 *     an optimizer record that matches no item, is an error.  opt NULL
 *     ignores the optimizer state in the file.
 *   meta_out (if non-NULL) is replaced by the file's metadata.
 * Version-1 files (cgrad 0.1) load too; their SGD state restores an SGD
 * optimizer with one parameter group.
 *
 * Returns CG_OK or, with a message naming the file and the record:
 *   CG_ERR_NOT_FOUND  no file at `path`
 *   CG_ERR_IO         it cannot be read (or is not a regular file)
 *   CG_ERR_FORMAT     not a checkpoint (magic), unknown version, kind or
 *                     dtype, inconsistent sizes, duplicate names
 *   CG_ERR_CORRUPT    CRC mismatch, truncated file, bytes after the end
 *   CG_ERR_MISMATCH   the file does not fit model/opt: missing or unknown
 *                     names, different shapes or dtypes, another optimizer
 *                     type, different settings (naming the item and both
 *                     values)
 *   CG_ERR_NOMEM      out of memory (memory use is bounded by a small
 *                     multiple of the file size)
 *   CG_ERR_INVALID    misuse: path NULL, or model and opt both NULL */
CG_API enum cg_status cg_checkpoint_load(const char *path, struct cg_module *model,
                                         struct cg_optimizer *opt,
                                         struct cg_checkpoint_meta *meta_out);

#ifdef __cplusplus
}
#endif
#endif
