/* One shuffled epoch of the batch iterator over 60000 synthetic 28x28 uint8
 * images (batch 64, f32), and the same over the general float dataset: the
 * cost of batching alone, best of 7 epochs.  Prints `key value` lines:
 *     uint8_epoch_ms X
 *     float_epoch_ms Y */
#include <stdio.h>
#include <stdlib.h>

#include <cgrad.h>

#include "bench_util.h"

#define COUNT 60000
#define PIXELS 784

static double best_epoch_ms(struct cg_batches *it, struct cg_tape *tape)
{
    double best = 1e30;
    volatile float sink = 0;
    for (int rep = 0; rep < 7; rep++) {
        double t0 = bench_now();
        for (struct cg_tensor *x; (x = cg_batches_next(it, tape)); cg_tape_reset(tape))
            sink += ((float *)x->data)[0];
        double t = bench_now() - t0;
        if (t < best) best = t;
    }
    (void)sink;
    return best * 1e3;
}

int main(void)
{
    uint8_t *img = malloc((size_t)COUNT * PIXELS);
    float *f = malloc((size_t)COUNT * PIXELS * sizeof *f);
    if (!img || !f) return 1;
    for (size_t i = 0; i < (size_t)COUNT * PIXELS; i++) {
        img[i] = (uint8_t)(i * 2654435761u >> 24);
        f[i] = img[i] / 255.0f;
    }
    struct cg_dataset ds = {.count = COUNT, .rows = 28, .cols = 28, .images = img};
    struct cg_tensor_dataset fds;
    struct cg_rng rng = cg_rng_seed(1);
    struct cg_batches a, b;
    struct cg_tape *tape = cg_tape_new();
    if (!tape ||
        cg_tensor_dataset_from_arrays(&fds, COUNT, 1, (const int64_t[]){PIXELS}, f, 0, NULL, NULL,
                                      NULL) != CG_OK ||
        cg_batches_init(&a, &ds, (struct cg_batches_options){.batch_size = 64, .rng = &rng}) !=
            CG_OK ||
        cg_batches_init_tensor(&b, &fds, (struct cg_batches_options){.batch_size = 64, .rng = &rng}) !=
            CG_OK) {
        fprintf(stderr, "batches_epoch: %s\n", cg_last_error());
        return 1;
    }
    printf("uint8_epoch_ms %.2f\n", best_epoch_ms(&a, tape));
    printf("float_epoch_ms %.2f\n", best_epoch_ms(&b, tape));
    cg_batches_free(&a);
    cg_batches_free(&b);
    cg_tensor_dataset_free(&fds);
    cg_tape_free(tape);
    free(img);
    free(f);
    return 0;
}
