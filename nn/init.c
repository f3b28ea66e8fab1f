/* Weight-init helpers like torch.nn.init, drawing from an explicit rng.
 * They fill a persistent tensor in place (no autograd involved). */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "error_internal.h"
#include "cgrad/nn.h"

static bool target_ok(const char *fn, const struct cg_tensor *t, const struct cg_rng *rng,
                      bool needs_rng)
{
    if (!t || (needs_rng && !rng)) {
        cg_misuse(fn, "%s is NULL", !t ? "tensor" : "rng");
        return false;
    }
    if (t->tape) {
        cg_misuse(fn, "tensor '%s' lives on a tape; initialize persistent tensors (parameters)",
                  t->name);
        return false;
    }
    return true;
}

enum cg_status cg_init_uniform(struct cg_tensor *t, double a, double b, struct cg_rng *rng)
{
    if (!target_ok("cg_init_uniform", t, rng, true)) return CG_ERR_INVALID;
    if (!(a <= b) || !isfinite(a) || !isfinite(b)) {
        cg_misuse("cg_init_uniform", "bounds a = %g, b = %g: need finite a <= b", a, b);
        return CG_ERR_INVALID;
    }
    for (int64_t i = 0; i < t->numel; i++) cg_tensor_set_at(t, i, a + (b - a) * cg_rng_uniform(rng));
    return CG_OK;
}

enum cg_status cg_init_normal(struct cg_tensor *t, double mean, double std, struct cg_rng *rng)
{
    if (!target_ok("cg_init_normal", t, rng, true)) return CG_ERR_INVALID;
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean)) {
        cg_misuse("cg_init_normal", "mean = %g, std = %g: need finite values and std >= 0", mean,
                  std);
        return CG_ERR_INVALID;
    }
    for (int64_t i = 0; i < t->numel; i++) cg_tensor_set_at(t, i, mean + std * cg_rng_normal(rng));
    return CG_OK;
}

enum cg_status cg_init_constant(struct cg_tensor *t, double value)
{
    if (!target_ok("cg_init_constant", t, NULL, false)) return CG_ERR_INVALID;
    cg_tensor_fill(t, value);
    return CG_OK;
}

/* PyTorch's _calculate_fan_in_and_fan_out: dims 0 and 1 times the
 * receptive field (the product of the others). */
static bool fans(const char *fn, const struct cg_tensor *t, double *fan_in, double *fan_out)
{
    if (t->ndim < 2) {
        char s[128];
        cg_misuse(fn, "tensor %s has fewer than 2 dims: fan in and fan out are undefined (as "
                  "PyTorch)", cg_tensor_shape_str(t, s, sizeof s));
        return false;
    }
    double field = 1;
    for (int d = 2; d < t->ndim; d++) field *= (double)t->shape[d];
    *fan_in = (double)t->shape[1] * field;
    *fan_out = (double)t->shape[0] * field;
    return true;
}

enum cg_status cg_init_xavier_uniform(struct cg_tensor *t, double gain, struct cg_rng *rng)
{
    double in, out;
    if (!target_ok("cg_init_xavier_uniform", t, rng, true) ||
        !fans("cg_init_xavier_uniform", t, &in, &out))
        return CG_ERR_INVALID;
    double a = gain * sqrt(2.0 / (in + out)) * sqrt(3.0);
    return cg_init_uniform(t, -a, a, rng);
}

enum cg_status cg_init_xavier_normal(struct cg_tensor *t, double gain, struct cg_rng *rng)
{
    double in, out;
    if (!target_ok("cg_init_xavier_normal", t, rng, true) ||
        !fans("cg_init_xavier_normal", t, &in, &out))
        return CG_ERR_INVALID;
    return cg_init_normal(t, 0, gain * sqrt(2.0 / (in + out)), rng);
}

