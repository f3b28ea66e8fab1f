/* Tape lifetime, arena, statistics. Backward lives in backward.c. */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "tape_internal.h"

#ifdef CG_ASAN /* tape_internal.h */
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

enum { CG_ARENA_MIN_CHUNK = 1 << 20 };

struct cg_tape *cg_tape_new(void)
{
    struct cg_tape *tape = cg_calloc(1, sizeof *tape, "tape");
    if (!tape) return NULL;
    tape->grad_enabled = true;
    return tape;
}

static void free_chunks(struct cg_tape *tape)
{
    for (int i = 0; i < tape->n_chunks; i++) {
        UNPOISON(tape->chunks[i].base, tape->chunks[i].size);
        cg_free_aligned(tape->chunks[i].base);
    }
    tape->n_chunks = 0;
}

void cg_tape_free(struct cg_tape *tape)
{
    if (!tape) return;
    free_chunks(tape);
    cg_free(tape->chunks);
    cg_free(tape->records);
    cg_free(tape);
}

static bool add_chunk(struct cg_tape *tape, size_t size)
{
    if (tape->n_chunks == tape->cap_chunks) {
        int cap = tape->cap_chunks ? 2 * tape->cap_chunks : 4;
        struct cg_arena_chunk *c = cg_realloc(tape->chunks, (size_t)cap * sizeof *c, "tape arena");
        if (!c) return false;
        tape->chunks = c;
        tape->cap_chunks = cap;
    }
    unsigned char *base = cg_malloc_aligned(size, "tape arena chunk");
    if (!base) return false;
    POISON(base, size);
    tape->chunks[tape->n_chunks++] = (struct cg_arena_chunk){base, size};
    return true;
}

void *cg_arena_alloc_slow(struct cg_tape *tape, size_t bytes)
{
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need == 0) need = 64;
    for (;;) {
        if (tape->cur_chunk < tape->n_chunks) {
            struct cg_arena_chunk *c = &tape->chunks[tape->cur_chunk];
            if (c->size - tape->offset >= need) {
                void *p = c->base + tape->offset;
                tape->offset += need;
                tape->used += need;
                UNPOISON(p, bytes ? bytes : 1);
                return p;
            }
            if (tape->cur_chunk + 1 < tape->n_chunks) {
                tape->cur_chunk++;
                tape->offset = 0;
                continue;
            }
        }
        size_t last = tape->n_chunks ? tape->chunks[tape->n_chunks - 1].size : 0;
        size_t size = 2 * last > need ? 2 * last : need;
        if (size < CG_ARENA_MIN_CHUNK) size = CG_ARENA_MIN_CHUNK;
        if (!add_chunk(tape, size)) {
            tape->alloc_failed = true;
            return NULL;
        }
        tape->cur_chunk = tape->n_chunks - 1;
        tape->offset = 0;
    }
}

void *cg_tape_alloc(struct cg_tape *tape, size_t bytes)
{
    if (!tape) {
        cg_misuse("cg_tape_alloc", "tape is NULL");
        return NULL;
    }
    return cg_arena_alloc(tape, bytes);
}

void cg_tape_reset(struct cg_tape *tape)
{
    if (!tape) return;
    /* After a step that needed several chunks, replace them by one chunk of
     * the high-water size so later steps stay in one chunk, allocation-free. */
    if (tape->used > tape->high_water) tape->high_water = tape->used;
    if (tape->n_chunks > 1) {
        size_t total = tape->high_water;
        free_chunks(tape);
        add_chunk(tape, total < CG_ARENA_MIN_CHUNK ? CG_ARENA_MIN_CHUNK : total);
    }
    for (int i = 0; i < tape->n_chunks; i++) POISON(tape->chunks[i].base, tape->chunks[i].size);
    tape->cur_chunk = 0;
    tape->offset = 0;
    tape->used = 0;
    tape->n_records = 0;
    tape->growing_backwards = 0;
    tape->records_at_last_backward = 0;
    tape->records_with_grads = 0;
    tape->swept_any = false;
    tape->gen++;
    tape->anomaly_status = CG_OK;
}

/* The accessors below report a NULL tape as misuse (then return false, 0 or
 * CG_ERR_INVALID) instead of crashing: a NULL tape usually means
 * cg_tape_new() failed unnoticed. */
static bool tape_ok(const struct cg_tape *tape, const char *fn)
{
    if (tape) return true;
    cg_misuse(fn, "tape is NULL (hint: check the result of cg_tape_new())");
    return false;
}

bool cg_tape_set_grad_enabled(struct cg_tape *tape, bool enabled)
{
    if (!tape_ok(tape, "cg_tape_set_grad_enabled")) return false;
    bool old = tape->grad_enabled;
    tape->grad_enabled = enabled;
    return old;
}

bool cg_tape_grad_enabled(const struct cg_tape *tape)
{
    return tape_ok(tape, "cg_tape_grad_enabled") && tape->grad_enabled;
}

bool cg_tape_set_anomaly(struct cg_tape *tape, bool enabled)
{
    if (!tape_ok(tape, "cg_tape_set_anomaly")) return false;
    bool old = tape->anomaly;
    tape->anomaly = enabled;
    return old;
}

enum cg_status cg_tape_anomaly_status(const struct cg_tape *tape)
{
    return tape_ok(tape, "cg_tape_anomaly_status") ? tape->anomaly_status : CG_ERR_INVALID;
}

size_t cg_tape_record_count(const struct cg_tape *tape)
{
    return tape_ok(tape, "cg_tape_record_count") ? (size_t)tape->n_records : 0;
}

size_t cg_tape_bytes_used(const struct cg_tape *tape)
{
    return tape_ok(tape, "cg_tape_bytes_used") ? tape->used : 0;
}

size_t cg_tape_bytes_reserved(const struct cg_tape *tape)
{
    if (!tape_ok(tape, "cg_tape_bytes_reserved")) return 0;
    size_t total = 0;
    for (int i = 0; i < tape->n_chunks; i++) total += tape->chunks[i].size;
    return total;
}
