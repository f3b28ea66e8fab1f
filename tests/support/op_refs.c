/* Reader for tests/data/op_refs.txt and a by-name dispatcher for the
 * built-in ops (see op_refs.h). */
#include "cg_test.h"
#include "op_refs.h"
#include "ref_reader.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses the current line "<tag> <ndim> <dims> <values>" into *t. */
static int parse_tensor(struct cg_ref_reader *r, struct cg_opref_tensor *t)
{
    long long v;
    if (r->n_tok < 2) return cg_ref_fail(r, "'%s' needs a rank", r->tok[0]);
    if (cg_ref_int(r, r->tok[1], 0, CG_MAX_DIMS, &v)) return -1;
    t->ndim = (int)v;
    if (r->n_tok < 2 + t->ndim) return cg_ref_fail(r, "'%s': %d dims announced, line too short",
                                             r->tok[0], t->ndim);
    t->numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (cg_ref_int(r, r->tok[2 + d], 0, 1 << 20, &v)) return -1;
        t->shape[d] = v;
        t->numel *= v;
    }
    if (t->numel > CG_REF_MAX_TOKENS || r->n_tok - 2 - t->ndim != t->numel)
        return cg_ref_fail(r, "'%s': shape has %lld elements but the line has %d values", r->tok[0],
                     (long long)t->numel, r->n_tok - 2 - t->ndim);
    t->values = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(double));
    if (!t->values) return cg_ref_fail(r, "out of memory");
    for (int64_t i = 0; i < t->numel; i++)
        if (cg_ref_double(r, r->tok[2 + t->ndim + i], &t->values[i])) return -1;
    return 0;
}

static int read_tensor(struct cg_ref_reader *r, const char *tag, struct cg_opref_tensor *t)
{
    if (cg_ref_expect(r, tag)) return -1;
    return parse_tensor(r, t);
}

static int copy_name(struct cg_ref_reader *r, char *dst, const char *src)
{
    if (strlen(src) >= CG_OPREF_NAME_MAX) return cg_ref_fail(r, "name '%s' too long", src);
    strcpy(dst, src);
    return 0;
}

