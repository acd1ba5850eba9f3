/* Errors as values: codes come from include/weft/errors.h; the detail of
 * the last error on this thread is kept for weft_last_error(). */
#ifndef WF_BASE_ERR_H
#define WF_BASE_ERR_H

#include <weft/errors.h>

/* Record "fmt..." as this thread's last error detail and return code, so a
 * function can end with: return wf_err(WEFT_EINVAL, "weft_get: NULL out"); */
weft_err wf_err(weft_err code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Put "prefix: " before this thread's last error detail; returns code.
 * (Passing weft_last_error() to wf_err would overlap its buffer.) */
weft_err wf_err_prefix(weft_err code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clear this thread's last error detail. */
void wf_err_clear(void);

#endif
