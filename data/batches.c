/* Mini-batch iterator: sequential or per-epoch Fisher-Yates order, pixels
 * converted to [0,1] straight into a tape tensor. */
#include <inttypes.h>
#include <string.h>

#include "alloc.h"
#include "cgrad/data.h"
#include "error_internal.h"
#include "multiarch.h"
#include "parallel.h"

/* Samples in the dataset, uint8 images or general. */
static int64_t count_of(const struct cg_batches *it)
{
    return it->tds ? it->tds->count : it->ds->count;
}

static int64_t epoch_len(const struct cg_batches *it)
{
    int64_t n = count_of(it);
    return it->drop_last ? n - n % it->batch_size : n;
}

/* Draws this epoch's order from the identity, so it depends only on the
 * generator state at the epoch's start (which makes resuming exact). */
static void start_epoch(struct cg_batches *it)
{
    int64_t n = count_of(it);
    it->state.epoch_rng = it->rng;
    it->state.position = 0;
    it->batch_start = 0;
    it->batch_len = 0;
    for (int64_t i = 0; i < n; i++) it->order[i] = i;
    if (!it->shuffle) return;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = cg_rng_below(&it->rng, (uint32_t)(i + 1));
        int64_t t = it->order[i];
        it->order[i] = it->order[j];
        it->order[j] = t;
    }
}

/* Checks the options and allocates the buffers for `count` samples (labels:
 * int32 and/or int64 buffers); the caller sets ds or tds. */
static enum cg_status setup(struct cg_batches *it, int64_t count, bool want32, bool want64,
                            struct cg_batches_options options, const char *fn)
{
    if (options.batch_size < 1) {
        cg_misuse(fn, "batch_size %" PRId64 " must be >= 1", options.batch_size);
        return CG_ERR_INVALID;
    }
    if (options.dtype != CG_F32 && options.dtype != CG_F64) {
        cg_misuse(fn, "unknown dtype %d (hint: CG_F32 or CG_F64)", (int)options.dtype);
        return CG_ERR_INVALID;
    }
    if (options.rng && (uint64_t)count > UINT32_MAX) {
        cg_misuse(fn, "cannot shuffle %" PRId64 " samples (at most %" PRIu32 ")", count,
                  UINT32_MAX);
        return CG_ERR_INVALID;
    }
    int64_t cap = options.batch_size < count ? options.batch_size : count;
    int64_t *order = cg_malloc((size_t)(count ? count : 1) * sizeof *order, "batch order");
    int32_t *labels = want32 ? cg_malloc((size_t)(cap ? cap : 1) * sizeof *labels,
                                           "batch labels") : NULL;
    int64_t *labels64 = want64 ? cg_malloc((size_t)(cap ? cap : 1) * sizeof *labels64,
                                             "batch labels") : NULL;
    if (!order || (want32 && !labels) || (want64 && !labels64)) {
        cg_free(order);
        cg_free(labels);
        cg_free(labels64);
        return CG_ERR_NOMEM;
    }
    it->batch_size = options.batch_size;
    it->shuffle = options.rng != NULL;
    it->drop_last = options.drop_last;
    it->dtype = options.dtype;
    it->order = order;
    it->batch_labels = labels;
    it->batch_labels64 = labels64;
    if (options.rng) {
        /* Own generator, forked from the caller's so the two streams are not
         * the same numbers at the same positions. */
        uint64_t hi = cg_rng_u32(options.rng), lo = cg_rng_u32(options.rng);
        it->rng = cg_rng_seed(hi << 32 | lo);
    }
    return CG_OK;
}

enum cg_status cg_batches_init(struct cg_batches *it, const struct cg_dataset *ds,
                               struct cg_batches_options options)
{
    static const char fn[] = "cg_batches_init";
    if (!it || !ds) {
        cg_misuse(fn, "%s is NULL", !it ? "it" : "ds");
        return CG_ERR_INVALID;
    }
    *it = (struct cg_batches){0};
    if (!ds->images || ds->rows <= 0 || ds->cols <= 0 || ds->count < 0) {
        cg_misuse(fn, "dataset has no images (images %s, %" PRId64 " samples of %dx%d; hint: "
                  "load it with cg_mnist_load or cg_idx_load_images)",
                  ds->images ? "set" : "NULL", ds->count, ds->rows, ds->cols);
        return CG_ERR_INVALID;
    }
    enum cg_status st = setup(it, ds->count, ds->labels != NULL, false, options, fn);
    if (st != CG_OK) return st;
    it->ds = ds;
    start_epoch(it);
    return CG_OK;
}

