/* The seed documents' shrink examples: the three shrink functions compared
 * on one input, and denoising a sparse signal by thresholding. */
#ifndef SHRINK_H
#define SHRINK_H

#include <stddef.h>
#include <stdint.h>

#include <cgrad.h>

struct shrink_options {
    const char *out_dir;    /* shrink_functions.png, denoise.png */
    const char *export_path; /* --export FILE.safetensors, or NULL */
    uint64_t seed;
    double sigma;           /* noise of the denoising demo */
};

/* Named tensors collected for --export (copies, owned here). */
struct shrink_export {
    const char *names[16];
    struct cg_tensor *tensors[16];
    size_t n;
};
/* Keeps a persistent copy of t under name (nothing if ex is NULL). */
void shrink_keep(struct shrink_export *ex, const char *name, const struct cg_tensor *t);

/* Each prints its table, writes its plot, adds its tensors to ex (may be
 * NULL); 0 or 1 after printing why. */
int shrink_compare(const struct shrink_options *opt, struct shrink_export *ex);
int shrink_denoise(const struct shrink_options *opt, struct shrink_export *ex);

/* Writes fig to out_dir/name, frees it, prints the path; 0 or 1 (printed). */
int shrink_save_figure(const struct shrink_options *opt, struct cg_figure *fig, const char *name);

#endif
