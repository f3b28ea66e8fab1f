/* Strict recursive-descent JSON parser, see json_internal.h. */
#include "json_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct parser {
    struct cg_json_doc *doc;
    const unsigned char *s;
    size_t len, pos;
    char *pool_end;  /* next free byte of doc->pool */
    char *err;
    size_t err_size;
    int nomem;
};

static int fail(struct parser *p, const char *what)
{
    if (!p->err[0]) snprintf(p->err, p->err_size, "%s at byte %zu", what, p->pos);
    return -1;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

/* Appends a node; returns its index or 0 on failure (0 is only ever the
 * root, which is added first). */
static int64_t add_node(struct parser *p, enum cg_json_type type)
{
    struct cg_json_doc *d = p->doc;
    if (d->n == d->cap) {
        if (d->cap >= UINT32_MAX / 2) return fail(p, "too many JSON values");
        uint32_t cap = d->cap ? d->cap * 2 : 64;
        struct cg_json_node *nodes = cg_realloc(d->nodes, cap * sizeof *nodes, "JSON nodes");
        if (!nodes) {
            p->nomem = 1;
            return fail(p, "out of memory");
        }
        d->nodes = nodes;
        d->cap = cap;
    }
    struct cg_json_node *n = &d->nodes[d->n];
    memset(n, 0, sizeof *n);
    n->type = type;
    n->offset = p->pos;
    return d->n++;
}

static int literal(struct parser *p, const char *word)
{
    size_t k = strlen(word);
    if (p->len - p->pos < k || memcmp(p->s + p->pos, word, k) != 0)
        return fail(p, "invalid literal (expected a value)");
    p->pos += k;
    return 0;
}

static int digits(struct parser *p)
{
    size_t start = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    return p->pos > start ? 0 : fail(p, "digit expected in number");
}

static int number(struct parser *p, struct cg_json_node *n)
{
    size_t start = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '-') p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            return fail(p, "leading zero in number");
    } else if (digits(p)) {
        return -1;
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        if (digits(p)) return -1;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (digits(p)) return -1;
    }
    n->str = (const char *)p->s + start;
    n->len = p->pos - start;
    return 0;
}

