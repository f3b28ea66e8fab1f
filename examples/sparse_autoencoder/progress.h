/* A per-epoch progress bar on a terminal; plain lines otherwise. */
#ifndef SAE_PROGRESS_H
#define SAE_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct sae_progress {
    int epoch, epochs;
    int64_t total;       /* samples in the epoch */
    double start;        /* seconds */
    double last_draw;
    bool tty;
    bool quiet;
};

double sae_now(void);
void sae_progress_start(struct sae_progress *p, int epoch, int epochs, int64_t total, bool quiet);
/* done: samples so far; loss: running mean training loss. */
void sae_progress_update(struct sae_progress *p, int64_t done, double loss);
/* Clears the bar (terminal) so the epoch summary line replaces it. */
void sae_progress_finish(struct sae_progress *p);

#endif
