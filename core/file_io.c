/* Whole-file reads; temp file + fsync + rename writes.  See file_io.h. */
#include "file_io.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "error_internal.h"

enum cg_status cg_atomic_open(struct cg_atomic_file *a, const char *path, int open_stream)
{
    memset(a, 0, sizeof *a);
    a->path = path;
    size_t len = strlen(path) + 32;
    a->tmp_path = cg_malloc(len, "temporary file name");
    if (!a->tmp_path) return CG_ERR_NOMEM;
    snprintf(a->tmp_path, len, "%s.tmp.%ld", path, (long)getpid());
    if (!open_stream) return CG_OK;
    a->f = fopen(a->tmp_path, "wb");
    if (!a->f) {
        enum cg_status st = cg_fail(CG_ERR_IO, "%s: cannot create '%s': %s", path, a->tmp_path,
                                    strerror(errno));
        cg_free(a->tmp_path);
        a->tmp_path = NULL;
        return st;
    }
    return CG_OK;
}

void cg_atomic_write(struct cg_atomic_file *a, const void *data, size_t size)
{
    if (a->err || !size) return;
    if (fwrite(data, 1, size, a->f) != size) a->err = errno ? errno : EIO;
}

void cg_atomic_write_le(struct cg_atomic_file *a, const void *data, size_t n, size_t elem_size)
{
    const unsigned char *src = data;
    unsigned char buf[4096];
    size_t per = sizeof buf / elem_size;
    for (size_t done = 0; done < n && !a->err;) {
        size_t k = n - done < per ? n - done : per;
        for (size_t i = 0; i < k; i++) {
            uint64_t v = 0;
            if (elem_size == 8) memcpy(&v, src + (done + i) * 8, 8);
            else {
                uint32_t w;
                memcpy(&w, src + (done + i) * 4, 4);
                v = w;
            }
            for (size_t b = 0; b < elem_size; b++) buf[i * elem_size + b] = (unsigned char)(v >> (8 * b));
        }
        cg_atomic_write(a, buf, k * elem_size);
        done += k;
    }
}

void cg_atomic_abort(struct cg_atomic_file *a)
{
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp_path) remove(a->tmp_path);
    cg_free(a->tmp_path);
    a->tmp_path = NULL;
}

enum cg_status cg_atomic_commit(struct cg_atomic_file *a)
{
    int err = a->err;
    if (a->f) {
        if (!err && fflush(a->f) != 0) err = errno ? errno : EIO;
        if (!err && fsync(fileno(a->f)) != 0) err = errno;
        if (fclose(a->f) != 0 && !err) err = errno ? errno : EIO;
        a->f = NULL;
    }
    if (!err && rename(a->tmp_path, a->path) != 0) err = errno;
    if (err) {
        enum cg_status st = cg_fail(CG_ERR_IO, "%s: cannot write (temporary file '%s'): %s; "
                                    "an existing file of that name is left unchanged",
                                    a->path, a->tmp_path, strerror(err));
        cg_atomic_abort(a);
        return st;
    }
    cg_free(a->tmp_path);
    a->tmp_path = NULL;
    return CG_OK;
}

enum cg_status cg_read_file(const char *path, unsigned char **bytes, size_t *size)
{
    *bytes = NULL;
    *size = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        int e = errno;
        if (e == ENOENT) return cg_fail(CG_ERR_NOT_FOUND, "%s: not found", path);
        return cg_fail(CG_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    enum cg_status status = CG_OK;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        status = cg_fail(CG_ERR_IO, "%s: not a regular file", path);
    } else if ((uintmax_t)st.st_size > SIZE_MAX / 2) {
        status = cg_fail(CG_ERR_NOMEM, "%s: file too large (%jd bytes)", path, (intmax_t)st.st_size);
    } else if (!(*bytes = cg_malloc((size_t)st.st_size, "file contents"))) {
        status = CG_ERR_NOMEM;
    } else if (fread(*bytes, 1, (size_t)st.st_size, fp) != (size_t)st.st_size) {
        status = cg_fail(CG_ERR_IO, "%s: read error: %s", path,
                         ferror(fp) ? strerror(errno) : "file shrank while reading");
    }
    fclose(fp);
    if (status != CG_OK) {
        cg_free(*bytes);
        *bytes = NULL;
    } else {
        *size = (size_t)st.st_size;
    }
    return status;
}
