/* Counted heap allocation: every library allocation goes through here. */
#ifndef CG_CORE_ALLOC_H
#define CG_CORE_ALLOC_H

#include <stddef.h>

/* Like malloc/calloc/realloc/free, but counted (cg_alloc_count).  On failure
 * they set cg_last_error() to an out-of-memory message naming `what` and
 * return NULL. */
void *cg_malloc(size_t bytes, const char *what);
void *cg_calloc(size_t n, size_t size, const char *what);
void *cg_realloc(void *p, size_t bytes, const char *what);
/* 64-byte aligned allocation, freed with cg_free_aligned. */
void *cg_malloc_aligned(size_t bytes, const char *what);
void cg_free(void *p);
void cg_free_aligned(void *p);

#endif
