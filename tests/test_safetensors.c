/* safetensors export/import and .npy export: round trips, the byte layout,
 * a PyTorch model (committed reference written by gen_safetensors_refs.py)
 * giving PyTorch's outputs in cgrad, every rejection the format requires
 * with its message, and no change to the model on any error. */
#include "cg_test.h"

#include "buffer_layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static const char *tmp_path(const char *name)
{
    static char buf[4][128];
    static int slot;
    slot = (slot + 1) % 4;
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", dir, name);
    return buf[slot];
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/cg_st_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    cg_test_remove_tree(dir);
    return 0;
}

/* The layers of gen_safetensors_refs.py's torch.nn.Sequential. */
static struct cg_module *ref_model(uint64_t seed)
{
    struct cg_rng rng = cg_rng_seed(seed);
    struct cg_module *layers[] = {cg_linear_new(6, 5, true, &rng), cg_hardshrink_new(0.2),
                                  cg_linear_new(5, 4, true, &rng), cg_softshrink_new(0.1),
                                  cg_linear_new(4, 3, true, &rng)};
    return cg_sequential_new(5, layers);
}

/* All parameter values, concatenated as doubles (malloc'd). */
static double *snapshot(struct cg_module *m, size_t *n)
{
    struct cg_tensor *ps[16];
    size_t np = cg_module_collect_params(m, ps, 16), total = 0;
    for (size_t i = 0; i < np; i++) total += (size_t)ps[i]->numel;
    double *v = malloc(total * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < np; i++)
        for (int64_t j = 0; j < ps[i]->numel; j++) v[k++] = cg_tensor_at(ps[i], j);
    *n = total;
    return v;
}

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

static void test_torch_model_gives_torch_outputs(void **s)
{
    (void)s;
    struct cg_module *m = ref_model(1);
    assert_int_equal(cg_safetensors_load(CG_TEST_DATA_DIR "/st_torch_mlp.safetensors", m), CG_OK);
    struct cg_tensor *x = NULL, *want = NULL;
    assert_int_equal(cg_safetensors_read_tensor(CG_TEST_DATA_DIR "/st_torch_io.safetensors",
                                                "input", &x), CG_OK);
    assert_int_equal(cg_safetensors_read_tensor(CG_TEST_DATA_DIR "/st_torch_io.safetensors",
                                                "output", &want), CG_OK);
    assert_int_equal(x->ndim, 2);
    assert_int_equal(x->shape[0], 4);
    assert_int_equal(x->shape[1], 6);
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *y = cg_module_forward(m, tape, x);
    assert_non_null(y);
    assert_true(cg_tensor_same_shape(y, want));
    for (int64_t i = 0; i < y->numel; i++)
        CG_ASSERT_CLOSE(cg_tensor_at(y, i), cg_tensor_at(want, i), 1e-6, 0);
    cg_tape_free(tape);
    cg_tensor_free(x);
    cg_tensor_free(want);
    cg_module_free(m);
}

