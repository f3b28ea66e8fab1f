/* Checkpoint, data and image functions: bad arguments and bad files, table
 * driven like test_bad_inputs.c.  Argument rows expect exactly one misuse
 * report naming the function; file rows (missing, empty, garbage, truncated,
 * corrupt IDX files, MNIST directories and checkpoints; unwritable outputs)
 * expect a status and no misuse, with a cg_last_error() that names the file,
 * and check that nothing was half-loaded or changed: the dataset stays
 * empty, the model's parameters and the metadata stay as they were, no temp
 * file is left behind.  The number of rows is printed. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bad_rows.h"
#include "cg_test.h"
#include "idx_writer.h"

static struct {
    struct cg_tape *tape;
    struct cg_module *ck_model, *ck_model5;
    struct cg_optimizer *ck_opt, *ck_opt_other;
    struct cg_checkpoint_meta *meta, *meta_out;
    struct cg_dataset ds, ds_labeled, ds_empty, ds_norows, tmpds;
    struct cg_batches it, it_zero;
    struct cg_rng rng;
    float ck_snapshot[6];
    char dir[256], path[4][512];
    int path_i;
} G;

static uint8_t g_pixels[4 * 4], g_labels[4] = {1, 2, 3, 4};
static char g_long_name[70000];

#define BAD_DT ((enum cg_dtype)7)
#define SGD(...) ((struct cg_sgd_options){__VA_ARGS__})
#define BOPT(...) ((struct cg_batches_options){__VA_ARGS__})

/* Full path of a file in the temp dir (a few rotating buffers). */
static const char *P(const char *name)
{
    char *s = G.path[G.path_i++ & 3];
    snprintf(s, sizeof G.path[0], "%s/%s", G.dir, name);
    return s;
}

/* A failed load changed neither the model nor the metadata. */
static int ck_untouched(void)
{
    struct cg_tensor *w = cg_linear_weight(G.ck_model);
    return memcmp(w->data, G.ck_snapshot, sizeof G.ck_snapshot) == 0 &&
           cg_checkpoint_meta_count(G.meta_out) == 1;
}

