/* .npy version 1.0 writer (format: numpy.lib.format). */
#include <stdio.h>
#include <string.h>

#include "file_io.h"
#include "cgrad/npy.h"
#include "error_internal.h"

enum { NPY_PREAMBLE = 10, NPY_ALIGN = 64 };

/* The header dict, padded so preamble + header is a multiple of 64 and
 * ending in '\n'.  Returns its length. */
static size_t npy_header(const struct cg_tensor *t, char *buf, size_t size)
{
    int n = snprintf(buf, size, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     t->dtype == CG_F64 ? "<f8" : "<f4");
    for (int d = 0; d < t->ndim; d++)
        n += snprintf(buf + n, size - (size_t)n, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    n += snprintf(buf + n, size - (size_t)n, "%s), }", t->ndim == 1 ? "," : "");
    size_t len = (size_t)n + 1; /* + '\n' */
    size_t padded = (NPY_PREAMBLE + len + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN - NPY_PREAMBLE;
    memset(buf + n, ' ', padded - (size_t)n - 1);
    buf[padded - 1] = '\n';
    return padded;
}

enum cg_status cg_tensor_save_npy(const char *path, const struct cg_tensor *t)
{
    if (!path || !t) {
        cg_misuse("cg_tensor_save_npy", "%s is NULL (hint: pass a file name and a tensor)",
                  !path ? "path" : "t");
        return CG_ERR_INVALID;
    }
    char header[512]; /* 8 dims of 19 digits fit with room to spare */
    size_t hlen = npy_header(t, header, sizeof header);
    unsigned char pre[NPY_PREAMBLE] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                       (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    struct cg_atomic_file a;
    enum cg_status st = cg_atomic_open(&a, path, 1);
    if (st != CG_OK) return st;
    cg_atomic_write(&a, pre, sizeof pre);
    cg_atomic_write(&a, header, hlen);
    cg_atomic_write_le(&a, t->data, (size_t)t->numel, cg_dtype_size(t->dtype));
    return cg_atomic_commit(&a);
}
