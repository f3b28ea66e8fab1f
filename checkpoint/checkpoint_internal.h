/* Checkpoint internals shared by the files of checkpoint/:
 *   checkpoint_io.c     byte encoding and the atomic writer
 *   checkpoint_parse.c  the validating reader
 *   checkpoint_v1.c     version-1 optimizer records -> version-2 names
 *   checkpoint_save.c   cg_checkpoint_save
 *   checkpoint_load.c   cg_checkpoint_load (model parameters and buffers)
 *   checkpoint_optim.c  optimizer state items <-> records
 *   checkpoint_meta.c   user metadata
 * The format is documented in cgrad/checkpoint.h and docs/checkpoint-format.md. */
#ifndef CG_CHECKPOINT_INTERNAL_H
#define CG_CHECKPOINT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cgrad/checkpoint.h"

#define CG_CKPT_HEADER_SIZE 20
/* Smallest record: 1-byte name, ndim 0, empty payload. */
#define CG_CKPT_MIN_RECORD (2 + 1 + 3 + 8 + 4)
extern const char cg_ckpt_magic[8];
#define CG_CKPT_NAME_MAX 65535

enum cg_ckpt_kind { CG_CKPT_PARAM = 1, CG_CKPT_OPTIM = 2, CG_CKPT_META = 3, CG_CKPT_BUFFER = 4 };
enum cg_ckpt_dtype { CG_CKPT_F32 = 1, CG_CKPT_F64 = 2, CG_CKPT_U64 = 3, CG_CKPT_BYTES = 4 };

/* ---- writing ---- */
struct cg_ckpt_writer {
    FILE *f;
    const char *path;
    char *tmp_path;
    uint32_t crc;         /* CRC of the current record so far */
    size_t crc_from;      /* staged bytes before this offset are in crc */
    uint32_t announced;   /* record count in the header */
    uint32_t written;     /* records written */
    int err;              /* first errno, 0 if none */
    size_t used;          /* bytes staged in buf */
    unsigned char buf[8192];
};

/* Creates the temp file and writes the header.  CG_OK or CG_ERR_IO/NOMEM. */
enum cg_status cg_ckpt_writer_open(struct cg_ckpt_writer *w, const char *path,
                                   uint32_t n_records);
/* Appends one record named prefix+name holding `numel` host-order elements
 * of `dtype` at data (for CG_CKPT_BYTES, numel bytes).  Errors are kept in w
 * and reported by commit. */
void cg_ckpt_write_record(struct cg_ckpt_writer *w, enum cg_ckpt_kind kind, const char *prefix,
                          const char *name, enum cg_ckpt_dtype dtype, int ndim,
                          const int64_t *shape, const void *data);
/* Finishes: flush, fsync, rename over path, fsync the directory.  On any
 * failure removes the temp file and returns CG_ERR_IO with a message. */
enum cg_status cg_ckpt_writer_commit(struct cg_ckpt_writer *w);
/* Gives up: closes and removes the temp file. */
void cg_ckpt_writer_abort(struct cg_ckpt_writer *w);

/* ---- reading ---- */
struct cg_ckpt_record {
    const char *name; /* into the file buffer, NOT NUL-terminated */
    uint16_t name_len;
    uint8_t kind, dtype, ndim;
    const unsigned char *shape; /* ndim little-endian u64 */
    const unsigned char *payload;
    uint64_t numel;
    uint32_t index;     /* position in the file, for messages */
    bool used;          /* matched by the loader */
    const char *origin; /* NULL, or the version-1 record it was translated from */
};

struct cg_ckpt_file {
    const char *path;
    unsigned char *bytes;
    size_t size;
    uint32_t version;
    uint32_t n;
    struct cg_ckpt_record *recs; /* sorted by (kind, name) */
    unsigned char *extra;        /* names and payloads of translated records */
};

/* Reads and validates the whole file (header, every record's bounds and CRC,
 * kinds, dtypes, sizes, unique names).  On failure frees everything and
 * returns the status with a message naming path and record. */
