#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/platform.h"

/* Slots live in chunks that never move, so an object pointer stays valid
 * for the store's life; a reference is (tag:8, generation:24, slot:32). */
#define WF_CHUNK_BITS 12
#define WF_CHUNK_SLOTS (1u << WF_CHUNK_BITS)
#define WF_MAX_CHUNKS (1u << 16)
#define WF_GEN_MASK 0xffffffu

/* Freed shared-memory blobs kept, mapped, for the next blob of about their
 * size. The first write to each 4 KiB page of a fresh shared mapping
 * faults (even after MAP_POPULATE), which costs more than filling it: an
 * 8 MB chunk took 13-16 ms to first write on this project's VMs and
 * 0.2 ms to rewrite. A store that makes and drops same-sized chunks (a
 * blocked matmul, a rechunk, a graph run twice) reuses the same pages.
 * At most WF_SPARE_MAX of them, holding up to a cap/8 (and at most
 * WF_SPARE_BYTES): memory the store's cap does not count. */
#define WF_SPARE_MAX 32
#define WF_SPARE_BYTES ((uint64_t)256 << 20)

typedef struct wf_spare {
    void *data;
    size_t mapped;
    int fd;
} wf_spare;

struct wf_store {
    wf_obj *chunks[WF_MAX_CHUNKS];
    _Atomic uint64_t free_head; /* (aba tag << 32) | slot; slot 0 = empty */
    pthread_mutex_t grow_lock;
    _Atomic uint32_t nslots; /* slots handed out so far (slot 0 unused) */
    _Atomic uint64_t bytes;
    _Atomic uint64_t objects;
    uint64_t cap;
    uint64_t id; /* unique for the process's life: keys thread caches */
    uint8_t tag;
    struct wf_store *next_live; /* in wf_stores */
    pthread_mutex_t spare_lock;
    wf_spare spare[WF_SPARE_MAX];
    int nspare;
    uint64_t spare_bytes, spare_cap;
};

static _Atomic uint64_t wf_store_ids;

/* Free slots a thread took from the shared list in one swap: allocating
 * then pops from here without touching shared memory. They go back to
 * their store when the thread moves to another store or exits, if that
 * store still exists (looked up among the live ones). */
static _Thread_local struct {
    uint64_t store;
    uint32_t head;
} wf_tl_free;

static pthread_mutex_t wf_stores_lock = PTHREAD_MUTEX_INITIALIZER;
static wf_store *wf_stores; /* live stores */
static pthread_key_t wf_tl_key;
static pthread_once_t wf_tl_once = PTHREAD_ONCE_INIT;

static void wf_push_free(wf_store *s, uint32_t slot);
static wf_obj *wf_slot(wf_store *s, uint32_t slot);

static void wf_tl_give_back(void)
{
    if (!wf_tl_free.head)
        return;
    pthread_mutex_lock(&wf_stores_lock);
    for (wf_store *s = wf_stores; s; s = s->next_live) {
        if (s->id != wf_tl_free.store)
            continue;
        for (uint32_t slot = wf_tl_free.head, next; slot; slot = next) {
            next = wf_slot(s, slot)->u.next_free;
            wf_push_free(s, slot);
        }
        break;
    }
    pthread_mutex_unlock(&wf_stores_lock);
    wf_tl_free.head = 0;
    wf_tl_free.store = 0;
}

static void wf_tl_exit(void *unused)
{
    (void)unused;
    wf_tl_give_back();
}

static void wf_tl_key_init(void)
{
    pthread_key_create(&wf_tl_key, wf_tl_exit);
}

wf_store *wf_store_new(uint64_t cap, uint8_t tag)
{
    wf_store *s = wf_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->grow_lock, NULL);
    pthread_mutex_init(&s->spare_lock, NULL);
    s->cap = cap;
    s->spare_cap = cap / 8 < WF_SPARE_BYTES ? cap / 8 : WF_SPARE_BYTES;
    s->tag = tag;
    s->id = atomic_fetch_add(&wf_store_ids, 1) + 1;
    atomic_store(&s->nslots, 1);
    pthread_mutex_lock(&wf_stores_lock);
    s->next_live = wf_stores;
    wf_stores = s;
    pthread_mutex_unlock(&wf_stores_lock);
    return s;
}

