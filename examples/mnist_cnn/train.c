#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cnn.h"
#include "progress.h"

int cnn_train_epoch(struct cnn *c, struct cnn_metrics *m)
{
    struct ex_progress bar;
    int64_t total = c->train.count, done = 0;
    double loss_sum = 0.0;
    ex_progress_start(&bar, c->epoch + 1, c->opt.epochs, total, c->opt.quiet);
    cg_module_set_training(c->model, true);
    double t0 = ex_now();
    for (struct cg_tensor *x; (x = cg_batches_next(&c->batches, c->tape)); cg_tape_reset(c->tape)) {
        struct cg_tensor *loss = cnn_loss(c, cnn_forward(c, x), cg_batches_labels(&c->batches),
                                          CG_REDUCTION_MEAN);
        double value = loss ? cg_tensor_item(loss) : NAN;
        if (!isfinite(value)) {
            ex_progress_finish(&bar);
            fprintf(stderr, "mnist_cnn: the loss became %g at epoch %d, sample %lld: training "
                    "diverged, stopping.\n  Try a smaller --lr (now %g); --anomaly names the "
                    "first op that produced a non-finite value.\n", value, c->epoch + 1,
                    (long long)done, c->opt.lr);
            if (c->opt.anomaly && cg_tape_anomaly_status(c->tape) != CG_OK)
                fprintf(stderr, "mnist_cnn: %s\n", cg_last_error());
            cg_tape_reset(c->tape);
            return 1;
        }
        /* Backward, step and the next zero_grad in one sweep, each update
         * while its gradient is in cache (nothing reads the grads between;
         * the same bits as the three calls).  zero_grad has work only
         * before the first step. */
        cg_optimizer_zero_grad(c->optim);
        enum cg_status st = cg_optimizer_backward_consume(c->optim, c->tape, loss);
        if (st != CG_OK) {
            ex_progress_finish(&bar);
            fprintf(stderr, "mnist_cnn: %s\n", cg_last_error());
            cg_tape_reset(c->tape);
            return 1;
        }
        int64_t b = x->shape[0];
        loss_sum += value * (double)b;
        done += b;
        ex_progress_update(&bar, done, loss_sum / (double)done);
    }
    ex_progress_finish(&bar);
    m->seconds = ex_now() - t0;
    m->train_loss = done ? loss_sum / (double)done : NAN;
    return 0;
}

/* Test loss, accuracy and confusion matrix with grad mode off, in eval
 * mode (no dropout); training mode again on return. */
int cnn_evaluate(struct cnn *c, struct cnn_metrics *m)
{
    struct cg_batches it;
    if (cg_batches_init(&it, &c->test, (struct cg_batches_options){.batch_size = CNN_EVAL_BATCH}) != CG_OK) {
        fprintf(stderr, "mnist_cnn: %s\n", cg_last_error());
        return 1;
    }
    bool was = cg_tape_set_grad_enabled(c->tape, false);
    cg_module_set_training(c->model, false);
    memset(m->confusion, 0, sizeof m->confusion);
    double loss_sum = 0;
    int64_t right = 0, seen = 0;
    for (struct cg_tensor *x; (x = cg_batches_next(&it, c->tape)); cg_tape_reset(c->tape)) {
        const int32_t *labels = cg_batches_labels(&it);
        struct cg_tensor *logp = cnn_forward(c, x);
        struct cg_tensor *loss = cnn_loss(c, logp, labels, CG_REDUCTION_SUM);
        if (!loss) {
            fprintf(stderr, "mnist_cnn: %s\n", cg_last_error());
            break;
        }
        loss_sum += cg_tensor_item(loss);
        const float *p = logp->data;
        for (int64_t i = 0; i < x->shape[0]; i++) {
            int best = 0;
            for (int k = 1; k < 10; k++)
                if (p[i * 10 + k] > p[i * 10 + best]) best = k;
            if (labels[i] >= 0 && labels[i] < 10) m->confusion[labels[i]][best]++;
            right += best == labels[i];
            seen++;
        }
    }
    cg_tape_reset(c->tape);
    cg_tape_set_grad_enabled(c->tape, was);
    cg_module_set_training(c->model, true);
    cg_batches_free(&it);
    m->test_loss = seen ? loss_sum / (double)seen : NAN;
    m->test_accuracy = seen ? (double)right / (double)seen : NAN;
    return seen == c->test.count ? 0 : 1;
}
