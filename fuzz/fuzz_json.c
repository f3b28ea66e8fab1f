/* libFuzzer target: the strict JSON parser behind the safetensors header
 * (checkpoint/json.c).
 *
 * Checked on every input: a failure leaves nothing allocated and has a
 * message with a byte offset; a success gives a consistent tree (every
 * first/next index inside the node array and pointing forward, counts equal
 * to the chains' lengths, object members keyed by strings, strings
 * NUL-terminated at their length), and parsing is deterministic. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/json_internal.h"
#include "fuzz_util.h"

static void check_tree(const struct cg_json_doc *d)
{
    if (d->n == 0) fuzz_fail("parsed document without nodes");
    for (uint32_t i = 0; i < d->n; i++) {
        const struct cg_json_node *n = &d->nodes[i];
        if (n->first && (n->first <= i || n->first >= d->n)) fuzz_fail("first index out of order");
        if (n->next && (n->next <= i || n->next >= d->n)) fuzz_fail("next index out of order");
        if (n->type == CG_JSON_STRING && n->str[n->len] != '\0') fuzz_fail("string not terminated");
        if (n->type == CG_JSON_ARRAY || n->type == CG_JSON_OBJECT) {
            uint32_t count = 0;
            for (uint32_t k = n->first; k; k = d->nodes[k].next) {
                count++;
                if (n->type == CG_JSON_OBJECT &&
                    (d->nodes[k].type != CG_JSON_STRING || !d->nodes[k].first))
                    fuzz_fail("object member without a string key and a value");
            }
            if (count != n->count) fuzz_fail("count differs from the chain length");
        }
        uint64_t v;
        (void)cg_json_u64(n, &v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy without slack, so ASan sees reads past the end. */
    char *text = malloc(size ? size : 1);
    if (!text) fuzz_fail("out of memory");
    if (size) memcpy(text, data, size);
    char err[160];
    struct cg_json_doc d, again;
    enum cg_status st = cg_json_parse(&d, text, size, err, sizeof err);
    if (st == CG_OK) {
        check_tree(&d);
        if (cg_json_parse(&again, text, size, err, sizeof err) != CG_OK || again.n != d.n)
            fuzz_fail("second parse differs");
        cg_json_free(&again);
        cg_json_free(&d);
    } else {
        if (st != CG_ERR_FORMAT && st != CG_ERR_NOMEM) fuzz_fail("unexpected status");
        if (!strstr(err, "at byte") && st == CG_ERR_FORMAT) fuzz_fail("error without an offset");
        if (d.nodes || d.pool) fuzz_fail("failed parse left memory behind");
    }
    free(text);
    return 0;
}