static wf_obj *wf_slot(wf_store *s, uint32_t slot)
{
    return &s->chunks[slot >> WF_CHUNK_BITS][slot & (WF_CHUNK_SLOTS - 1)];
}

static void wf_obj_clear(wf_store *s, wf_obj *o)
{
    if (o->blob)
        wf_blob_free(s, o->blob);
    if (atomic_load_explicit(&o->state, memory_order_relaxed) & WF_OBJ_ERRSET)
        wf_free(o->u.err.msg);
    o->blob = NULL;
    o->u.val.type = WEFT_T_NONE;
}

void wf_store_free(wf_store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&wf_stores_lock);
    for (wf_store **pp = &wf_stores; *pp; pp = &(*pp)->next_live)
        if (*pp == s) {
            *pp = s->next_live;
            break;
        }
    pthread_mutex_unlock(&wf_stores_lock);
    uint32_t n = atomic_load(&s->nslots);
    for (uint32_t i = 1; i < n; i++) {
        wf_obj *o = wf_slot(s, i);
        wf_obj_clear(s, o);
    }
    for (uint32_t c = 0; c < WF_MAX_CHUNKS && s->chunks[c]; c++)
        wf_free(s->chunks[c]);
    for (int i = 0; i < s->nspare; i++) {
        munmap(s->spare[i].data, s->spare[i].mapped);
        close(s->spare[i].fd);
    }
    pthread_mutex_destroy(&s->spare_lock);
    pthread_mutex_destroy(&s->grow_lock);
    wf_free(s);
}

static uint32_t wf_pop_free(wf_store *s)
{
    if (wf_tl_free.store != s->id || wf_tl_free.head == 0) {
        wf_tl_give_back(); /* another store's slots go home first */
        /* Take the whole shared list at once (no ABA: nothing is read
         * from it before the swap). */
        uint64_t head =
            atomic_load_explicit(&s->free_head, memory_order_relaxed);
        if ((uint32_t)head == 0)
            return 0;
        uint64_t empty;
        do {
            empty = ((head >> 32) + 1) << 32;
        } while (!atomic_compare_exchange_weak_explicit(
            &s->free_head, &head, empty, memory_order_acquire,
            memory_order_relaxed));
        if ((uint32_t)head == 0)
            return 0;
        wf_tl_free.store = s->id;
        wf_tl_free.head = (uint32_t)head;
        pthread_once(&wf_tl_once, wf_tl_key_init);
        pthread_setspecific(wf_tl_key, &wf_tl_free); /* to run wf_tl_exit */
    }
    uint32_t slot = wf_tl_free.head;
    wf_tl_free.head = wf_slot(s, slot)->u.next_free;
    return slot;
}

static void wf_push_free(wf_store *s, uint32_t slot)
{
    wf_obj *o = wf_slot(s, slot);
    uint64_t head = atomic_load_explicit(&s->free_head, memory_order_relaxed);
    for (;;) {
        o->u.next_free = (uint32_t)head;
        uint64_t nh = ((head >> 32) + 1) << 32 | slot;
        if (atomic_compare_exchange_weak_explicit(&s->free_head, &head, nh,
                                                  memory_order_release,
                                                  memory_order_relaxed))
            return;
    }
}

/* A never-used slot, growing the table by a chunk when needed. */
static uint32_t wf_new_slot(wf_store *s)
{
    pthread_mutex_lock(&s->grow_lock);
    uint32_t slot = atomic_load(&s->nslots);
    uint32_t c = slot >> WF_CHUNK_BITS;
    if (c >= WF_MAX_CHUNKS) {
        slot = 0;
        goto out;
    }
    if (!s->chunks[c]) {
        s->chunks[c] = wf_calloc(WF_CHUNK_SLOTS, sizeof(wf_obj));
        if (!s->chunks[c]) {
            slot = 0;
            goto out;
        }
    }
    atomic_store(&s->nslots, slot + 1);
out:
    pthread_mutex_unlock(&s->grow_lock);
    return slot;
}

