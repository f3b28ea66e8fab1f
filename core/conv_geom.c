#include "conv_geom.h"

#include <inttypes.h>

#include "error_internal.h"

bool cg_window_check(const char *fn, const struct cg_window *w, int64_t h, int64_t wd,
                     bool half_pad, const char *what)
{
    const int64_t k[2] = {w->kh, w->kw}, s[2] = {w->sh, w->sw}, p[2] = {w->ph, w->pw},
                  d[2] = {w->dh, w->dw}, in[2] = {h, wd};
    static const char *const dim[2] = {"height", "width"};
    for (int i = 0; i < 2; i++) {
        if (k[i] < 1 || s[i] < 1 || d[i] < 1 || p[i] < 0 || k[i] >= CG_GEOM_MAX ||
            s[i] >= CG_GEOM_MAX || d[i] >= CG_GEOM_MAX || p[i] >= CG_GEOM_MAX) {
            cg_misuse(fn, "%s: kernel %" PRId64 ", stride %" PRId64 ", padding %" PRId64
                      ", dilation %" PRId64 ": need kernel, stride and dilation >= 1 and "
                      "padding >= 0 (all below %" PRId64 ")", dim[i], k[i], s[i], p[i], d[i],
                      CG_GEOM_MAX);
            return false;
        }
        if (half_pad && 2 * p[i] > k[i]) {
            cg_misuse(fn, "%s: padding %" PRId64 " is more than half the kernel %" PRId64
                      " (hint: padding <= kernel / 2, as in PyTorch)", dim[i], p[i], k[i]);
            return false;
        }
        int64_t span = d[i] * (k[i] - 1) + 1;
        if (span > in[i] + 2 * p[i]) {
            cg_misuse(fn, "%s: kernel %" PRId64 " (dilation %" PRId64 ", spans %" PRId64
                      ") is larger than the padded input %s (%" PRId64 " + 2 x padding %"
                      PRId64 "; hint: pad more or use a smaller kernel)", dim[i], k[i], d[i],
                      span, what, in[i], p[i]);
            return false;
        }
    }
    return true;
}