enum cg_status cg_batches_init_tensor(struct cg_batches *it, const struct cg_tensor_dataset *ds,
                                      struct cg_batches_options options)
{
    static const char fn[] = "cg_batches_init_tensor";
    if (!it || !ds) {
        cg_misuse(fn, "%s is NULL", !it ? "it" : "ds");
        return CG_ERR_INVALID;
    }
    *it = (struct cg_batches){0};
    if (!ds->features || ds->count < 1 || ds->sample_ndim < 0 ||
        ds->sample_ndim > CG_MAX_DIMS - 1) {
        cg_misuse(fn, "dataset has no features (features %s, %" PRId64 " samples of rank %d; "
                  "hint: cg_tensor_dataset_from_arrays)", ds->features ? "set" : "NULL",
                  ds->count, ds->sample_ndim);
        return CG_ERR_INVALID;
    }
    enum cg_status st = setup(it, ds->count, false, ds->labels != NULL, options, fn);
    if (st != CG_OK) return st;
    it->tds = ds;
    start_epoch(it);
    return CG_OK;
}

void cg_batches_free(struct cg_batches *it)
{
    if (!it) return;
    cg_free(it->order);
    cg_free(it->batch_labels);
    cg_free(it->batch_labels64);
    *it = (struct cg_batches){0};
}

/* Asks for the cache lines of one image, the last one included. */
static void prefetch_image(const uint8_t *src, int64_t pixels)
{
#if defined(__GNUC__)
    for (int64_t k = 0; k < pixels; k += 64) __builtin_prefetch(src + k);
    if (pixels > 0) __builtin_prefetch(src + pixels - 1);
#else
    (void)src, (void)pixels;
#endif
}

/* Division (not multiplication by 1/255) so values equal torch's x/255. */
CG_MULTIARCH static void bytes_to_unit_f32(float *restrict dst, const uint8_t *restrict src,
                                           int64_t n)
{
    for (int64_t k = 0; k < n; k++) dst[k] = (float)src[k] / 255.0f;
}

CG_MULTIARCH static void bytes_to_unit_f64(double *restrict dst, const uint8_t *restrict src,
                                           int64_t n)
{
    for (int64_t k = 0; k < n; k++) dst[k] = (double)src[k] / 255.0;
}

/* Images below this many pixels per batch convert in the caller. */
static const int64_t convert_parallel_min = 1 << 15;

/* Images ahead of the one being converted whose bytes are asked for. */
static const int64_t convert_lookahead = 4;

struct convert_job {
    const uint8_t *images;
    const int64_t *idx;
    struct cg_tensor *x;
    int64_t pixels, rows;
    int parts;
};

/* Rows of part `part` of the batch, each image's bytes to [0, 1]. */
static void convert_part(void *ctx, int part)
{
    const struct convert_job *j = ctx;
    int64_t lo, hi;
    cg_split_range(j->rows, j->parts, part, 1, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        /* Shuffled images are scattered over the data set: keep several
         * images' misses in flight, not one image's at a time. */
        if (r + convert_lookahead < hi)
            prefetch_image(j->images + j->idx[r + convert_lookahead] * j->pixels, j->pixels);
        const uint8_t *src = j->images + j->idx[r] * j->pixels;
        if (j->x->dtype == CG_F32)
            bytes_to_unit_f32((float *)j->x->data + r * j->pixels, src, j->pixels);
        else
            bytes_to_unit_f64((double *)j->x->data + r * j->pixels, src, j->pixels);
    }
}

