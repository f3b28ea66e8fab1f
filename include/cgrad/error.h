/* Errors and logging.
 *
 * cgrad has two kinds of error:
 *  - misuse (wrong shapes, dtype mismatch, NULL, lambda < 0, backward from a
 *    non-scalar ...): the library calls the misuse handler with a message that
 *    names the function, the values involved and a hint.  The default handler
 *    prints the message to stderr and aborts.  If an installed handler
 *    returns, the failing function returns NULL (or an error status) and has
 *    changed nothing.
 *  - recoverable failures (file missing, corrupt file, out of memory): the
 *    function returns an enum cg_status and keeps a detailed message that
 *    cg_last_error() returns.  Never aborts.
 * Library code never calls exit() and prints nothing except through the
 * handlers below. */
#ifndef CGRAD_ERROR_H
#define CGRAD_ERROR_H


#include "export.h"
#ifdef __cplusplus
extern "C" {
#endif

enum cg_status {
    CG_OK = 0,
    CG_ERR_INVALID,   /* bad argument (also reported through the misuse handler) */
    CG_ERR_NOMEM,     /* an allocation failed */
    CG_ERR_NOT_FOUND, /* file or name not found */
    CG_ERR_IO,        /* read/write/rename failed (disk full, permissions) */
    CG_ERR_FORMAT,    /* not the expected file format (magic, version, dims) */
    CG_ERR_CORRUPT,   /* CRC mismatch or truncated file */
    CG_ERR_MISMATCH,  /* file content does not match the model (names, shapes, dtypes) */
    CG_ERR_GRADCHECK, /* gradient check failed */
    CG_ERR_NONFINITE, /* NaN or Inf found */
    CG_STATUS_COUNT
};

/* Short constant name of a status, e.g. "CG_ERR_CORRUPT"; "CG_ERR_UNKNOWN"
 * for a value outside the enum.  A static string: never NULL, never freed. */
CG_API const char *cg_status_str(enum cg_status status);

/* Message of the most recent error in this thread (misuse or recoverable),
 * at most 1023 bytes.  Returns "" if none.  The string is owned by the
 * library (thread-local storage) and valid until the next error in this
 * thread.  Successful calls do not clear it: test the status first. */
CG_API const char *cg_last_error(void);

/* Clears this thread's cg_last_error() (to ""). */
CG_API void cg_clear_error(void);

/* Misuse handler.  handler(message, user) is called on every misuse, in the
 * thread that made it; `message` is the cg_last_error() string.  Passing
 * NULL restores the default (print "cgrad: <message>" to stderr, then
 * abort()).  Returns the previous handler through old_handler and old_user
 * when they are non-NULL (NULL for the default).  The handler is
 * process-wide and not synchronized: set it before starting threads.  See
 * docs/errors.md. */
typedef void (*cg_misuse_handler)(const char *message, void *user);
CG_API void cg_set_misuse_handler(cg_misuse_handler handler, void *user,
                           cg_misuse_handler *old_handler, void **old_user);

/* Reports misuse from user code (custom layers and ops) exactly like the
 * library does: formats "fn: message", stores it for cg_last_error() and calls
 * the misuse handler (default: print and abort).  Returns only if an
 * installed handler returns; the caller should then return its error value. */
CG_API void cg_misuse(const char *fn, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Log hook for informational/warning messages from the library (e.g. a
 * forward anomaly).  Default: silent; NULL restores it.  level: 0 debug, 1
 * info, 2 warning.  The message is valid during the call only.  Process-wide
 * like the misuse handler; called in the thread that logs. */
typedef void (*cg_log_handler)(int level, const char *message, void *user);
CG_API void cg_set_log_handler(cg_log_handler handler, void *user);

#ifdef __cplusplus
}
#endif
#endif