static void test_round_trip_and_layout(void **s)
{
    (void)s;
    struct cg_module *a = ref_model(3), *b = ref_model(4);
    const char *path = tmp_path("rt.safetensors");
    const char *meta[] = {"format", "pt", "note", "q\"uote\\", NULL};
    assert_int_equal(cg_safetensors_save(path, a, meta), CG_OK);
    assert_int_equal(cg_safetensors_load(path, b), CG_OK);
    size_t na, nb;
    double *va = snapshot(a, &na), *vb = snapshot(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(va, vb, na * sizeof *va);
    /* Layout: u64 header length (multiple of 8), JSON, then 0.weight's
     * data first, little-endian. */
    size_t size;
    unsigned char *bytes = slurp(path, &size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | bytes[i];
    assert_int_equal(n % 8, 0);
    const char *want = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"q\\\"uote\\\\\"},"
                       "\"0.weight\":{\"dtype\":\"F32\",\"shape\":[5,6],\"data_offsets\":[0,120]},";
    assert_memory_equal(bytes + 8, want, strlen(want));
    assert_int_equal(size, 8 + n + (size_t)(30 + 5 + 20 + 4 + 12 + 3) * 4);
    float w0 = (float)cg_tensor_at(cg_module_param(a, "0.weight"), 0);
    uint32_t bits;
    memcpy(&bits, &w0, 4);
    for (int i = 0; i < 4; i++) assert_int_equal(bytes[8 + n + (size_t)i], (bits >> (8 * i)) & 0xff);
    free(bytes);
    free(va);
    free(vb);
    cg_module_free(a);
    cg_module_free(b);
}

static void test_f64_tensors_and_conversion(void **s)
{
    (void)s;
    double v[] = {1.0 / 3, -2.5, 1e-300, 7};
    struct cg_tensor *t = cg_tensor_from_doubles(NULL, CG_F64, CG_SHAPE(2, 2), v);
    struct cg_tensor *z = cg_tensor_zeros(NULL, CG_F32, 0, NULL);
    const char *names[] = {"w", "scalar"};
    const struct cg_tensor *ts[] = {t, z};
    const char *path = tmp_path("f64.safetensors");
    assert_int_equal(cg_safetensors_save_tensors(path, 2, names, ts, NULL), CG_OK);
    struct cg_tensor *back = NULL;
    assert_int_equal(cg_safetensors_read_tensor(path, "w", &back), CG_OK);
    assert_int_equal(back->dtype, CG_F64);
    assert_memory_equal(back->data, v, sizeof v);
    cg_tensor_free(back);
    assert_int_equal(cg_safetensors_read_tensor(path, "scalar", &back), CG_OK);
    assert_int_equal(back->ndim, 0);
    assert_int_equal(back->numel, 1);
    cg_tensor_free(back);
    assert_int_equal(cg_safetensors_read_tensor(path, "nope", &back), CG_ERR_NOT_FOUND);
    assert_null(back);
    assert_non_null(strstr(cg_last_error(), "'nope'"));
    /* An F64 file loads into an F32 model (converted), like copy_ in torch. */
    struct cg_module *a = ref_model(5), *b = ref_model(6);
    assert_int_equal(cg_module_to_dtype(a, CG_F64), CG_OK);
    const char *p2 = tmp_path("model64.safetensors");
    assert_int_equal(cg_safetensors_save(p2, a, NULL), CG_OK);
    assert_int_equal(cg_safetensors_load(p2, b), CG_OK);
    CG_ASSERT_CLOSE(cg_tensor_at(cg_module_param(b, "2.bias"), 1),
                    cg_tensor_at(cg_module_param(a, "2.bias"), 1), 1e-7, 0);
    assert_int_equal(cg_module_param(b, "2.bias")->dtype, CG_F32);
    cg_module_free(a);
    cg_module_free(b);
    cg_tensor_free(t);
    cg_tensor_free(z);
}

/* Buffers travel with the parameters, in state_dict order and names. */
static void test_buffers(void **s)
{
    (void)s;
    struct cg_rng rng = cg_rng_seed(11);
    struct cg_module *la[] = {cg_linear_new(3, 4, true, &rng), cg_test_buffer_layer_new(4)};
    struct cg_module *lb[] = {cg_linear_new(3, 4, true, &rng), cg_test_buffer_layer_new(4)};
    struct cg_module *a = cg_sequential_new(2, la), *b = cg_sequential_new(2, lb);
    /* Two training forwards move a's running mean and batch count. */
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_randn(tape, CG_F32, CG_SHAPE(5, 3), &rng);
    cg_module_forward(a, tape, x);
    cg_module_forward(a, tape, x);
    cg_tape_reset(tape);
    const char *path = tmp_path("buf.safetensors");
    assert_int_equal(cg_safetensors_save(path, a, NULL), CG_OK);
    size_t size;
    unsigned char *bytes = slurp(path, &size);
    const char *hdr = (const char *)bytes + 8;
    const char *order[] = {"\"0.weight\"", "\"0.bias\"", "\"1.scale\"", "\"1.running_mean\"",
                           "\"1.num_batches\""};
    const char *at = hdr;
    for (int i = 0; i < 5; i++) {
        const char *p = strstr(hdr, order[i]);
        if (!p || p < at) fail_msg("%s missing or out of order in %.300s", order[i], hdr);
        at = p;
    }
    free(bytes);
    assert_int_equal(cg_safetensors_load(path, b), CG_OK);
    for (int i = 0; i < 4; i++)
        assert_true(cg_tensor_at(cg_module_buffer(b, "1.running_mean"), i) ==
                    cg_tensor_at(cg_module_buffer(a, "1.running_mean"), i));
    CG_ASSERT_CLOSE(cg_tensor_at(cg_module_buffer(b, "1.num_batches"), 0), 2.0, 0, 0);
    /* A file without the buffers does not fit a model that has them. */
    struct cg_tensor *ps[3];
    cg_module_collect_params(a, ps, 3);
    const char *names[] = {"0.weight", "0.bias", "1.scale"};
    const struct cg_tensor *ts[] = {ps[0], ps[1], ps[2]};
    assert_int_equal(cg_safetensors_save_tensors(path, 3, names, ts, NULL), CG_OK);
    assert_int_equal(cg_safetensors_load(path, b), CG_ERR_MISMATCH);
    assert_non_null(strstr(cg_last_error(), "no tensor named '1.running_mean'"));
    cg_tape_free(tape);
    cg_module_free(a);
    cg_module_free(b);
}

/* ---- files that must be rejected ---- */

static void put_file(const char *path, const void *a, size_t na, const void *b, size_t nb)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (na) assert_int_equal(fwrite(a, 1, na, f), na);
    if (nb) assert_int_equal(fwrite(b, 1, nb, f), nb);
    fclose(f);
}

/* A file whose header is `json` (length field `len`, or strlen when 0)
 * followed by `data` bytes of zeros. */
static void put_st(const char *path, const char *json, uint64_t len, size_t data)
{
    size_t hl = strlen(json);
    unsigned char *b = calloc(1, 8 + hl + data);
    if (!len) len = hl;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(len >> (8 * i));
    memcpy(b + 8, json, hl);
    put_file(path, b, 8 + hl + data, NULL, 0);
    free(b);
}

#define W(shape, off) "{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":" off "}"

struct bad_file {
    const char *json;
    uint64_t len; /* 0: the JSON's length */
    size_t data;  /* bytes of data section */
    enum cg_status status;
    const char *sub;
};

static const struct bad_file bad_files[] = {
    {"{}", 100000001, 0, CG_ERR_FORMAT, "over the limit of 100000000"},
    {"{}", 64, 0, CG_ERR_CORRUPT, "runs past the end"},
    {"[1,2]", 0, 0, CG_ERR_FORMAT, "does not start with '{'"},
    {"{\"a\":" W("[1]", "[0,4]") ",}", 0, 4, CG_ERR_FORMAT, "trailing comma"},
    {"{\"a\":" W("[1]", "[0,4]") ",\"a\":" W("[1]", "[4,8]") "}", 0, 8, CG_ERR_FORMAT,
     "duplicate key \"a\""},
    {"{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, CG_ERR_FORMAT,
     "unknown dtype \"F17\""},
    {"{\"a\":" W("[2]", "[0,4]") "}", 0, 4, CG_ERR_FORMAT, "needs 8"},
    {"{\"a\":" W("[2]", "[0,8]") ",\"b\":" W("[1]", "[4,8]") "}", 0, 8, CG_ERR_FORMAT, "overlap"},
    {"{\"a\":" W("[1]", "[0,4]") ",\"b\":" W("[1]", "[8,12]") "}", 0, 12, CG_ERR_FORMAT, "gap"},
    {"{\"a\":" W("[1]", "[4,0]") "}", 0, 4, CG_ERR_FORMAT, "end before they begin"},
    {"{\"a\":" W("[1]", "[0,4]") "}", 0, 5, CG_ERR_CORRUPT, "extra bytes"},
    {"{\"a\":" W("[1]", "[0,4]") "}", 0, 3, CG_ERR_CORRUPT, "truncated"},
    {"{\"__metadata__\":{\"k\":1}}", 0, 0, CG_ERR_FORMAT, "__metadata__ value of 'k'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, 0, CG_ERR_FORMAT, "no \"data_offsets\""},
    {"{\"a\":" W("[-1]", "[0,4]") "}", 0, 4, CG_ERR_FORMAT, "non-negative integer"},
    {"{\"a\":" W("[1.0]", "[0,4]") "}", 0, 4, CG_ERR_FORMAT, "non-negative integer"},
    {"{\"a\":" W("[1]", "[0,4,8]") "}", 0, 4, CG_ERR_FORMAT, "[BEGIN, END]"},
    {"{\"a\":" W("[4294967296,4294967296]", "[0,4]") "}", 0, 4, CG_ERR_FORMAT, "overflows"},
    {"{\"a\":\"x\xff\"}", 0, 0, CG_ERR_FORMAT, "invalid UTF-8"},
};

static void test_rejects_bad_files(void **s)
{
    (void)s;
    struct cg_module *m = ref_model(7);
    size_t n0;
    double *before = snapshot(m, &n0);
    const char *path = tmp_path("bad.safetensors");
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        const struct bad_file *b = &bad_files[i];
        put_st(path, b->json, b->len, b->data);
        cg_clear_error();
        enum cg_status st = cg_safetensors_load(path, m);
        if (st != b->status || !strstr(cg_last_error(), path) || !strstr(cg_last_error(), b->sub))
            fail_msg("bad file %zu (%s): got %s '%s', want %s with '%s'", i, b->json,
                     cg_status_str(st), cg_last_error(), cg_status_str(b->status), b->sub);
        struct cg_tensor *t = (struct cg_tensor *)1;
        assert_int_equal(cg_safetensors_read_tensor(path, "a", &t), b->status);
        assert_null(t);
    }
    put_file(path, "abc", 3, NULL, 0);
    assert_int_equal(cg_safetensors_load(path, m), CG_ERR_CORRUPT);
    assert_non_null(strstr(cg_last_error(), "too short"));
    assert_int_equal(cg_safetensors_load(tmp_path("missing.safetensors"), m), CG_ERR_NOT_FOUND);
    assert_non_null(strstr(cg_last_error(), "missing.safetensors"));
    size_t n1;
    double *after = snapshot(m, &n1);
    assert_memory_equal(before, after, n0 * sizeof *before);
    free(before);
    free(after);
    cg_module_free(m);
}