/* Product of a per-sample shape. */
static int64_t numel_of(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

/* Rows idx[0..b) of a [count, per] float array into a [b, shape...] tensor. */
static struct cg_tensor *gather_rows(struct cg_tape *tape, enum cg_dtype dtype, const float *src,
                                     int ndim, const int64_t *shape, const int64_t *idx, int64_t b)
{
    int64_t full[CG_MAX_DIMS] = {b}, per = numel_of(ndim, shape);
    memcpy(full + 1, shape, (size_t)ndim * sizeof *shape);
    struct cg_tensor *t = cg_tensor_empty(tape, dtype, ndim + 1, full);
    if (!t) return NULL;
    for (int64_t r = 0; r < b; r++) {
        const float *row = src + idx[r] * per;
        if (dtype == CG_F32)
            memcpy((float *)t->data + r * per, row, (size_t)per * sizeof(float));
        else
            for (int64_t k = 0; k < per; k++) ((double *)t->data)[r * per + k] = row[k];
    }
    return t;
}

static struct cg_tensor *next_general(struct cg_batches *it, struct cg_tape *tape, int64_t pos,
                                      int64_t b)
{
    const struct cg_tensor_dataset *ds = it->tds;
    const int64_t *idx = it->order + pos;
    struct cg_tensor *x = gather_rows(tape, it->dtype, ds->features, ds->sample_ndim,
                                      ds->sample_shape, idx, b);
    if (!x) return NULL;
    cg_tensor_set_name(x, "batch");
    if (it->batch_labels64)
        for (int64_t r = 0; r < b; r++) it->batch_labels64[r] = ds->labels[idx[r]];
    it->batch_start = pos;
    it->batch_len = b;
    it->state.position = pos + b;
    return x;
}

struct cg_tensor *cg_batches_next(struct cg_batches *it, struct cg_tape *tape)
{
    if (!it || !it->order) {
        cg_misuse("cg_batches_next", "iterator is %s (hint: cg_batches_init first)",
                  !it ? "NULL" : "not initialized or freed");
        return NULL;
    }
    int64_t pos = it->state.position, end = epoch_len(it);
    if (pos >= end) {
        it->state.epoch++;
        start_epoch(it);
        return NULL;
    }
    int64_t b = end - pos < it->batch_size ? end - pos : it->batch_size;
    if (it->tds) return next_general(it, tape, pos, b);
    int64_t pixels = (int64_t)it->ds->rows * it->ds->cols;
    struct cg_tensor *x = cg_tensor_empty(tape, it->dtype, CG_SHAPE(b, pixels));
    if (!x) return NULL;
    cg_tensor_set_name(x, "batch");
    struct convert_job job = {it->ds->images, it->order + pos, x, pixels, b, 1};
    /* Waiting on scattered rows is most of this pass: at 2 threads that
     * wait is shared (any cut gives the same bits). */
    int threads = cg_parallel_threads();
    if (threads > 1 && b * pixels >= convert_parallel_min)
        job.parts = threads < b ? threads : (int)b;
    cg_parallel_run(job.parts, convert_part, &job);
    if (it->batch_labels)
        for (int64_t r = 0; r < b; r++) it->batch_labels[r] = it->ds->labels[job.idx[r]];
    it->batch_start = pos;
    it->batch_len = b;
    it->state.position = pos + b;
    return x;
}

struct cg_tensor *cg_batches_targets(const struct cg_batches *it, struct cg_tape *tape)
{
    if (!it || !it->order || !it->tds) {
        cg_misuse("cg_batches_targets", "iterator is %s (hint: float targets come from "
                  "cg_batches_init_tensor)", !it ? "NULL" : !it->order ? "not initialized"
                                                                          : "over uint8 images");
        return NULL;
    }
    if (!it->tds->targets || it->batch_len == 0) return NULL;
    return gather_rows(tape, it->dtype, it->tds->targets, it->tds->target_ndim,
                       it->tds->target_shape, it->order + it->batch_start, it->batch_len);
}

const int64_t *cg_batches_labels_i64(const struct cg_batches *it)
{
    return it && it->batch_len > 0 ? it->batch_labels64 : NULL;
}

const int32_t *cg_batches_labels(const struct cg_batches *it)
{
    return it && it->batch_len > 0 ? it->batch_labels : NULL;
}

const int64_t *cg_batches_indices(const struct cg_batches *it)
{
    return it && it->batch_len > 0 ? it->order + it->batch_start : NULL;
}

int64_t cg_batches_size(const struct cg_batches *it) { return it ? it->batch_len : 0; }

int64_t cg_batches_per_epoch(const struct cg_batches *it)
{
    if (!it || (!it->ds && !it->tds)) return 0;
    int64_t n = count_of(it);
    return it->drop_last ? n / it->batch_size : (n + it->batch_size - 1) / it->batch_size;
}

struct cg_batches_state cg_batches_state(const struct cg_batches *it)
{
    if (!it) return (struct cg_batches_state){0};
    return it->state;
}

enum cg_status cg_batches_restore(struct cg_batches *it, const struct cg_batches_state *state)
{
    static const char fn[] = "cg_batches_restore";
    if (!it || !it->order || !state) {
        cg_misuse(fn, "%s", !state ? "state is NULL" : "iterator is NULL or not initialized");
        return CG_ERR_INVALID;
    }
    int64_t end = epoch_len(it), pos = state->position;
    if (state->epoch < 0 || pos < 0 || pos > end || (pos % it->batch_size && pos != end)) {
        /* Saved states come from files: a recoverable mismatch, not misuse. */
        return cg_fail(CG_ERR_MISMATCH,
                       "%s: state (epoch %" PRId64 ", position %" PRId64 ") is not a batch "
                       "boundary of an epoch of %" PRId64 " samples in batches of %" PRId64
                       " (hint: restore with the same dataset and options it was saved with)",
                       fn, state->epoch, pos, end, it->batch_size);
    }
    it->rng = state->epoch_rng;
    start_epoch(it);
    it->state.epoch = state->epoch;
    it->state.position = pos;
    return CG_OK;
}