wf_obj *wf_store_obj_new(wf_store *s, uint32_t handles, uint32_t pins,
                         weft_ref *ref)
{
    uint32_t slot = wf_pop_free(s);
    if (!slot && !(slot = wf_new_slot(s)))
        return NULL;
    wf_obj *o = wf_slot(s, slot);
    o->slot = slot;
    o->gen = (o->gen + 1) & WF_GEN_MASK;
    if (o->gen == 0)
        o->gen = 1;
    atomic_store_explicit(&o->refs, (uint64_t)handles << 32 | pins,
                          memory_order_relaxed);
    atomic_store_explicit(&o->waiters, NULL, memory_order_relaxed);
    o->u.val.type = WEFT_T_NONE;
    atomic_store_explicit(&o->state, WF_OBJ_PENDING, memory_order_release);
    atomic_fetch_add_explicit(&s->objects, 1, memory_order_relaxed);
    ref->id = (uint64_t)s->tag << 56 | (uint64_t)o->gen << 32 | slot;
    return o;
}

wf_obj *wf_store_lookup(wf_store *s, weft_ref ref)
{
    uint32_t slot = (uint32_t)ref.id;
    uint32_t gen = (uint32_t)(ref.id >> 32) & WF_GEN_MASK;
    if ((uint8_t)(ref.id >> 56) != s->tag || slot == 0 ||
        slot >= atomic_load_explicit(&s->nslots, memory_order_acquire))
        return NULL;
    wf_obj *o = wf_slot(s, slot);
    if (o->gen != gen ||
        atomic_load_explicit(&o->refs, memory_order_acquire) < WF_HANDLE_ONE)
        return NULL;
    return o;
}

weft_ref wf_store_ref_of(wf_store *s, wf_obj *o)
{
    weft_ref r = {(uint64_t)s->tag << 56 | (uint64_t)o->gen << 32 | o->slot};
    return r;
}

static void wf_obj_free(wf_store *s, wf_obj *o);

void wf_store_unpin(wf_store *s, wf_obj *o)
{
    if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
        wf_obj_free(s, o);
}

weft_err wf_store_drop_handle(wf_store *s, wf_obj *o)
{
    uint64_t cur = atomic_load_explicit(&o->refs, memory_order_relaxed);
    do {
        if (cur < WF_HANDLE_ONE)
            return WEFT_EBADREF;
    } while (!atomic_compare_exchange_weak_explicit(
        &o->refs, &cur, cur - WF_HANDLE_ONE, memory_order_acq_rel,
        memory_order_relaxed));
    if (cur == WF_HANDLE_ONE)
        wf_obj_free(s, o);
    return 0;
}

static void wf_obj_free(wf_store *s, wf_obj *o)
{
    wf_obj_clear(s, o);
    atomic_store_explicit(&o->state, WF_OBJ_PENDING, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->objects, 1, memory_order_relaxed);
    /* Bump the generation now so stale references stop matching at once. */
    o->gen = (o->gen + 1) & WF_GEN_MASK;
    wf_push_free(s, o->slot);
}

/* ------------------------------------------------------------- blobs */

static weft_err wf_account(wf_store *s, size_t n)
{
    if (!s)
        return 0;
    uint64_t cur = atomic_load_explicit(&s->bytes, memory_order_relaxed);
    do {
        if (cur + n > s->cap || cur + n < cur)
            return wf_err(WEFT_ESTOREFULL,
                          "object store full: %zu bytes asked, %llu of %llu "
                          "in use",
                          n, (unsigned long long)cur,
                          (unsigned long long)s->cap);
    } while (!atomic_compare_exchange_weak_explicit(
        &s->bytes, &cur, cur + n, memory_order_relaxed, memory_order_relaxed));
    return 0;
}

/* Fill b with the smallest spare that n bytes fill at least three quarters
 * of, if any. */
