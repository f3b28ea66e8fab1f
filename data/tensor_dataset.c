/* The general in-memory dataset: float features of any shape with float
 * targets and/or int64 labels, from caller arrays or IDX files. */
#include <inttypes.h>
#include <string.h>

#include "alloc.h"
#include "cgrad/data.h"
#include "error_internal.h"
#include "idx_internal.h"

static bool shape_ok(const char *fn, const char *what, int ndim, const int64_t *shape,
                     int64_t *numel)
{
    if (ndim < 0 || ndim > CG_MAX_DIMS - 1 || (ndim > 0 && !shape)) {
        cg_misuse(fn, "%s rank %d%s: need 0..%d dims per sample", what, ndim,
                  ndim > 0 && !shape ? " with shape NULL" : "", CG_MAX_DIMS - 1);
        return false;
    }
    *numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 1 || *numel > INT64_MAX / shape[d]) {
            cg_misuse(fn, "%s size %" PRId64 " in dim %d: sizes must be >= 1", what, shape[d], d);
            return false;
        }
        *numel *= shape[d];
    }
    return true;
}

/* Batches read the samples at random: large copies go on 2 MB pages. */
static void *copy_of(const void *src, size_t bytes, const char *what)
{
    void *p = cg_malloc_huge(bytes ? bytes : 1, what);
    if (p && bytes) memcpy(p, src, bytes);
    return p;
}

enum cg_status cg_tensor_dataset_from_arrays(struct cg_tensor_dataset *out, int64_t count,
                                             int sample_ndim, const int64_t *sample_shape,
                                             const float *features, int target_ndim,
                                             const int64_t *target_shape, const float *targets,
                                             const int64_t *labels)
{
    static const char fn[] = "cg_tensor_dataset_from_arrays";
    if (!out) {
        cg_misuse(fn, "out is NULL");
        return CG_ERR_INVALID;
    }
    *out = (struct cg_tensor_dataset){0};
    int64_t per = 0, tper = 0;
    if (count < 1 || !features) {
        cg_misuse(fn, "count %" PRId64 ", features %s: need count >= 1 samples and their features",
                  count, features ? "given" : "NULL");
        return CG_ERR_INVALID;
    }
    if (!shape_ok(fn, "sample", sample_ndim, sample_shape, &per) ||
        (targets && !shape_ok(fn, "target", target_ndim, target_shape, &tper)))
        return CG_ERR_INVALID;
    if (per > INT64_MAX / count / (int64_t)sizeof(float) ||
        (targets && tper > INT64_MAX / count / (int64_t)sizeof(float))) {
        cg_misuse(fn, "%" PRId64 " samples of %" PRId64 " values do not fit in memory", count, per);
        return CG_ERR_INVALID;
    }
    struct cg_tensor_dataset ds = {.count = count, .sample_ndim = sample_ndim,
                                   .target_ndim = targets ? target_ndim : 0};
    if (sample_ndim) memcpy(ds.sample_shape, sample_shape, (size_t)sample_ndim * sizeof(int64_t));
    if (targets && target_ndim)
        memcpy(ds.target_shape, target_shape, (size_t)target_ndim * sizeof(int64_t));
    ds.features = copy_of(features, (size_t)(count * per) * sizeof(float), "dataset features");
    ds.targets = targets ? copy_of(targets, (size_t)(count * tper) * sizeof(float),
                                   "dataset targets") : NULL;
    ds.labels = labels ? copy_of(labels, (size_t)count * sizeof(int64_t), "dataset labels") : NULL;
    if (!ds.features || (targets && !ds.targets) || (labels && !ds.labels)) {
        cg_tensor_dataset_free(&ds);
        return CG_ERR_NOMEM;
    }
    *out = ds;
    return CG_OK;
}

enum cg_status cg_tensor_dataset_from_idx(struct cg_tensor_dataset *out, const char *images_path,
                                          const char *labels_path)
{
    static const char fn[] = "cg_tensor_dataset_from_idx";
    if (!out || !images_path) {
        cg_misuse(fn, "%s is NULL", !out ? "out" : "images_path");
        return CG_ERR_INVALID;
    }
    *out = (struct cg_tensor_dataset){0};
    struct cg_dataset raw;
    /* Converted and freed below: no need for 2 MB pages. */
    enum cg_status st = cg_idx_load_images_transient(&raw, images_path);
    if (st == CG_OK && labels_path) st = cg_idx_load_labels(&raw, labels_path);
    if (st != CG_OK) {
        cg_dataset_free(&raw);
        return st;
    }
    int64_t per = (int64_t)raw.rows * raw.cols;
    struct cg_tensor_dataset ds = {.count = raw.count, .sample_ndim = 2,
                                   .sample_shape = {raw.rows, raw.cols}};
    ds.features = cg_malloc_huge((size_t)(raw.count * per) * sizeof(float), "dataset features");
    ds.labels = raw.labels ? cg_malloc((size_t)raw.count * sizeof(int64_t), "dataset labels")
                           : NULL;
    if (!ds.features || (raw.labels && !ds.labels)) {
        cg_tensor_dataset_free(&ds);
        cg_dataset_free(&raw);
        return CG_ERR_NOMEM;
    }
    /* division, as the uint8 iterator (and torch's x / 255) */
    for (int64_t i = 0; i < raw.count * per; i++) ds.features[i] = (float)raw.images[i] / 255.0f;
    if (raw.labels)
        for (int64_t i = 0; i < raw.count; i++) ds.labels[i] = raw.labels[i];
    cg_dataset_free(&raw);
    *out = ds;
    return CG_OK;
}

void cg_tensor_dataset_free(struct cg_tensor_dataset *ds)
{
    if (!ds) return;
    cg_free(ds->features);
    cg_free(ds->targets);
    cg_free(ds->labels);
    *ds = (struct cg_tensor_dataset){0};
}
