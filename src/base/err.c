#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define WF_EXPORT __attribute__((visibility("default")))

static _Thread_local char wf_last[512];

static void set_last(const char *fmt, va_list ap)
{
    /* Through a copy: callers may pass weft_last_error() as an argument. */
    char tmp[sizeof wf_last];
    vsnprintf(tmp, sizeof tmp, fmt ? fmt : "", ap);
    memcpy(wf_last, tmp, sizeof wf_last);
}

weft_err wf_err(weft_err code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_last(fmt, ap);
    va_end(ap);
    return code;
}

weft_err wf_err_prefix(weft_err code, const char *fmt, ...)
{
    char prefix[256], tmp[sizeof prefix + sizeof wf_last + 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(tmp, sizeof tmp, "%s: %s", prefix, wf_last);
    memcpy(wf_last, tmp, sizeof wf_last - 1);
    wf_last[sizeof wf_last - 1] = '\0';
    return code;
}

void wf_err_clear(void)
{
    wf_last[0] = '\0';
}

WF_EXPORT weft_err weft_set_error(weft_err code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_last(fmt, ap);
    va_end(ap);
    return code;
}

WF_EXPORT const char *weft_last_error(void)
{
    return wf_last;
}

WF_EXPORT const char *weft_strerror(weft_err code)
{
    switch (code) {
    case WEFT_OK:
        return "success";
#define WF_ERR_MSG(name, val, msg)                                             \
    case WEFT_##name:                                                          \
        return msg;
        WEFT_ERRNO_MAP(WF_ERR_MSG)
#undef WF_ERR_MSG
    }
    return "unknown error";
}

WF_EXPORT const char *weft_err_name(weft_err code)
{
    switch (code) {
    case WEFT_OK:
        return "WEFT_OK";
#define WF_ERR_NAME(name, val, msg)                                            \
    case WEFT_##name:                                                          \
        return "WEFT_" #name;
        WEFT_ERRNO_MAP(WF_ERR_NAME)
#undef WF_ERR_NAME
    }
    return "WEFT_UNKNOWN";
}
