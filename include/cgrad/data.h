/* Data: IDX (MNIST-format) files and mini-batch iteration.
 *
 * A struct cg_dataset holds count images of rows x cols unsigned bytes
 * (row-major, image i at images + i*rows*cols) and optionally one label byte
 * per image.  It is plain data: the loaders below fill one, and a program may
 * also point one at its own buffers (then it frees them itself, not with
 * cg_dataset_free) to feed the batch iterator.
 *
 * IDX files (Y. LeCun's MNIST format) are read raw or gzip-compressed; the
 * format is detected from the content, not the name.  Images: big-endian
 * header magic 2051 (0x00000803), count, rows, cols, then the bytes.  Labels:
 * magic 2049 (0x00000801), count, then the bytes.  Everything is validated
 * before it is trusted: magic, element type, number of dimensions, sizes
 * (count, rows, cols > 0), truncation, trailing bytes, gzip integrity.  A
 * header that claims more data than the file holds never causes a large
 * allocation: the buffer starts at 1 MiB and doubles only when full, so it
 * stays below twice the data actually read (or 1 MiB).
 * Trailing garbage after the end of a gzip stream is ignored by zlib and so
 * not detected; extra bytes inside the (decompressed) data are.
 *
 * Errors are returned as enum cg_status with a message (cg_last_error())
 * that names the file and the problem, e.g.
 *   "data/mnist/train-images-idx3-ubyte.gz: bad magic 0x00000801 (expected
 *    2051 = 0x00000803 for images; this looks like an IDX label file)". */
#ifndef CGRAD_DATA_H
#define CGRAD_DATA_H

#include "export.h"
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cg_tape;

struct cg_dataset {
    int64_t count;   /* number of samples (> 0 for loaded data) */
    int rows, cols;  /* image size; rows*cols bytes per sample */
    uint8_t *images; /* count*rows*cols bytes, owned (cg_dataset_free) */
    uint8_t *labels; /* count bytes, or NULL when there are no labels; owned */
};

/* ---- IDX files ----
 * Statuses: CG_ERR_NOT_FOUND (no such file), CG_ERR_IO (open/read failed),
 * CG_ERR_FORMAT (not an IDX file of the right kind: magic, element type,
 * dimensions, zero sizes), CG_ERR_CORRUPT (empty, truncated, trailing bytes,
 * damaged gzip data), CG_ERR_NOMEM, CG_ERR_INVALID (NULL arguments: misuse). */

/* Reads an IDX image file (raw or .gz) into *out: count, rows, cols, images;
 * labels = NULL.  *out is overwritten (not freed) and left empty (all zero)
 * on failure; free a loaded dataset with cg_dataset_free(). */
CG_API enum cg_status cg_idx_load_images(struct cg_dataset *out, const char *path);

/* Reads an IDX label file (raw or .gz) and attaches the labels to `ds`,
 * which must hold images whose count equals the file's count (else
 * CG_ERR_MISMATCH naming both counts), and no labels yet (misuse).  If ds is
 * empty (all zero), it becomes a labels-only dataset (images NULL, rows =
 * cols = 0), which the batch iterator does not accept.  On failure ds is
 * unchanged. */
CG_API enum cg_status cg_idx_load_labels(struct cg_dataset *ds, const char *path);

/* Frees images and labels and leaves *ds empty (all zero).  NULL is ignored. */
CG_API void cg_dataset_free(struct cg_dataset *ds);

/* ---- a general in-memory dataset ----
 * count samples of float features of any shape, with float targets of any
 * shape and/or int64 class labels (either may be absent).  It feeds the same
 * batch iterator as the uint8 images (cg_batches_init_tensor): shuffled or
 * sequential, no allocation per batch, exactly resumable.  The arrays are
 * owned copies: free them with cg_tensor_dataset_free. */
struct cg_tensor_dataset {
    int64_t count;
    int sample_ndim;                          /* 0..CG_MAX_DIMS-1 */
    int64_t sample_shape[CG_MAX_DIMS - 1];
    float *features;                          /* count * prod(sample_shape) */
    int target_ndim;                          /* shape of one float target */
    int64_t target_shape[CG_MAX_DIMS - 1];
    float *targets;                           /* count * prod(target_shape), or NULL */
    int64_t *labels;                          /* count class labels, or NULL */
};
/* Copies caller arrays into *out: features [count, sample_shape...], float
 * targets [count, target_shape...] (NULL for none; target_ndim 0 means one
 * value per sample) and int64 labels[count] (NULL for none).  Misuse
 * (CG_ERR_INVALID): count < 1, features NULL, a rank or size out of range.
 * CG_ERR_NOMEM.  *out is left empty on failure. */
