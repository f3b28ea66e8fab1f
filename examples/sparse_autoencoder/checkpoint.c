/* Checkpoints with the training position (see common/resume.h). */
#include "resume.h"
#include "sae.h"

int sae_save(struct sae *s, const char *path)
{
    return ex_save("sparse_autoencoder", path, "sae.epoch", s->model, s->sgd, &s->batches,
                   s->epoch);
}

int sae_resume(struct sae *s, const char *path)
{
    return ex_resume("sparse_autoencoder", path, "sae.epoch", s->model, s->sgd, &s->batches,
                     &s->epoch);
}
