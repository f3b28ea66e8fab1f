/* shrink_functions: the seed documents' comparison of Hardshrink(1.0),
 * Softshrink(1.0) and Tanhshrink() on linspace(-3, 3, 100) with their
 * derivatives (by cg_backward), and the denoising demo: a sparse signal
 * plus Gaussian noise, thresholded by Hardshrink(lambda) and
 * Softshrink(lambda). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shrink.h"

static const char usage[] =
    "usage: shrink_functions [options]\n"
    "Compares Hardshrink(1.0), Softshrink(1.0) and Tanhshrink() on linspace(-3, 3, 100),\n"
    "with derivatives taken by cg_backward, then denoises a sparse signal by thresholding.\n"
    "Prints both tables; writes shrink_functions.png and denoise.png.\n"
    "\n"
    "  --out DIR        directory for the plots (created if missing) [out/shrink_functions]\n"
    "  --seed N         seed of the denoising signal and noise [0]\n"
    "  --sigma X        noise standard deviation, > 0 [0.5]\n"
    "  --export FILE    also write the inputs and outputs as safetensors (FILE.safetensors)\n"
    "  --help           this text\n";

static int bad(const char *flag, const char *value, const char *why)
{
    fprintf(stderr, "shrink_functions: %s%s%s: %s\n\n%s", flag, value ? " " : "",
            value ? value : "", why, usage);
    return 2;
}

static int parse(int argc, char **argv, struct shrink_options *opt)
{
    *opt = (struct shrink_options){.out_dir = "out/shrink_functions", .sigma = 0.5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        if (strcmp(a, "--out") && strcmp(a, "--seed") && strcmp(a, "--sigma") &&
            strcmp(a, "--export"))
            return bad(a, NULL, strncmp(a, "--", 2) ? "unexpected argument" : "unknown option");
        if (i + 1 >= argc) return bad(a, NULL, "needs a value");
        const char *v = argv[++i];
        char *end;
        errno = 0;
        if (!strcmp(a, "--out")) {
            opt->out_dir = v;
        } else if (!strcmp(a, "--export")) {
            size_t n = strlen(v);
            if (n < 12 || strcmp(v + n - 12, ".safetensors"))
                return bad(a, v, "expected a file name ending in .safetensors");
            opt->export_path = v;
        } else if (!strcmp(a, "--seed")) {
            long long s = strtoll(v, &end, 10);
            if (errno || *end || end == v || s < 0) return bad(a, v, "expected an integer >= 0");
            opt->seed = (uint64_t)s;
        } else {
            double x = strtod(v, &end);
            if (errno || *end || end == v || !isfinite(x) || x <= 0)
                return bad(a, v, "expected a finite number > 0");
            opt->sigma = x;
        }
    }
    return 0;
}

int shrink_save_figure(const struct shrink_options *opt, struct cg_figure *fig, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", opt->out_dir, name);
    enum cg_status st = cg_figure_save_png(fig, path);
    cg_figure_free(fig);
    if (st != CG_OK) {
        fprintf(stderr, "shrink_functions: %s\n", cg_last_error());
        return 1;
    }
    printf("wrote %s\n", path);
    return 0;
}

static int make_dir(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) break;
        *p = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "shrink_functions: cannot create directory %s: %s\n", dir, strerror(errno));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct shrink_options opt;
    int rc = parse(argc, argv, &opt);
    if (rc) return rc == 1 ? 0 : rc;
    if (make_dir(opt.out_dir)) return 1;
    struct shrink_export ex = {.n = 0};
    rc = shrink_compare(&opt, &ex) || shrink_denoise(&opt, &ex);
    if (!rc && opt.export_path) {
        const char *meta[] = {"program", "shrink_functions", NULL};
        enum cg_status st = cg_safetensors_save_tensors(opt.export_path, ex.n, ex.names,
                                                        (const struct cg_tensor *const *)ex.tensors,
                                                        meta);
        if (st != CG_OK) {
            fprintf(stderr, "shrink_functions: --export: %s\n", cg_last_error());
            rc = 1;
        } else {
            printf("wrote %zu tensors to %s\n", ex.n, opt.export_path);
        }
    }
    for (size_t i = 0; i < ex.n; i++) cg_tensor_free(ex.tensors[i]);
    cg_plot_release_caches(); /* a clean exit for leak checkers */
    return rc;
}

void shrink_keep(struct shrink_export *ex, const char *name, const struct cg_tensor *t)
{
    if (!ex || ex->n == sizeof ex->names / sizeof ex->names[0]) return;
    ex->names[ex->n] = name;
    ex->tensors[ex->n++] = cg_tensor_copy(NULL, t);
}
