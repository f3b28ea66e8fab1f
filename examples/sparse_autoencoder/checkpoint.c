/* Checkpoints: model + SGD state (library) plus the training position
 * (epochs done, shuffle iterator state) as metadata, so --resume continues
 * bit for bit like an uninterrupted run. */
#include <stdio.h>

#include "sae.h"

int sae_save(struct sae *s, const char *path)
{
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    struct cg_batches_state b = cg_batches_state(&s->batches);
    enum cg_status st = meta ? CG_OK : CG_ERR_NOMEM;
    if (st == CG_OK) st = cg_checkpoint_meta_set_u64(meta, "sae.epoch", (uint64_t)s->epoch);
    if (st == CG_OK) st = cg_checkpoint_meta_set_u64(meta, "batches.epoch", (uint64_t)b.epoch);
    if (st == CG_OK) st = cg_checkpoint_meta_set_u64(meta, "batches.position", (uint64_t)b.position);
    if (st == CG_OK) st = cg_checkpoint_meta_set_rng(meta, "batches.epoch_rng", &b.epoch_rng);
    if (st == CG_OK) st = cg_checkpoint_save(path, s->model, s->optim, meta);
    cg_checkpoint_meta_free(meta);
    if (st != CG_OK) {
        fprintf(stderr, "sparse_autoencoder: saving the checkpoint failed: %s\n", cg_last_error());
        return 1;
    }
    return 0;
}

int sae_resume(struct sae *s, const char *path)
{
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    uint64_t epoch = 0, bepoch = 0, bpos = 0;
    struct cg_batches_state b = {0};
    enum cg_status st = meta ? CG_OK : CG_ERR_NOMEM;
    if (st == CG_OK) st = cg_checkpoint_load(path, s->model, s->optim, meta);
    if (st == CG_OK) st = cg_checkpoint_meta_get_u64(meta, "sae.epoch", &epoch);
    if (st == CG_OK) st = cg_checkpoint_meta_get_u64(meta, "batches.epoch", &bepoch);
    if (st == CG_OK) st = cg_checkpoint_meta_get_u64(meta, "batches.position", &bpos);
    if (st == CG_OK) st = cg_checkpoint_meta_get_rng(meta, "batches.epoch_rng", &b.epoch_rng);
    if (st == CG_OK) {
        b.epoch = (int64_t)bepoch;
        b.position = (int64_t)bpos;
        st = cg_batches_restore(&s->batches, &b);
    }
    cg_checkpoint_meta_free(meta);
    if (st != CG_OK) {
        fprintf(stderr, "sparse_autoencoder: cannot resume from %s: %s\n", path, cg_last_error());
        return 1;
    }
    s->epoch = (int)epoch;
    printf("resumed from %s after epoch %d\n", path, s->epoch);
    return 0;
}
