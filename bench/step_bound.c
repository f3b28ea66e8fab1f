#include "step_bound.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

/* The passes run at the speed of the best vector ISA, as cgrad's own loops
 * do (off under ThreadSanitizer, whose runtime the clone resolvers precede). */
#if defined(__SANITIZE_THREAD__)
#define BOUND_NO_CLONES 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BOUND_NO_CLONES 1
#endif
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__AVX2__) && !defined(BOUND_NO_CLONES)
#define BOUND_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BOUND_CLONES
#endif

static const float shrink_lambda = 0.1f, sgd_lr = 0.05f, sgd_momentum = 0.9f;

BOUND_CLONES static void to_unit(float *restrict dst, const uint8_t *restrict src, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i] * (1.0f / 255.0f);
}

/* Shuffled images lie far apart: their cache misses overlap only when
 * asked for ahead (here four images ahead). */
static void convert_batch(float *x, const uint8_t *images, const int64_t *order, int n, int64_t pix)
{
    enum { AHEAD = 4 };
    for (int r = 0; r < n; r++) {
        if (r + AHEAD < n)
            for (int64_t k = 0; k < pix; k += 64) __builtin_prefetch(images + order[r + AHEAD] * pix + k);
        to_unit(x + r * pix, images + order[r] * pix, pix);
    }
}

BOUND_CLONES static void shrink_forward(float *restrict y, const float *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] > shrink_lambda || x[i] < -shrink_lambda) ? x[i] : 0.0f;
}

BOUND_CLONES static void shrink_backward(float *restrict dx, const float *restrict dy, const float *restrict x,
                                         int64_t n)
{
    for (int64_t i = 0; i < n; i++) dx[i] = (x[i] > shrink_lambda || x[i] < -shrink_lambda) ? dy[i] : 0.0f;
}

/* The MSE loss and its gradient in one pass (cgrad makes two). */
BOUND_CLONES static float loss_and_grad(float *restrict dy, const float *restrict y, const float *restrict x,
                                        int64_t n)
{
    enum { LANES = 16 }; /* partial sums, so the loop vectorizes */
    float part[LANES] = {0}, scale = 2.0f / (float)n;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float d = y[i + j] - x[i + j];
            part[j] += d * d;
            dy[i + j] = scale * d;
        }
    for (; i < n; i++) {
        float d = y[i] - x[i];
        part[0] += d * d;
        dy[i] = scale * d;
    }
    float sum = 0;
    for (int j = 0; j < LANES; j++) sum += part[j];
    return sum / (float)n;
}

BOUND_CLONES static void col_sums(float *restrict s, const float *restrict a, int64_t rows, int64_t cols)
{
    memset(s, 0, (size_t)cols * sizeof *s);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++) s[j] += a[r * cols + j];
}

/* PyTorch's momentum update; then the gradient is zeroed for the next
 * accumulating GEMM. */
BOUND_CLONES static void sgd_update(float *restrict p, float *restrict g, float *restrict buf, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float b = sgd_momentum * buf[i] + g[i];
        buf[i] = b;
        p[i] -= sgd_lr * b;
    }
    memset(g, 0, (size_t)n * sizeof *g); /* faster than zeroing in the loop above */
}

enum { LAYERS = 3 };

struct net {
    int in[LAYERS], out[LAYERS];
    float *x, *a1, *s, *a2, *y;    /* batch, pre-activation, code, bottleneck, output */
    float *dy, *da2, *ds, *da1;    /* their gradients */
    float *w[LAYERS], *b[LAYERS], *dw[LAYERS], *db[LAYERS], *mw[LAYERS], *mb[LAYERS];
};

static float *zeros(int64_t n) { return calloc((size_t)n, sizeof(float)); }

static void net_free(struct net *t)
{
    float *bufs[] = {t->x, t->a1, t->s, t->a2, t->y, t->dy, t->da2, t->ds, t->da1};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    for (int l = 0; l < LAYERS; l++) free(t->w[l]), free(t->b[l]), free(t->dw[l]), free(t->db[l]), free(t->mw[l]), free(t->mb[l]);
}

static int net_init(struct net *t, int batch, int pix, int hidden, int bottleneck)
{
    *t = (struct net){.in = {pix, hidden, bottleneck}, .out = {hidden, bottleneck, pix}};
    int64_t n = batch;
    t->x = zeros(n * pix), t->y = zeros(n * pix), t->dy = zeros(n * pix);
    t->a1 = zeros(n * hidden), t->s = zeros(n * hidden), t->ds = zeros(n * hidden), t->da1 = zeros(n * hidden);
    t->a2 = zeros(n * bottleneck), t->da2 = zeros(n * bottleneck);
    int ok = t->x && t->y && t->dy && t->a1 && t->s && t->ds && t->da1 && t->a2 && t->da2;
    uint64_t seed = 12345;
    for (int l = 0; l < LAYERS && ok; l++) {
        int64_t size = (int64_t)t->in[l] * t->out[l];
        t->w[l] = zeros(size), t->dw[l] = zeros(size), t->mw[l] = zeros(size);
        t->b[l] = zeros(t->out[l]), t->db[l] = zeros(t->out[l]), t->mb[l] = zeros(t->out[l]);
        ok = t->w[l] && t->dw[l] && t->mw[l] && t->b[l] && t->db[l] && t->mb[l];
        /* PyTorch's default range, so the epoch trains like the real one. */
        float bound = 1.0f / sqrtf((float)t->in[l]);
        for (int64_t i = 0; ok && i < size; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            t->w[l][i] = bound * ((float)(seed >> 40) / (float)(1 << 24) * 2.0f - 1.0f);
        }
    }
    if (!ok) net_free(t);
    return ok ? 0 : -1;
}

