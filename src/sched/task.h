/* A task record: everything needed to run one function call, in one pooled
 * block — the header, the arguments (small buffers copied inline), the
 * result objects — so submitting allocates once. */
#ifndef WF_SCHED_TASK_H
#define WF_SCHED_TASK_H

#include <stdatomic.h>
#include <stdint.h>

#include "exec/pool.h"
#include "sched/registry.h"
#include "store/store.h"

#define WF_MAX_CUSTOM 16 /* custom resource kinds per runtime */

typedef struct wf_task wf_task;

typedef struct wf_arg {
    weft_value v;   /* REF: replaced by the object's value when run */
    wf_obj *obj;    /* REF arguments: the object, retained */
    wf_waiter link; /* in obj's waiter list while it is pending */
    wf_task *task;
} wf_arg;

enum { WF_TASK_FN = 0, WF_TASK_ACTOR_NEW, WF_TASK_ACTOR_CALL };

typedef struct wf_resreq {
    int64_t cpus; /* thousandths */
    uint64_t memory;
    uint32_t custom[WF_MAX_CUSTOM]; /* thousandths per kind */
    bool has_custom;
} wf_resreq;

struct wf_task {
    wf_work work;            /* pool link: must be first */
    _Atomic int32_t pending; /* unresolved arguments + 1 */
    uint16_t nargs, nret;
    uint8_t kind;
    uint8_t executor;
    bool needs_admit; /* resources other than one whole cpu */
    int16_t retries_left;
    uint32_t size; /* bytes of this block */
    const wf_func *fn;
    struct wf_actor *actor;
    union {
        wf_task *mail_next;  /* actor calls: mailbox link */
        wf_task *admit_next; /* tasks: admission queue link */
    } link;
    const char *name; /* display name */
    wf_resreq *res;   /* NULL: one cpu */
    wf_arg args[];    /* then the result objects: wf_task_ret() */
};

#define WF_ALIGN16(n) (((n) + 15) & ~(size_t)15)

/* The result objects, stored right after the arguments in the block. */
static inline wf_obj **wf_task_ret(const wf_task *t)
{
    return (wf_obj **)((char *)t +
                       WF_ALIGN16(sizeof(wf_task) + t->nargs * sizeof(wf_arg)));
}

#endif
