/* Task functions and actor classes registered by name, usually at program
 * load time. Entries are never removed; lookups take no lock. */
#ifndef WF_SCHED_REGISTRY_H
#define WF_SCHED_REGISTRY_H

#include <stddef.h>

#include <weft/weft.h>

typedef struct wf_func {
    const char *name;
    weft_task_fn fn;
    const char *sig; /* NULL: unchecked */
} wf_func;

typedef struct wf_class {
    const char *name;
    weft_task_fn init;
    void (*destroy)(void *state);
    const char *init_sig;
    wf_func *methods;
    size_t nmethods;
} wf_class;

const wf_func *wf_func_find(const char *name);
const wf_class *wf_class_find(const char *name);
const wf_func *wf_class_method(const wf_class *c, const char *name);

/* Check args against a signature; refs are checked later, when they hold
 * values (wf_sig_check_one). what names the call for the message. */
weft_err wf_sig_check(const char *sig, const weft_value *args, size_t n,
                      const char *what);
/* Check the i-th argument's type (a value, not a ref) against sig. */
weft_err wf_sig_check_one(const char *sig, size_t i, const weft_value *v,
                          const char *what);
const char *wf_type_name(weft_type t);

#endif