/* No "*.tmp*" file in the temp dir: failed writes clean up after themselves. */
static int no_temp_files(void)
{
    DIR *d = opendir(G.dir);
    int found = 0;
    for (struct dirent *e; d && (e = readdir(d));) found |= strstr(e->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    return d && !found;
}

/* ---- the rows ---- */

/* Checkpoint metadata and save/load arguments. */
#define ROWS_CHECKPOINT(X) \
X(meta_set_null, 1, cg_checkpoint_meta_set_u64(NULL, "x", 1) == CG_ERR_INVALID, \
  "cg_checkpoint_meta_set_u64") \
X(meta_set_null_name, 1, cg_checkpoint_meta_set_u64(G.meta, NULL, 1) == CG_ERR_INVALID, \
  "cg_checkpoint_meta_set_u64") \
X(meta_set_empty_name, 1, cg_checkpoint_meta_set_u64(G.meta, "", 1) == CG_ERR_INVALID, \
  "cg_checkpoint_meta_set_u64") \
X(meta_set_long_name, 1, cg_checkpoint_meta_set_u64(G.meta, g_long_name, 1) == CG_ERR_INVALID, \
  "cg_checkpoint_meta_set_u64") \
X(meta_blob_null_data, 1, cg_checkpoint_meta_set_blob(G.meta, "b", NULL, 4) == CG_ERR_INVALID, \
  "cg_checkpoint_meta_set_blob") \
X(meta_blob_null_meta, 1, cg_checkpoint_meta_set_blob(NULL, "b", "x", 1) == CG_ERR_INVALID, \
  "cg_checkpoint_meta_set_blob") \
X(meta_rng_null, 1, cg_checkpoint_meta_set_rng(G.meta, "r", NULL) == CG_ERR_INVALID, \
  "cg_checkpoint_meta_set_rng") \
X(meta_rng_null_meta, 1, cg_checkpoint_meta_set_rng(NULL, "r", &G.rng) == CG_ERR_INVALID, \
  "cg_checkpoint_meta_set_rng") \
X(meta_get_null_out, 1, cg_checkpoint_meta_get_u64(G.meta, "n", NULL) == CG_ERR_INVALID, \
  "cg_checkpoint_meta_get_u64") \
X(meta_get_null_meta, 1, cg_checkpoint_meta_get_u64(NULL, "n", &(uint64_t){0}) == \
  CG_ERR_INVALID, "cg_checkpoint_meta_get_u64") \
X(meta_get_null_name, 1, cg_checkpoint_meta_get_u64(G.meta, NULL, &(uint64_t){0}) == \
  CG_ERR_INVALID, "cg_checkpoint_meta_get_u64") \
X(meta_get_missing, 0, cg_checkpoint_meta_get_u64(G.meta, "missing", &(uint64_t){0}) == \
  CG_ERR_NOT_FOUND, "missing") \
X(meta_get_blob_as_u64, 0, cg_checkpoint_meta_get_u64(G.meta, "blob", &(uint64_t){0}) == \
  CG_ERR_MISMATCH, "blob") \
X(meta_get_blob_missing, 0, !cg_checkpoint_meta_get_blob(G.meta, "missing", NULL), NULL) \
X(meta_get_blob_u64, 0, !cg_checkpoint_meta_get_blob(G.meta, "n", NULL), NULL) \
X(meta_get_blob_null, 1, !cg_checkpoint_meta_get_blob(NULL, "n", NULL), \
  "cg_checkpoint_meta_get_blob") \
X(meta_get_rng_u64, 0, cg_checkpoint_meta_get_rng(G.meta, "n", &G.rng) == CG_ERR_MISMATCH, "n") \
X(meta_get_rng_short, 0, cg_checkpoint_meta_get_rng(G.meta, "blob", &G.rng) == CG_ERR_MISMATCH, \
  "blob") \
X(meta_get_rng_null_out, 1, cg_checkpoint_meta_get_rng(G.meta, "r", NULL) == CG_ERR_INVALID, \
  "cg_checkpoint_meta_get_rng") \
X(meta_get_rng_null, 1, cg_checkpoint_meta_get_rng(NULL, "r", &G.rng) == CG_ERR_INVALID, \
  "cg_checkpoint_meta_get_rng") \
X(meta_count_null, 0, cg_checkpoint_meta_count(NULL) == 0, NULL) \
X(meta_name_oob, 0, !cg_checkpoint_meta_name(G.meta, 99) && !cg_checkpoint_meta_name(NULL, 0), \
  NULL) \
X(meta_free_null, 0, (cg_checkpoint_meta_free(NULL), cg_checkpoint_meta_clear(NULL), 1), NULL) \
X(save_null_path, 1, cg_checkpoint_save(NULL, G.ck_model, NULL, NULL) == CG_ERR_INVALID, \
  "cg_checkpoint_save") \
X(save_null_model_and_opt, 1, cg_checkpoint_save(P("never.ckpt"), NULL, NULL, NULL) == \
  CG_ERR_INVALID, "model and opt are both NULL") \
X(load_null_path, 1, cg_checkpoint_load(NULL, G.ck_model, NULL, NULL) == CG_ERR_INVALID, \
  "cg_checkpoint_load") \
X(load_null_model_and_opt, 1, cg_checkpoint_load(P("ck_ok"), NULL, NULL, NULL) == \
  CG_ERR_INVALID, "model and opt are both NULL")

/* IDX/MNIST loading arguments and the batch iterator. */
#define ROWS_DATA(X) \
X(images_null_out, 1, cg_idx_load_images(NULL, P("img_ok")) == CG_ERR_INVALID, \
  "cg_idx_load_images") \
X(images_null_path, 1, cg_idx_load_images(&G.tmpds, NULL) == CG_ERR_INVALID, \
  "cg_idx_load_images") \
X(labels_null_ds, 1, cg_idx_load_labels(NULL, P("lbl_ok")) == CG_ERR_INVALID, \
  "cg_idx_load_labels") \
X(labels_null_path, 1, cg_idx_load_labels(&G.ds, NULL) == CG_ERR_INVALID, "cg_idx_load_labels") \
X(labels_twice, 1, cg_idx_load_labels(&G.ds_labeled, P("lbl4")) == CG_ERR_INVALID, \
  "cg_idx_load_labels", "labels") \
X(mnist_null_out, 1, cg_mnist_load(NULL, G.dir, CG_MNIST_TRAIN) == CG_ERR_INVALID, \
  "cg_mnist_load") \
X(mnist_null_dir, 1, cg_mnist_load(&G.tmpds, NULL, CG_MNIST_TEST) == CG_ERR_INVALID, \
  "cg_mnist_load") \
X(mnist_bad_split, 1, cg_mnist_load(&G.tmpds, P("mnist_ok"), (enum cg_mnist_split)7) == \
  CG_ERR_INVALID, "cg_mnist_load", "7") \
X(dataset_free_null, 0, (cg_dataset_free(NULL), 1), NULL) \
X(batches_null_it, 1, cg_batches_init(NULL, &G.ds, BOPT(.batch_size = 2)) == CG_ERR_INVALID, \
  "cg_batches_init") \
X(batches_null_ds, 1, cg_batches_init(&G.it_zero, NULL, BOPT(.batch_size = 2)) == \
  CG_ERR_INVALID, "cg_batches_init") \
X(batches_no_images, 1, cg_batches_init(&G.it_zero, &G.ds_empty, BOPT(.batch_size = 2)) == \
  CG_ERR_INVALID, "cg_batches_init") \
X(batches_no_rows, 1, cg_batches_init(&G.it_zero, &G.ds_norows, BOPT(.batch_size = 2)) == \
  CG_ERR_INVALID, "cg_batches_init") \
X(batches_size0, 1, cg_batches_init(&G.it_zero, &G.ds, BOPT(.batch_size = 0)) == \
  CG_ERR_INVALID, "cg_batches_init", "0") \
X(batches_size_neg, 1, cg_batches_init(&G.it_zero, &G.ds, BOPT(.batch_size = -4)) == \
  CG_ERR_INVALID, "cg_batches_init", "-4") \
X(batches_dtype, 1, cg_batches_init(&G.it_zero, &G.ds, BOPT(.batch_size = 2, .dtype = BAD_DT)) \
  == CG_ERR_INVALID, "cg_batches_init") \
X(batches_free_null, 0, (cg_batches_free(NULL), 1), NULL) \
X(batches_next_null, 1, !cg_batches_next(NULL, G.tape), "cg_batches_next", "NULL") \
X(batches_next_uninit, 1, !cg_batches_next(&G.it_zero, G.tape), "cg_batches_next") \
X(batches_getters_null, 0, !cg_batches_labels(NULL) && !cg_batches_indices(NULL) && \
  cg_batches_size(NULL) == 0 && cg_batches_per_epoch(NULL) == 0 && \
  cg_batches_state(NULL).epoch == 0, NULL) \
X(restore_null_it, 1, cg_batches_restore(NULL, &(struct cg_batches_state){0}) == \
  CG_ERR_INVALID, "cg_batches_restore") \
X(restore_null_state, 1, cg_batches_restore(&G.it, NULL) == CG_ERR_INVALID, \
  "cg_batches_restore", "state") \
X(restore_position, 0, cg_batches_restore(&G.it, &(struct cg_batches_state){0, 1, {1, 1}}) == \
  CG_ERR_MISMATCH, "position") \
X(restore_epoch_neg, 0, cg_batches_restore(&G.it, &(struct cg_batches_state){-1, 0, {1, 1}}) == \
  CG_ERR_MISMATCH, "-1")

/* PNG output arguments. */
#define ROWS_IMAGE(X) \
X(png_null_path, 1, cg_png_write_gray(NULL, 2, 2, g_pixels) == CG_ERR_INVALID, \
  "cg_png_write_gray") \
X(png_null_pixels, 1, cg_png_write_gray(P("x.png"), 2, 2, NULL) == CG_ERR_INVALID, \
  "cg_png_write_gray") \
X(png_width0, 1, cg_png_write_gray(P("x.png"), 0, 2, g_pixels) == CG_ERR_INVALID, \
  "cg_png_write_gray", "0") \
X(png_height_neg, 1, cg_png_write_gray(P("x.png"), 2, -1, g_pixels) == CG_ERR_INVALID, \
  "cg_png_write_gray", "-1") \
X(tiles_null, 1, cg_png_write_tiles(P("t.png"), NULL, 1, 2, 2, 1, CG_TILE_UNIT) == \
  CG_ERR_INVALID, "cg_png_write_tiles") \
X(tiles_n0, 1, cg_png_write_tiles(P("t.png"), (const float[4]){0}, 0, 2, 2, 1, CG_TILE_UNIT) == \
  CG_ERR_INVALID, "cg_png_write_tiles") \
X(tiles_h0, 1, cg_png_write_tiles(P("t.png"), (const float[4]){0}, 1, 0, 2, 1, CG_TILE_UNIT) == \
  CG_ERR_INVALID, "cg_png_write_tiles") \
X(tiles_w0, 1, cg_png_write_tiles(P("t.png"), (const float[4]){0}, 1, 2, 0, 1, CG_TILE_MINMAX) \
  == CG_ERR_INVALID, "cg_png_write_tiles") \
X(tiles_cols0, 1, cg_png_write_tiles(P("t.png"), (const float[4]){0}, 1, 2, 2, 0, \
  CG_TILE_UNIT) == CG_ERR_INVALID, "cg_png_write_tiles") \
X(png_nothing_written, 0, access(P("x.png"), F_OK) != 0 && access(P("t.png"), F_OK) != 0, NULL)

/* Bad files: missing, empty, garbage, truncated, corrupt; the message names
 * the file, nothing is half-loaded or changed. */
#define IDX_IMG(X, id, file, st) \
X(id, 0, cg_idx_load_images(&G.tmpds, P(file)) == st && G.tmpds.count == 0 && \
  !G.tmpds.images, file)
#define CKPT(X, id, file, model, opt, st) \
X(id, 0, cg_checkpoint_load(P(file), model, opt, G.meta_out) == st && ck_untouched(), file)
#define ROWS_FILES(X) \
IDX_IMG(X, idx_missing, "missing", CG_ERR_NOT_FOUND) \
IDX_IMG(X, idx_directory, "adir", CG_ERR_IO) \
IDX_IMG(X, idx_empty, "empty", CG_ERR_CORRUPT) \
IDX_IMG(X, idx_garbage, "garbage", CG_ERR_FORMAT) \
IDX_IMG(X, idx_gz_garbage, "garbage.gz", CG_ERR_FORMAT) \
IDX_IMG(X, idx_short_header, "img_short_header", CG_ERR_CORRUPT) \
IDX_IMG(X, idx_truncated, "img_truncated", CG_ERR_CORRUPT) \
IDX_IMG(X, idx_trailing, "img_trailing", CG_ERR_CORRUPT) \
IDX_IMG(X, idx_gz_truncated, "img_truncated.gz", CG_ERR_CORRUPT) \
IDX_IMG(X, idx_gz_bad_crc, "img_bad_crc.gz", CG_ERR_CORRUPT) \
IDX_IMG(X, idx_label_file, "lbl_ok", CG_ERR_FORMAT) \
IDX_IMG(X, idx_float_type, "img_float", CG_ERR_FORMAT) \
IDX_IMG(X, idx_three_dims_wanted, "img_2dims", CG_ERR_FORMAT) \
IDX_IMG(X, idx_zero_count, "img_zero", CG_ERR_FORMAT) \
IDX_IMG(X, idx_huge_claim, "img_huge", CG_ERR_CORRUPT) \
X(labels_missing, 0, cg_idx_load_labels(&G.ds, P("missing")) == CG_ERR_NOT_FOUND && \
  !G.ds.labels, "missing") \
X(labels_image_file, 0, cg_idx_load_labels(&G.ds, P("img_ok")) == CG_ERR_FORMAT && \
  !G.ds.labels, "img_ok") \
X(labels_truncated, 0, cg_idx_load_labels(&G.ds, P("lbl_truncated")) == CG_ERR_CORRUPT && \
  !G.ds.labels, "lbl_truncated") \
X(labels_count, 0, cg_idx_load_labels(&G.ds, P("lbl4")) == CG_ERR_MISMATCH && !G.ds.labels, \
  "lbl4", "4") \
X(mnist_missing, 0, cg_mnist_load(&G.tmpds, P("mnist_empty"), CG_MNIST_TRAIN) == \
  CG_ERR_NOT_FOUND && !G.tmpds.images, "mnist_empty", "train-images-idx3-ubyte") \
X(mnist_bad_label, 0, cg_mnist_load(&G.tmpds, P("mnist_badlabel"), CG_MNIST_TRAIN) == \
  CG_ERR_CORRUPT && !G.tmpds.images, "mnist_badlabel", "12") \
X(mnist_counts, 0, cg_mnist_load(&G.tmpds, P("mnist_counts"), CG_MNIST_TEST) == \
  CG_ERR_MISMATCH && !G.tmpds.images, "mnist_counts") \
CKPT(X, ck_missing, "missing", G.ck_model, G.ck_opt, CG_ERR_NOT_FOUND) \
CKPT(X, ck_directory, "adir", G.ck_model, G.ck_opt, CG_ERR_IO) \
CKPT(X, ck_empty, "empty", G.ck_model, G.ck_opt, CG_ERR_FORMAT) \
CKPT(X, ck_garbage, "garbage", G.ck_model, G.ck_opt, CG_ERR_FORMAT) \
CKPT(X, ck_idx_file, "img_ok", G.ck_model, NULL, CG_ERR_FORMAT) \
CKPT(X, ck_header_only, "ck_header", G.ck_model, G.ck_opt, CG_ERR_CORRUPT) \
CKPT(X, ck_truncated, "ck_truncated", G.ck_model, G.ck_opt, CG_ERR_CORRUPT) \
CKPT(X, ck_one_byte_short, "ck_short1", G.ck_model, NULL, CG_ERR_CORRUPT) \
CKPT(X, ck_flipped_bit, "ck_flipped", G.ck_model, G.ck_opt, CG_ERR_CORRUPT) \
CKPT(X, ck_trailing, "ck_trailing", G.ck_model, G.ck_opt, CG_ERR_CORRUPT) \
CKPT(X, ck_version, "ck_version", G.ck_model, G.ck_opt, CG_ERR_FORMAT) \
CKPT(X, ck_other_model, "ck_ok", G.ck_model5, NULL, CG_ERR_MISMATCH) \
CKPT(X, ck_other_momentum, "ck_ok", G.ck_model, G.ck_opt_other, CG_ERR_MISMATCH) \
CKPT(X, ck_opt_only_other_momentum, "ck_ok", NULL, G.ck_opt_other, CG_ERR_MISMATCH) \
X(ck_save_over_dir, 0, cg_checkpoint_save(P("adir"), G.ck_model, G.ck_opt, NULL) == CG_ERR_IO \
  && no_temp_files(), "adir") \
X(ck_save_no_dir, 0, cg_checkpoint_save(P("nodir/x.ckpt"), G.ck_model, G.ck_opt, NULL) == \
  CG_ERR_IO, "nodir/x.ckpt") \
X(png_over_dir, 0, cg_png_write_gray(P("adir"), 2, 2, g_pixels) == CG_ERR_IO && no_temp_files(), \
  "adir") \
X(png_no_dir, 0, cg_png_write_gray(P("nodir/x.png"), 2, 2, g_pixels) == CG_ERR_IO, \
  "nodir/x.png") \
X(tiles_no_dir, 0, cg_png_write_tiles(P("nodir/t.png"), (const float[4]){0}, 1, 2, 2, 1, \
  CG_TILE_MINMAX) == CG_ERR_IO, "nodir/t.png")

CG_ROW_AREA("bad_files", CHECKPOINT)
CG_ROW_AREA("bad_files", DATA)
CG_ROW_AREA("bad_files", IMAGE)
CG_ROW_AREA("bad_files", FILES)

/* ---- the files ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t crc32_of(const uint8_t *p, size_t n) /* the checkpoint header's CRC */
{
    uint32_t c = ~0u;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static int put(const char *name, const void *data, size_t len)
{
    return cg_test_write_bytes(P(name), data, len, 0);
}

/* Reads a small file into buf (capacity cap); its length, or 0. */
static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap, f) : 0;
    if (f) fclose(f);
    return n;
}

