/* CG_MULTIARCH: compile a hot elementwise loop for AVX-512, AVX2 and the
 * baseline x86-64, picked once at load time by the CPU (GCC/clang
 * target_clones), so a portable build runs these loops as fast as a
 * -march=native one.  A no-op when the build already targets AVX2 or
 * better, and off x86-64.  Results do not depend on the clone: the build is
 * ISO C11, so no multiply-add is contracted into an FMA.  CG_MULTIARCH_YMM
 * leaves out AVX-512, for loops it does not speed up (divisions, square
 * roots, memory traffic) and that ran slower with it on Zen 4. */
#ifndef CG_CORE_MULTIARCH_H
#define CG_CORE_MULTIARCH_H

/* ThreadSanitizer builds leave it off: the clones' resolvers run while the
 * program is being relocated, before the TSan runtime is up, and crash. */
#if defined(__SANITIZE_THREAD__)
#define CG_NO_MULTIARCH 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CG_NO_MULTIARCH 1
#endif
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__AVX2__) && !defined(CG_NO_MULTIARCH)
#define CG_MULTIARCH __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define CG_MULTIARCH_YMM __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CG_MULTIARCH
#define CG_MULTIARCH_YMM
#endif

#endif
