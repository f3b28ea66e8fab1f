#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double ex_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ex_progress_start(struct ex_progress *p, int epoch, int epochs, int64_t total, bool quiet)
{
    *p = (struct ex_progress){epoch, epochs, total, ex_now(), 0.0, isatty(STDOUT_FILENO) != 0, quiet};
}

void ex_progress_update(struct ex_progress *p, int64_t done, double loss)
{
    if (p->quiet) return;
    double now = ex_now();
    /* Redraw at most 10x/s on a terminal; every ~25% as plain lines otherwise. */
    if (p->tty ? now - p->last_draw < 0.1 && done < p->total
               : (done * 4 / p->total) == (int64_t)(p->last_draw) && done < p->total)
        return;
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)done / elapsed : 0.0;
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0.0;
    if (p->tty) {
        enum { WIDTH = 30 };
        int filled = (int)(WIDTH * done / (p->total ? p->total : 1));
        char bar[WIDTH + 1];
        for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '#' : '.';
        bar[WIDTH] = '\0';
        printf("\repoch %d/%d [%s] %3d%% loss %.5f  %.0f samples/s  ETA %.0fs ", p->epoch,
               p->epochs, bar, (int)(100 * done / (p->total ? p->total : 1)), loss, rate, eta);
        p->last_draw = now;
    } else {
        printf("epoch %d/%d: %lld/%lld samples, loss %.5f, %.0f samples/s, ETA %.0fs\n", p->epoch,
               p->epochs, (long long)done, (long long)p->total, loss, rate, eta);
        p->last_draw = (double)(done * 4 / p->total);
    }
    fflush(stdout);
}

void ex_progress_finish(struct ex_progress *p)
{
    if (p->tty && !p->quiet) printf("\r%*s\r", 100, "");
    fflush(stdout);
}
