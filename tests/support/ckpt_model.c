/* See ckpt_model.h. */
#include "cg_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_model.h"

static void visit(struct cg_module *self, const char *prefix, cg_param_visitor fn, void *user,
                  bool buffers)
{
    struct cg_test_tmod *m = (struct cg_test_tmod *)self;
    for (int i = 0; i < m->n; i++)
        if (m->spec[i].buffer == buffers)
            cg_module_visit_param(prefix, m->spec[i].name, m->p[i], fn, user);
}

static void visit_params(struct cg_module *self, const char *prefix, cg_param_visitor fn,
                         void *user)
{
    visit(self, prefix, fn, user, false);
}

static void visit_buffers(struct cg_module *self, const char *prefix, cg_param_visitor fn,
                          void *user)
{
    visit(self, prefix, fn, user, true);
}

static void tmod_free(struct cg_module *self)
{
    struct cg_test_tmod *m = (struct cg_test_tmod *)self;
    for (int i = 0; i < m->n; i++) cg_tensor_free(m->p[i]);
    free(m);
}

static const struct cg_module_vtable tmod_vt = {.type_name = "TestModel",
                                                .visit_params = visit_params,
                                                .visit_buffers = visit_buffers,
                                                .free = tmod_free};

struct cg_test_tmod *cg_test_tmod_new(const struct cg_test_pspec *spec, int n, uint64_t seed)
{
    assert_true(n <= CG_TEST_TMOD_MAX);
    struct cg_test_tmod *m = calloc(1, sizeof *m);
    assert_non_null(m);
    cg_module_init(&m->base, &tmod_vt);
    m->n = n;
    m->spec = spec;
    struct cg_rng rng = cg_rng_seed(seed);
    for (int i = 0; i < n; i++) {
        m->p[i] = cg_tensor_uniform(NULL, spec[i].dtype, spec[i].ndim, spec[i].shape, -1, 1, &rng);
        assert_non_null(m->p[i]);
        if (spec[i].buffer) assert_int_equal(cg_module_init_buffer(m->p[i], spec[i].name), CG_OK);
        else assert_int_equal(cg_tensor_requires_grad(m->p[i], true), CG_OK);
    }
    return m;
}

void cg_test_tmod_train(struct cg_test_tmod *m, struct cg_optimizer *opt, int steps)
{
    for (int s = 0; s < steps; s++) {
        cg_optimizer_zero_grad(opt);
        for (int k = 0; k < m->n; k++) {
            struct cg_tensor *p = m->p[k];
            for (int64_t i = 0; i < p->numel; i++) {
                double v = cg_tensor_at(p, i);
                if (m->spec[k].buffer) cg_tensor_set_at(p, i, v + 0.25);
                else cg_tensor_set_at(p->grad, i, 2 * (v - 0.1 * (double)i));
            }
        }
        assert_int_equal(cg_optimizer_step(opt), CG_OK);
        if (cg_optimizer_schedule(opt)) cg_lr_schedule_step(cg_optimizer_schedule(opt));
    }
}

bool cg_test_same_bits(const struct cg_tensor *a, const struct cg_tensor *b)
{
    if (!a || !b) return a == b;
    return a->dtype == b->dtype && a->numel == b->numel &&
           memcmp(a->data, b->data, (size_t)a->numel * cg_dtype_size(a->dtype)) == 0;
}

/* Every state item flattened to "name=bytes" lines, for comparison. */
struct dump {
    char *text;
    size_t len, cap;
};

static void put(struct dump *d, const void *bytes, size_t n)
{
    if (d->len + n + 1 > d->cap) {
        d->cap = 2 * (d->len + n + 1);
        d->text = realloc(d->text, d->cap);
        assert_non_null(d->text);
    }
    memcpy(d->text + d->len, bytes, n);
    d->len += n;
}

static void dump_item(const struct cg_state_item *it, void *user)
{
    struct dump *d = user;
    put(d, it->name, strlen(it->name) + 1);
    bool present = !it->present || *it->present;
    put(d, &present, 1);
    if (!present) return;
    if (it->type == CG_STATE_TENSOR)
        put(d, it->tensor->data, (size_t)it->tensor->numel * cg_dtype_size(it->tensor->dtype));
    else put(d, it->values, it->count * (it->type == CG_STATE_TEXT ? 1 : 8));
}

void cg_test_assert_same_state(struct cg_test_tmod *a, struct cg_optimizer *opt_a,
                               struct cg_test_tmod *b, struct cg_optimizer *opt_b)
{
    assert_int_equal(a->n, b->n);
    for (int k = 0; k < a->n; k++)
        if (!cg_test_same_bits(a->p[k], b->p[k]))
            fail_msg("tensor '%s' differs", a->spec[k].name);
    if (!opt_a) return;
    struct dump da = {0}, db = {0};
    cg_optimizer_visit_state(opt_a, dump_item, &da);
    cg_optimizer_visit_state(opt_b, dump_item, &db);
    assert_true(da.len > 0);
    if (da.len != db.len || memcmp(da.text, db.text, da.len) != 0)
        fail_msg("the optimizers' state differs");
    free(da.text);
    free(db.text);
}

void cg_test_expect_error_(const char *path, const char *const *subs)
{
    const char *msg = cg_last_error();
    if (strncmp(msg, path, strlen(path)) != 0) fail_msg("'%s' does not name %s first", msg, path);
    for (; *subs; subs++)
        if (!strstr(msg, *subs)) fail_msg("message '%s' lacks '%s'", msg, *subs);
}
