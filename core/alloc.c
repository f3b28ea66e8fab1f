#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "cgrad/memory.h"
#include "error_internal.h"

static atomic_size_t alloc_count;
static atomic_size_t alloc_bytes;
static atomic_size_t fail_countdown; /* 0: no injection armed */
static atomic_bool fail_fired;

void cg_alloc_fail_nth(size_t n)
{
    atomic_store(&fail_fired, false);
    atomic_store(&fail_countdown, n);
}

bool cg_alloc_fail_fired(void) { return atomic_load(&fail_fired); }

/* True when this allocation is the one chosen to fail. */
static bool injected(void)
{
    size_t left = atomic_load(&fail_countdown);
    while (left > 0 && !atomic_compare_exchange_weak(&fail_countdown, &left, left - 1)) {
    }
    if (left != 1) return false;
    atomic_store(&fail_fired, true);
    return true;
}

size_t cg_alloc_count(void) { return atomic_load(&alloc_count); }
size_t cg_alloc_bytes(void) { return atomic_load(&alloc_bytes); }

static void count_allocation(size_t bytes)
{
    atomic_fetch_add(&alloc_count, 1);
    atomic_fetch_add(&alloc_bytes, bytes);
}

static void *counted(void *p, size_t bytes, const char *what)
{
    if (!p) {
        cg_fail(CG_ERR_NOMEM, "out of memory allocating %zu bytes for %s", bytes, what);
        return NULL;
    }
    count_allocation(bytes);
    return p;
}

void *cg_malloc(size_t bytes, const char *what)
{
    return counted(injected() ? NULL : malloc(bytes ? bytes : 1), bytes, what);
}

void *cg_calloc(size_t n, size_t size, const char *what)
{
    return counted(injected() ? NULL : calloc(n ? n : 1, size ? size : 1), n * size, what);
}

void *cg_realloc(void *p, size_t bytes, const char *what)
{
    /* A failed realloc leaves p allocated, as the real one does. */
    return counted(injected() ? NULL : realloc(p, bytes ? bytes : 1), bytes, what);
}

void *cg_malloc_aligned(size_t bytes, const char *what)
{
    size_t rounded = (bytes + 63) & ~(size_t)63;
    return counted(injected() ? NULL : aligned_alloc(64, rounded ? rounded : 64), bytes, what);
}

void *cg_try_malloc_aligned(size_t align, size_t bytes)
{
    size_t rounded = (bytes + align - 1) & ~(align - 1);
    /* No injected failure: callers have a fallback, not an error path. */
    void *p = aligned_alloc(align, rounded ? rounded : align);
    if (p) count_allocation(bytes);
    return p;
}

void cg_free(void *p) { free(p); }
void cg_free_aligned(void *p) { free(p); }
