/* MNIST-layout directories: standard file names, raw or .gz. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>

#include "cgrad/data.h"
#include "error_internal.h"

enum { PATH_CAP = 4096 };

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* Picks dir/name if it exists, else dir/name.gz. */
static enum cg_status find_file(char *path, const char *dir, const char *name)
{
    if (snprintf(path, PATH_CAP, "%s/%s.gz", dir, name) >= PATH_CAP)
        return cg_fail(CG_ERR_INVALID, "%s: directory path too long", dir);
    snprintf(path, PATH_CAP, "%s/%s", dir, name);
    if (is_file(path)) return CG_OK;
    snprintf(path, PATH_CAP, "%s/%s.gz", dir, name);
    if (is_file(path)) return CG_OK;
    struct stat st;
    const char *why = stat(dir, &st) != 0 ? "; the directory does not exist" : "";
    return cg_fail(CG_ERR_NOT_FOUND, "%s: not found (looked for %s and %s.gz%s; "
                   "hint: put the four MNIST or Fashion-MNIST IDX files, as published, in "
                   "this directory)", dir, name, name, why);
}

enum cg_status cg_mnist_load(struct cg_dataset *out, const char *dir, enum cg_mnist_split split)
{
    if (!out || !dir || (split != CG_MNIST_TRAIN && split != CG_MNIST_TEST)) {
        char what[64];
        snprintf(what, sizeof what, "split %d is not CG_MNIST_TRAIN/TEST", (int)split);
        cg_misuse("cg_mnist_load", "%s (hint: cg_mnist_load(&ds, \"data/mnist\", CG_MNIST_TRAIN))",
                  !out ? "out is NULL" : !dir ? "dir is NULL" : what);
        return CG_ERR_INVALID;
    }
    *out = (struct cg_dataset){0};
    bool train = split == CG_MNIST_TRAIN;
    char images_path[PATH_CAP], labels_path[PATH_CAP];
    enum cg_status s = find_file(images_path, dir, train ? "train-images-idx3-ubyte"
                                                         : "t10k-images-idx3-ubyte");
    if (s == CG_OK)
        s = find_file(labels_path, dir, train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte");
    if (s != CG_OK) return s;

    struct cg_dataset ds;
    if ((s = cg_idx_load_images(&ds, images_path)) != CG_OK) return s;
    if ((s = cg_idx_load_labels(&ds, labels_path)) != CG_OK) {
        if (s == CG_ERR_MISMATCH) { /* name the images file too */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", cg_last_error());
            cg_fail(s, "%s (images: %s)", msg, images_path);
        }
        cg_dataset_free(&ds);
        return s;
    }
    for (int64_t i = 0; i < ds.count; i++) {
        if (ds.labels[i] > 9) {
            s = cg_fail(CG_ERR_CORRUPT, "%s: label %d at index %" PRId64 " is not a digit 0..9",
                        labels_path, ds.labels[i], i);
            cg_dataset_free(&ds);
            return s;
        }
    }
    *out = ds;
    return CG_OK;
}
