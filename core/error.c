#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "error_internal.h"

static _Thread_local char last_error[1024];

static void default_misuse(const char *message, void *user)
{
    (void)user;
    /* abort() does not flush stdio: the program's last output would be lost. */
    fflush(stdout);
    fprintf(stderr, "cgrad: %s\n", message);
    fflush(NULL);
    abort();
}

static cg_misuse_handler misuse_handler = default_misuse;
static void *misuse_user;
static cg_log_handler log_handler;
static void *log_user;

static const char *const status_names[CG_STATUS_COUNT] = {
    "CG_OK",          "CG_ERR_INVALID",  "CG_ERR_NOMEM",     "CG_ERR_NOT_FOUND",
    "CG_ERR_IO",      "CG_ERR_FORMAT",   "CG_ERR_CORRUPT",   "CG_ERR_MISMATCH",
    "CG_ERR_GRADCHECK", "CG_ERR_NONFINITE",
};

const char *cg_status_str(enum cg_status status)
{
    if ((int)status < 0 || status >= CG_STATUS_COUNT) return "CG_ERR_UNKNOWN";
    return status_names[status];
}

const char *cg_last_error(void) { return last_error; }
void cg_clear_error(void) { last_error[0] = '\0'; }

void cg_set_misuse_handler(cg_misuse_handler handler, void *user, cg_misuse_handler *old_handler,
                           void **old_user)
{
    if (old_handler) *old_handler = misuse_handler == default_misuse ? NULL : misuse_handler;
    if (old_user) *old_user = misuse_user;
    misuse_handler = handler ? handler : default_misuse;
    misuse_user = handler ? user : NULL;
}

void cg_set_log_handler(cg_log_handler handler, void *user)
{
    log_handler = handler;
    log_user = user;
}

void cg_misuse(const char *fn, const char *fmt, ...)
{
    /* Public for user layers: tolerate NULL fn/fmt rather than crash here. */
    int n = snprintf(last_error, sizeof last_error, "%s: ", fn ? fn : "(unnamed function)");
    if (n < 0 || (size_t)n >= sizeof last_error) n = 0;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
        va_end(ap);
    }
    misuse_handler(last_error, misuse_user);
}

enum cg_status cg_fail(enum cg_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

void cg_log_message(int level, const char *fmt, ...)
{
    if (!log_handler) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_handler(level, buf, log_user);
}