static int same_shape(const struct cg_opref_tensor *a, const struct cg_opref_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

/* The current line is "case <name> <op>"; reads the rest of the case. */
static int read_case(struct cg_ref_reader *r, struct cg_opref_case *c)
{
    long long v;
    if (r->n_tok != 3) return cg_ref_fail(r, "expected 'case <name> <op>'");
    c->line = r->line_no;
    if (copy_name(r, c->name, r->tok[1]) || copy_name(r, c->op, r->tok[2])) return -1;
    if (cg_ref_expect(r, "scalars")) return -1;
    if (r->n_tok < 2) return cg_ref_fail(r, "'scalars' needs a count");
    if (cg_ref_int(r, r->tok[1], 0, CG_OPREF_MAX_SCALARS, &v)) return -1;
    c->n_scalars = (int)v;
    if (r->n_tok != 2 + c->n_scalars)
        return cg_ref_fail(r, "'scalars %d' followed by %d values", c->n_scalars, r->n_tok - 2);
    for (int i = 0; i < c->n_scalars; i++)
        if (cg_ref_double(r, r->tok[2 + i], &c->scalars[i])) return -1;
    if (cg_ref_expect(r, "inputs")) return -1;
    if (r->n_tok != 2) return cg_ref_fail(r, "expected 'inputs <n>'");
    if (cg_ref_int(r, r->tok[1], 1, CG_MAX_INPUTS, &v)) return -1;
    c->n_inputs = (int)v;
    for (int i = 0; i < c->n_inputs; i++)
        if (read_tensor(r, "in", &c->in[i])) return -1;
    if (read_tensor(r, "gout", &c->gout) || read_tensor(r, "out", &c->out)) return -1;
    if (!same_shape(&c->gout, &c->out)) return cg_ref_fail(r, "'out' and 'gout' shapes differ");
    for (int i = 0; i < c->n_inputs; i++) {
        if (read_tensor(r, "grad", &c->grad[i])) return -1;
        if (!same_shape(&c->grad[i], &c->in[i]))
            return cg_ref_fail(r, "'grad' %d has a different shape than input %d", i, i);
    }
    if (cg_ref_expect(r, "end")) return -1;
    if (r->n_tok != 1) return cg_ref_fail(r, "junk after 'end'");
    return 0;
}

static void free_case(struct cg_opref_case *c)
{
    for (int i = 0; i < CG_MAX_INPUTS; i++) {
        free(c->in[i].values);
        free(c->grad[i].values);
    }
    free(c->gout.values);
    free(c->out.values);
}

static int read_all(struct cg_ref_reader *r, struct cg_opref_file *file)
{
    if (cg_ref_header(r, "op reference", "CGRAD-OPREF", CG_OPREF_VERSION, "tests/gen_op_refs.py")) return -1;
    int got;
    int cap = 0;
    while ((got = cg_ref_next_line(r)) == 1) {
        if (strcmp(r->tok[0], "case") != 0)
            return cg_ref_fail(r, "expected 'case', found '%s'", r->tok[0]);
        if (file->n_cases == cap) {
            cap = cap ? 2 * cap : 64;
            struct cg_opref_case *c = realloc(file->cases, (size_t)cap * sizeof *c);
            if (!c) return cg_ref_fail(r, "out of memory");
            file->cases = c;
        }
        struct cg_opref_case *c = &file->cases[file->n_cases++];
        memset(c, 0, sizeof *c);
        if (read_case(r, c)) return -1;
        for (int i = 0; i < file->n_cases - 1; i++)
            if (strcmp(file->cases[i].name, c->name) == 0)
                return cg_ref_fail(r, "duplicate case name '%s'", c->name);
    }
    if (got < 0) return -1;
    if (file->n_cases == 0) return cg_ref_fail(r, "no cases");
    return 0;
}

int cg_opref_load(const char *path, struct cg_opref_file *file, char *err, size_t err_size)
{
    struct cg_ref_reader r = {.path = path, .err = err, .err_size = err_size};
    file->n_cases = 0;
    file->cases = NULL;
    r.f = fopen(path, "r");
    if (!r.f) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = read_all(&r, file);
    free(r.line);
    fclose(r.f);
    if (rc) cg_opref_free(file);
    return rc;
}

int cg_opref_append(const char *path, struct cg_opref_file *file, char *err, size_t err_size)
{
    struct cg_opref_file more;
    if (cg_opref_load(path, &more, err, err_size) != 0) return -1;
    for (int i = 0; i < more.n_cases; i++)
        for (int j = 0; j < file->n_cases; j++)
            if (strcmp(more.cases[i].name, file->cases[j].name) == 0) {
                snprintf(err, err_size, "%s: case '%s' already loaded from another file", path,
                         more.cases[i].name);
                cg_opref_free(&more);
                return -1;
            }
    struct cg_opref_case *all =
        realloc(file->cases, (size_t)(file->n_cases + more.n_cases) * sizeof *all);
    if (!all) {
        snprintf(err, err_size, "%s: out of memory", path);
        cg_opref_free(&more);
        return -1;
    }
    memcpy(all + file->n_cases, more.cases, (size_t)more.n_cases * sizeof *all);
    file->cases = all;
    file->n_cases += more.n_cases;
    free(more.cases); /* the cases' tensors now belong to file */
    return 0;
}

int cg_opref_setup(const char *path, struct cg_opref_file *file)
{
    char err[512];
    if (cg_opref_load(path, file, err, sizeof err) == 0) return 0;
    fprintf(stderr, "reference file unusable: %s\n", err);
    return -1;
}

void cg_opref_free(struct cg_opref_file *file)
{
    for (int i = 0; i < file->n_cases; i++) free_case(&file->cases[i]);
    free(file->cases);
    file->cases = NULL;
    file->n_cases = 0;
}

int cg_opref_count_op(const struct cg_opref_file *file, const char *op)
{
    int n = 0;
    for (int i = 0; i < file->n_cases; i++) n += strcmp(file->cases[i].op, op) == 0;
    return n;
}

struct cg_tensor *cg_opref_make(const struct cg_opref_tensor *t, enum cg_dtype dtype)
{
    return cg_tensor_from_doubles(NULL, dtype, t->ndim, t->shape, t->values);
}

/* ---- checking a case ---- */

static void assert_shape(const struct cg_tensor *t, const struct cg_opref_tensor *ref,
                         const char *what)
{
    bool same = t->ndim == ref->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == ref->shape[d];
    if (!same) {
        char got[128];
        fail_msg("%s: shape %s, torch has rank %d (first dim %lld)", what,
                 cg_tensor_shape_str(t, got, sizeof got), ref->ndim,
                 ref->ndim ? (long long)ref->shape[0] : 0LL);
    }
}

static void assert_values(const struct cg_tensor *t, const struct cg_opref_tensor *ref,
                          double tol, const char *what)
{
    assert_shape(t, ref, what);
    for (int64_t i = 0; i < t->numel; i++) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s element %lld", what, (long long)i);
        cg_test_assert_close(cg_tensor_at(t, i), ref->values[i], tol, tol, msg, __FILE__,
                             __LINE__);
    }
}

