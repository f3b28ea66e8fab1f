#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "cgrad/memory.h"
#include "error_internal.h"

static atomic_size_t alloc_count;
static atomic_size_t alloc_bytes;

size_t cg_alloc_count(void) { return atomic_load(&alloc_count); }
size_t cg_alloc_bytes(void) { return atomic_load(&alloc_bytes); }

static void *counted(void *p, size_t bytes, const char *what)
{
    if (!p) {
        cg_fail(CG_ERR_NOMEM, "out of memory allocating %zu bytes for %s", bytes, what);
        return NULL;
    }
    atomic_fetch_add(&alloc_count, 1);
    atomic_fetch_add(&alloc_bytes, bytes);
    return p;
}

void *cg_malloc(size_t bytes, const char *what)
{
    return counted(malloc(bytes ? bytes : 1), bytes, what);
}

void *cg_calloc(size_t n, size_t size, const char *what)
{
    return counted(calloc(n ? n : 1, size ? size : 1), n * size, what);
}

void *cg_realloc(void *p, size_t bytes, const char *what)
{
    return counted(realloc(p, bytes ? bytes : 1), bytes, what);
}

void *cg_malloc_aligned(size_t bytes, const char *what)
{
    size_t rounded = (bytes + 63) & ~(size_t)63;
    return counted(aligned_alloc(64, rounded ? rounded : 64), bytes, what);
}

void cg_free(void *p) { free(p); }
void cg_free_aligned(void *p) { free(p); }
