/* Checkpoints with the training position and the dropout stream (see
 * common/resume.h). */
#include "cnn.h"
#include "resume.h"

int cnn_save(struct cnn *c, const char *path)
{
    return ex_save("mnist_cnn", path, "cnn.epoch", c->model, c->optim, &c->batches, &c->drop_rng, c->epoch);
}

int cnn_resume(struct cnn *c, const char *path)
{
    return ex_resume("mnist_cnn", path, "cnn.epoch", c->model, c->optim, &c->batches, &c->drop_rng,
                     &c->epoch);
}