static bool wf_spare_take(wf_store *s, size_t n, wf_blob *b)
{
    if (!s)
        return false;
    pthread_mutex_lock(&s->spare_lock);
    int best = -1;
    for (int i = 0; i < s->nspare; i++)
        if (s->spare[i].mapped >= n &&
            n >= s->spare[i].mapped - s->spare[i].mapped / 4 &&
            (best < 0 || s->spare[i].mapped < s->spare[best].mapped))
            best = i;
    if (best >= 0) {
        b->data = s->spare[best].data;
        b->mapped = s->spare[best].mapped;
        b->fd = s->spare[best].fd;
        s->spare_bytes -= b->mapped;
        s->spare[best] = s->spare[--s->nspare];
    }
    pthread_mutex_unlock(&s->spare_lock);
    return best >= 0;
}

/* Keep b's mapping as a spare if it is this process's own, never handed to
 * another process, and there is room. */
static bool wf_spare_keep(wf_store *s, wf_blob *b)
{
    if (!s || b->readonly || b->shared || b->ext_free ||
        b->mapped < WF_BLOB_SHM_MIN)
        return false;
    bool kept = false;
    pthread_mutex_lock(&s->spare_lock);
    if (s->nspare < WF_SPARE_MAX &&
        s->spare_bytes + b->mapped <= s->spare_cap) {
        s->spare[s->nspare++] =
            (wf_spare){.data = b->data, .mapped = b->mapped, .fd = b->fd};
        s->spare_bytes += b->mapped;
        kept = true;
    }
    pthread_mutex_unlock(&s->spare_lock);
    return kept;
}

weft_err wf_blob_new(wf_store *s, size_t n, wf_blob **out)
{
    weft_err e = wf_account(s, n);
    if (e)
        return e;
    wf_blob *b = wf_calloc(1, sizeof *b);
    if (!b) {
        e = wf_err(WEFT_ENOMEM, "out of memory for a %zu-byte object", n);
        goto fail_account;
    }
    b->size = n;
    b->fd = -1;
    b->readonly = false;
    b->accounted = s != NULL;
    b->mapped = 0;
    if (n < WF_BLOB_SHM_MIN) {
        b->data = wf_alloc(n ? n : 1);
        if (!b->data) {
            e = wf_err(WEFT_ENOMEM, "out of memory for a %zu-byte object", n);
            goto fail_blob;
        }
    } else if (wf_spare_take(s, n, b)) {
        /* mapped and written before: no faults */
    } else {
        b->fd = wf_shm_create("weft-object", n);
        if (b->fd < 0) {
            e = wf_err(WEFT_ESYS, "shared memory for %zu bytes: %s", n,
                       strerror(errno));
            goto fail_blob;
        }
        /* Populate big mappings at once: one pass in the kernel is much
         * cheaper than a page fault per page while the object is filled. */
        int populate = n >= (1u << 20) ? MAP_POPULATE : 0;
        b->data = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | populate,
                       b->fd, 0);
        if (b->data == MAP_FAILED) {
            e = wf_err(WEFT_ESYS, "mapping %zu bytes: %s", n, strerror(errno));
            close(b->fd);
            goto fail_blob;
        }
        b->mapped = n;
    }
    *out = b;
    return 0;
fail_blob:
    wf_free(b);
fail_account:
    if (s)
        atomic_fetch_sub(&s->bytes, n);
    return e;
}

weft_err wf_blob_adopt_fd(wf_store *s, int fd, size_t n, wf_blob **out)
{
    weft_err e = wf_account(s, n);
    if (e)
        return e;
    wf_blob *b = wf_calloc(1, sizeof *b);
    if (!b) {
        e = wf_err(WEFT_ENOMEM, "out of memory");
        goto fail;
    }
    void *p = n ? mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0) : NULL;
    if (p == MAP_FAILED) {
        e = wf_err(WEFT_ESYS, "mapping a %zu-byte result: %s", n,
                   strerror(errno));
        wf_free(b);
        goto fail;
    }
    b->data = p;
    b->size = n;
    b->mapped = n;
    b->fd = fd;
    b->readonly = true;
    b->accounted = s != NULL;
    *out = b;
    return 0;