CG_API enum cg_status cg_tensor_dataset_from_arrays(struct cg_tensor_dataset *out, int64_t count,
                                                    int sample_ndim, const int64_t *sample_shape,
                                                    const float *features, int target_ndim,
                                                    const int64_t *target_shape,
                                                    const float *targets, const int64_t *labels);
/* Reads an IDX image file as features [rows, cols] scaled by 1/255 and,
 * if labels_path is not NULL, its IDX label file as int64 labels (counts
 * must match: CG_ERR_MISMATCH).  Statuses as for cg_idx_load_images. */
CG_API enum cg_status cg_tensor_dataset_from_idx(struct cg_tensor_dataset *out,
                                                 const char *images_path, const char *labels_path);
/* Frees the arrays and leaves *ds empty.  NULL is ignored. */
CG_API void cg_tensor_dataset_free(struct cg_tensor_dataset *ds);

/* ---- MNIST-layout directories ---- */
enum cg_mnist_split {
    CG_MNIST_TRAIN, /* train-images-idx3-ubyte, train-labels-idx1-ubyte */
    CG_MNIST_TEST   /* t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte */
};

/* Loads one split of an MNIST-format data set (MNIST, Fashion-MNIST, the
 * files scripts/fetch_data.sh writes) from directory `dir`.  Each file is
 * looked up by its standard name; the raw file is preferred when both it and
 * NAME.gz exist.  Checks that images and labels have the same count and that
 * every label is 0..9 (CG_ERR_CORRUPT otherwise).  Returns CG_OK or a status
 * as for the IDX functions; a missing file gives CG_ERR_NOT_FOUND with a
 * message like "data/x: not found (looked for train-images-idx3-ubyte and
 * train-images-idx3-ubyte.gz)".  *out is overwritten; on failure it is left
 * empty and nothing is leaked. */
CG_API enum cg_status cg_mnist_load(struct cg_dataset *out, const char *dir, enum cg_mnist_split split);

/* ---- mini-batches ----
 * Iterates over a dataset in batches of `batch_size` samples, one epoch at a
 * time.  Each batch is a [B, rows*cols] tensor of pixel/255 (in [0,1]),
 * written directly into a tensor on the tape (one conversion, no other copy).
 *
 * Order: sequential (0, 1, 2, ...) or, with options.rng, a Fisher-Yates
 * shuffle of 0..count-1 drawn at the start of every epoch (each epoch
 * shuffles the identity afresh, so an epoch's order depends only on the
 * generator state at its start).  The last batch of an epoch holds the
 * remaining count % batch_size samples, unless drop_last is set, in which case
 * those samples are skipped for that epoch.
 *
 * Creation allocates the index permutation and a label buffer once; from then
 * on cg_batches_next() makes no heap allocation (the tensor lives in the
 * tape's arena, which is allocation-free once it has grown to size).
 *
 * The struct is plain data.  For an exact resume, save cg_batches_state()
 * (epoch, position, generator state at the start of the epoch: four 64-bit
 * integers) and hand it to cg_batches_restore() on an iterator created with
 * the same dataset and options; the rest of the epoch and every later epoch
 * then come out exactly as they would have. */
struct cg_batches_options {
    int64_t batch_size;  /* >= 1 */
    struct cg_rng *rng;  /* NULL: sequential order.  Else the iterator takes
                            its own generator, seeded from two draws of *rng
                            (which advances by two outputs). */
    bool drop_last;      /* false (default): the last batch may be smaller */
    enum cg_dtype dtype; /* CG_F32 (default) or CG_F64 */
};

struct cg_batches_state {
    int64_t epoch;             /* epochs completed */
    int64_t position;          /* samples of this epoch already returned */
    struct cg_rng epoch_rng;   /* generator at the start of this epoch */
};

struct cg_batches {
    /* read-only for users; use the functions below */
    const struct cg_dataset *ds;
    int64_t batch_size;
    bool shuffle, drop_last;
    enum cg_dtype dtype;
    int64_t *order;          /* permutation of this epoch, count entries (owned) */
    int32_t *batch_labels;   /* labels of the current batch, batch_size entries (owned) */
    int64_t batch_start;     /* position of the current batch in `order` */
    int64_t batch_len;       /* samples in the current batch (0 before the first) */
    struct cg_batches_state state;
    struct cg_rng rng;       /* current generator (advanced by each shuffle) */
    /* set instead of ds by cg_batches_init_tensor */
    const struct cg_tensor_dataset *tds;
    int64_t *batch_labels64; /* int64 labels of the current batch (owned) */
};