enum cg_status cg_ckpt_read(struct cg_ckpt_file *f, const char *path);
void cg_ckpt_file_free(struct cg_ckpt_file *f);
/* The record of that kind and name, or NULL. */
struct cg_ckpt_record *cg_ckpt_find(struct cg_ckpt_file *f, enum cg_ckpt_kind kind,
                                    const char *prefix, const char *name);
/* The record's name, NUL-terminated, non-printable bytes as '?', cut with
 * "..." if longer than size - 4; a translated record adds ", from
 * version-1 record <origin>". */
const char *cg_ckpt_record_name(const struct cg_ckpt_record *r, char *buf, size_t size);
/* Sorts the records by (kind, name); CG_ERR_FORMAT naming a duplicate. */
enum cg_status cg_ckpt_sort(struct cg_ckpt_file *f);
/* Replaces a version-1 file's optimizer records by the version-2 records
 * of an SGD optimizer with one group over n_params parameters
 * (checkpoint_v1.c); CG_ERR_FORMAT/NOMEM with a message. */
enum cg_status cg_ckpt_v1_translate(struct cg_ckpt_file *f, size_t n_params);
/* Shape of r as int64 (dims were checked to fit). */
void cg_ckpt_shape(const struct cg_ckpt_record *r, int64_t *shape);
/* Writes "[2,3] f32" for the record into buf (just "[2,3]" if !with_dtype). */
char *cg_ckpt_shape_str(const struct cg_ckpt_record *r, char *buf, size_t size, bool with_dtype);
/* Decodes the payload into host-order elements at dst (numel elements of
 * the record's dtype). */
void cg_ckpt_decode(const struct cg_ckpt_record *r, void *dst);
const char *cg_ckpt_dtype_name(int dtype);

/* Little-endian loads and stores (bytes: 2, 4 or 8). */
uint64_t cg_ckpt_le64(const unsigned char *p);
uint32_t cg_ckpt_le32(const unsigned char *p);
void cg_ckpt_put_le(unsigned char *p, uint64_t v, int bytes);
/* Bytes per element of a record dtype. */
size_t cg_ckpt_dtype_size(int dtype);
/* The record dtype of a tensor dtype. */
enum cg_ckpt_dtype cg_ckpt_tensor_dtype(enum cg_dtype d);

/* ---- optimizer state (checkpoint_optim.c) ---- */

/* Counts the records opt's state items make (tensors not present are
 * skipped) and the longest name. */
uint64_t cg_ckpt_optim_count(struct cg_optimizer *opt, size_t *longest);
/* Writes one record per item. */
void cg_ckpt_optim_write(struct cg_ckpt_writer *w, struct cg_optimizer *opt);
/* Checks every item of opt against the file's optimizer records (marking
 * them used) and that no optimizer record is left over.  Changes nothing. */
enum cg_status cg_ckpt_optim_check(struct cg_ckpt_file *f, struct cg_optimizer *opt);
/* After a successful check: restores the items (cannot fail). */
void cg_ckpt_optim_apply(struct cg_ckpt_file *f, struct cg_optimizer *opt);
/* Record r must hold a tensor like t ("model", "optimizer item" in
 * messages): same shape and dtype, else CG_ERR_MISMATCH naming both. */
enum cg_status cg_ckpt_fits(const struct cg_ckpt_file *f, const struct cg_ckpt_record *r,
                            const struct cg_tensor *t, const char *where);

/* ---- metadata (checkpoint_meta.c) ---- */
struct cg_meta_entry {
    char *name;
    bool is_blob;
    uint64_t value;
    unsigned char *data;
    size_t size;
};

struct cg_checkpoint_meta {
    struct cg_meta_entry *entries; /* sorted by name */
    size_t n, cap;
};

/* Stores a blob given by (bytes, size) under a name of name_len bytes
 * (not NUL-terminated); used by the loader. */
enum cg_status cg_meta_put(struct cg_checkpoint_meta *meta, const char *name, size_t name_len,
                           bool is_blob, uint64_t value, const unsigned char *data, size_t size);

#endif
