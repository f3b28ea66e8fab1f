/* libFuzzer target: the checkpoint loader.
 *
 * The input is a checkpoint file.  It is loaded into a fixed small model
 * (Linear(3,4), ReLU, Linear(4,2)) three ways: with an SGD optimizer with
 * momentum and a metadata object, with an SGD optimizer that has a StepLR
 * schedule, and parameters only.  Then again after the harness has
 * recomputed every CRC it can find (header and records), so mutations get
 * past the checksums into the record checks and the model matching.
 *
 * Checked: a failed load has a message and changes nothing (parameters,
 * lr, step count, metadata); a successful load can be saved and loaded back
 * with the same result. */
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

enum { MAX_PARAMS = 8, MAX_FLOATS = 64 };

/* Everything a load may change, flattened for comparison. */
struct snapshot {
    float p[MAX_FLOATS];
    size_t n;
    double lr;
    uint64_t steps;
    size_t meta_n;
};

static struct snapshot take(const struct setup *s)
{
    struct snapshot snap;
    memset(&snap, 0, sizeof snap);
    struct cg_tensor *ps[MAX_PARAMS];
    size_t np = cg_module_collect_params(s->model, ps, MAX_PARAMS);
    for (size_t i = 0; i < np; i++) {
        if (snap.n + (size_t)ps[i]->numel > MAX_FLOATS) fuzz_fail("snapshot too small");
        memcpy(snap.p + snap.n, ps[i]->data, (size_t)ps[i]->numel * sizeof(float));
        snap.n += (size_t)ps[i]->numel;
    }
    if (s->opt) {
        snap.lr = cg_optimizer_get_lr(s->opt);
        snap.steps = cg_optimizer_step_count(s->opt);
    }
    if (s->meta) snap.meta_n = cg_checkpoint_meta_count(s->meta);
    return snap;
}

static bool same(const struct snapshot *a, const struct snapshot *b)
{
    return a->n == b->n && !memcmp(a->p, b->p, a->n * sizeof(float)) &&
           (a->lr == b->lr || (a->lr != a->lr && b->lr != b->lr)) && a->steps == b->steps &&
           a->meta_n == b->meta_n;
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
    enum cg_status st = cg_checkpoint_load(path, s.model, s.opt, s.meta);
    struct snapshot after = take(&s);
    if (st != CG_OK) {
        if (!*cg_last_error()) fuzz_fail("failed load without a message");
        if (!same(&before, &after)) fuzz_fail("failed load changed the model or optimizer");
        uint64_t keep = 0;
        if (s.meta && (cg_checkpoint_meta_get_u64(s.meta, "keep", &keep) != CG_OK || keep != 7))
            fuzz_fail("failed load changed the metadata");
        setup_free(&s);
        return;
    }
    if (s.meta) walk_meta(s.meta);
    /* Round trip: what loaded must save, and load again to the same state. */
    const char *again = fuzz_path(1, "again.ckpt");
    if (cg_checkpoint_save(again, s.model, s.opt, s.meta) != CG_OK) fuzz_fail("re-save failed");
    struct setup t = setup_make(variant);
    if (cg_checkpoint_load(again, t.model, t.opt, t.meta) != CG_OK) fuzz_fail("reload failed");
    struct snapshot back = take(&t);
    if (!same(&after, &back)) fuzz_fail("reload gave a different state");
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