/* A valid file that does not fit the model: the model is unchanged. */
static void test_mismatch_leaves_model(void **s)
{
    (void)s;
    struct cg_module *m = ref_model(8), *src = ref_model(9);
    size_t n0;
    double *before = snapshot(m, &n0);
    const char *path = tmp_path("mm.safetensors");
    struct cg_tensor *ps[8];
    size_t np = cg_module_collect_params(src, ps, 8);
    const char *names[] = {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "5.x"};
    const struct cg_tensor *ts[7];
    for (size_t i = 0; i < np; i++) ts[i] = ps[i];
    ts[6] = ps[5];
    /* Last parameter missing; an extra name; a wrong shape. */
    assert_int_equal(cg_safetensors_save_tensors(path, 5, names, ts, NULL), CG_OK);
    assert_int_equal(cg_safetensors_load(path, m), CG_ERR_MISMATCH);
    assert_non_null(strstr(cg_last_error(), "no tensor named '4.bias'"));
    assert_int_equal(cg_safetensors_save_tensors(path, 7, names, ts, NULL), CG_OK);
    assert_int_equal(cg_safetensors_load(path, m), CG_ERR_MISMATCH);
    assert_non_null(strstr(cg_last_error(), "'5.x' is not a parameter"));
    ts[2] = ps[0];
    assert_int_equal(cg_safetensors_save_tensors(path, 6, names, ts, NULL), CG_OK);
    assert_int_equal(cg_safetensors_load(path, m), CG_ERR_MISMATCH);
    assert_non_null(strstr(cg_last_error(), "'2.weight' has shape [5,6], the model's has [4,5]"));
    /* Every model tensor plus one whose name only starts like a model's
     * (a JSON \u0000 inside): still an unexpected tensor. */
    put_st(path, "{\"0.weight\":" W("[5,6]", "[0,120]") ",\"0.bias\":" W("[5]", "[120,140]")
           ",\"2.weight\":" W("[4,5]", "[140,220]") ",\"2.bias\":" W("[4]", "[220,236]")
           ",\"4.weight\":" W("[3,4]", "[236,284]") ",\"4.bias\":" W("[3]", "[284,296]")
           ",\"0.weight\\u0000x\":" W("[1]", "[296,300]") "}", 0, 300);
    assert_int_equal(cg_safetensors_load(path, m), CG_ERR_MISMATCH);
    assert_non_null(strstr(cg_last_error(), "is not a parameter"));
    /* A dtype cgrad does not compute in. */
    put_st(path, "{\"0.weight\":{\"dtype\":\"I64\",\"shape\":[5,6],\"data_offsets\":[0,240]}}", 0, 240);
    assert_int_equal(cg_safetensors_load(path, m), CG_ERR_MISMATCH);
    assert_non_null(strstr(cg_last_error(), "is I64"));
    size_t n1;
    double *after = snapshot(m, &n1);
    assert_memory_equal(before, after, n0 * sizeof *before);
    free(before);
    free(after);
    cg_module_free(m);
    cg_module_free(src);
}

