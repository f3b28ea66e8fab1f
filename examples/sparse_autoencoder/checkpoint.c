/* Checkpoints: model + SGD state (library) plus, as metadata, the training
 * position (epochs done, shuffle iterator state), so --resume continues bit
 * for bit like an uninterrupted run, and the flags the run depends on, so a
 * resume with other data or another model is refused naming the flag. */
#include <stdio.h>
#include <string.h>

#include "sae.h"

static enum cg_status set_f64(struct cg_checkpoint_meta *meta, const char *name, double v)
{
    return cg_checkpoint_meta_set_blob(meta, name, &v, sizeof v);
}

/* False (and *v unchanged) if the file has no such entry. */
static bool get_f64(const struct cg_checkpoint_meta *meta, const char *name, double *v)
{
    size_t size = 0;
    const void *p = cg_checkpoint_meta_get_blob(meta, name, &size);
    if (!p || size != sizeof *v) return false;
    memcpy(v, p, sizeof *v);
    return true;
}

int sae_save(struct sae *s, const char *path)
{
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    struct cg_batches_state b = cg_batches_state(&s->batches);
    const struct sae_options *o = &s->opt;
    enum cg_status st = meta ? CG_OK : CG_ERR_NOMEM;
    if (st == CG_OK) st = cg_checkpoint_meta_set_u64(meta, "sae.epoch", (uint64_t)s->epoch);
    if (st == CG_OK) st = cg_checkpoint_meta_set_u64(meta, "batches.epoch", (uint64_t)b.epoch);
    if (st == CG_OK) st = cg_checkpoint_meta_set_u64(meta, "batches.position", (uint64_t)b.position);
    if (st == CG_OK) st = cg_checkpoint_meta_set_rng(meta, "batches.epoch_rng", &b.epoch_rng);
    if (st == CG_OK) st = cg_checkpoint_meta_set_blob(meta, "sae.data", o->data_dir, strlen(o->data_dir));
    if (st == CG_OK) st = cg_checkpoint_meta_set_u64(meta, "sae.images", (uint64_t)s->train.count);
    if (st == CG_OK) st = cg_checkpoint_meta_set_u64(meta, "sae.batch", (uint64_t)o->batch);
    if (st == CG_OK) st = set_f64(meta, "sae.lambda", o->lambda);
    if (st == CG_OK) st = set_f64(meta, "sae.l1", o->l1);
    if (st == CG_OK) st = cg_checkpoint_save(path, s->model, s->sgd, meta);
    cg_checkpoint_meta_free(meta);
    if (st != CG_OK) {
        fprintf(stderr, "sparse_autoencoder: saving the checkpoint failed: %s\n", cg_last_error());
        return 1;
    }
    return 0;
}

/* 0 if the run's data and model flags are those the checkpoint was made
 * with (widths are checked by the load itself: they are the shapes), else 1
 * after naming the first difference.  A checkpoint of cgrad 0.1's example
 * has no record of them: that is said, and resuming goes on. */
static int same_flags(const struct sae *s, const struct cg_checkpoint_meta *meta, const char *path)
{
    const struct sae_options *o = &s->opt;
    char was[256], now[256];
    const char *flag = NULL;
    size_t len = 0;
    const char *data = cg_checkpoint_meta_get_blob(meta, "sae.data", &len);
    uint64_t images = 0, batch = 0;
    double lambda = 0;
    if (!data || cg_checkpoint_meta_get_u64(meta, "sae.images", &images) != CG_OK ||
        cg_checkpoint_meta_get_u64(meta, "sae.batch", &batch) != CG_OK ||
        !get_f64(meta, "sae.lambda", &lambda)) {
        printf("note: %s does not record the --data, --limit, --batch and --lambda it was "
               "trained with (an older version wrote it); they are not checked\n", path);
        return 0;
    }
    if (len != strlen(o->data_dir) || memcmp(data, o->data_dir, len) != 0) {
        flag = "--data";
        snprintf(was, sizeof was, "%.*s", (int)(len < 200 ? len : 200), data);
        snprintf(now, sizeof now, "%s", o->data_dir);
    } else if (images != (uint64_t)s->train.count) {
        flag = "--limit";
        snprintf(was, sizeof was, "%llu training images", (unsigned long long)images);
        snprintf(now, sizeof now, "%lld", (long long)s->train.count);
    } else if (batch != (uint64_t)o->batch) {
        flag = "--batch";
        snprintf(was, sizeof was, "%llu", (unsigned long long)batch);
        snprintf(now, sizeof now, "%d", o->batch);
    } else if (lambda != o->lambda) {
        flag = "--lambda";
        snprintf(was, sizeof was, "%.17g", lambda);
        snprintf(now, sizeof now, "%.17g", o->lambda);
    }
    if (!flag) return 0;
    fprintf(stderr, "sparse_autoencoder: --resume %s: this run has %s %s, but the checkpoint was "
            "trained with %s %s; resume with the same %s, or start afresh without --resume\n",
            path, flag, now, flag, was, flag);
    return 1;
}

