/* Glue between the two chunk-kernel branches merged here: rng.c and npy.c
 * (h-rng) report errors with wf_nd_seterr, nd.c (h-nd) keeps the thread's
 * message behind wf_nd_fail. */
#include <stdarg.h>
#include <stdio.h>

#include "array/nd_int.h"

void wf_nd_seterr(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    (void)wf_nd_fail(WEFT_EINVAL, "%s", buf);
}
