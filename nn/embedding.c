/* Embedding: a lookup table [num_embeddings, embedding_dim] whose forward
 * takes a tensor of whole-number indices (any shape) and returns
 * [shape..., embedding_dim] through cg_embedding. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "alloc.h"
#include "error_internal.h"
#include "cgrad/nn.h"

struct embedding {
    struct cg_module base;
    int64_t num, dim, padding_idx; /* normalized, or CG_NO_PADDING */
    struct cg_tensor *weight;
};

static struct cg_tensor *embedding_forward(struct cg_module *self, struct cg_tape *tape,
                                           struct cg_tensor *x)
{
    struct embedding *e = (struct embedding *)self;
    if (!tape) {
        cg_misuse("Embedding", "tape is NULL (hint: create one with cg_tape_new())");
        return NULL;
    }
    int64_t *idx = cg_tape_alloc(tape, (size_t)(x->numel ? x->numel : 1) * sizeof *idx);
    if (!idx) return NULL;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = cg_tensor_at(x, i);
        if (!(v >= 0 && v < (double)e->num) || v != floor(v)) {
            cg_misuse("Embedding", "input element %" PRId64 " = %g is not an index into %" PRId64
                      " embeddings (need a whole number 0 <= index < %" PRId64 ")", i, v, e->num,
                      e->num);
            return NULL;
        }
        idx[i] = (int64_t)v;
    }
    return cg_embedding(tape, e->weight, idx, x->ndim, x->shape, e->padding_idx);
}

static void embedding_visit_params(struct cg_module *self, const char *prefix,
                                   cg_param_visitor visit, void *user)
{
    cg_module_visit_param(prefix, "weight", ((struct embedding *)self)->weight, visit, user);
}

static void embedding_describe(const struct cg_module *self, char *buf, size_t size)
{
    const struct embedding *e = (const struct embedding *)self;
    int n = snprintf(buf, size, "%" PRId64 ", %" PRId64, e->num, e->dim);
    if (e->padding_idx != CG_NO_PADDING && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ", padding_idx=%" PRId64, e->padding_idx);
}

static void embedding_free(struct cg_module *self)
{
    cg_tensor_free(((struct embedding *)self)->weight);
    cg_free(self);
}

static const struct cg_module_vtable embedding_vtable = {
    .type_name = "Embedding",
    .forward = embedding_forward,
    .visit_params = embedding_visit_params,
    .free = embedding_free,
    .describe = embedding_describe,
};

struct cg_module *cg_embedding_new(int64_t num_embeddings, int64_t embedding_dim,
                                   int64_t padding_idx, struct cg_rng *rng)
{
    const char *fn = "cg_embedding_new";
    if (num_embeddings < 1 || embedding_dim < 1 || !rng) {
        cg_misuse(fn, "num_embeddings %" PRId64 ", embedding_dim %" PRId64 ", rng %s: need sizes "
                  ">= 1 and an rng", num_embeddings, embedding_dim, rng ? "given" : "NULL");
        return NULL;
    }
    if (padding_idx != CG_NO_PADDING &&
        (padding_idx < -num_embeddings || padding_idx >= num_embeddings)) {
        cg_misuse(fn, "padding_idx %" PRId64 " is out of range for %" PRId64 " embeddings "
                  "(valid: %" PRId64 "..%" PRId64 ", or CG_NO_PADDING)", padding_idx,
                  num_embeddings, -num_embeddings, num_embeddings - 1);
        return NULL;
    }
    struct embedding *e = cg_calloc(1, sizeof *e, "Embedding");
    if (!e) return NULL;
    cg_module_init(&e->base, &embedding_vtable);
    e->num = num_embeddings;
    e->dim = embedding_dim;
    e->padding_idx = padding_idx < 0 && padding_idx != CG_NO_PADDING ? padding_idx + num_embeddings
                                                                     : padding_idx;
    /* N(0, 1) as PyTorch, the padding row zeroed. */
    e->weight = cg_tensor_randn(NULL, CG_F32, CG_SHAPE(num_embeddings, embedding_dim), rng);
    if (!e->weight || cg_module_init_param(e->weight, "weight") != CG_OK) {
        embedding_free(&e->base);
        return NULL;
    }
    if (e->padding_idx != CG_NO_PADDING)
        for (int64_t j = 0; j < embedding_dim; j++)
            cg_tensor_set_at(e->weight, e->padding_idx * embedding_dim + j, 0);
    return &e->base;
}

struct cg_tensor *cg_embedding_weight(struct cg_module *m)
{
    if (m && m->vtable == &embedding_vtable) return ((struct embedding *)m)->weight;
    cg_misuse("cg_embedding_weight", "module is %s%s, not an Embedding", m ? "a " : "NULL",
              cg_module_type(m));
    return NULL;
}
