/* Pictures: grayscale PNG output (via libpng), for looking at data,
 * reconstructions and learned filters. */
#ifndef CGRAD_IMAGE_H
#define CGRAD_IMAGE_H

#include "export.h"
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How tile values map to gray levels. */
enum cg_tile_scale {
    CG_TILE_UNIT,   /* value in [0,1] -> 0..255, clamped (images) */
    CG_TILE_MINMAX  /* each tile stretched from its min to its max (filters) */
};

/* Writes an 8-bit grayscale PNG of width x height row-major pixels (only
 * read).  The file is written to a temporary name and renamed, so `path` is
 * never left half-written.  Returns CG_OK, CG_ERR_INVALID (misuse: path or
 * pixels NULL, width or height < 1; or a path too long for the temporary
 * name) or CG_ERR_IO (message names the path). */
CG_API enum cg_status cg_png_write_gray(const char *path, int width, int height, const uint8_t *pixels);

/* Lays out n tiles of tile_h x tile_w floats (tile i at images + i*tile_h*tile_w)
 * in a grid with `cols` columns and a 1-pixel dark border, and writes it as a
 * PNG (see cg_png_write_gray).  Allocates a temporary canvas, freed before
 * returning (CG_ERR_NOMEM if it cannot).  Misuse (CG_ERR_INVALID): images
 * NULL, or n, tile_h, tile_w or cols < 1. */
CG_API enum cg_status cg_png_write_tiles(const char *path, const float *images, int n, int tile_h,
                                  int tile_w, int cols, enum cg_tile_scale scale);

#ifdef __cplusplus
}
#endif
#endif
