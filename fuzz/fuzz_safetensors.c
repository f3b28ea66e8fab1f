/* libFuzzer target: the safetensors reader and loader.
 *
 * The input is a safetensors file.  It is loaded into a fixed model, the
 * one of tests/gen_safetensors_refs.py (Sequential(Linear(6,5),
 * Hardshrink(0.2), Linear(5,4), Softshrink(0.1), Linear(4,3))), so the
 * committed reference file in the corpus loads and mutations of it reach
 * the matching code; every tensor name is also read with
 * cg_safetensors_read_tensor.
 *
 * Checked: a failed load has a message naming the file and leaves every
 * parameter unchanged; a successful load saves and loads back to the same
 * parameters; read_tensor gives either a tensor of the entry's size or
 * NULL with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgrad/error.h"
#include "cgrad/module.h"
#include "cgrad/nn.h"
#include "cgrad/safetensors.h"
#include "checkpoint/safetensors_internal.h"
#include "fuzz_util.h"

enum { MAX_PARAMS = 8, MAX_FLOATS = 128 };

static struct cg_module *model(void)
{
    struct cg_rng rng = cg_rng_seed(3);
    struct cg_module *layers[] = {cg_linear_new(6, 5, true, &rng), cg_hardshrink_new(0.2),
                                  cg_linear_new(5, 4, true, &rng), cg_softshrink_new(0.1),
                                  cg_linear_new(4, 3, true, &rng)};
    struct cg_module *m = cg_sequential_new(5, layers);
    if (!m) fuzz_fail("cannot build the model");
    return m;
}

static size_t take(struct cg_module *m, float *out)
{
    struct cg_tensor *ps[MAX_PARAMS];
    size_t np = cg_module_collect_params(m, ps, MAX_PARAMS), n = 0;
    for (size_t i = 0; i < np; i++) {
        if (n + (size_t)ps[i]->numel > MAX_FLOATS) fuzz_fail("snapshot too small");
        memcpy(out + n, ps[i]->data, (size_t)ps[i]->numel * sizeof(float));
        n += (size_t)ps[i]->numel;
    }
    return n;
}

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(0, "in.safetensors");
    fuzz_write(path, data, size);
    struct cg_module *m = model();
    float before[MAX_FLOATS], after[MAX_FLOATS];
    size_t n = take(m, before);
    cg_clear_error();
    enum cg_status st = cg_safetensors_load(path, m);
    take(m, after);
    if (st != CG_OK) {
        if (!strstr(cg_last_error(), path)) fuzz_fail("failed load without the file in its message");
        if (memcmp(before, after, n * sizeof(float))) fuzz_fail("failed load changed the model");
    } else {
        const char *again = fuzz_path(1, "again.safetensors");
        if (cg_safetensors_save(again, m, NULL) != CG_OK) fuzz_fail("re-save failed");
        struct cg_module *m2 = model();
        if (cg_safetensors_load(again, m2) != CG_OK) fuzz_fail("reload failed");
        float back[MAX_FLOATS];
        take(m2, back);
        if (memcmp(after, back, n * sizeof(float))) fuzz_fail("reload gave other parameters");
        cg_module_free(m2);
    }
    cg_module_free(m);
    /* Every entry through the single-tensor reader (in-memory parse gives
     * the names; it must agree with the file reader). */
    struct cg_st_file f;
    enum cg_status pst = cg_st_parse(&f, path, data, size);
    if ((pst == CG_OK) != (st == CG_OK || st == CG_ERR_MISMATCH))
        fuzz_fail("in-memory parse and file load disagree");
    if (pst == CG_OK) {
        for (size_t i = 0; i < f.n && i < 16; i++) {
            struct cg_tensor *t = NULL;
            enum cg_status rs = cg_safetensors_read_tensor(path, f.entries[i].name, &t);
            if (rs == CG_OK) {
                if (!t || (uint64_t)t->numel * cg_dtype_size(t->dtype) !=
                              f.entries[i].end - f.entries[i].begin)
                    fuzz_fail("read_tensor size differs from the entry");
                sink += (float)cg_tensor_at(t, 0) * 0.0f;
                cg_tensor_free(t);
            } else if (t || !*cg_last_error()) {
                fuzz_fail("failed read_tensor without NULL and a message");
            }
        }
        cg_st_free(&f);
    }
    return 0;
}