static int make_files(void)
{
    static const char garbage[] = "this is not an IDX file, nor a checkpoint: just text.\n";
    static uint8_t buf[1 << 16];
    /* 3 images of 2x2 and 3 labels, with hand-made headers. */
    uint8_t img[16 + 12] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
    uint8_t lbl[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 0, 1, 2};
    for (int i = 0; i < 12; i++) img[16 + i] = (uint8_t)(20 * i);
    int rc = mkdir(P("adir"), 0755) | put("empty", NULL, 0);
    rc |= put("garbage", garbage, sizeof garbage - 1);
    rc |= cg_test_write_bytes(P("garbage.gz"), garbage, sizeof garbage - 1, 1);
    rc |= put("img_ok", img, sizeof img) | put("img_short_header", img, 6);
    rc |= put("img_truncated", img, sizeof img - 2);
    rc |= put("lbl_ok", lbl, sizeof lbl) | put("lbl_truncated", lbl, sizeof lbl - 1);
    rc |= cg_test_write_idx_labels(P("lbl4"), g_labels, 4, 0);
    memcpy(buf, img, sizeof img);
    buf[sizeof img] = 7;
    rc |= put("img_trailing", buf, sizeof img + 1);
    buf[2] = 0x0D; /* element type float */
    rc |= put("img_float", buf, sizeof img);
    buf[2] = 8, buf[3] = 2; /* two dimensions */
    rc |= put("img_2dims", buf, sizeof img);
    buf[3] = 3, buf[7] = 0; /* count 0 */
    rc |= put("img_zero", buf, sizeof img);
    buf[4] = 0x7f, buf[7] = 3; /* claims 0x7f000003 images */
    rc |= put("img_huge", buf, sizeof img);
    /* gzip: cut short, and with a wrong CRC in the trailer */
    rc |= cg_test_write_bytes(P("img_ok.gz"), img, sizeof img, 1);
    size_t n = slurp(P("img_ok.gz"), buf, sizeof buf);
    if (n < 20) return -1;
    rc |= put("img_truncated.gz", buf, n - 12);
    buf[n - 6] ^= 0x10;
    rc |= put("img_bad_crc.gz", buf, n);
    /* MNIST directories: nothing in it, a label 12, counts that differ */
    const uint8_t bad_labels[3] = {1, 12, 3};
    rc |= mkdir(P("mnist_empty"), 0755) | mkdir(P("mnist_badlabel"), 0755);
    rc |= mkdir(P("mnist_counts"), 0755);
    rc |= cg_test_write_idx_images(P("mnist_badlabel/train-images-idx3-ubyte"), g_pixels, 3, 2, 2,
                                   0);
    rc |= cg_test_write_idx_labels(P("mnist_badlabel/train-labels-idx1-ubyte"), bad_labels, 3, 1);
    rc |= cg_test_write_idx_images(P("mnist_counts/t10k-images-idx3-ubyte.gz"), g_pixels, 3, 2, 2,
                                   1);
    rc |= cg_test_write_idx_labels(P("mnist_counts/t10k-labels-idx1-ubyte.gz"), g_labels, 4, 1);
    /* Checkpoints: a valid one and its damaged variants */
    struct cg_checkpoint_meta *m = cg_checkpoint_meta_new();
    cg_checkpoint_meta_set_u64(m, "epoch", 3);
    if (cg_checkpoint_save(P("ck_ok"), G.ck_model, G.ck_opt, m) != CG_OK) rc = -1;
    cg_checkpoint_meta_free(m);
    n = slurp(P("ck_ok"), buf, sizeof buf - 1);
    if (n < 100 || n >= sizeof buf - 1) return -1;
    rc |= put("ck_header", buf, 20) | put("ck_truncated", buf, n / 2);
    rc |= put("ck_short1", buf, n - 1);
    buf[n] = 0;
    rc |= put("ck_trailing", buf, n + 1);
    buf[n / 2] ^= 0x10;
    rc |= put("ck_flipped", buf, n);
    buf[n / 2] ^= 0x10;
    put_le32(buf + 8, 3); /* version 3 (unknown), with a valid header CRC */
    put_le32(buf + 16, crc32_of(buf, 16));
    rc |= put("ck_version", buf, n);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(G.dir, sizeof G.dir, "%s/cg_badfiles_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(G.dir)) return -1;
    memset(g_long_name, 'n', sizeof g_long_name - 1);
    G.rng = cg_rng_seed(2);
    G.tape = cg_tape_new();
    G.ck_model = cg_linear_new(3, 2, true, &G.rng);
    G.ck_model5 = cg_linear_new(3, 5, true, &G.rng);
    G.ck_opt = cg_sgd_new(G.ck_model, SGD(.lr = 0.1, .momentum = 0.9));
    G.ck_opt_other = cg_sgd_new(G.ck_model, SGD(.lr = 0.1, .momentum = 0.5));
    if (!G.tape || !G.ck_opt || !G.ck_opt_other || !G.ck_model5) return -1;
    memcpy(G.ck_snapshot, cg_linear_weight(G.ck_model)->data, sizeof G.ck_snapshot);
    G.meta = cg_checkpoint_meta_new();
    G.meta_out = cg_checkpoint_meta_new();
    cg_checkpoint_meta_set_u64(G.meta, "n", 1);
    cg_checkpoint_meta_set_blob(G.meta, "blob", "abc", 3);
    cg_checkpoint_meta_set_rng(G.meta, "r", &G.rng);
    cg_checkpoint_meta_set_u64(G.meta_out, "kept", 1); /* a failed load must keep it */
    G.ds = (struct cg_dataset){3, 2, 2, g_pixels, NULL};
    G.ds_labeled = (struct cg_dataset){4, 2, 2, g_pixels, g_labels};
    G.ds_norows = (struct cg_dataset){4, 0, 2, g_pixels, NULL};
    if (cg_batches_init(&G.it, &G.ds, BOPT(.batch_size = 2)) != CG_OK) return -1;
    return make_files();
}

static int teardown(void **state)
{
    (void)state;
    cg_optimizer_free(G.ck_opt);
    cg_optimizer_free(G.ck_opt_other);
    cg_module_free(G.ck_model);
    cg_module_free(G.ck_model5);
    cg_checkpoint_meta_free(G.meta);
    cg_checkpoint_meta_free(G.meta_out);
    cg_batches_free(&G.it);
    cg_dataset_free(&G.tmpds);
    cg_tape_free(G.tape);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", G.dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_CHECKPOINT),
        cmocka_unit_test(test_DATA),
        cmocka_unit_test(test_IMAGE),
        cmocka_unit_test(test_FILES),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    printf("bad_files: %d rows in total\n", cg_test_rows_total());
    return rc;
}