double cg_init_calculate_gain(const char *nonlinearity, double param)
{
    const char *fn = "cg_init_calculate_gain";
    if (!nonlinearity) {
        cg_misuse(fn, "nonlinearity is NULL");
        return NAN;
    }
    static const char *const linear[] = {"linear", "conv1d", "conv2d", "conv3d", "sigmoid",
                                         "conv_transpose1d", "conv_transpose2d",
                                         "conv_transpose3d"};
    for (size_t i = 0; i < sizeof linear / sizeof linear[0]; i++)
        if (!strcmp(nonlinearity, linear[i])) return 1;
    if (!strcmp(nonlinearity, "tanh")) return 5.0 / 3;
    if (!strcmp(nonlinearity, "relu")) return sqrt(2.0);
    if (!strcmp(nonlinearity, "selu")) return 3.0 / 4;
    if (!strcmp(nonlinearity, "leaky_relu")) {
        if (!isfinite(param)) {
            cg_misuse(fn, "negative_slope %g for leaky_relu is not finite (PyTorch's default: "
                      "0.01)", param);
            return NAN;
        }
        return sqrt(2.0 / (1 + param * param));
    }
    cg_misuse(fn, "unsupported nonlinearity '%s' (known: linear, conv*, sigmoid, tanh, relu, "
              "leaky_relu, selu)", nonlinearity);
    return NAN;
}

/* std of kaiming_*: gain(nonlinearity, a) / sqrt(fan of mode). */
static bool kaiming_std(const char *fn, const struct cg_tensor *t, double a, enum cg_fan_mode mode,
                        const char *nonlinearity, double *std)
{
    double in, out;
    if (!fans(fn, t, &in, &out)) return false;
    if (mode != CG_FAN_IN && mode != CG_FAN_OUT) {
        cg_misuse(fn, "mode %d is not CG_FAN_IN or CG_FAN_OUT", (int)mode);
        return false;
    }
    double gain = cg_init_calculate_gain(nonlinearity, a);
    if (isnan(gain)) return false;
    *std = gain / sqrt(mode == CG_FAN_IN ? in : out);
    return true;
}

enum cg_status cg_init_kaiming_uniform(struct cg_tensor *t, double a, enum cg_fan_mode mode,
                                       const char *nonlinearity, struct cg_rng *rng)
{
    double std;
    if (!target_ok("cg_init_kaiming_uniform", t, rng, true) ||
        !kaiming_std("cg_init_kaiming_uniform", t, a, mode, nonlinearity, &std))
        return CG_ERR_INVALID;
    double bound = sqrt(3.0) * std;
    return cg_init_uniform(t, -bound, bound, rng);
}

enum cg_status cg_init_kaiming_normal(struct cg_tensor *t, double a, enum cg_fan_mode mode,
                                      const char *nonlinearity, struct cg_rng *rng)
{
    double std;
    if (!target_ok("cg_init_kaiming_normal", t, rng, true) ||
        !kaiming_std("cg_init_kaiming_normal", t, a, mode, nonlinearity, &std))
        return CG_ERR_INVALID;
    return cg_init_normal(t, 0, std, rng);
}

double cg_accuracy(const struct cg_tensor *logits, const int64_t *labels)
{
    const char *fn = "cg_accuracy";
    if (!logits || !labels || logits->ndim != 2 || logits->shape[0] < 1 || logits->shape[1] < 1) {
        char s[128];
        cg_misuse(fn, "logits %s, labels %s: need [N, C] scores with N, C >= 1 and N labels",
                  logits ? cg_tensor_shape_str(logits, s, sizeof s) : "NULL",
                  labels ? "given" : "NULL");
        return NAN;
    }
    int64_t n = logits->shape[0], c = logits->shape[1], hits = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < c; j++)
            if (cg_tensor_at(logits, i * c + j) > cg_tensor_at(logits, i * c + best)) best = j;
        hits += best == labels[i];
    }
    return (double)hits / (double)n;
}
