#include <math.h>
#include <stdio.h>

#include "progress.h"
#include "sae.h"

struct cg_tensor *sae_forward(struct sae *s, struct cg_tensor *x, struct cg_tensor **code)
{
    struct cg_tape *t = s->tape;
    struct cg_tensor *h = cg_module_forward(cg_sequential_child(s->model, 0), t, x);
    struct cg_tensor *c = cg_module_forward(cg_sequential_child(s->model, 1), t, h);
    struct cg_tensor *z = cg_module_forward(cg_sequential_child(s->model, 2), t, c);
    if (code) *code = c;
    return cg_module_forward(cg_sequential_child(s->model, 3), t, z);
}

int sae_train_epoch(struct sae *s, struct sae_metrics *m)
{
    struct ex_progress bar;
    int64_t total = s->train.count, done = 0;
    double mse_sum = 0.0;
    ex_progress_start(&bar, s->epoch + 1, s->opt.epochs, total, s->opt.quiet);
    cg_module_set_training(s->model, true);
    double t0 = ex_now();
    for (struct cg_tensor *x; (x = cg_batches_next(&s->batches, s->tape)); cg_tape_reset(s->tape)) {
        struct cg_tensor *code;
        struct cg_tensor *in = sae_corrupt(s, x, s->epoch, done / s->opt.batch);
        struct cg_tensor *y = sae_forward(s, in, &code);
        struct cg_tensor *mse = cg_mse_loss(s->tape, y, x, CG_REDUCTION_MEAN);
        struct cg_tensor *loss = mse;
        if (s->opt.l1 > 0) loss = cg_add(s->tape, mse, cg_l1_penalty(s->tape, code, s->opt.l1));
        double batch_mse = cg_tensor_item(mse);
        int64_t b = x->shape[0];
        if (!isfinite(cg_tensor_item(loss))) {
            ex_progress_finish(&bar);
            fprintf(stderr,
                    "sparse_autoencoder: the loss became %g at epoch %d, sample %lld: training "
                    "diverged, stopping.\n  Try a smaller --lr (now %g) or --momentum (now %g); "
                    "--anomaly names the first op that produced a non-finite value.\n",
                    cg_tensor_item(loss), s->epoch + 1, (long long)done, s->opt.lr, s->opt.momentum);
            if (s->opt.anomaly && cg_tape_anomaly_status(s->tape) != CG_OK)
                fprintf(stderr, "sparse_autoencoder: %s\n", cg_last_error());
            cg_tape_reset(s->tape);
            return 1;
        }
        /* Backward, step and the next zero_grad in one sweep, each update
         * while its gradient is in cache (nothing reads the grads between;
         * the same bits as the three calls).  zero_grad has work only
         * before the first step. */
        cg_optimizer_zero_grad(s->optim);
        enum cg_status st = cg_optimizer_backward_consume(s->optim, s->tape, loss);
        if (st != CG_OK) {
            ex_progress_finish(&bar);
            fprintf(stderr, "sparse_autoencoder: %s\n", cg_last_error());
            cg_tape_reset(s->tape);
            return 1;
        }
        mse_sum += batch_mse * (double)b;
        done += b;
        ex_progress_update(&bar, done, mse_sum / (double)done);
    }
    ex_progress_finish(&bar);
    if (s->opt.anomaly && cg_tape_anomaly_status(s->tape) != CG_OK) {
        fprintf(stderr, "sparse_autoencoder: %s\n", cg_last_error());
        return 1;
    }
    m->seconds = ex_now() - t0;
    m->train_mse = done ? mse_sum / (double)done : NAN;
    return 0;
}

int sae_evaluate(struct sae *s, struct sae_metrics *m)
{
    struct cg_batches it;
    if (cg_batches_init(&it, &s->test, (struct cg_batches_options){.batch_size = 500}) != CG_OK) {
        fprintf(stderr, "sparse_autoencoder: %s\n", cg_last_error());
        return 1;
    }
    bool was = cg_tape_set_grad_enabled(s->tape, false);
    cg_module_set_training(s->model, false);
    double se = 0.0;
    int64_t zeros = 0, codes = 0, pixels = 0;
    for (struct cg_tensor *x; (x = cg_batches_next(&it, s->tape)); cg_tape_reset(s->tape)) {
        struct cg_tensor *code;
        struct cg_tensor *y = sae_forward(s, sae_corrupt(s, x, -1, pixels / x->numel), &code);
        const float *py = y->data, *px = x->data, *pc = code->data;
        for (int64_t i = 0; i < y->numel; i++) {
            double d = (double)py[i] - (double)px[i];
            se += d * d;
        }
        for (int64_t i = 0; i < code->numel; i++) zeros += pc[i] == 0.0f;
        codes += code->numel;
        pixels += y->numel;
    }
    cg_tape_set_grad_enabled(s->tape, was);
    cg_batches_free(&it);
    m->test_mse = pixels ? se / (double)pixels : NAN;
    m->code_zero_frac = codes ? (double)zeros / (double)codes : NAN;
    return 0;
}
