/* The object store: immutable objects addressed by (slot, generation) ids,
 * reference counted, their bytes accounted against a cap. Small values live
 * in the object's header; buffers live in blobs, and blobs of
 * WF_BLOB_SHM_MIN bytes or more in shared memory (memfd) so that worker
 * processes map them instead of copying. */
#ifndef WF_STORE_STORE_H
#define WF_STORE_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

#define WF_BLOB_SHM_MIN (64 * 1024)

enum {
    WF_OBJ_PENDING = 0,
    WF_OBJ_READY = 1,
    WF_OBJ_FAILED = 2,
    WF_OBJ_WAITERS = 0x100, /* a thread sleeps on the state word */
    WF_OBJ_ERRSET = 0x200,  /* u.err is set (failed, maybe not published) */
};

/* Bytes behind a value: heap memory, or a shared memory mapping (fd >= 0). */
typedef struct wf_blob {
    void *data;
    size_t size;   /* usable bytes */
    size_t mapped; /* mapping length when fd >= 0 */
    int fd;
    bool readonly;  /* a mapping of another process's memory */
    bool shared;    /* fd handed to another process: never reused */
    bool accounted; /* counted in a store's bytes */
    /* An array's shape when its bytes were laid out by someone else (a
     * mapped result): the value's shape points here. */
    int64_t shape[WEFT_MAX_NDIM];
    /* A layer above's record for the bytes (a value kept on a cluster
     * node: data stays NULL until fetched), freed with the blob. */
    void *ext;
    void (*ext_free)(void *ext);
} wf_blob;

/* A link in an object's list of waiters (tasks waiting for it). */
typedef struct wf_waiter {
    struct wf_waiter *next;
} wf_waiter;

/* Kept small (72 bytes): a pending task's result is one of these. */
typedef struct wf_obj {
    _Atomic uint32_t state; /* WF_OBJ_* */
    uint32_t gen;           /* generation of this slot's current object */
    /* Handles (user references, high 32 bits) and pins (pending tasks that
     * need it, low 32 bits), counted apart so that releasing a handle twice
     * is caught instead of freeing what a task still needs. */
    _Atomic uint64_t refs;
    uint32_t slot; /* this object's own slot index */
    union {
        weft_value val; /* READY: the value; pointers into blob */
        struct {
            weft_err code;
            char *msg;      /* what failed and where */
        } err;              /* WF_OBJ_ERRSET: the error */
        uint32_t next_free; /* on the free list: next free slot */
    } u;
    _Atomic(wf_waiter *) waiters; /* WF_WAITERS_CLOSED once published */
    wf_blob *blob;
} wf_obj;

#define WF_WAITERS_CLOSED ((wf_waiter *)1)

typedef struct wf_store wf_store;

/* New store with a byte cap; tag (1..255) marks this store's references. */
wf_store *wf_store_new(uint64_t cap, uint8_t tag);
/* Free every object and the store. No other thread may use it. */
void wf_store_free(wf_store *s);

#define WF_HANDLE_ONE ((uint64_t)1 << 32)

/* A new pending object with that many handles and pins; *ref names it.
 * NULL on OOM. */
wf_obj *wf_store_obj_new(wf_store *s, uint32_t handles, uint32_t pins,
                         weft_ref *ref);
/* The object a reference names, or NULL if foreign, stale, released by
 * all its handles, or never made. */
wf_obj *wf_store_lookup(wf_store *s, weft_ref ref);
weft_ref wf_store_ref_of(wf_store *s, wf_obj *o);
static inline void wf_obj_pin(wf_obj *o)
{
    atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
}
static inline void wf_obj_add_handle(wf_obj *o)
{
    atomic_fetch_add_explicit(&o->refs, WF_HANDLE_ONE, memory_order_relaxed);
}
/* Drop a pin; frees the object when nothing holds it any more. */
void wf_store_unpin(wf_store *s, wf_obj *o);
/* Drop a handle; WEFT_EBADREF if none is left (a double release). */
weft_err wf_store_drop_handle(wf_store *s, wf_obj *o);

/* A blob of n bytes accounted to s (s may be NULL: unaccounted, as in a
 * worker process); shared memory when n >= WF_BLOB_SHM_MIN, then maybe a
 * freed blob's pages reused. Its bytes are undefined until written.
 * Returns WEFT_ESTOREFULL past the cap, WEFT_ENOMEM/ESYS on failure. */
weft_err wf_blob_new(wf_store *s, size_t n, wf_blob **out);
/* Adopt a shared memory fd of n bytes (from a worker process): maps it;
 * takes the fd on success. */
weft_err wf_blob_adopt_fd(wf_store *s, int fd, size_t n, wf_blob **out);
void wf_blob_free(wf_store *s, wf_blob *b);

/* Copy v (not a REF) into a fresh blob and point *dst at the copy. */
weft_err wf_value_copy(wf_store *s, const weft_value *v, weft_value *dst,
                       wf_blob **blob);
/* Lay out an array value's header inside blob memory: the shape is stored
 * first, data after it at a 64-byte boundary. */
size_t wf_array_bytes(const weft_value *v, size_t *data_off);
/* Validate a value given by a user: types, dtype, shape, NULL pointers. */
weft_err wf_value_check(const weft_value *v, const char *where);

/* Set the value of a pending object, taking ownership of blob (may be NULL
 * for scalars). Does not publish. */
void wf_obj_set(wf_obj *o, const weft_value *v, wf_blob *blob);
/* As wf_obj_set for a blob mapped from elsewhere: an array's shape is
 * copied into the blob so the value does not point at v's storage. */
void wf_obj_set_mapped(wf_obj *o, const weft_value *v, wf_blob *blob);
/* Mark a pending object failed, taking ownership of msg (wf_alloc'd). */
void wf_obj_set_error(wf_obj *o, weft_err code, char *msg);

/* Publish: the object becomes READY or FAILED, sleepers wake. Returns the
 * list of waiters that were registered, for the scheduler to walk. */
wf_waiter *wf_obj_publish(wf_obj *o);

/* Add a waiter; false if the object was already published. */
bool wf_obj_add_waiter(wf_obj *o, wf_waiter *w);

/* Sleep until o is published or deadline (ns, wf_now_ns clock; 0 = none).
 * Returns 0 or WEFT_ETIMEDOUT. */
weft_err wf_obj_wait(wf_obj *o, uint64_t deadline_ns);

static inline uint32_t wf_obj_state(const wf_obj *o)
{
    return atomic_load_explicit(&o->state, memory_order_acquire) & 0xff;
}

/* A failed object's code and message (message never NULL). */
static inline weft_err wf_obj_errcode(const wf_obj *o)
{
    return o->u.err.code;
}
const char *wf_obj_errmsg(const wf_obj *o);

void wf_store_counts(wf_store *s, uint64_t *objects, uint64_t *bytes,
                     uint64_t *cap);

#endif