static void gemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k, const float *a, int lda,
                 const float *b, int ldb, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 1.0f, c, ldc);
}

enum pass { CONVERT, BIAS_ROWS, SHRINK, LOSS, BIAS_GRAD, ZERO, SHRINK_BACKWARD, SGD };
static const char *const pass_names[STEP_BOUND_PASSES] = {
    [CONVERT] = "convert", [BIAS_ROWS] = "bias_rows", [SHRINK] = "shrink", [LOSS] = "loss",
    [BIAS_GRAD] = "bias_grad", [ZERO] = "zero", [SHRINK_BACKWARD] = "shrink_backward", [SGD] = "sgd"};
_Static_assert(SGD + 1 == STEP_BOUND_PASSES, "one name per pass");

const char *step_bound_pass_name(int pass) { return pass_names[pass]; }

/* Runs STMT and adds its time to passes[KIND]. */
#define TIMED(KIND, STMT)                                                                          \
    do {                                                                                           \
        double t0_ = bench_now();                                                                  \
        STMT;                                                                                      \
        passes[KIND] += bench_now() - t0_;                                                         \
    } while (0)

/* One training step on rows `order` of the images: the floor's GEMMs (same
 * shapes, flags and order) with the passes between them. */
static float step(struct net *t, const struct cg_dataset *train, const int64_t *order, int n, double *passes)
{
    const int *in = t->in, *out = t->out;
    int64_t pix = in[0];
    TIMED(CONVERT, convert_batch(t->x, train->images, order, n, pix));
    const float *input[LAYERS] = {t->x, t->s, t->a2};
    float *output[LAYERS] = {t->a1, t->a2, t->y};
    for (int l = 0; l < LAYERS; l++) {
        float *y = output[l];
        TIMED(BIAS_ROWS, for (int r = 0; r < n; r++) memcpy(y + (int64_t)r * out[l], t->b[l], (size_t)out[l] * sizeof *y));
        gemm(CblasNoTrans, CblasTrans, n, out[l], in[l], input[l], in[l], t->w[l], in[l], y, out[l]);
        if (l == 0) TIMED(SHRINK, shrink_forward(t->s, t->a1, (int64_t)n * out[0]));
    }
    float loss;
    TIMED(LOSS, loss = loss_and_grad(t->dy, t->y, t->x, (int64_t)n * pix));
    float *grad_out[LAYERS] = {t->da1, t->da2, t->dy}, *grad_in[LAYERS] = {NULL, t->ds, t->da2};
    for (int l = LAYERS - 1; l >= 0; l--) {
        TIMED(BIAS_GRAD, col_sums(t->db[l], grad_out[l], n, out[l]));
        gemm(CblasTrans, CblasNoTrans, out[l], in[l], n, grad_out[l], out[l], input[l], in[l], t->dw[l], in[l]);
        if (l == 0) break; /* the batch needs no gradient */
        TIMED(ZERO, memset(grad_in[l], 0, (size_t)n * (size_t)in[l] * sizeof(float)));
        gemm(CblasNoTrans, CblasNoTrans, n, in[l], out[l], grad_out[l], out[l], t->w[l], in[l], grad_in[l], in[l]);
        if (l == 1) TIMED(SHRINK_BACKWARD, shrink_backward(t->da1, t->ds, t->a1, (int64_t)n * in[1]));
    }
    TIMED(SGD, for (int l = 0; l < LAYERS; l++) {
        sgd_update(t->w[l], t->dw[l], t->mw[l], (int64_t)in[l] * out[l]);
        sgd_update(t->b[l], t->db[l], t->mb[l], out[l]);
    });
    return loss;
}

double step_bound_epoch(const struct cg_dataset *train, int64_t count, int batch, int hidden, int bottleneck,
                        double pass_seconds[STEP_BOUND_PASSES], double *mean_loss)
{
    struct net t;
    int64_t *order = malloc((size_t)(count > 0 ? count : 1) * sizeof *order);
    if (!order || net_init(&t, batch, train->rows * train->cols, hidden, bottleneck)) {
        free(order);
        return -1;
    }
    /* A shuffled epoch, as cg_batches makes one (Fisher-Yates). */
    uint64_t seed = 99;
    for (int64_t i = 0; i < count; i++) order[i] = i;
    for (int64_t i = count - 1; i > 0; i--) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        int64_t j = (int64_t)((seed >> 33) % (uint64_t)(i + 1)), tmp = order[i];
        order[i] = order[j], order[j] = tmp;
    }
    int threads = cg_get_num_threads();
    openblas_set_num_threads(1);
    for (int k = 0; k < STEP_BOUND_PASSES; k++) pass_seconds[k] = 0;
    double t0 = bench_now(), loss_sum = 0;
    int64_t steps = 0;
    for (int64_t done = 0; done < count; done += batch, steps++) {
        int n = count - done < batch ? (int)(count - done) : batch;
        loss_sum += step(&t, train, order + done, n, pass_seconds);
    }
    *mean_loss = steps ? loss_sum / (double)steps : 0.0;
    double seconds = bench_now() - t0;
    cg_set_num_threads(threads); /* back to cgrad's one OpenBLAS thread per call */
    bench_settle_openblas();
    net_free(&t);
    free(order);
    return seconds;
}
