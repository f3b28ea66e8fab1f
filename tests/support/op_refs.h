/* Op reference cases: reading tests/data/op_refs.txt (written by
 * tests/gen_op_refs.py from PyTorch) and running a built-in op by name.
 *
 * The file starts with the line "CGRAD-OPREF 1" (magic + version); the
 * format of the cases is described in gen_op_refs.py.  The reader is strict:
 * a wrong magic or version, an unknown keyword, a shape whose size does not
 * match the number of values, a non-number or a missing "end" makes
 * cg_opref_load fail with a message naming the file and line. */
#ifndef CG_TEST_OP_REFS_H
#define CG_TEST_OP_REFS_H

#include <stddef.h>
#include <stdint.h>

#include <cgrad.h>

#define CG_OPREF_VERSION 1
#define CG_OPREF_MAX_SCALARS 16
#define CG_OPREF_NAME_MAX 64

/* One tensor from the file: shape and numel float64 values (heap). */
struct cg_opref_tensor {
    int ndim;
    int64_t shape[CG_MAX_DIMS];
    int64_t numel;
    double *values;
};

struct cg_opref_case {
    char name[CG_OPREF_NAME_MAX];
    char op[CG_OPREF_NAME_MAX];
    int line; /* line of its "case" keyword, for messages */
    int n_scalars;
    double scalars[CG_OPREF_MAX_SCALARS];
    int n_inputs;
    struct cg_opref_tensor in[CG_MAX_INPUTS];
    struct cg_opref_tensor gout, out;
    struct cg_opref_tensor grad[CG_MAX_INPUTS]; /* one per input */
};

struct cg_opref_file {
    int n_cases;
    struct cg_opref_case *cases; /* heap, n_cases entries */
};

/* Reads `path` into *file.  Returns 0 on success; on any error returns -1,
 * leaves *file empty and writes a message ("path:line: what") into err. */
int cg_opref_load(const char *path, struct cg_opref_file *file, char *err, size_t err_size);
/* Reads `path` as cg_opref_load does and appends its cases to *file (case
 * names must stay unique).  0, or -1 with *file unchanged and a message. */
int cg_opref_append(const char *path, struct cg_opref_file *file, char *err, size_t err_size);
/* cg_opref_load for a cmocka group setup: prints the message to stderr
 * and returns -1 when the file is unusable. */
int cg_opref_setup(const char *path, struct cg_opref_file *file);
/* Frees everything cg_opref_load allocated; *file becomes empty. */
void cg_opref_free(struct cg_opref_file *file);

/* Number of cases whose op is `op`. */
int cg_opref_count_op(const struct cg_opref_file *file, const char *op);

/* A new persistent tensor of `dtype` holding t's values (caller frees with
 * cg_tensor_free); NULL on OOM. */
struct cg_tensor *cg_opref_make(const struct cg_opref_tensor *t, enum cg_dtype dtype);

/* Runs the built-in op called `op` (the name in its struct cg_op) on inputs
 * with the scalar parameters as documented in gen_op_refs.py.  Returns the
 * op's result (NULL after misuse).  Fails the current cmocka test when `op`
 * is unknown or the input/scalar counts do not fit the op. */
struct cg_tensor *cg_opref_run(struct cg_tape *tape, const char *op, struct cg_tensor *const *in,
                               int n_in, const double *scalars, int n_scalars);
/* Runs case c in `dtype` on `tape` (reset afterwards) and fails the current
 * cmocka test unless the output and every input gradient (for the case's
 * gout) match torch's to |a - b| <= tol + tol |b|.  Needs the misuse handler
 * captured (a misuse fails the case). */
void cg_opref_check_case(struct cg_tape *tape, const struct cg_opref_case *c, enum cg_dtype dtype,
                         double tol);
/* 1 if cg_opref_run knows `op`. */
int cg_opref_known(const char *op);

#endif
