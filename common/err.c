/* Error code tables (sitr/err.h, the hashing library's codes, and
 * sitr/err_service.h, the programs' codes) and the helper that fills
 * sitr_err_t.  Pure C, no state, any thread. */
#include <sitr/err.h>
#include <sitr/err_service.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Static_assert(SITR_ERR_COUNT_ < SITR_ERR_SERVICE_BASE,
               "the library's codes must stay below the programs' range");

static const char *const messages[] = {
#define SITR_ERR_MSG_(name, msg) msg,
    SITR_ERRNO_MAP(SITR_ERR_MSG_)
#undef SITR_ERR_MSG_
};

static const char *const service_messages[] = {
#define SITR_ERR_MSG_(name, msg) msg,
    SITR_ERRNO_SERVICE_MAP(SITR_ERR_MSG_)
#undef SITR_ERR_MSG_
};

const char *sitr_strerror(int code)
{
    if (code == 0)
        return "success";
    if (code < 0 && -code <= SITR_ERR_COUNT_)
        return messages[-code - 1];
    if (code < -SITR_ERR_SERVICE_BASE && -code <= SITR_ERR_SERVICE_BASE + SITR_ERR_SERVICE_COUNT_)
        return service_messages[-code - SITR_ERR_SERVICE_BASE - 1];
    return "unknown error";
}

int sitr_err_set(sitr_err_t *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}
