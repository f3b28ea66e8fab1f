/* Grayscale PNG writing and tile grids. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "cgrad/image.h"
#include "error_internal.h"

/* libpng reports errors by longjmp; keep the setjmp frame free of locals that
 * change after it. */
static enum cg_status write_png_file(FILE *f, const char *path, int width, int height,
                                     const uint8_t *pixels)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        return cg_fail(CG_ERR_NOMEM, "%s: out of memory in libpng", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return cg_fail(CG_ERR_IO, "%s: libpng failed to write the image", path);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, pixels + (size_t)y * (size_t)width);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return CG_OK;
}

enum cg_status cg_png_write_gray(const char *path, int width, int height, const uint8_t *pixels)
{
    if (!path || !pixels || width <= 0 || height <= 0) {
        cg_misuse("cg_png_write_gray", "path/pixels NULL or size %dx%d not positive", width, height);
        return CG_ERR_INVALID;
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return cg_fail(CG_ERR_INVALID, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return cg_fail(CG_ERR_IO, "%s: cannot create (%s)", tmp, strerror(errno));
    enum cg_status s = write_png_file(f, path, width, height, pixels);
    if (fclose(f) != 0 && s == CG_OK) s = cg_fail(CG_ERR_IO, "%s: write failed (%s)", tmp, strerror(errno));
    if (s == CG_OK && rename(tmp, path) != 0)
        s = cg_fail(CG_ERR_IO, "%s: cannot rename from %s (%s)", path, tmp, strerror(errno));
    if (s != CG_OK) remove(tmp);
    return s;
}

enum cg_status cg_png_write_tiles(const char *path, const float *images, int n, int tile_h,
                                  int tile_w, int cols, enum cg_tile_scale scale)
{
    if (!images || n <= 0 || tile_h <= 0 || tile_w <= 0 || cols <= 0) {
        cg_misuse("cg_png_write_tiles", "images NULL or n %d, tile %dx%d, cols %d not positive", n,
                  tile_h, tile_w, cols);
        return CG_ERR_INVALID;
    }
    int rows = (n + cols - 1) / cols;
    int width = cols * (tile_w + 1) + 1, height = rows * (tile_h + 1) + 1;
    uint8_t *canvas = cg_calloc((size_t)width * (size_t)height, 1, "PNG canvas");
    if (!canvas) return CG_ERR_NOMEM;
    size_t tile_size = (size_t)tile_h * (size_t)tile_w;
    for (int i = 0; i < n; i++) {
        const float *t = images + (size_t)i * tile_size;
        float lo = 0.0f, hi = 1.0f;
        if (scale == CG_TILE_MINMAX) {
            lo = hi = t[0];
            for (size_t k = 1; k < tile_size; k++) {
                lo = fminf(lo, t[k]);
                hi = fmaxf(hi, t[k]);
            }
        }
        float range = hi > lo ? hi - lo : 1.0f;
        int x0 = 1 + (i % cols) * (tile_w + 1), y0 = 1 + (i / cols) * (tile_h + 1);
        for (int y = 0; y < tile_h; y++)
            for (int x = 0; x < tile_w; x++) {
                float v = (t[(size_t)y * (size_t)tile_w + (size_t)x] - lo) / range;
                v = v != v ? 0.0f : fminf(fmaxf(v, 0.0f), 1.0f);
                canvas[(size_t)(y0 + y) * (size_t)width + (size_t)(x0 + x)] =
                    (uint8_t)lrintf(v * 255.0f);
            }
    }
    enum cg_status s = cg_png_write_gray(path, width, height, canvas);
    cg_free(canvas);
    return s;
}
