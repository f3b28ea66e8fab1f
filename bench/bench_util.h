/* Small helpers shared by the benchmarks. */
#ifndef CG_BENCH_UTIL_H
#define CG_BENCH_UTIL_H

double bench_now(void);       /* monotonic seconds */
double bench_peak_rss_mb(void); /* peak resident set size of this process */

#endif
