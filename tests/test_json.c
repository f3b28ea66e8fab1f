/* The strict JSON parser behind the safetensors header: RFC 8259 inputs
 * that must parse (with their decoded values) and the ones that must not,
 * each with the reason the error gives. */
#include "cg_test.h"

#include <string.h>

#include "checkpoint/json_internal.h"

static const char *good[] = {
    "{}", "[]", " {\"a\" : [1, -2, 0.5, 1e3, -0E-2, true, false, null]} \n",
    "\"\\u00e9\\ud83d\\ude00\\n\\/\"", "0", "[[[[]]]]", "{\"k\":{\"k\":1}}",
    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
};

static const struct {
    const char *text, *why;
} bad[] = {
    {"", "input ended"},
    {"{", "object key expected"},
    {"{\"a\":1,}", "trailing comma"},
    {"[1,]", "trailing comma"},
    {"{\"a\" 1}", "':' expected"},
    {"[1 2]", "',' or ']' expected"},
    {"{\"a\":1,\"a\":2}", "duplicate key \"a\""},
    {"01", "leading zero"},
    {"-", "digit expected"},
    {"1.", "digit expected"},
    {"1e", "digit expected"},
    {"NaN", "value expected"},
    {"tru", "invalid literal"},
    {"\"abc", "unterminated string"},
    {"\"a\tb\"", "raw control character"},
    {"\"\\x\"", "invalid escape"},
    {"\"\\u12g4\"", "bad hex digit"},
    {"\"\\ud800\"", "lone high surrogate"},
    {"\"\\udc00\"", "lone low surrogate"},
    {"\"\\ud800\\u0041\"", "bad low surrogate"},
    {"\"\xc0\xaf\"", "invalid UTF-8"},       /* overlong '/' */
    {"\"\xed\xa0\x80\"", "invalid UTF-8"},   /* encoded surrogate */
    {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"}, /* above U+10FFFF */
    {"{} {}", "unexpected data after"},
    {"// c\n{}", "value expected"},
};

static void test_valid(void **s)
{
    (void)s;
    char err[160];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct cg_json_doc d;
        if (cg_json_parse(&d, good[i], strlen(good[i]), err, sizeof err) != CG_OK)
            fail_msg("'%s' rejected: %s", good[i], err);
        cg_json_free(&d);
    }
}

static void test_values(void **s)
{
    (void)s;
    char err[160];
    struct cg_json_doc d;
    const char *t = "{\"n\": [18446744073709551615, 18446744073709551616, 1.5, -1, 7],"
                    " \"s\": \"a\\u00e9\\ud83d\\ude00\\\"\"}";
    assert_int_equal(cg_json_parse(&d, t, strlen(t), err, sizeof err), CG_OK);
    const struct cg_json_node *n = cg_json_get(&d, &d.nodes[0], "n");
    assert_non_null(n);
    assert_int_equal(n->count, 5);
    uint64_t v[5] = {0};
    int ok[5], k = 0;
    for (const struct cg_json_node *e = cg_json_at(&d, n->first); e; e = cg_json_at(&d, e->next), k++)
        ok[k] = cg_json_u64(e, &v[k]);
    assert_int_equal(k, 5);
    assert_true(ok[0] && v[0] == UINT64_MAX);
    assert_false(ok[1]); /* overflows */
    assert_false(ok[2]); /* fraction */
    assert_false(ok[3]); /* sign */
    assert_true(ok[4] && v[4] == 7);
    const struct cg_json_node *str = cg_json_get(&d, &d.nodes[0], "s");
    assert_string_equal(str->str, "a\xc3\xa9\xf0\x9f\x98\x80\"");
    assert_int_equal(str->len, 8);
    assert_null(cg_json_get(&d, &d.nodes[0], "missing"));
    cg_json_free(&d);
}

static void test_invalid(void **s)
{
    (void)s;
    char err[160];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cg_json_doc d;
        enum cg_status st = cg_json_parse(&d, bad[i].text, strlen(bad[i].text), err, sizeof err);
        if (st != CG_ERR_FORMAT || !strstr(err, bad[i].why) || !strstr(err, "at byte"))
            fail_msg("'%s': got %s '%s', want CG_ERR_FORMAT with '%s'", bad[i].text,
                     cg_status_str(st), err, bad[i].why);
        assert_null(d.nodes);
    }
}

static void test_depth_limit(void **s)
{
    (void)s;
    char text[2 * (CG_JSON_MAX_DEPTH + 2) + 1], err[160];
    for (int depth = CG_JSON_MAX_DEPTH; depth <= CG_JSON_MAX_DEPTH + 1; depth++) {
        int n = depth + 1; /* brackets */
        memset(text, '[', (size_t)n);
        memset(text + n, ']', (size_t)n);
        struct cg_json_doc d;
        enum cg_status st = cg_json_parse(&d, text, 2 * (size_t)n, err, sizeof err);
        assert_int_equal(st, depth == CG_JSON_MAX_DEPTH ? CG_OK : CG_ERR_FORMAT);
        if (st == CG_OK) cg_json_free(&d);
        else assert_non_null(strstr(err, "nesting too deep"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
