/* Writes small MNIST-format IDX files for tests: synthetic but learnable
 * 28x28 digits-like images (one fixed stroke pattern per class 0..9, shifted
 * by up to one pixel, plus noise) and their labels.  Self-contained: gzip
 * files are written with stored (uncompressed) deflate blocks, so the helper
 * needs no zlib.  Everything is deterministic in `seed`. */
#ifndef CG_TEST_IDX_WRITER_H
#define CG_TEST_IDX_WRITER_H

#include <stddef.h>
#include <stdint.h>

#define CG_TEST_MNIST_SIDE 28

/* Writes train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
 * t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz into the existing
 * directory `dir` (n_train and n_test >= 1 images).  Returns 0 on success,
 * -1 on a bad argument or an I/O error (errno set by the failing call). */
int cg_test_write_mnist(const char *dir, int n_train, int n_test, uint64_t seed);

/* Same, but raw (gz = 0: names without .gz) or gzip (gz != 0). */
int cg_test_write_mnist_ex(const char *dir, int n_train, int n_test, uint64_t seed, int gz);

/* Fills images (n * 28 * 28 bytes) and labels (n bytes, may be NULL) with
 * the synthetic data; labels are drawn uniformly from 0..9. */
void cg_test_make_digits(uint8_t *images, uint8_t *labels, int n, uint64_t seed);

/* Writes one IDX file: an image file (magic 2051, dims count, rows, cols) or
 * a label file (magic 2049, dim count), raw or gzip.  0 or -1. */
int cg_test_write_idx_images(const char *path, const uint8_t *images, int count, int rows,
                             int cols, int gz);
int cg_test_write_idx_labels(const char *path, const uint8_t *labels, int count, int gz);

/* Writes `len` arbitrary bytes to `path` (raw, or wrapped in a gzip stream
 * when gz != 0): for hand-made headers, truncated and corrupt files.  0/-1. */
int cg_test_write_bytes(const char *path, const void *data, size_t len, int gz);

#endif
