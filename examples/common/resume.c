#include "resume.h"

#include <stdio.h>

int ex_save(const char *prog, const char *path, const char *epoch_key, struct cg_module *model,
            struct cg_optimizer *optim, const struct cg_batches *batches,
            const struct cg_rng *rng, int epoch)
{
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    struct cg_batches_state b = cg_batches_state(batches);
    enum cg_status st = meta ? CG_OK : CG_ERR_NOMEM;
    if (st == CG_OK) st = cg_checkpoint_meta_set_u64(meta, epoch_key, (uint64_t)epoch);
    if (st == CG_OK) st = cg_checkpoint_meta_set_u64(meta, "batches.epoch", (uint64_t)b.epoch);
    if (st == CG_OK) st = cg_checkpoint_meta_set_u64(meta, "batches.position", (uint64_t)b.position);
    if (st == CG_OK) st = cg_checkpoint_meta_set_rng(meta, "batches.epoch_rng", &b.epoch_rng);
    if (st == CG_OK && rng) st = cg_checkpoint_meta_set_rng(meta, "example.rng", rng);
    if (st == CG_OK) st = cg_checkpoint_save(path, model, optim, meta);
    cg_checkpoint_meta_free(meta);
    if (st != CG_OK) {
        fprintf(stderr, "%s: saving the checkpoint failed: %s\n", prog, cg_last_error());
        return 1;
    }
    return 0;
}

int ex_resume(const char *prog, const char *path, const char *epoch_key, struct cg_module *model,
              struct cg_optimizer *optim, struct cg_batches *batches, struct cg_rng *rng,
              int *epoch)
{
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    uint64_t done = 0, bepoch = 0, bpos = 0;
    struct cg_batches_state b = {0};
    struct cg_rng saved_rng = {0};
    enum cg_status st = meta ? CG_OK : CG_ERR_NOMEM;
    if (st == CG_OK) st = cg_checkpoint_load(path, model, optim, meta);
    if (st == CG_OK) st = cg_checkpoint_meta_get_u64(meta, epoch_key, &done);
    if (st == CG_OK) st = cg_checkpoint_meta_get_u64(meta, "batches.epoch", &bepoch);
    if (st == CG_OK) st = cg_checkpoint_meta_get_u64(meta, "batches.position", &bpos);
    if (st == CG_OK) st = cg_checkpoint_meta_get_rng(meta, "batches.epoch_rng", &b.epoch_rng);
    if (st == CG_OK && rng) st = cg_checkpoint_meta_get_rng(meta, "example.rng", &saved_rng);
    if (st == CG_OK) {
        if (rng) *rng = saved_rng;
        b.epoch = (int64_t)bepoch;
        b.position = (int64_t)bpos;
        st = cg_batches_restore(batches, &b);
    }
    cg_checkpoint_meta_free(meta);
    if (st != CG_OK) {
        fprintf(stderr, "%s: cannot resume from %s: %s\n", prog, path, cg_last_error());
        return 1;
    }
    *epoch = (int)done;
    printf("resumed from %s after epoch %d\n", path, *epoch);
    return 0;
}
