/* Element access, copies, conversions and printing. */
#include <inttypes.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "tape_internal.h"
#include "tensor_live.h"

double cg_tensor_at(const struct cg_tensor *t, int64_t i)
{
    if (!t || i < 0 || i >= t->numel) {
        cg_misuse("cg_tensor_at", "index %" PRId64 " out of range for %" PRId64 " elements", i,
                  t ? t->numel : 0);
        return 0.0;
    }
    if (!cg_tensor_check_live(t, "cg_tensor_at")) return 0.0;
    return t->dtype == CG_F64 ? ((const double *)t->data)[i] : (double)((const float *)t->data)[i];
}

void cg_tensor_set_at(struct cg_tensor *t, int64_t i, double value)
{
    if (!t || i < 0 || i >= t->numel) {
        cg_misuse("cg_tensor_set_at", "index %" PRId64 " out of range for %" PRId64 " elements", i,
                  t ? t->numel : 0);
        return;
    }
    if (!cg_tensor_check_live(t, "cg_tensor_set_at")) return;
    if (t->dtype == CG_F64)
        ((double *)t->data)[i] = value;
    else
        ((float *)t->data)[i] = (float)value;
}

static int64_t flat_index(const struct cg_tensor *t, const int64_t *index, const char *fn)
{
    if (!t || (!index && t->ndim > 0)) {
        cg_misuse(fn, "tensor or index is NULL");
        return -1;
    }
    int64_t flat = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (index[d] < 0 || index[d] >= t->shape[d]) {
            char s[128];
            cg_misuse(fn, "index %" PRId64 " out of range in dim %d of tensor '%s' %s", index[d], d,
                      t->name, cg_tensor_shape_str(t, s, sizeof s));
            return -1;
        }
        flat = flat * t->shape[d] + index[d];
    }
    return flat;
}

double cg_tensor_get(const struct cg_tensor *t, const int64_t *index)
{
    int64_t i = flat_index(t, index, "cg_tensor_get");
    return i < 0 || !cg_tensor_check_live(t, "cg_tensor_get") ? 0.0 : cg_tensor_at(t, i);
}

void cg_tensor_set(struct cg_tensor *t, const int64_t *index, double value)
{
    int64_t i = flat_index(t, index, "cg_tensor_set");
    if (i >= 0) cg_tensor_set_at(t, i, value);
}

double cg_tensor_item(const struct cg_tensor *t)
{
    if (!t || t->numel != 1) {
        char s[128];
        cg_misuse("cg_tensor_item", "tensor %s has %" PRId64 " elements; item needs exactly 1",
                  cg_tensor_shape_str(t, s, sizeof s), t ? t->numel : 0);
        return 0.0;
    }
    return cg_tensor_check_live(t, "cg_tensor_item") ? cg_tensor_at(t, 0) : 0.0;
}

void cg_convert_data(void *dst, enum cg_dtype dd, const void *src, enum cg_dtype sd, int64_t n)
{
    if (dd == sd) {
        memcpy(dst, src, (size_t)n * cg_dtype_size(dd));
    } else if (dd == CG_F64) {
        const float *s = src;
        double *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = (double)s[i];
    } else {
        const double *s = src;
        float *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = (float)s[i];
    }
}

struct cg_tensor *cg_tensor_to(struct cg_tape *tape, const struct cg_tensor *t, enum cg_dtype dtype)
{
    CG_CHECK_NOT_NULL("cg_tensor_to", t, "tensor");
    struct cg_tensor *r = cg_tensor_alloc(tape, dtype, t->ndim, t->shape, true, "cg_tensor_to");
    if (!r) return NULL;
    cg_convert_data(r->data, dtype, t->data, t->dtype, t->numel);
    memcpy(r->name, t->name, sizeof r->name);
    return r;
}

