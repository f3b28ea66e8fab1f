/* cg_module_print: a tree of types, arguments, own parameters and buffers. */
#include <stdio.h>
#include <string.h>

#include "cgrad/module.h"

struct print_ctx {
    FILE *out;
    int indent;
    const char *kind; /* "param" or "buffer" */
};

/* Own tensors only: a child's names carry a '.'. */
static void print_tensor(const char *name, struct cg_tensor *t, void *user)
{
    const struct print_ctx *c = user;
    if (strchr(name, '.')) return;
    char s[160];
    fprintf(c->out, "%*s%s %s %s\n", c->indent, "", c->kind, name,
            cg_tensor_shape_str(t, s, sizeof s));
}

struct child_ctx {
    FILE *out;
    int indent, index;
};

static void print_module(struct cg_module *m, FILE *out, int indent, const char *label);

static void print_child(struct cg_module *child, void *user)
{
    struct child_ctx *c = user;
    char label[32];
    snprintf(label, sizeof label, "(%d): ", c->index++);
    print_module(child, c->out, c->indent, label);
}

static void print_module(struct cg_module *m, FILE *out, int indent, const char *label)
{
    char args[256] = "";
    if (m->vtable->describe) m->vtable->describe(m, args, sizeof args);
    bool container = m->vtable->visit_children != NULL;
    fprintf(out, "%*s%s%s(%s%s\n", indent, "", label, cg_module_type(m), args,
            container ? "" : ")");
    int inner = indent + 2 + (int)strlen(label);
    struct print_ctx p = {out, inner, "param"};
    if (m->vtable->visit_params) m->vtable->visit_params(m, "", print_tensor, &p);
    p.kind = "buffer";
    if (m->vtable->visit_buffers) m->vtable->visit_buffers(m, "", print_tensor, &p);
    if (!container) return;
    struct child_ctx c = {out, indent + 2, 0};
    m->vtable->visit_children(m, print_child, &c);
    fprintf(out, "%*s)\n", indent + (int)strlen(label), "");
}

static void count_tensor(const char *name, struct cg_tensor *t, void *user)
{
    (void)name;
    size_t *n = user;
    n[0]++;
    n[1] += (size_t)t->numel;
}

void cg_module_print(struct cg_module *m, FILE *out)
{
    if (!out) return;
    if (!m || !m->vtable) {
        fprintf(out, "(null)\n");
        return;
    }
    print_module(m, out, 0, "");
    size_t params[2] = {0, 0}, buffers[2] = {0, 0};
    cg_module_visit_params(m, count_tensor, params);
    cg_module_visit_buffers(m, count_tensor, buffers);
    fprintf(out, "Total parameters: %zu (%zu tensors); buffers: %zu elements (%zu tensors)\n",
            params[1], params[0], buffers[1], buffers[0]);
}
