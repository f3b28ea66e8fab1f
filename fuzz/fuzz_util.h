/* Helpers shared by the fuzz targets: a private temp directory and file
 * writers (raw, gzip-compressed).  Any failure of the harness itself aborts,
 * so it shows up as a crash rather than as silently skipped inputs. */
#ifndef CG_FUZZ_UTIL_H
#define CG_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Directory for this process's temp files (created on first use under
 * $TMPDIR, else /tmp; removed at exit). */
const char *fuzz_dir(void);
/* fuzz_dir()/name in a static buffer (one per slot 0..3). */
const char *fuzz_path(int slot, const char *name);
/* Writes bytes to path, replacing it. */
void fuzz_write(const char *path, const uint8_t *data, size_t size);
/* data gzip-compressed into a malloc'd buffer of *out_size bytes. */
unsigned char *fuzz_gzip(const uint8_t *data, size_t size, size_t *out_size);
/* Writes bytes gzip-compressed (a complete, valid gzip stream) to path. */
void fuzz_write_gz(const char *path, const uint8_t *data, size_t size);
/* Position of the separator `sep` in data, or NULL. */
const uint8_t *fuzz_find(const uint8_t *data, size_t size, const char *sep);
/* Reads every byte of buf (so ASan checks its whole extent) and returns a
 * checksum the caller can use to keep the loop alive. */
unsigned fuzz_touch(const uint8_t *buf, size_t size);
/* Aborts with a message: an invariant of a successful load was broken. */
void fuzz_fail(const char *what);

#endif
