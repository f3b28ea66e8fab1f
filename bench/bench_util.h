/* Small helpers shared by the benchmarks. */
#ifndef CG_BENCH_UTIL_H
#define CG_BENCH_UTIL_H

double bench_now(void);       /* monotonic seconds */
/* CPU seconds of this process (all its threads): on a shared machine, less
 * inflated than wall time by other processes taking the cores. */
double bench_cpu_now(void);
double bench_peak_rss_mb(void); /* peak resident set size of this process */
double bench_median(double *v, int n); /* of n values; sorts v */

/* Waits until OpenBLAS's own threads, woken by a threaded call (the GEMM
 * floors at --threads 2), have gone back to sleep: an idle OpenBLAS
 * thread spins on sched_yield for 2^28 cycles (OPENBLAS_THREAD_TIMEOUT's
 * default, about 0.1 s) and would take a core from the cgrad epoch timed
 * next.  cgrad itself calls OpenBLAS one thread per call, so it never
 * wakes them. */
void bench_settle_openblas(void);

/* OpenBLAS's kernel name ("SkylakeX", ...).  If OpenBLAS fell back to its
 * generic Prescott kernels on a CPU with AVX2 or AVX-512 and
 * OPENBLAS_CORETYPE is unset, sets it and re-executes the program with
 * argv (does not return unless exec fails). */
const char *bench_openblas_core(char **argv);

#endif
