/* Error code table and the helper that fills sitr_err_t.  Pure C, no state. */
#include <sitr/err.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const messages[] = {
#define SITR_ERR_MSG_(name, msg) msg,
    SITR_ERRNO_MAP(SITR_ERR_MSG_)
#undef SITR_ERR_MSG_
};

const char *sitr_strerror(int code)
{
    if (code == 0)
        return "success";
    if (code < 0 && -code <= SITR_ERR_COUNT_)
        return messages[-code - 1];
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