fail:
    if (s)
        atomic_fetch_sub(&s->bytes, n);
    return e;
}

void wf_blob_free(wf_store *s, wf_blob *b)
{
    if (!b)
        return;
    if (b->ext_free)
        b->ext_free(b->ext);
    if (b->fd >= 0) {
        if (!wf_spare_keep(s, b)) {
            if (b->mapped)
                munmap(b->data, b->mapped);
            close(b->fd);
        }
    } else {
        wf_free(b->data);
    }
    if (s && b->accounted)
        atomic_fetch_sub_explicit(&s->bytes, b->size, memory_order_relaxed);
    wf_free(b);
}

/* ------------------------------------------------------------ values */

weft_err wf_value_check(const weft_value *v, const char *where)
{
    switch (v->type) {
    case WEFT_T_NONE:
    case WEFT_T_I64:
    case WEFT_T_F64:
    case WEFT_T_BOOL:
    case WEFT_T_REF:
        return 0;
    case WEFT_T_STR:
        if (!v->u.buf.data)
            return wf_err(WEFT_EINVAL, "%s: NULL string", where);
        return 0;
    case WEFT_T_BYTES:
        if (!v->u.buf.data && v->u.buf.len)
            return wf_err(WEFT_EINVAL, "%s: NULL buffer of %zu bytes", where,
                          v->u.buf.len);
        return 0;
    case WEFT_T_ARRAY: {
        size_t es = weft_dtype_size(v->u.arr.dtype);
        if (!es)
            return wf_err(WEFT_ETYPE, "%s: unknown array dtype %d", where,
                          (int)v->u.arr.dtype);
        if (v->u.arr.ndim > WEFT_MAX_NDIM)
            return wf_err(WEFT_EINVAL, "%s: %u dimensions, at most %d", where,
                          v->u.arr.ndim, WEFT_MAX_NDIM);
        if (v->u.arr.ndim && !v->u.arr.shape)
            return wf_err(WEFT_EINVAL, "%s: NULL array shape", where);
        size_t n = es;
        for (uint32_t i = 0; i < v->u.arr.ndim; i++) {
            int64_t d = v->u.arr.shape[i];
            if (d < 0)
                return wf_err(WEFT_EINVAL, "%s: negative dimension %u (%lld)",
                              where, i, (long long)d);
            if (d && n > SIZE_MAX / (uint64_t)d)
                return wf_err(WEFT_ERANGE, "%s: array size overflows", where);
            n *= (size_t)d;
        }
        /* Leave room for the shape header laid out before the data. */
        if (n > SIZE_MAX / 2)
            return wf_err(WEFT_ERANGE, "%s: array of %zu bytes is too large",
                          where, n);
        if (n && !v->u.arr.data)
            return wf_err(WEFT_EINVAL, "%s: NULL array data", where);
        return 0;
    }
    }
    return wf_err(WEFT_ETYPE, "%s: unknown value type %d (%s)", where,
                  (int)v->type, "unknown");
}

size_t wf_array_bytes(const weft_value *v, size_t *data_off)
{
    size_t n = weft_dtype_size(v->u.arr.dtype);
    for (uint32_t i = 0; i < v->u.arr.ndim; i++)
        n *= (size_t)v->u.arr.shape[i];
    size_t off = (v->u.arr.ndim * sizeof(int64_t) + 63) & ~(size_t)63;
    *data_off = off;
    return off + n;
}

weft_err wf_value_copy(wf_store *s, const weft_value *v, weft_value *dst,
                       wf_blob **blob)
{
    *dst = *v;
    *blob = NULL;
    weft_err e;
    switch (v->type) {
    case WEFT_T_STR:
    case WEFT_T_BYTES: {
        size_t n = v->u.buf.len + (v->type == WEFT_T_STR);
        if ((e = wf_blob_new(s, n, blob)))
            return e;
        if (v->u.buf.len)
            memcpy((*blob)->data, v->u.buf.data, v->u.buf.len);
        if (v->type == WEFT_T_STR)
            ((char *)(*blob)->data)[v->u.buf.len] = '\0';
        dst->u.buf.data = (*blob)->data;
        return 0;
    }
    case WEFT_T_ARRAY: {
        size_t off, n = wf_array_bytes(v, &off);
        if ((e = wf_blob_new(s, n, blob)))
            return e;
        int64_t *shape = (*blob)->data;
        if (v->u.arr.ndim)
            memcpy(shape, v->u.arr.shape, v->u.arr.ndim * sizeof(int64_t));
        if (n > off)
            memcpy((char *)(*blob)->data + off, v->u.arr.data, n - off);
        dst->u.arr.shape = shape;
        dst->u.arr.data = (char *)(*blob)->data + off;
        return 0;
    }
    default:
        return 0;
    }
}

