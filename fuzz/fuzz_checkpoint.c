/* libFuzzer target: the checkpoint loader.
 *
 * The input is a checkpoint file (version 1 or 2).  It is loaded into a
 * fixed small model (Linear(3,4), ReLU, Linear(4,2)) five ways: with an SGD
 * optimizer with momentum and a metadata object, with an SGD optimizer
 * that has a StepLR schedule, parameters only, the model followed by a
 * module with a buffer (SGD, metadata), and the optimizer alone (model
 * NULL).  Then again after the harness has recomputed every CRC it can find
 * (header and records), so mutations get past the checksums into the
 * record checks and the model and optimizer matching.
 *
 * Checked: a failed load has a message and changes nothing (parameters,
 * buffers, every optimizer state item, metadata); a successful load can be
 * saved and loaded back with the same result. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cgrad/checkpoint.h"
#include "cgrad/error.h"
#include "cgrad/module.h"
#include "cgrad/optim.h"
#include "ckpt_setup.h"
#include "fuzz_util.h"

/* Everything a load may change, flattened for comparison: the bytes of
 * every parameter and buffer and of every optimizer state item (with its
 * present flag), and the metadata count. */
struct snapshot {
    unsigned char *bytes;
    size_t n, cap;
    size_t meta_n;
};

static void put(struct snapshot *snap, const void *p, size_t n)
{
    if (snap->n + n > snap->cap) {
        snap->cap = 2 * (snap->n + n) + 64;
        snap->bytes = realloc(snap->bytes, snap->cap);
        if (!snap->bytes) fuzz_fail("out of memory");
    }
    if (n) memcpy(snap->bytes + snap->n, p, n);
    snap->n += n;
}

static void put_tensor(const char *name, struct cg_tensor *t, void *user)
{
    (void)name;
    put(user, t->data, (size_t)t->numel * cg_dtype_size(t->dtype));
}

static void put_item(const struct cg_state_item *it, void *user)
{
    bool present = !it->present || *it->present;
    put(user, &present, 1);
    if (it->type == CG_STATE_TENSOR) put_tensor(it->name, it->tensor, user);
    else put(user, it->values, it->count * (it->type == CG_STATE_TEXT ? 1 : 8));
}

static struct snapshot take(const struct setup *s)
{
    struct snapshot snap = {0};
    cg_module_visit_params(s->model, put_tensor, &snap);
    cg_module_visit_buffers(s->model, put_tensor, &snap);
    cg_optimizer_visit_state(s->opt, put_item, &snap);
    if (s->meta) snap.meta_n = cg_checkpoint_meta_count(s->meta);
    return snap;
}

/* Compares and frees b. */
static bool same(const struct snapshot *a, struct snapshot *b)
{
    bool eq = a->n == b->n && a->meta_n == b->meta_n && !memcmp(a->bytes, b->bytes, a->n);
    free(b->bytes);
    return eq;
}

static volatile unsigned sink;

/* Reads every metadata entry through the public getters. */
static void walk_meta(const struct cg_checkpoint_meta *meta)
{
    for (size_t i = 0; i < cg_checkpoint_meta_count(meta); i++) {
        const char *name = cg_checkpoint_meta_name(meta, i);
        if (!name) fuzz_fail("meta name NULL");
        uint64_t v;
        struct cg_rng rng;
        size_t size = 0;
        if (cg_checkpoint_meta_get_u64(meta, name, &v) == CG_OK) sink += (unsigned)v;
        const void *blob = cg_checkpoint_meta_get_blob(meta, name, &size);
        if (blob) sink += fuzz_touch(blob, size);
        if (cg_checkpoint_meta_get_rng(meta, name, &rng) == CG_OK) sink += (unsigned)rng.state;
    }
}

static void load(const char *path, int variant)
{
    struct setup s = setup_make(variant);
    struct snapshot before = take(&s);
    cg_clear_error();
    enum cg_status st = cg_checkpoint_load(path, setup_model(&s), s.opt, s.meta);
    struct snapshot after = take(&s);
    if (st != CG_OK) {
        if (!*cg_last_error()) fuzz_fail("failed load without a message");
        if (!same(&before, &after)) fuzz_fail("failed load changed the model or optimizer");
        free(before.bytes);
        uint64_t keep = 0;
        if (s.meta && (cg_checkpoint_meta_get_u64(s.meta, "keep", &keep) != CG_OK || keep != 7))
            fuzz_fail("failed load changed the metadata");
        setup_free(&s);
        return;
    }
    free(before.bytes);
    if (s.meta) walk_meta(s.meta);
    /* Round trip: what loaded must save, and load again to the same state. */
    const char *again = fuzz_path(1, "again.ckpt");
    if (cg_checkpoint_save(again, setup_model(&s), s.opt, s.meta) != CG_OK)
        fuzz_fail("re-save failed");
    struct setup t = setup_make(variant);
    if (cg_checkpoint_load(again, setup_model(&t), t.opt, t.meta) != CG_OK)
        fuzz_fail("reload failed");
    struct snapshot back = take(&t);
    /* (opt_only: both models are fresh copies the file never touched.) */
    if (!same(&after, &back)) fuzz_fail("reload gave a different state");
    free(after.bytes);
    setup_free(&t);
    setup_free(&s);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Rewrites the header CRC and the CRC of every record whose extent can be
 * followed (layout in cgrad/checkpoint.h); stops at the first that cannot.
 * Returns whether anything changed. */
static bool fix_crcs(uint8_t *b, size_t size)
{
    if (size < 20) return false;
    bool changed = false;
    uint32_t crc = (uint32_t)crc32(0L, b, 16);
    if (le32(b + 16) != crc) put32(b + 16, crc), changed = true;
    size_t pos = 20;
    while (size - pos >= 2) {
        size_t start = pos, name_len = (size_t)b[pos] | (size_t)b[pos + 1] << 8;
        pos += 2;
        if (size - pos < name_len + 3) break;
        pos += name_len;
        unsigned ndim = b[pos + 2];
        pos += 3;
        if (ndim > 8 || size - pos < 8u * ndim + 8u) break;
        pos += 8u * ndim;
        uint64_t payload = 0;
        for (int i = 7; i >= 0; i--) payload = payload << 8 | b[pos + (size_t)i];
        pos += 8;
        if (payload > size - pos || size - pos - (size_t)payload < 4) break;
        pos += (size_t)payload;
        crc = (uint32_t)crc32(0L, b + start, (uInt)(pos - start));
        if (le32(b + pos) != crc) put32(b + pos, crc), changed = true;
        pos += 4;
    }
    return changed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(0, "in.ckpt");
    fuzz_write(path, data, size);
    for (int v = 0; v < SETUP_COUNT; v++) load(path, v);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) fuzz_fail("out of memory");
    if (size) memcpy(copy, data, size);
    if (fix_crcs(copy, size)) {
        fuzz_write(path, copy, size);
        for (int v = 0; v < SETUP_COUNT; v++) load(path, v);
    }
    free(copy);
    return 0;
}
