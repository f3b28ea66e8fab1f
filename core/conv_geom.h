/* Geometry shared by the convolution and pooling ops: one spatial window
 * description, its output size, and how its (h, w) pairs travel in a
 * record's scalars (CG_MAX_SCALARS is 4, a conv needs 7 numbers). */
#ifndef CG_CORE_CONV_GEOM_H
#define CG_CORE_CONV_GEOM_H

#include <stdbool.h>
#include <stdint.h>

/* Every parameter stays below this, so a pair packs exactly into a double. */
#define CG_GEOM_MAX ((int64_t)1 << 24)

/* One window over an H x W plane. */
struct cg_window {
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
};

static inline double cg_pack_pair(int64_t a, int64_t b) { return (double)(a * CG_GEOM_MAX + b); }
static inline void cg_unpack_pair(double v, int64_t *a, int64_t *b)
{
    int64_t p = (int64_t)v;
    *a = p / CG_GEOM_MAX;
    *b = p % CG_GEOM_MAX;
}

/* Output length of one dim: (in + 2 pad - dil (k - 1) - 1) / stride + 1. */
static inline int64_t cg_window_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d)
{
    return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* Window packed into scalar[0..3] and back. */
static inline void cg_window_pack(const struct cg_window *w, double *s)
{
    s[0] = cg_pack_pair(w->kh, w->kw);
    s[1] = cg_pack_pair(w->sh, w->sw);
    s[2] = cg_pack_pair(w->ph, w->pw);
    s[3] = cg_pack_pair(w->dh, w->dw);
}
static inline struct cg_window cg_window_unpack(const double *s)
{
    struct cg_window w;
    cg_unpack_pair(s[0], &w.kh, &w.kw);
    cg_unpack_pair(s[1], &w.sh, &w.sw);
    cg_unpack_pair(s[2], &w.ph, &w.pw);
    cg_unpack_pair(s[3], &w.dh, &w.dw);
    return w;
}

/* Checks a window against an h x w input for `fn`: kernel, stride and
 * dilation >= 1, padding >= 0, all below CG_GEOM_MAX, padding at most half
 * the kernel if `half_pad` (the pooling rule), and the dilated kernel no
 * larger than the padded input.  Reports misuse naming `what` (e.g.
 * "input [3,2,7,5] f32") and returns false on the first problem. */
bool cg_window_check(const char *fn, const struct cg_window *w, int64_t h, int64_t wd,
                     bool half_pad, const char *what);

#endif
