// The public headers used from C++: scripts/test_install.sh compiles this
// against the installed cgrad with g++ -std=c++11 -Wall -Wextra -Wpedantic
// -Werror.  CG_SHAPE and CG_INDEX have C++ forms (no compound literals);
// the check is a hand-derived forward and backward through cg_linear.
#include <cmath>
#include <cstdio>
#include <cstring>

#include <cgrad.h>

int main()
{
    if (std::strcmp(cg_version(), CGRAD_VERSION_STRING) != 0) {
        std::printf("FAIL: cg_version() %s, headers %s\n", cg_version(), CGRAD_VERSION_STRING);
        return 1;
    }
    // x = [1, 2], W = [0.5, -1], b = 0.25: y = -1.25, dy/dW = x, dy/db = 1.
    const double xv[] = {1, 2}, wv[] = {0.5, -1}, bv[] = {0.25};
    cg_tensor *x = cg_tensor_from_doubles(nullptr, CG_F64, CG_SHAPE(1, 2), xv);
    cg_tensor *w = cg_tensor_from_doubles(nullptr, CG_F64, CG_SHAPE(1, 2), wv);
    cg_tensor *b = cg_tensor_from_doubles(nullptr, CG_F64, CG_SHAPE(1), bv);
    cg_tensor_requires_grad(w, true);
    cg_tensor_requires_grad(b, true);
    cg_tape *tape = cg_tape_new();
    cg_tensor *y = cg_sum(tape, cg_linear(tape, x, w, b));
    cg_backward(tape, y);
    const double gw1 = cg_tensor_get(w->grad, CG_INDEX(0, 1));
    const bool ok = std::fabs(cg_tensor_item(y) + 1.25) < 1e-12 && gw1 == 2 &&
                    cg_tensor_get(b->grad, CG_INDEX(0)) == 1;
    std::printf("%s: C++ consumer, cgrad %s, y %g, dy/dW[0,1] %g\n", ok ? "ok" : "FAIL",
                cg_version(), cg_tensor_item(y), gw1);
    // cg_sequential's C++ form (a function template): three children.
    cg_rng rng = cg_rng_seed(1);
    cg_module *seq = cg_sequential(cg_linear_new(2, 3, true, &rng), cg_relu_new(),
                                   cg_linear_new(3, 1, true, &rng));
    const bool seq_ok = seq && cg_sequential_size(seq) == 3;
    if (!seq_ok) std::printf("FAIL: C++ cg_sequential built %d children\n", cg_sequential_size(seq));
    cg_module_free(seq);
    cg_tape_free(tape);
    cg_tensor_free(x);
    cg_tensor_free(w);
    cg_tensor_free(b);
    return ok && seq_ok ? 0 : 1;
}
