/* LearnableShrink: a soft-shrink activation whose threshold is learned, one
 * threshold per feature.  An example of a user-written layer: a custom op
 * (struct cg_op with forward and backward, f32 and f64) wrapped as a module
 * (struct cg_module_vtable), so it works with Sequential, SGD, checkpoints
 * and cg_gradcheck like a built-in layer.  Copy these two files and rename.
 *
 * With a = |t_j| the effective threshold of feature j:
 *
 *     y = x - a   if x >  a
 *     y = x + a   if x < -a
 *     y = 0       otherwise (the closed band [-a, a], as PyTorch's softshrink)
 *
 *     dy/dx = 1 outside the band, 0 on it (so x == a gives y = 0, dy/dx = 0)
 *     dy/dt = -sign(x) * sign(t) outside the band, 0 on it
 *
 * Why |t| rather than clamping t at 0: a clamp has zero gradient below 0, so
 * a threshold that SGD pushes negative would stay stuck there; with |t| the
 * layer stays a shrink and the gradient keeps flowing.  At t == 0 exactly the
 * gradient w.r.t. t is 0 (sign(0) = 0, as PyTorch's abs), so initialize
 * t > 0.  The gradient of t is summed over every leading (batch) dimension. */
#ifndef LEARNABLE_SHRINK_H
#define LEARNABLE_SHRINK_H

#include <cgrad.h>

/* The op: x [..., F] (any shape whose last dimension is F), threshold [F],
 * same dtype.  Returns y (shape of x, on `tape`), or NULL after misuse (a
 * message on stderr for shape mismatches; dtype mismatches go through
 * cgrad's misuse handler). */
struct cg_tensor *learnable_shrink(struct cg_tape *tape, struct cg_tensor *x,
                                   struct cg_tensor *threshold);

/* The op descriptor itself, e.g. to build variants for tests. */
extern const struct cg_op learnable_shrink_op;

/* A LearnableShrink module over `features` features: one f32 parameter
 * "threshold" [features], every element set to init_threshold.  Returns NULL
 * (after a message on stderr) if features < 1, init_threshold is negative or
 * not finite, or memory runs out.  Free with cg_module_free (a Sequential
 * frees it with itself). */
struct cg_module *learnable_shrink_new(int64_t features, double init_threshold);

/* The module's threshold parameter (owned by the module), or NULL if m is
 * not a LearnableShrink. */
struct cg_tensor *learnable_shrink_threshold(struct cg_module *m);

#endif