void cg_opref_check_case(struct cg_tape *tape, const struct cg_opref_case *c, enum cg_dtype dtype,
                         double tol)
{
    const char *dn = cg_dtype_name(dtype);
    struct cg_tensor *in[CG_MAX_INPUTS] = {NULL};
    for (int i = 0; i < c->n_inputs; i++) {
        in[i] = cg_opref_make(&c->in[i], dtype);
        assert_non_null(in[i]);
        assert_int_equal(cg_tensor_requires_grad(in[i], true), CG_OK);
    }
    struct cg_tensor *seed = cg_opref_make(&c->gout, dtype);
    assert_non_null(seed);

    cg_test_misuse_reset();
    struct cg_tensor *out = cg_opref_run(tape, c->op, in, c->n_inputs, c->scalars, c->n_scalars);
    if (!out)
        fail_msg("case %s (%s, line %d): op returned NULL: %s", c->name, dn, c->line,
                 cg_test_misuse_message());
    char what[160];
    snprintf(what, sizeof what, "case %s (%s) output", c->name, dn);
    assert_values(out, &c->out, tol, what);

    enum cg_status st = cg_backward_seed(tape, out, seed);
    if (st != CG_OK)
        fail_msg("case %s (%s): backward returned %s: %s", c->name, dn, cg_status_str(st),
                 cg_last_error());
    for (int i = 0; i < c->n_inputs; i++) {
        snprintf(what, sizeof what, "case %s (%s) grad of input %d", c->name, dn, i);
        if (!in[i]->grad) fail_msg("%s: missing", what);
        assert_values(in[i]->grad, &c->grad[i], tol, what);
    }
    for (int i = 0; i < c->n_inputs; i++) cg_tensor_free(in[i]);
    cg_tensor_free(seed);
    cg_tape_reset(tape);
}

/* ---- dispatch by name ---- */

typedef struct cg_tensor *(*un_fn)(struct cg_tape *, struct cg_tensor *);
typedef struct cg_tensor *(*bin_fn)(struct cg_tape *, struct cg_tensor *, struct cg_tensor *);
typedef struct cg_tensor *(*scal_fn)(struct cg_tape *, struct cg_tensor *, double);
typedef struct cg_tensor *(*dim_fn)(struct cg_tape *, struct cg_tensor *, int, bool);

enum kind {
    UNARY, BINARY, SCALAR, CLAMP, DIM, LINEAR, RESHAPE, LOSS, CLASS_LOSS,
    WHERE, SCALAR2, DIM1, VAR, PERMUTE, CAT, NARROW, INDEX_SELECT, GATHER, LOSS_P, CLASS_WITH, EMBEDDING,
    CONV2D, CONV2D_RELU, CONV2D_RELU_POOL, CONV1D, MAXPOOL, AVGPOOL, ADAPTIVE, BATCHNORM
};

typedef struct cg_tensor *(*loss_p_fn)(struct cg_tape *, struct cg_tensor *, struct cg_tensor *,
                                       enum cg_reduction, double);
typedef struct cg_tensor *(*class_fn)(struct cg_tape *, struct cg_tensor *, const int64_t *,
                                      const struct cg_class_loss_options *);

typedef struct cg_tensor *(*scal2_fn)(struct cg_tape *, struct cg_tensor *, double, double);
typedef struct cg_tensor *(*dim1_fn)(struct cg_tape *, struct cg_tensor *, int);

static struct cg_tensor *gelu_exact(struct cg_tape *t, struct cg_tensor *x)
{
    return cg_gelu(t, x, false);
}

static struct cg_tensor *gelu_tanh(struct cg_tape *t, struct cg_tensor *x)
{
    return cg_gelu(t, x, true);
}

typedef struct cg_tensor *(*loss_fn)(struct cg_tape *, struct cg_tensor *, struct cg_tensor *,
                                     enum cg_reduction);

struct entry {
    const char *name;
    enum kind kind;
    un_fn un;
    bin_fn bin;
    scal_fn scal;
    dim_fn dim;
    loss_fn loss;
    scal2_fn scal2;
    dim1_fn dim1;
    loss_p_fn loss_p;
    class_fn cls;
};

