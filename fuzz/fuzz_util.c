/* Temp files for the fuzz targets (see fuzz_util.h). */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "fuzz_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dir[512];

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char p[1024];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

void fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz: invariant broken: %s\n", what);
    abort();
}

const char *fuzz_dir(void)
{
    if (dir[0]) return dir;
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/cgrad-fuzz-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) fuzz_fail("cannot create a temp directory");
    atexit(remove_dir);
    return dir;
}

const char *fuzz_path(int slot, const char *name)
{
    static char paths[4][1024];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", fuzz_dir(), name);
    return paths[slot];
}

void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        fuzz_fail("cannot write a temp file");
}

unsigned char *fuzz_gzip(const uint8_t *data, size_t size, size_t *out_size)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip wrapper, as gzip(1) writes. */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        fuzz_fail("deflateInit2");
    uLong cap = deflateBound(&z, (uLong)size);
    unsigned char *out = malloc(cap);
    if (!out) fuzz_fail("out of memory");
    z.next_in = (unsigned char *)(uintptr_t)data;
    z.avail_in = (uInt)size;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) fuzz_fail("deflate");
    *out_size = (size_t)z.total_out;
    deflateEnd(&z);
    return out;
}

void fuzz_write_gz(const char *path, const uint8_t *data, size_t size)
{
    size_t n;
    unsigned char *gz = fuzz_gzip(data, size, &n);
    fuzz_write(path, gz, n);
    free(gz);
}

const uint8_t *fuzz_find(const uint8_t *data, size_t size, const char *sep)
{
    size_t n = strlen(sep);
    for (size_t i = 0; i + n <= size; i++)
        if (!memcmp(data + i, sep, n)) return data + i;
    return NULL;
}

unsigned fuzz_touch(const uint8_t *buf, size_t size)
{
    unsigned s = 0;
    for (size_t i = 0; i < size; i++) s = s * 31u + buf[i];
    return s;
}
