/* A per-epoch progress bar on a terminal; plain lines otherwise. */
#ifndef EX_PROGRESS_H
#define EX_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct ex_progress {
    int epoch, epochs;
    int64_t total;       /* samples in the epoch */
    double start;        /* seconds */
    double last_draw;
    bool tty;
    bool quiet;
};

double ex_now(void);
void ex_progress_start(struct ex_progress *p, int epoch, int epochs, int64_t total, bool quiet);
/* done: samples so far; loss: running mean training loss. */
void ex_progress_update(struct ex_progress *p, int64_t done, double loss);
/* Clears the bar (terminal) so the epoch summary line replaces it. */
void ex_progress_finish(struct ex_progress *p);

#endif