static const struct entry entries[] = {
    {"add", BINARY, .bin = cg_add},
    {"sub", BINARY, .bin = cg_sub},
    {"mul", BINARY, .bin = cg_mul},
    {"div", BINARY, .bin = cg_div},
    {"add_scalar", SCALAR, .scal = cg_add_scalar},
    {"mul_scalar", SCALAR, .scal = cg_mul_scalar},
    {"pow_scalar", SCALAR, .scal = cg_pow_scalar},
    {"neg", UNARY, .un = cg_neg},
    {"abs", UNARY, .un = cg_abs},
    {"exp", UNARY, .un = cg_exp},
    {"log", UNARY, .un = cg_log},
    {"sqrt", UNARY, .un = cg_sqrt},
    {"square", UNARY, .un = cg_square},
    {"tanh", UNARY, .un = cg_tanh},
    {"sigmoid", UNARY, .un = cg_sigmoid},
    {"relu", UNARY, .un = cg_relu},
    {"hardshrink", SCALAR, .scal = cg_hardshrink},
    {"softshrink", SCALAR, .scal = cg_softshrink},
    {"tanhshrink", UNARY, .un = cg_tanhshrink},
    {"clamp", CLAMP, .un = NULL},
    {"matmul", BINARY, .bin = cg_matmul},
    {"linear", LINEAR, .un = NULL},
    {"sum", UNARY, .un = cg_sum},
    {"mean", UNARY, .un = cg_mean},
    {"sum_dim", DIM, .dim = cg_sum_dim},
    {"mean_dim", DIM, .dim = cg_mean_dim},
    {"max_dim", DIM, .dim = cg_max_dim},
    {"reshape", RESHAPE, .un = NULL},
    {"transpose", UNARY, .un = cg_transpose},
    {"conv2d", CONV2D, .un = NULL},
    {"conv2d_relu", CONV2D_RELU, .un = NULL},
    {"conv2d_relu_max_pool2d", CONV2D_RELU_POOL, .un = NULL},
    {"conv1d", CONV1D, .un = NULL},
    {"max_pool2d", MAXPOOL, .un = NULL},
    {"avg_pool2d", AVGPOOL, .un = NULL},
    {"adaptive_avg_pool2d", ADAPTIVE, .un = NULL},
    {"batch_norm2d", BATCHNORM, .un = NULL},
    {"maximum", BINARY, .bin = cg_maximum},
    {"minimum", BINARY, .bin = cg_minimum},
    {"where", WHERE, .un = NULL},
    {"erf", UNARY, .un = cg_erf},
    {"silu", UNARY, .un = cg_silu},
    {"gelu", UNARY, .un = gelu_exact},
    {"gelu_tanh", UNARY, .un = gelu_tanh},
    {"leaky_relu", SCALAR, .scal = cg_leaky_relu},
    {"elu", SCALAR, .scal = cg_elu},
    {"softplus", SCALAR2, .scal2 = cg_softplus},
    {"softmax", DIM1, .dim1 = cg_softmax},
    {"log_softmax", DIM1, .dim1 = cg_log_softmax},
    {"logsumexp", DIM, .dim = cg_logsumexp},
    {"var_dim", VAR, .un = NULL},
    {"permute", PERMUTE, .un = NULL},
    {"cat", CAT, .un = NULL},
    {"narrow", NARROW, .un = NULL},
    {"narrow_view", NARROW, .un = NULL},
    {"index_select", INDEX_SELECT, .un = NULL},
    {"gather", GATHER, .un = NULL},
    {"embedding", EMBEDDING, .un = NULL},
    /* losses (nn/loss_op_list.h): scalar 0 is the enum cg_reduction */
    {"mse_loss", LOSS, .loss = cg_mse_loss},
    {"l1_loss", LOSS, .loss = cg_l1_loss},
    {"bce_loss", LOSS, .loss = cg_bce_loss},
    {"bce_with_logits_loss", LOSS, .loss = cg_bce_with_logits_loss},
    {"cross_entropy_loss", CLASS_LOSS, .un = NULL},
    {"l1_penalty", SCALAR, .scal = cg_l1_penalty},
    {"huber_loss", LOSS_P, .loss_p = cg_huber_loss},
    {"smooth_l1_loss", LOSS_P, .loss_p = cg_smooth_l1_loss},
    {"kl_div_loss", LOSS, .loss = cg_kl_div_loss},
    {"nll_loss", CLASS_WITH, .cls = cg_nll_loss},
    {"cross_entropy_loss_with", CLASS_WITH, .cls = cg_cross_entropy_loss_with},
};

