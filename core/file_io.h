/* Whole-file input and atomic file output shared by the writers above core (.npy, safetensors,
 * plots): write to "<path>.tmp.<pid>", then flush, fsync and rename over
 * path, so a reader sees either the old file or the complete new one. */
#ifndef CG_CORE_FILE_IO_H
#define CG_CORE_FILE_IO_H

#include <stddef.h>
#include <stdio.h>

#include "cgrad/error.h"

struct cg_atomic_file {
    FILE *f;          /* write through this (fwrite/fprintf); NULL for writers
                       * that create tmp_path themselves (cairo) */
    const char *path; /* the final name (not copied) */
    char *tmp_path;
    int err;          /* first errno of cg_atomic_write, 0 if none */
};

/* Creates the temporary file (opened for writing when open_stream).  CG_OK,
 * CG_ERR_IO (message names the file and the system error) or CG_ERR_NOMEM. */
enum cg_status cg_atomic_open(struct cg_atomic_file *a, const char *path, int open_stream);
/* fwrite that remembers the first failure for cg_atomic_commit. */
void cg_atomic_write(struct cg_atomic_file *a, const void *data, size_t size);
/* Writes n elements of elem_size bytes (4 or 8) from host memory in
 * little-endian byte order, whatever the host's order. */
void cg_atomic_write_le(struct cg_atomic_file *a, const void *data, size_t n, size_t elem_size);
/* Flushes, fsyncs, closes and renames over path.  On failure removes the
 * temporary file and returns CG_ERR_IO naming the file and the error; an
 * existing `path` is then left unchanged. */
enum cg_status cg_atomic_commit(struct cg_atomic_file *a);
/* Gives up: closes and removes the temporary file. */
void cg_atomic_abort(struct cg_atomic_file *a);

/* Reads the regular file at path into a new buffer (*bytes, freed with
 * cg_free; *size bytes).  CG_OK; CG_ERR_NOT_FOUND (no such file), CG_ERR_IO
 * (cannot open or read, not a regular file) or CG_ERR_NOMEM, each with a
 * message naming the file. */
enum cg_status cg_read_file(const char *path, unsigned char **bytes, size_t *size);

#endif