/* Sets up *it over `ds` (which must stay alive and unchanged while *it is
 * used).  Misuse (returns CG_ERR_INVALID): NULL it/ds, a dataset without
 * images or with rows/cols <= 0, batch_size < 1, a bad dtype, or shuffling
 * more than 2^32-1 samples.  CG_ERR_NOMEM if the buffers cannot be
 * allocated; then *it is left empty.  Free with cg_batches_free(). */
CG_API enum cg_status cg_batches_init(struct cg_batches *it, const struct cg_dataset *ds,
                               struct cg_batches_options options);

/* The same iterator over a general dataset: cg_batches_next returns the
 * features as [B, sample_shape...] in options.dtype (exact copies of the
 * floats for CG_F32), cg_batches_targets the float targets of that batch
 * and cg_batches_labels_i64 its int64 labels.  Misuse as cg_batches_init
 * (a dataset without features, count < 1, ...). */
CG_API enum cg_status cg_batches_init_tensor(struct cg_batches *it,
                                             const struct cg_tensor_dataset *ds,
                                             struct cg_batches_options options);
/* Float targets of the batch last returned, as a [B, target_shape...]
 * tensor on tape (or persistent with tape NULL); NULL (no misuse) if the
 * dataset has none or no batch was returned yet this epoch, or misuse for an
 * iterator over uint8 images. */
CG_API struct cg_tensor *cg_batches_targets(const struct cg_batches *it, struct cg_tape *tape);
/* int64 labels of the batch last returned (B entries, owned by the
 * iterator), or NULL as for cg_batches_labels. */
CG_API const int64_t *cg_batches_labels_i64(const struct cg_batches *it);
/* Frees the iterator's buffers and leaves *it empty.  NULL is ignored. */
CG_API void cg_batches_free(struct cg_batches *it);

/* Next batch of this epoch as a [B, rows*cols] tensor of dtype options.dtype
 * with values pixel/255, allocated on `tape` (released by cg_tape_reset; with
 * tape NULL it is a persistent tensor the caller frees).  It does not require
 * grad.  Returns NULL at the end of an epoch and then prepares the next one
 * (reshuffling), so the next call starts epoch+1; also NULL (with
 * cg_last_error(), CG_ERR_NOMEM) if the tensor cannot be allocated, in which
 * case the position is unchanged. */
CG_API struct cg_tensor *cg_batches_next(struct cg_batches *it, struct cg_tape *tape);

/* Labels of the batch last returned by cg_batches_next (as int32, B
 * entries), or NULL if the dataset has no labels or no batch was returned
 * yet this epoch.  The view is owned by the iterator and overwritten by the
 * next call. */
CG_API const int32_t *cg_batches_labels(const struct cg_batches *it);

/* Dataset indices of the batch last returned (B entries; a view into the
 * iterator's permutation, valid until the epoch ends; NULL before the first
 * batch of an epoch), and B itself (0 then).  NULL / 0 for it NULL. */
CG_API const int64_t *cg_batches_indices(const struct cg_batches *it);
CG_API int64_t cg_batches_size(const struct cg_batches *it);

/* Batches per epoch: ceil(count / batch_size), or floor with drop_last
 * (0 for it NULL or an empty iterator). */
CG_API int64_t cg_batches_per_epoch(const struct cg_batches *it);

/* Position for an exact resume (see above); all zero for it NULL. */
CG_API struct cg_batches_state cg_batches_state(const struct cg_batches *it);

/* Continues from a saved state: regenerates that epoch's order from
 * state.epoch_rng and skips the first state.position samples.  Returns
 * CG_ERR_MISMATCH with a message (*it unchanged) if epoch < 0 or position is
 * not a batch boundary of the epoch (a multiple of batch_size, or the epoch's
 * end) -- e.g. a checkpoint saved with another batch size; misuse
 * (CG_ERR_INVALID) for NULL arguments. */
CG_API enum cg_status cg_batches_restore(struct cg_batches *it, const struct cg_batches_state *state);

#ifdef __cplusplus
}
#endif
#endif