static const struct entry *find(const char *op)
{
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
        if (strcmp(entries[i].name, op) == 0) return &entries[i];
    return NULL;
}

int cg_opref_known(const char *op) { return find(op) != NULL; }

struct cg_tensor *cg_opref_run(struct cg_tape *tape, const char *op, struct cg_tensor *const *in,
                               int n_in, const double *s, int n_s)
{
    const struct entry *e = find(op);
    if (!e) {
        fail_msg("cg_opref_run: unknown op '%s' (add it to the table in op_refs.c)", op);
        return NULL;
    }
    /* inputs min..max and scalars min..max per kind */
    static const int arity[][4] = {
        [UNARY] = {1, 1, 0, 0}, [BINARY] = {2, 2, 0, 0}, [SCALAR] = {1, 1, 1, 1},
        [CLAMP] = {1, 1, 2, 2}, [DIM] = {1, 1, 2, 2},    [LINEAR] = {2, 3, 0, 0},
        [RESHAPE] = {1, 1, 0, CG_MAX_DIMS}, [LOSS] = {2, 2, 1, 1},
        [CLASS_LOSS] = {1, 1, 2, CG_OPREF_MAX_SCALARS},
        [WHERE] = {3, 3, 0, 0}, [SCALAR2] = {1, 1, 2, 2}, [DIM1] = {1, 1, 1, 1},
        [VAR] = {1, 1, 3, 3}, [PERMUTE] = {1, 1, 1, CG_MAX_DIMS},
        [CAT] = {1, CG_MAX_INPUTS, 1, 1}, [NARROW] = {1, 1, 3, 3},
        [INDEX_SELECT] = {1, 1, 1, CG_OPREF_MAX_SCALARS}, [GATHER] = {1, 1, 3, CG_OPREF_MAX_SCALARS},
        [LOSS_P] = {2, 2, 2, 2}, [CLASS_WITH] = {1, 1, 5, CG_OPREF_MAX_SCALARS},
        [EMBEDDING] = {1, 1, 3, CG_OPREF_MAX_SCALARS},
        [CONV2D] = {2, 3, 7, 7}, [CONV2D_RELU] = {2, 3, 7, 7},
        [CONV2D_RELU_POOL] = {2, 3, 7, 7}, [CONV1D] = {2, 3, 4, 4},
        [MAXPOOL] = {1, 1, 8, 8},           [AVGPOOL] = {1, 1, 7, 7}, [ADAPTIVE] = {1, 1, 2, 2},
        [BATCHNORM] = {3, 3, 0, 0},
    };
    const int *a = arity[e->kind];
    if (n_in < a[0] || n_in > a[1] || n_s < a[2] || n_s > a[3]) {
        fail_msg("cg_opref_run: op '%s' takes %d..%d inputs and %d..%d scalars, got %d and %d",
                 op, a[0], a[1], a[2], a[3], n_in, n_s);
        return NULL;
    }
    switch (e->kind) {
    case UNARY: return e->un(tape, in[0]);
    case BINARY: return e->bin(tape, in[0], in[1]);
    case SCALAR: return e->scal(tape, in[0], s[0]);
    case CLAMP: return cg_clamp(tape, in[0], s[0], s[1]);
    case DIM: return e->dim(tape, in[0], (int)s[0], s[1] != 0);
    case LINEAR: return cg_linear(tape, in[0], in[1], n_in == 3 ? in[2] : NULL);
    case RESHAPE: {
        int64_t shape[CG_MAX_DIMS];
        for (int i = 0; i < n_s; i++) shape[i] = (int64_t)s[i];
        return cg_reshape(tape, in[0], n_s, shape);
    }
    case CONV2D:
    case CONV2D_RELU:
    case CONV2D_RELU_POOL: {
        struct cg_conv2d_params p = {{(int64_t)s[0], (int64_t)s[1]}, {(int64_t)s[2], (int64_t)s[3]},
                                     {(int64_t)s[4], (int64_t)s[5]}, (int64_t)s[6]};
        struct cg_tensor *(*f)(struct cg_tape *, struct cg_tensor *, struct cg_tensor *,
                               struct cg_tensor *, const struct cg_conv2d_params *) =
            e->kind == CONV2D ? cg_conv2d
            : e->kind == CONV2D_RELU ? cg_conv2d_relu : cg_conv2d_relu_max_pool2d;
        return f(tape, in[0], in[1], n_in == 3 ? in[2] : NULL, &p);
    }
    case CONV1D:
        return cg_conv1d(tape, in[0], in[1], n_in == 3 ? in[2] : NULL, (int64_t)s[0],
                         (int64_t)s[1], (int64_t)s[2], (int64_t)s[3]);
    case MAXPOOL:
        return cg_max_pool2d(tape, in[0], (int64_t)s[0], (int64_t)s[1], (int64_t)s[2],
                             (int64_t)s[3], (int64_t)s[4], (int64_t)s[5], (int64_t)s[6],
                             (int64_t)s[7]);
    case AVGPOOL:
        return cg_avg_pool2d(tape, in[0], (int64_t)s[0], (int64_t)s[1], (int64_t)s[2],
                             (int64_t)s[3], (int64_t)s[4], (int64_t)s[5], s[6] != 0);
    case ADAPTIVE: return cg_adaptive_avg_pool2d(tape, in[0], (int64_t)s[0], (int64_t)s[1]);
    case BATCHNORM: return cg_batch_norm2d(tape, in[0], in[1], in[2], NULL, NULL, true, 0.1, 1e-5);
    case LOSS: return e->loss(tape, in[0], in[1], (enum cg_reduction)s[0]);
    case WHERE: return cg_where(tape, in[0], in[1], in[2]);
    case SCALAR2: return e->scal2(tape, in[0], s[0], s[1]);
    case DIM1: return e->dim1(tape, in[0], (int)s[0]);
    case VAR: return cg_var_dim(tape, in[0], (int)s[0], s[1] != 0, s[2] != 0);
    case PERMUTE: {
        int perm[CG_MAX_DIMS];
        for (int i = 0; i < n_s; i++) perm[i] = (int)s[i];
        return cg_permute(tape, in[0], perm);
    }
    case CAT: return cg_cat(tape, n_in, in, (int)s[0]);
    case NARROW: return cg_narrow(tape, in[0], (int)s[0], (int64_t)s[1], (int64_t)s[2]);
    case INDEX_SELECT: {
        int64_t idx[CG_OPREF_MAX_SCALARS];
        for (int i = 1; i < n_s; i++) idx[i - 1] = (int64_t)s[i];
        return cg_index_select(tape, in[0], (int)s[0], idx, n_s - 1);
    }
    case GATHER: { /* dim, ndim, shape, indices */
        int nd = (int)s[1];
        int64_t shape[CG_MAX_DIMS], idx[CG_OPREF_MAX_SCALARS];
        for (int i = 0; i < nd && i < CG_MAX_DIMS; i++) shape[i] = (int64_t)s[2 + i];
        for (int i = 2 + nd; i < n_s; i++) idx[i - 2 - nd] = (int64_t)s[i];
        return cg_gather(tape, in[0], (int)s[0], idx, nd, shape);
    }
    case EMBEDDING: { /* has_padding, padding_idx, ndim, shape, indices */
        int nd = (int)s[2];
        int64_t shape[CG_MAX_DIMS], idx[CG_OPREF_MAX_SCALARS];
        for (int i = 0; i < nd && i < CG_MAX_DIMS; i++) shape[i] = (int64_t)s[3 + i];
        for (int i = 3 + nd; i < n_s; i++) idx[i - 3 - nd] = (int64_t)s[i];
        return cg_embedding(tape, in[0], idx, nd, shape, s[0] != 0 ? (int64_t)s[1] : CG_NO_PADDING);
    }
    case LOSS_P: return e->loss_p(tape, in[0], in[1], (enum cg_reduction)s[0], s[1]);
    case CLASS_WITH: { /* reduction, label_smoothing, ignore, ignore_index, targets */
        struct cg_class_loss_options o = {(enum cg_reduction)s[0], s[1], s[2] != 0,
                                          (int64_t)s[3]};
        int64_t t[CG_OPREF_MAX_SCALARS];
        for (int i = 4; i < n_s; i++) t[i - 4] = (int64_t)s[i];
        return e->cls(tape, in[0], t, &o);
    }
    case CLASS_LOSS: { /* scalars: reduction, then one class index per row */
        int32_t t[CG_OPREF_MAX_SCALARS];
        for (int i = 1; i < n_s; i++) t[i - 1] = (int32_t)s[i];
        return cg_cross_entropy_loss(tape, in[0], t, (enum cg_reduction)s[0]);
    }
    }
    fail_msg("cg_opref_run: bad kind for op '%s'", op);
    return NULL;
}
