/* A small strict JSON parser (RFC 8259) for the safetensors header.
 *
 * Strict: one value, optionally surrounded by whitespace; no comments, no
 * trailing commas, no leading zeros, no NaN/Infinity; strings must be valid
 * UTF-8 with no raw control characters and no lone surrogates in \u escapes;
 * nesting at most CG_JSON_MAX_DEPTH deep; duplicate keys in an object are
 * an error.  The document is a flat array of nodes (no per-node
 * allocation); strings are decoded into one pool. */
#ifndef CG_CHECKPOINT_JSON_INTERNAL_H
#define CG_CHECKPOINT_JSON_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cgrad/error.h"

#define CG_JSON_MAX_DEPTH 128

enum cg_json_type {
    CG_JSON_NULL,
    CG_JSON_FALSE,
    CG_JSON_TRUE,
    CG_JSON_NUMBER,
    CG_JSON_STRING,
    CG_JSON_ARRAY,
    CG_JSON_OBJECT
};

/* Arrays chain their elements through `next` from `first`; objects chain
 * their keys (CG_JSON_STRING nodes) the same way, and each key's `first` is
 * its value.  Index 0 is the root, so 0 also means "none" in first/next. */
struct cg_json_node {
    enum cg_json_type type;
    uint32_t first, next;
    uint32_t count;  /* elements of an array, members of an object */
    const char *str; /* string: decoded, NUL-terminated; number: its text (not terminated) */
    size_t len;      /* bytes of str */
    size_t offset;   /* byte offset in the input, for messages */
};

struct cg_json_doc {
    struct cg_json_node *nodes;
    uint32_t n, cap;
    char *pool;
};

/* Parses text[0..len).  CG_OK, CG_ERR_FORMAT with the problem and its byte
 * offset written to err (err_size bytes, always terminated), or
 * CG_ERR_NOMEM.  On failure doc holds nothing to free. */
enum cg_status cg_json_parse(struct cg_json_doc *doc, const char *text, size_t len, char *err,
                             size_t err_size);
void cg_json_free(struct cg_json_doc *doc);

/* The value of key `name` in object node `obj`, or NULL. */
const struct cg_json_node *cg_json_get(const struct cg_json_doc *doc,
                                       const struct cg_json_node *obj, const char *name);
/* Node by index (first/next), NULL for 0. */
const struct cg_json_node *cg_json_at(const struct cg_json_doc *doc, uint32_t index);
/* A number node that is a non-negative integer without fraction or exponent
 * and fits in uint64: stores it and returns 1; otherwise 0. */
int cg_json_u64(const struct cg_json_node *node, uint64_t *out);

#endif