void wf_obj_set(wf_obj *o, const weft_value *v, wf_blob *blob)
{
    o->u.val = *v;
    o->blob = blob;
}

void wf_obj_set_mapped(wf_obj *o, const weft_value *v, wf_blob *blob)
{
    weft_value x = *v;
    if (x.type == WEFT_T_ARRAY && x.u.arr.ndim) {
        memcpy(blob->shape, x.u.arr.shape, x.u.arr.ndim * sizeof(int64_t));
        x.u.arr.shape = blob->shape;
    }
    wf_obj_set(o, &x, blob);
}

const char *wf_obj_errmsg(const wf_obj *o)
{
    return o->u.err.msg ? o->u.err.msg : weft_strerror(o->u.err.code);
}

void wf_obj_set_error(wf_obj *o, weft_err code, char *msg)
{
    if (atomic_load_explicit(&o->state, memory_order_relaxed) & WF_OBJ_ERRSET)
        wf_free(o->u.err.msg);
    o->u.err.code = code;
    o->u.err.msg = msg;
    atomic_fetch_or_explicit(&o->state, WF_OBJ_ERRSET, memory_order_relaxed);
}

wf_waiter *wf_obj_publish(wf_obj *o)
{
    /* State first, so whoever finds the waiter list closed also sees it. */
    uint32_t st =
        atomic_load_explicit(&o->state, memory_order_relaxed) & WF_OBJ_ERRSET
            ? WF_OBJ_FAILED | WF_OBJ_ERRSET
            : WF_OBJ_READY;
    uint32_t old =
        atomic_exchange_explicit(&o->state, st, memory_order_acq_rel);
    if (old & WF_OBJ_WAITERS)
        wf_futex_wake(&o->state, 1 << 30);
    return atomic_exchange_explicit(&o->waiters, WF_WAITERS_CLOSED,
                                    memory_order_acq_rel);
}

bool wf_obj_add_waiter(wf_obj *o, wf_waiter *w)
{
    wf_waiter *head = atomic_load_explicit(&o->waiters, memory_order_acquire);
    do {
        if (head == WF_WAITERS_CLOSED)
            return false;
        w->next = head;
    } while (!atomic_compare_exchange_weak_explicit(
        &o->waiters, &head, w, memory_order_acq_rel, memory_order_acquire));
    return true;
}

weft_err wf_obj_wait(wf_obj *o, uint64_t deadline_ns)
{
    for (;;) {
        uint32_t st = atomic_load_explicit(&o->state, memory_order_acquire);
        if ((st & 0xff) != WF_OBJ_PENDING)
            return 0;
        if (!(st & WF_OBJ_WAITERS) &&
            !atomic_compare_exchange_weak_explicit(
                &o->state, &st, st | WF_OBJ_WAITERS, memory_order_acq_rel,
                memory_order_acquire))
            continue;
        int64_t left = -1;
        if (deadline_ns) {
            uint64_t now = wf_now_ns();
            if (now >= deadline_ns)
                return WEFT_ETIMEDOUT;
            left = (int64_t)(deadline_ns - now);
        }
        wf_futex_wait(&o->state, st | WF_OBJ_WAITERS, left);
    }
}

void wf_store_counts(wf_store *s, uint64_t *objects, uint64_t *bytes,
                     uint64_t *cap)
{
    *objects = atomic_load(&s->objects);
    *bytes = atomic_load(&s->bytes);
    *cap = s->cap;
}
