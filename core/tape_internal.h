/* The tape's private structure, shared by tape.c, tensor.c and op_apply.c. */
#ifndef CG_CORE_TAPE_INTERNAL_H
#define CG_CORE_TAPE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cgrad/op.h"
#include "cgrad/tape.h"
#include "cgrad/tensor.h"

struct cg_arena_chunk {
    unsigned char *base;
    size_t size;
};

struct cg_tape {
    /* arena: chunks are used in order; reset rewinds to chunk 0 */
    struct cg_arena_chunk *chunks;
    int n_chunks, cap_chunks, cur_chunk;
    size_t offset;    /* into chunks[cur_chunk] */
    size_t used;      /* bytes handed out since the last reset */
    size_t high_water;/* largest `used` at a reset, sizes the consolidated chunk */

    struct cg_record *records;
    size_t n_records, cap_records;

    uint32_t gen;     /* incremented by every reset */
    /* growth guard: backward calls since the last reset that found more
     * records than the previous one (see backward.c) */
    uint32_t growing_backwards;
    size_t records_at_last_backward;
    /* records whose outputs an earlier backward of this step may have given
     * a grad; and whether one released records (see backward.c) */
    size_t records_with_grads;
    bool swept_any;
    bool grad_enabled;
    bool anomaly;
    bool alloc_failed; /* an arena allocation failed (backward turns it into NOMEM) */
    enum cg_status anomaly_status;
};

#if defined(__SANITIZE_ADDRESS__)
#define CG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CG_ASAN 1
#endif
#endif

/* Arena allocation, 64-byte aligned.  NULL (with cg_last_error) on OOM.
 * The slow path moves on to the next chunk or adds one (and, under ASan,
 * unpoisons every allocation). */
void *cg_arena_alloc_slow(struct cg_tape *tape, size_t bytes);

static inline void *cg_arena_alloc(struct cg_tape *tape, size_t bytes)
{
#ifndef CG_ASAN
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need > 0 && tape->cur_chunk < tape->n_chunks) {
        struct cg_arena_chunk *c = &tape->chunks[tape->cur_chunk];
        if (c->size - tape->offset >= need) {
            void *p = c->base + tape->offset;
            tape->offset += need;
            tape->used += need;
            return p;
        }
    }
#endif
    return cg_arena_alloc_slow(tape, bytes);
}

/* True if t is persistent or from the current step of `tape` (the test
 * behind cg_tensor_is_live, inline for op_apply.c). */
static inline bool cg_tensor_live_on(const struct cg_tape *tape, const struct cg_tensor *t)
{
    return t && (!t->tape || (t->tape == tape && t->tape_gen == tape->gen));
}

/* A tensor header + uninitialized data (when alloc_data) on the tape, or on
 * the heap when tape is NULL.  Validates the shape (misuse names `fn`). */
struct cg_tensor *cg_tensor_alloc(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                  const int64_t *shape, bool alloc_data, const char *fn);

/* memset(p, 0, bytes) for a small struct (a header, a record) of constant
 * size, in pieces of at most 64 bytes: GCC stores those with vector moves,
 * while one memset of the whole struct becomes a rep stos whose start-up
 * costs more than the rest of a small tensor's creation. */
static inline void cg_zero_bytes(void *p, size_t bytes)
{
    unsigned char *c = p;
    for (size_t k = 0; k < bytes; k += 64) memset(c + k, 0, bytes - k < 64 ? bytes - k : 64);
}

/* Copies n elements from src (dtype sd) to dst (dtype dd), converting. */
void cg_convert_data(void *dst, enum cg_dtype dd, const void *src, enum cg_dtype sd, int64_t n);

/* Writes e.g. "[4,1,3]" (or "[]" for a 0-d shape) into buf, always
 * NUL-terminated and truncated to `size`; returns buf.  For error messages
 * (cg_tensor_shape_str adds the dtype). */
char *cg_format_shape(char *buf, size_t size, int ndim, const int64_t *shape);

/* True if every element is finite. */
bool cg_tensor_all_finite(const struct cg_tensor *t);

#endif