/* An explicit --lr / --l1 replaces the checkpoint's value; otherwise the
 * checkpoint's value is the one trained (and printed) from now on. */
static void choose_rates(struct sae *s, const struct cg_checkpoint_meta *meta)
{
    double saved_lr = cg_optimizer_get_lr(s->sgd), saved_l1 = s->opt.l1;
    bool have_l1 = get_f64(meta, "sae.l1", &saved_l1);
    if (s->opt.lr_set) {
        cg_optimizer_set_lr(s->sgd, s->opt.lr);
        printf("lr %g from --lr (the checkpoint's was %g)\n", s->opt.lr, saved_lr);
    } else {
        s->opt.lr = saved_lr;
        printf("lr %g from the checkpoint\n", saved_lr);
    }
    if (s->opt.l1_set) {
        if (have_l1 && saved_l1 != s->opt.l1)
            printf("l1 %g from --l1 (the checkpoint's was %g)\n", s->opt.l1, saved_l1);
    } else if (have_l1) {
        s->opt.l1 = saved_l1;
    }
}

int sae_resume(struct sae *s, const char *path)
{
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    uint64_t epoch = 0, bepoch = 0, bpos = 0;
    struct cg_batches_state b = {0};
    enum cg_status st = meta ? CG_OK : CG_ERR_NOMEM;
    if (st == CG_OK) st = cg_checkpoint_load(path, s->model, s->sgd, meta);
    if (st == CG_ERR_MISMATCH) {
        fprintf(stderr, "sparse_autoencoder: cannot resume from %s: %s\n  (was it trained with "
                "other --hidden, --bottleneck or --momentum? resume with the same ones)\n", path,
                cg_last_error());
        cg_checkpoint_meta_free(meta);
        return 1;
    }
    if (st == CG_OK && same_flags(s, meta, path)) {
        cg_checkpoint_meta_free(meta);
        return 1;
    }
    if (st == CG_OK) st = cg_checkpoint_meta_get_u64(meta, "sae.epoch", &epoch);
    if (st == CG_OK) st = cg_checkpoint_meta_get_u64(meta, "batches.epoch", &bepoch);
    if (st == CG_OK) st = cg_checkpoint_meta_get_u64(meta, "batches.position", &bpos);
    if (st == CG_OK) st = cg_checkpoint_meta_get_rng(meta, "batches.epoch_rng", &b.epoch_rng);
    if (st == CG_OK) {
        b.epoch = (int64_t)bepoch;
        b.position = (int64_t)bpos;
        st = cg_batches_restore(&s->batches, &b);
    }
    if (st != CG_OK) {
        cg_checkpoint_meta_free(meta);
        fprintf(stderr, "sparse_autoencoder: cannot resume from %s: %s\n", path, cg_last_error());
        return 1;
    }
    s->epoch = (int)epoch;
    printf("resumed from %s after epoch %d\n", path, s->epoch);
    choose_rates(s, meta);
    cg_checkpoint_meta_free(meta);
    return 0;
}