struct cg_tensor *cg_tensor_copy(struct cg_tape *tape, const struct cg_tensor *t)
{
    CG_CHECK_NOT_NULL("cg_tensor_copy", t, "tensor");
    return cg_tensor_to(tape, t, t->dtype);
}

struct cg_tensor *cg_tensor_detach(struct cg_tape *tape, struct cg_tensor *t)
{
    CG_CHECK_NOT_NULL("cg_tensor_detach", t, "tensor");
    struct cg_tensor *r = cg_tensor_alloc(tape, t->dtype, t->ndim, t->shape, false, "cg_tensor_detach");
    if (!r) return NULL;
    r->data = t->data;
    r->flags |= CG_IS_VIEW;
    memcpy(r->name, t->name, sizeof r->name);
    return r;
}

struct cg_tensor *cg_tensor_copy_into(struct cg_tensor *dst, const struct cg_tensor *src)
{
    CG_CHECK_NOT_NULL("cg_tensor_copy_into", dst, "dst");
    CG_CHECK_NOT_NULL("cg_tensor_copy_into", src, "src");
    if (dst->numel != src->numel) {
        char a[128], b[128];
        cg_misuse("cg_tensor_copy_into", "dst %s and src %s differ in element count",
                  cg_tensor_shape_str(dst, a, sizeof a), cg_tensor_shape_str(src, b, sizeof b));
        return NULL;
    }
    cg_convert_data(dst->data, dst->dtype, src->data, src->dtype, src->numel);
    return dst;
}

enum cg_status cg_tensor_convert(struct cg_tensor *t, enum cg_dtype dtype)
{
    if (!t || t->tape || (t->flags & CG_IS_VIEW) || (dtype != CG_F32 && dtype != CG_F64)) {
        cg_misuse("cg_tensor_convert", "%s, dtype %d (hint: convert a persistent, non-view tensor "
                  "to CG_F32 or CG_F64)", !t ? "tensor is NULL" : t->tape ? "tensor belongs to a "
                  "tape" : (t->flags & CG_IS_VIEW) ? "tensor is a view" : "unknown dtype",
                  (int)dtype);
        return CG_ERR_INVALID;
    }
    if (t->dtype == dtype) return CG_OK;
    void *data = cg_malloc_aligned((size_t)t->numel * cg_dtype_size(dtype), "tensor data");
    if (!data) return CG_ERR_NOMEM;
    if (t->grad) {
        enum cg_status s = cg_tensor_convert(t->grad, dtype);
        if (s != CG_OK) {
            cg_free_aligned(data);
            return s;
        }
    }
    cg_convert_data(data, dtype, t->data, t->dtype, t->numel);
    if (t->flags & CG_OWNS_DATA) cg_free_aligned(t->data);
    t->data = data;
    t->flags |= CG_OWNS_DATA;
    t->dtype = dtype;
    return CG_OK;
}

void cg_tensor_print(const struct cg_tensor *t, FILE *f, int64_t max_elems)
{
    char s[128];
    if (!f) return;
    fprintf(f, "tensor '%s' %s", t ? t->name : "", cg_tensor_shape_str(t, s, sizeof s));
    if (!t) {
        fputc('\n', f);
        return;
    }
    if (!cg_tensor_check_live(t, "cg_tensor_print")) {
        fputs(" (released by cg_tape_reset)\n", f);
        return;
    }
    if (max_elems < 0 || max_elems > t->numel) max_elems = t->numel;
    int64_t row = t->ndim > 0 ? t->shape[t->ndim - 1] : 1;
    fputs(" = [", f);
    for (int64_t i = 0; i < max_elems; i++) {
        if (i && row > 0 && i % row == 0) fputs("\n   ", f);
        fprintf(f, "%s%.6g", i % (row ? row : 1) ? ", " : "", cg_tensor_at(t, i));
    }
    fputs(max_elems >= t->numel ? "]\n" : max_elems > 0 ? ", ...]\n" : "...]\n", f);
}
