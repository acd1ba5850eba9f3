/* Resource lists as users write them: "gpu=1,fpga=0.5" (weft_options,
 * weft_task_opts, `weft start --resources`). One tokenizer, so every place
 * accepts the same text and reports the same errors. */
#ifndef WF_BASE_RESSPEC_H
#define WF_BASE_RESSPEC_H

#include <stddef.h>

#include <weft/errors.h>

#define WF_RES_AMOUNT_MAX 1e12 /* larger amounts are refused */

/* One NAME=AMOUNT item of spec, starting at *p (which points into spec).
 * On success: *name and *nlen give the name (1 or more bytes, no '=' or
 * ','), *amount is >= 0 and at most WF_RES_AMOUNT_MAX, and *p is past the
 * item and its comma. Otherwise WEFT_EINVAL with a message naming what
 * (e.g. "weft_submit 'f'") and the 1-based column of the problem. */
weft_err wf_res_item(const char *what, const char *spec, const char **p,
                     const char **name, size_t *nlen, double *amount);

#endif