static void test_save_errors(void **s)
{
    (void)s;
    struct cg_tensor *t = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(2));
    const struct cg_tensor *ts[] = {t, t};
    const char *dup[] = {"x", "x"}, *meta_bad[] = {"k", NULL};
    const char *mdname[] = {"__metadata__"};
    CG_EXPECT_MISUSE(cg_safetensors_save_tensors(tmp_path("e"), 2, dup, ts, NULL), "'x' given twice");
    CG_EXPECT_MISUSE(cg_safetensors_save_tensors(tmp_path("e"), 1, mdname, ts, NULL), "bad name");
    CG_EXPECT_MISUSE(cg_safetensors_save_tensors(tmp_path("e"), 1, dup, ts, meta_bad), "'k' has no value");
    CG_EXPECT_MISUSE(cg_safetensors_save(NULL, NULL, NULL), "cg_safetensors_save", "path is NULL");
    CG_EXPECT_MISUSE(cg_safetensors_load("x", NULL), "cg_safetensors_load", "model is NULL");
    assert_int_equal(access(tmp_path("e"), F_OK), -1); /* nothing written after misuse */
    const char *bad = tmp_path("no/such/dir/x.safetensors");
    assert_int_equal(cg_safetensors_save_tensors(bad, 1, dup, ts, NULL), CG_ERR_IO);
    assert_non_null(strstr(cg_last_error(), bad));
    cg_tensor_free(t);
}

