/* Elementwise passes cut over the pool (cg_parallel_parts): unary ops'
 * forward and backward and the elementwise losses' backward give the same
 * bits at 2 threads as at 1, for f32 and f64, when the grad is first
 * written (=) and when it accumulates (+=), with and without reduction,
 * and the losses' gradient reaches the target as well as the input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_test.h"
#include "parallel.h"

#define OK(expr) assert_int_equal((expr), CG_OK)

/* Odd, and more than 3 cuts' worth, so the parts end off the 16-element
 * alignment and the last one is short. */
enum { N = 3 * CG_PARALLEL_MAP_MIN + 37 };

typedef struct cg_tensor *(*unary_fn)(struct cg_tape *, struct cg_tensor *);

static struct cg_tensor *hardshrink(struct cg_tape *t, struct cg_tensor *x) { return cg_hardshrink(t, x, 0.5); }
static struct cg_tensor *softshrink(struct cg_tape *t, struct cg_tensor *x) { return cg_softshrink(t, x, 0.5); }
static struct cg_tensor *clamp(struct cg_tape *t, struct cg_tensor *x) { return cg_clamp(t, x, -1, 0.7); }
static struct cg_tensor *gelu(struct cg_tape *t, struct cg_tensor *x) { return cg_gelu(t, x, false); }

static const unary_fn unary_ops[] = {cg_relu, hardshrink, softshrink, cg_tanhshrink, clamp, gelu,
                                     cg_tanh, cg_exp};

typedef struct cg_tensor *(*loss_fn)(struct cg_tape *, struct cg_tensor *, struct cg_tensor *,
                                     enum cg_reduction);

static struct cg_tensor *huber(struct cg_tape *t, struct cg_tensor *x, struct cg_tensor *y,
                               enum cg_reduction r)
{
    return cg_huber_loss(t, x, y, r, 0.8);
}

static const loss_fn losses[] = {cg_mse_loss, cg_l1_loss, huber};
static const enum cg_reduction reductions[] = {CG_REDUCTION_MEAN, CG_REDUCTION_SUM,
                                               CG_REDUCTION_NONE};

static size_t bytes(const struct cg_tensor *t) { return (size_t)t->numel * cg_dtype_size(t->dtype); }

/* What one run leaves: the output and the grads of x and t. */
struct result {
    void *y, *gx, *gt;
    size_t y_bytes;
};

static void *copy_of(const struct cg_tensor *t)
{
    void *p = malloc(bytes(t));
    assert_non_null(p);
    memcpy(p, t->data, bytes(t));
    return p;
}

/* Upstream weights, so every element's gradient differs. */
static struct cg_tensor *weights(enum cg_dtype dt)
{
    return cg_test_randn(dt, 1, (int64_t[]){N}, 99);
}

/* y = op(x) (twice, added, when twice: x's grad is then written once and
 * accumulated once), then the backward of sum(y w). */
static struct result run_unary(unary_fn op, enum cg_dtype dt, bool twice, int threads)
{
    cg_set_num_threads(threads);
    struct cg_tensor *x = cg_test_randn(dt, 1, (int64_t[]){N}, 7), *w = weights(dt);
    OK(cg_tensor_requires_grad(x, true));
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *y = op(tape, x);
    assert_non_null(y);
    struct cg_tensor *out = twice ? cg_add(tape, y, op(tape, x)) : y;
    OK(cg_backward(tape, cg_sum(tape, cg_mul(tape, out, w))));
    struct result r = {copy_of(y), copy_of(x->grad), NULL, bytes(y)};
    cg_tape_free(tape);
    cg_tensor_free(x);
    cg_tensor_free(w);
    cg_set_num_threads(1);
    return r;
}

static struct result run_loss(loss_fn loss, enum cg_dtype dt, enum cg_reduction red, int threads)
{
    cg_set_num_threads(threads);
    struct cg_tensor *x = cg_test_randn(dt, 1, (int64_t[]){N}, 7);
    struct cg_tensor *t = cg_test_randn(dt, 1, (int64_t[]){N}, 8), *w = weights(dt);
    OK(cg_tensor_requires_grad(x, true));
    OK(cg_tensor_requires_grad(t, true));
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *l = loss(tape, x, t, red);
    assert_non_null(l);
    OK(cg_backward(tape, red == CG_REDUCTION_NONE ? cg_sum(tape, cg_mul(tape, l, w)) : l));
    struct result r = {copy_of(l), copy_of(x->grad), copy_of(t->grad), bytes(l)};
    cg_tape_free(tape);
    cg_tensor_free(x);
    cg_tensor_free(t);
    cg_tensor_free(w);
    cg_set_num_threads(1);
    return r;
}

static void assert_same(const struct result *a, const struct result *b, size_t grad_bytes,
                        const char *what)
{
    if (memcmp(a->y, b->y, a->y_bytes)) fail_msg("%s: output differs at 2 threads", what);
    if (memcmp(a->gx, b->gx, grad_bytes)) fail_msg("%s: input grad differs at 2 threads", what);
    if (a->gt && memcmp(a->gt, b->gt, grad_bytes))
        fail_msg("%s: target grad differs at 2 threads", what);
}

static void free_result(struct result *r)
{
    free(r->y);
    free(r->gx);
    free(r->gt);
}

static void unary_ops_repeat_at_two_threads(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof unary_ops / sizeof *unary_ops; k++)
        for (int d = 0; d < 2; d++)
            for (int twice = 0; twice < 2; twice++) {
                enum cg_dtype dt = d ? CG_F64 : CG_F32;
                struct result one = run_unary(unary_ops[k], dt, twice, 1);
                struct result two = run_unary(unary_ops[k], dt, twice, 2);
                char what[64];
                snprintf(what, sizeof what, "unary op %zu, %s, %s", k, cg_dtype_name(dt),
                         twice ? "accumulated" : "assigned");
                assert_same(&one, &two, (size_t)N * cg_dtype_size(dt), what);
                free_result(&one);
                free_result(&two);
            }
}

static void loss_gradients_repeat_at_two_threads(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof losses / sizeof *losses; k++)
        for (size_t q = 0; q < sizeof reductions / sizeof *reductions; q++)
            for (int d = 0; d < 2; d++) {
                enum cg_dtype dt = d ? CG_F64 : CG_F32;
                struct result one = run_loss(losses[k], dt, reductions[q], 1);
                struct result two = run_loss(losses[k], dt, reductions[q], 2);
                char what[64];
                snprintf(what, sizeof what, "loss %zu, reduction %d, %s", k, (int)reductions[q],
                         cg_dtype_name(dt));
                assert_same(&one, &two, (size_t)N * cg_dtype_size(dt), what);
                free_result(&one);
                free_result(&two);
            }
}

/* The cut itself: below the threshold or at 1 thread a pass stays whole. */
static void parts_follow_size_and_threads(void **state)
{
    (void)state;
    assert_int_equal(cg_parallel_parts(N), 1);
    cg_set_num_threads(2);
    assert_int_equal(cg_parallel_parts(N), 2);
    assert_int_equal(cg_parallel_parts(CG_PARALLEL_MAP_MIN - 1), 1);
    assert_int_equal(cg_parallel_parts(CG_PARALLEL_MAP_MIN), 2);
    cg_set_num_threads(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parts_follow_size_and_threads),
        cmocka_unit_test(unary_ops_repeat_at_two_threads),
        cmocka_unit_test(loss_gradients_repeat_at_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
