/* The resource-list tokenizer (resspec.h). */
#include "base/resspec.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"

weft_err wf_res_item(const char *what, const char *spec, const char **p,
                     const char **name, size_t *nlen, double *amount)
{
    const char *s = *p;
    const char *end = strchr(s, ',');
    if (!end)
        end = s + strlen(s);
    const char *eq = memchr(s, '=', (size_t)(end - s));
    if (!eq || eq == s)
        return wf_err(WEFT_EINVAL,
                      "%s: resources \"%s\": expected NAME=AMOUNT at "
                      "column %zu",
                      what, spec, (size_t)(s - spec) + 1);
    char *num_end;
    double v = strtod(eq + 1, &num_end);
    if (num_end == eq + 1 || num_end != end || !(v >= 0) ||
        v > WF_RES_AMOUNT_MAX)
        return wf_err(WEFT_EINVAL,
                      "%s: resources \"%s\": bad amount at column %zu (want "
                      "a number from 0 to 1e12)",
                      what, spec, (size_t)(eq + 1 - spec) + 1);
    *name = s;
    *nlen = (size_t)(eq - s);
    *amount = v;
    *p = *end ? end + 1 : end;
    return 0;
}
