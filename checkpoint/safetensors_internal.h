/* The safetensors reader shared by load, read_tensor and the fuzz target:
 * reads a whole file and validates everything the format promises before
 * anything uses it. */
#ifndef CG_CHECKPOINT_SAFETENSORS_INTERNAL_H
#define CG_CHECKPOINT_SAFETENSORS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cgrad/safetensors.h"
#include "json_internal.h"

struct cg_st_entry {
    const char *name; /* decoded, NUL-terminated (in the JSON pool) */
    size_t name_len;
    const char *dtype; /* "F32", ... (static) */
    size_t elem_size;  /* bytes */
    int ndim;          /* may exceed CG_MAX_DIMS (then shape holds the first ones) */
    int64_t shape[CG_MAX_DIMS];
    uint64_t begin, end; /* in the data section */
};

struct cg_st_file {
    const char *path;
    unsigned char *bytes;
    size_t size;
    const unsigned char *data; /* start of the data section */
    struct cg_json_doc doc;
    struct cg_st_entry *entries; /* sorted by name */
    size_t n;
};

/* Reads and validates path.  On failure frees everything and returns the
 * status with a message naming the file and the problem. */
enum cg_status cg_st_read(struct cg_st_file *f, const char *path);
/* Validates an in-memory file (bytes stay the caller's; f->bytes is not
 * set).  Same checks and messages as cg_st_read. */
enum cg_status cg_st_parse(struct cg_st_file *f, const char *path, const unsigned char *bytes,
                           size_t size);
void cg_st_free(struct cg_st_file *f);
/* The entry of that name, or NULL. */
const struct cg_st_entry *cg_st_find(const struct cg_st_file *f, const char *name);
/* Converts the entry's F32/F64 little-endian data to `dtype` at dst.
 * Returns 0, or -1 (nothing written) if the entry is not F32/F64. */
int cg_st_decode(const struct cg_st_file *f, const struct cg_st_entry *e, enum cg_dtype dtype,
                 void *dst);

#endif