/* ---- .npy ---- */

static void check_npy(const struct cg_tensor *t, const char *dict)
{
    const char *path = tmp_path("t.npy");
    assert_int_equal(cg_tensor_save_npy(path, t), CG_OK);
    size_t size;
    unsigned char *b = slurp(path, &size);
    assert_memory_equal(b, "\x93NUMPY\x01\x00", 8);
    size_t hl = (size_t)b[8] | (size_t)b[9] << 8;
    assert_int_equal((10 + hl) % 64, 0);
    assert_memory_equal(b + 10, dict, strlen(dict));
    for (size_t i = 10 + strlen(dict); i < 10 + hl - 1; i++) assert_int_equal(b[i], ' ');
    assert_int_equal(b[10 + hl - 1], '\n');
    size_t es = cg_dtype_size(t->dtype);
    assert_int_equal(size, 10 + hl + (size_t)t->numel * es);
    assert_memory_equal(b + 10 + hl, t->data, (size_t)t->numel * es); /* little-endian host */
    free(b);
}

static void test_npy(void **s)
{
    (void)s;
    struct cg_rng rng = cg_rng_seed(2);
    struct cg_tensor *a = cg_tensor_randn(NULL, CG_F32, CG_SHAPE(2, 3), &rng);
    struct cg_tensor *v = cg_tensor_randn(NULL, CG_F64, CG_SHAPE(5), &rng);
    struct cg_tensor *z = cg_tensor_full(NULL, CG_F32, 0, NULL, 4.5);
    check_npy(a, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
    check_npy(v, "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }");
    check_npy(z, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }");
    const char *bad = tmp_path("none/x.npy");
    assert_int_equal(cg_tensor_save_npy(bad, a), CG_ERR_IO);
    assert_non_null(strstr(cg_last_error(), bad));
    CG_EXPECT_MISUSE(cg_tensor_save_npy(NULL, a), "cg_tensor_save_npy", "path is NULL");
    cg_tensor_free(a);
    cg_tensor_free(v);
    cg_tensor_free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torch_model_gives_torch_outputs),
        cmocka_unit_test(test_round_trip_and_layout),
        cmocka_unit_test(test_f64_tensors_and_conversion),
        cmocka_unit_test(test_buffers),
        cmocka_unit_test(test_rejects_bad_files),
        cmocka_unit_test(test_mismatch_leaves_model),
        cmocka_unit_test(test_save_errors),
        cmocka_unit_test(test_npy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
