/* The IDX reader's entry for the library's own callers. */
#ifndef CG_DATA_IDX_INTERNAL_H
#define CG_DATA_IDX_INTERNAL_H

#include "cgrad/data.h"

/* cg_idx_load_images for bytes that are converted and freed right away:
 * the same checks and errors (reported as cg_tensor_dataset_from_idx's),
 * without the move onto 2 MB pages. */
enum cg_status cg_idx_load_images_transient(struct cg_dataset *out, const char *path);

#endif
