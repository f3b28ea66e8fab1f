/* Internal error reporting helpers. */
#ifndef CG_CORE_ERROR_INTERNAL_H
#define CG_CORE_ERROR_INTERNAL_H

#include "cgrad/error.h"

#if defined(__GNUC__)
#define CG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CG_PRINTF(a, b)
#endif

/* cg_misuse(fn, fmt, ...) is public: see cgrad/error.h. */

/* Records a recoverable failure message and returns `status`. */
enum cg_status cg_fail(enum cg_status status, const char *fmt, ...) CG_PRINTF(2, 3);

/* Logs through the log handler (silent by default). */
void cg_log_message(int level, const char *fmt, ...) CG_PRINTF(2, 3);

/* Shortcut for argument checks in functions returning a pointer. */
#define CG_CHECK_NOT_NULL(fn, ptr, what)                                        \
    do {                                                                         \
        if (!(ptr)) {                                                            \
            cg_misuse(fn, "%s is NULL (hint: check the call that produced it)", \
                      what);                                                     \
            return NULL;                                                         \
        }                                                                        \
    } while (0)

#endif
