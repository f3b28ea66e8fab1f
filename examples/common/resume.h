/* Checkpoints of an example's training: model + optimizer (library) plus
 * the training position (epochs done under `epoch_key`, the shuffle
 * iterator's state) as metadata, so --resume continues bit for bit like an
 * uninterrupted run.  rng, when not NULL, is one more stream the training
 * draws from (e.g. the one Dropout keeps a pointer to): saved as
 * "example.rng" and restored in place.  Both return 0, or 1 after printing
 * why (naming prog). */
#ifndef EX_RESUME_H
#define EX_RESUME_H

#include <cgrad.h>

int ex_save(const char *prog, const char *path, const char *epoch_key, struct cg_module *model,
            struct cg_optimizer *optim, const struct cg_batches *batches,
            const struct cg_rng *rng, int epoch);
int ex_resume(const char *prog, const char *path, const char *epoch_key, struct cg_module *model,
              struct cg_optimizer *optim, struct cg_batches *batches, struct cg_rng *rng,
              int *epoch);

#endif
