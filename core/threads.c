/* OpenBLAS thread control. */
#include <stdlib.h>

#include <cblas.h>

#include "cgrad/memory.h"

void cg_set_num_threads(int n)
{
    if (n <= 0) {
        const char *env = getenv("CGRAD_NUM_THREADS");
        n = env ? atoi(env) : 0;
        if (n <= 0) return;
    }
    openblas_set_num_threads(n);
}

int cg_get_num_threads(void) { return openblas_get_num_threads(); }
