/* libFuzzer target: the IDX (MNIST) reader.
 *
 * Built three times (fuzz/CMakeLists.txt) with FUZZ_IDX_MODE:
 *   0  fuzz_idx         the input is the file, as raw bytes
 *   1  fuzz_idx_gzfile  the input is the file, named .gz (corpus: gzip files,
 *                       so mutations hit zlib's header, data and trailer)
 *   2  fuzz_idx_deflate the input is gzip-compressed by the harness first,
 *                       so the reader sees a valid gzip stream of fuzzed IDX
 * Each input is loaded as an image file and as a label file.  If it contains
 * the separator "CGLABELS", the part before it becomes
 * train-images-idx3-ubyte and the part after train-labels-idx1-ubyte of an
 * MNIST directory loaded with cg_mnist_load.  Every successful load is
 * checked for consistency and every returned byte is read. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cgrad/data.h"
#include "cgrad/error.h"
#include "fuzz_util.h"

#ifndef FUZZ_IDX_MODE
#define FUZZ_IDX_MODE 0
#endif
#define SUFFIX (FUZZ_IDX_MODE == 0 ? "" : ".gz")

static volatile unsigned sink;

static void put(const char *path, const uint8_t *data, size_t size)
{
    if (FUZZ_IDX_MODE == 2) fuzz_write_gz(path, data, size);
    else fuzz_write(path, data, size);
}

static void check(const struct cg_dataset *ds, enum cg_status st, bool want_images,
                  bool want_labels)
{
    if (st != CG_OK) {
        if (ds->images || ds->labels || ds->count) fuzz_fail("failed load left data behind");
        if (!*cg_last_error()) fuzz_fail("failed load without a message");
        return;
    }
    if (ds->count <= 0) fuzz_fail("count <= 0 after a successful load");
    if (want_images) {
        if (!ds->images || ds->rows <= 0 || ds->cols <= 0) fuzz_fail("images missing");
        sink += fuzz_touch(ds->images, (size_t)ds->count * (size_t)ds->rows * (size_t)ds->cols);
    }
    if (want_labels) {
        if (!ds->labels) fuzz_fail("labels missing");
        sink += fuzz_touch(ds->labels, (size_t)ds->count);
    }
}

static void load_one_file(const uint8_t *data, size_t size)
{
    char name[64];
    snprintf(name, sizeof name, "in%s", SUFFIX);
    const char *path = fuzz_path(0, name);
    put(path, data, size);

    struct cg_dataset ds;
    cg_clear_error();
    enum cg_status st = cg_idx_load_images(&ds, path);
    check(&ds, st, true, false);
    if (st == CG_OK) {
        /* The same bytes as labels: an image file is not a label file. */
        struct cg_dataset before = ds;
        if (cg_idx_load_labels(&ds, path) == CG_OK) fuzz_fail("image file loaded as labels");
        if (memcmp(&before, &ds, sizeof ds) != 0) fuzz_fail("failed label load changed ds");
        cg_dataset_free(&ds);
    }
    struct cg_dataset lab = {0};
    cg_clear_error();
    st = cg_idx_load_labels(&lab, path);
    check(&lab, st, false, true);
    cg_dataset_free(&lab);
}

static void load_mnist_dir(const uint8_t *data, size_t size, const uint8_t *sep)
{
    char name[64];
    snprintf(name, sizeof name, "train-images-idx3-ubyte%s", SUFFIX);
    const char *images = fuzz_path(1, name);
    snprintf(name, sizeof name, "train-labels-idx1-ubyte%s", SUFFIX);
    const char *labels = fuzz_path(2, name);
    size_t head = (size_t)(sep - data), skip = strlen("CGLABELS");
    put(images, data, head);
    put(labels, sep + skip, size - head - skip);

    struct cg_dataset ds;
    cg_clear_error();
    enum cg_status st = cg_mnist_load(&ds, fuzz_dir(), CG_MNIST_TRAIN);
    check(&ds, st, true, true);
    for (int64_t i = 0; st == CG_OK && i < ds.count; i++)
        if (ds.labels[i] > 9) fuzz_fail("cg_mnist_load accepted a label > 9");
    cg_dataset_free(&ds);
    remove(images);
    remove(labels);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_one_file(data, size);
    const uint8_t *sep = fuzz_find(data, size, "CGLABELS");
    if (sep) load_mnist_dir(data, size, sep);
    return 0;
}