static int hex4(struct parser *p, uint32_t *out)
{
    if (p->len - p->pos < 4) return fail(p, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return fail(p, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static void put_utf8(char **o, uint32_t cp)
{
    unsigned char *u = (unsigned char *)*o;
    if (cp < 0x80) {
        *u++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *u++ = (unsigned char)(0xc0 | cp >> 6);
        *u++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *u++ = (unsigned char)(0xe0 | cp >> 12);
        *u++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *u++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else {
        *u++ = (unsigned char)(0xf0 | cp >> 18);
        *u++ = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        *u++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *u++ = (unsigned char)(0x80 | (cp & 0x3f));
    }
    *o = (char *)u;
}

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 (overlong,
 * surrogate, above U+10FFFF, truncated). */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) n = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0) n = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0) n = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (avail < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

static int string(struct parser *p, struct cg_json_node *n)
{
    p->pos++; /* opening quote */
    char *o = p->pool_end;
    n->str = o;
    for (;;) {
        if (p->pos >= p->len) return fail(p, "unterminated string");
        unsigned c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) return fail(p, "raw control character in string");
        if (c != '\\') {
            size_t k = utf8_len(p->s + p->pos, p->len - p->pos);
            if (!k) return fail(p, "invalid UTF-8 in string");
            memcpy(o, p->s + p->pos, k);
            o += k;
            p->pos += k;
            continue;
        }
        if (++p->pos >= p->len) return fail(p, "unterminated escape");
        c = p->s[p->pos++];
        const char *simple = strchr("\"\\/bfnrt", (int)c);
        if (c && simple) {
            static const char out[] = "\"\\/\b\f\n\r\t";
            *o++ = out[simple - "\"\\/bfnrt"];
            continue;
        }
        if (c != 'u') {
            p->pos--;
            return fail(p, "invalid escape in string");
        }
        uint32_t cp;
        if (hex4(p, &cp)) return -1;
        if (cp >= 0xdc00 && cp <= 0xdfff) return fail(p, "lone low surrogate in \\u escape");
        if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo;
            if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                return fail(p, "lone high surrogate in \\u escape");
            p->pos += 2;
            if (hex4(p, &lo)) return -1;
            if (lo < 0xdc00 || lo > 0xdfff) return fail(p, "bad low surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        put_utf8(&o, cp);
    }
    n->len = (size_t)(o - n->str);
    *o++ = '\0';
    p->pool_end = o;
    return 0;
}

static int value(struct parser *p, int depth);

static int cmp_keys(const void *a, const void *b)
{
    const struct cg_json_node *x = *(const struct cg_json_node *const *)a;
    const struct cg_json_node *y = *(const struct cg_json_node *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->str, y->str, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Sorts the object's keys (O(n log n), a header may hold many) and fails on
 * the first repeated one. */
static int check_duplicates(struct parser *p, uint32_t obj)
{
    uint32_t n = p->doc->nodes[obj].count;
    if (n < 2) return 0;
    const struct cg_json_node **keys = cg_malloc(n * sizeof *keys, "JSON key check");
    if (!keys) {
        p->nomem = 1;
        return fail(p, "out of memory");
    }
    uint32_t i = 0;
    for (uint32_t k = p->doc->nodes[obj].first; k; k = p->doc->nodes[k].next) keys[i++] = &p->doc->nodes[k];
    qsort(keys, n, sizeof *keys, cmp_keys);
    int rc = 0;
    for (i = 1; i < n && !rc; i++) {
        if (cmp_keys(&keys[i - 1], &keys[i]) == 0) {
            size_t at = keys[i - 1]->offset > keys[i]->offset ? keys[i - 1]->offset : keys[i]->offset;
            if (!p->err[0])
                snprintf(p->err, p->err_size, "duplicate key \"%.60s\" at byte %zu", keys[i]->str, at);
            rc = -1;
        }
    }
    cg_free(keys);
    return rc;
}

static int container(struct parser *p, int depth, uint32_t self, int is_object)
{
    char close = is_object ? '}' : ']';
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    uint32_t prev = 0;
    for (;;) {
        skip_ws(p);
        uint32_t item;
        if (is_object) {
            if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "object key expected");
            int64_t k = add_node(p, CG_JSON_STRING);
            if (k < 0 || string(p, &p->doc->nodes[k])) return -1;
            item = (uint32_t)k;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') return fail(p, "':' expected");
            p->pos++;
            skip_ws(p);
            uint32_t v = p->doc->n;
            if (value(p, depth + 1)) return -1;
            p->doc->nodes[item].first = v;
        } else {
            item = p->doc->n;
            if (value(p, depth + 1)) return -1;
        }
        if (prev) p->doc->nodes[prev].next = item;
        else p->doc->nodes[self].first = item;
        prev = item;
        p->doc->nodes[self].count++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == close) return fail(p, "trailing comma");
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            return is_object ? check_duplicates(p, self) : 0;
        }
        return fail(p, is_object ? "',' or '}' expected" : "',' or ']' expected");
    }
}

static int value(struct parser *p, int depth)
{
    if (depth > CG_JSON_MAX_DEPTH) return fail(p, "nesting too deep");
    skip_ws(p);
    if (p->pos >= p->len) return fail(p, "value expected, input ended");
    unsigned c = p->s[p->pos];
    enum cg_json_type t = c == '{'   ? CG_JSON_OBJECT
                          : c == '[' ? CG_JSON_ARRAY
                          : c == '"' ? CG_JSON_STRING
                          : c == 't' ? CG_JSON_TRUE
                          : c == 'f' ? CG_JSON_FALSE
                          : c == 'n' ? CG_JSON_NULL
                                     : CG_JSON_NUMBER;
    if (t == CG_JSON_NUMBER && c != '-' && !(c >= '0' && c <= '9'))
        return fail(p, "value expected");
    int64_t i = add_node(p, t);
    if (i < 0) return -1;
    switch (t) {
    case CG_JSON_OBJECT: return container(p, depth, (uint32_t)i, 1);
    case CG_JSON_ARRAY: return container(p, depth, (uint32_t)i, 0);
    case CG_JSON_STRING: return string(p, &p->doc->nodes[i]);
    case CG_JSON_TRUE: return literal(p, "true");
    case CG_JSON_FALSE: return literal(p, "false");
    case CG_JSON_NULL: return literal(p, "null");
    case CG_JSON_NUMBER: return number(p, &p->doc->nodes[i]);
    }
    return -1;
}

enum cg_status cg_json_parse(struct cg_json_doc *doc, const char *text, size_t len, char *err,
                             size_t err_size)
{
    memset(doc, 0, sizeof *doc);
    err[0] = '\0';
    /* Decoded strings never outgrow their quoted source, NULs included. */
    doc->pool = cg_malloc(len + 1, "JSON strings");
    if (!doc->pool) return CG_ERR_NOMEM;
    struct parser p = {.doc = doc, .s = (const unsigned char *)text, .len = len,
                       .pool_end = doc->pool, .err = err, .err_size = err_size};
    int rc = value(&p, 0);
    if (!rc) {
        skip_ws(&p);
        if (p.pos != len) rc = fail(&p, "unexpected data after the JSON value");
    }
    if (rc) {
        cg_json_free(doc);
        return p.nomem ? CG_ERR_NOMEM : CG_ERR_FORMAT;
    }
    return CG_OK;
}

void cg_json_free(struct cg_json_doc *doc)
{
    cg_free(doc->nodes);
    cg_free(doc->pool);
    memset(doc, 0, sizeof *doc);
}

const struct cg_json_node *cg_json_at(const struct cg_json_doc *doc, uint32_t index)
{
    return index && index < doc->n ? &doc->nodes[index] : NULL;
}

const struct cg_json_node *cg_json_get(const struct cg_json_doc *doc,
                                       const struct cg_json_node *obj, const char *name)
{
    if (!obj || obj->type != CG_JSON_OBJECT) return NULL;
    size_t len = strlen(name);
    for (const struct cg_json_node *k = cg_json_at(doc, obj->first); k;
         k = cg_json_at(doc, k->next))
        if (k->len == len && !memcmp(k->str, name, len)) return cg_json_at(doc, k->first);
    return NULL;
}

int cg_json_u64(const struct cg_json_node *node, uint64_t *out)
{
    if (!node || node->type != CG_JSON_NUMBER || !node->len) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < node->len; i++) {
        unsigned c = (unsigned char)node->str[i];
        if (c < '0' || c > '9') return 0; /* sign, fraction or exponent */
        if (v > (UINT64_MAX - (c - '0')) / 10) return 0;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 1;
}
