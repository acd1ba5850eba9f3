/* Worker mode: this process was started by a weft runtime to run its tasks
 * and actors. It reads RUN frames from the parent, runs each in order on
 * this thread against a small local runtime (which also serves tasks the
 * running task submits), and answers with DONE frames; results of
 * WF_BLOB_SHM_MIN bytes or more go back as memfds, not copies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "api/remote.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/platform.h"
#include "wire/msg.h"
#include "wire/sock.h"

typedef struct wf_wactor {
    struct wf_wactor *next;
    uint64_t id;
    const wf_class *cls;
    void *state;
} wf_wactor;

typedef struct wf_wk {
    weft_runtime *rt;
    int fd;
    uint8_t *rbuf;
    size_t rlen, rcap;
    int fdq[WF_SOCK_MAX_FDS * 4];
    size_t nfdq;
    wf_wbuf out; /* DONE frames not yet written */
    wf_wire_value *args;
    wf_wactor *actors;
    wf_worker_page *page; /* tells the parent which task runs */
} wf_wk;

_Noreturn static void wf_wk_exit(wf_wk *w, int code, const char *why)
{
    if (why)
        WF_LOG_ERROR("event=worker_exit pid=%d detail=\"%s\"", (int)getpid(),
                     why);
    _exit(code);
}

static void wf_wk_flush(wf_wk *w)
{
    if (!w->out.len)
        return;
    if (wf_sock_send(w->fd, w->out.data, w->out.len, NULL, 0) != 0)
        wf_wk_exit(w, 0, NULL); /* the parent is gone */
    wf_wbuf_reset(&w->out);
}

/* Read more bytes (and fds) from the parent; exits when it is gone. */
static void wf_wk_read(wf_wk *w)
{
    if (w->rcap - w->rlen < 32768) {
        size_t cap = w->rcap ? w->rcap * 2 : 65536;
        uint8_t *b = wf_realloc(w->rbuf, cap);
        if (!b)
            wf_wk_exit(w, 3, "out of memory");
        w->rbuf = b;
        w->rcap = cap;
    }
    int fds[WF_SOCK_MAX_FDS];
    size_t nfds = 0;
    ssize_t n = wf_sock_recv(w->fd, w->rbuf + w->rlen, w->rcap - w->rlen, fds,
                             WF_SOCK_MAX_FDS, &nfds);
    if (n == WEFT_EPROTO)
        wf_wk_exit(w, 3, weft_last_error());
    if (n <= 0)
        wf_wk_exit(w, 0, NULL); /* the parent closed or went away */
    if (w->nfdq + nfds > sizeof w->fdq / sizeof *w->fdq)
        wf_wk_exit(w, 3, "too many file descriptors queued");
    memcpy(w->fdq + w->nfdq, fds, nfds * sizeof *fds);
    w->nfdq += nfds;
    w->rlen += (size_t)n;
}

static wf_wactor *wf_wk_actor(wf_wk *w, uint64_t id)
{
    for (wf_wactor *a = w->actors; a; a = a->next)
        if (a->id == id)
            return a;
    return NULL;
}

/* Append a DONE for a failure. */
static void wf_wk_fail(wf_wk *w, uint64_t seq, weft_err code, const char *msg)
{
    wf_msg_done d = {code, 0, msg, strlen(msg)};
    wf_msg_put_done(&w->out, seq, &d, NULL, NULL);
}

/* Arguments placed in fds become objects of the local store that map the
 * parent's memory; others are used as decoded. */
static weft_err wf_wk_bind_args(wf_wk *w, const wf_msg_run *m, weft_value *vals,
                                wf_obj **objs, size_t *fds_used)
{
    size_t used = 0;
    for (uint32_t i = 0; i < m->nargs; i++) {
        wf_wire_value *wv = &w->args[i];
        objs[i] = NULL;
        vals[i] = wv->v;
        if (wv->remote)
            return wf_err(WEFT_EPROTO,
                          "argument %u is a remote object (a node resolves "
                          "those before its workers see them)",
                          i);
        if (!wv->in_fd)
            continue;
        if (wv->fd_index >= w->nfdq)
            return wf_err(WEFT_EPROTO, "argument %u names fd %u, %zu queued", i,
                          wv->fd_index, w->nfdq);
        if (wv->fd_index + 1 > used)
            used = wv->fd_index + 1;
        int fd = dup(w->fdq[wv->fd_index]);
        wf_blob *blob;
        weft_err e;
        if (fd < 0)
            return wf_err(WEFT_ESYS, "dup: %s", strerror(errno));
        if ((e = wf_blob_adopt_fd(NULL, fd, wv->fd_offset + wv->fd_len,
                                  &blob))) {
            close(fd);
            return e;
        }
        if ((e = wf_wire_value_bind(wv, blob->data, blob->size))) {
            wf_blob_free(NULL, blob);
            return e;
        }
        weft_ref r;
        wf_obj *o = wf_store_obj_new(w->rt->store, 1, 0, &r);
        if (!o) {
            wf_blob_free(NULL, blob);
            return wf_err(WEFT_ENOMEM, "out of object slots");
        }
        wf_obj_set_mapped(o, &wv->v, blob);
        wf_obj_publish(o);
        objs[i] = o;
        vals[i] = weft_refv(r);
    }
    *fds_used = used;
    return 0;
}

/* Append the DONE for a finished task: its results, or its error. Results
 * in shared memory travel as fds, in a frame of their own. */
static void wf_wk_reply(wf_wk *w, uint64_t seq, wf_task *t)
{
    for (size_t i = 0; i < t->nret; i++) {
        wf_obj *o = wf_task_ret(t)[i];
        if (wf_obj_state(o) == WF_OBJ_FAILED) {
            wf_wk_fail(w, seq, wf_obj_errcode(o), wf_obj_errmsg(o));
            return;
        }
    }
    weft_value vals[WF_RUN_MAX_RETURNS];
    wf_wire_place place[WF_RUN_MAX_RETURNS];
    int fds[WF_RUN_MAX_RETURNS];
    size_t nfds = 0;
    for (size_t i = 0; i < t->nret; i++) {
        wf_obj *o = wf_task_ret(t)[i];
        vals[i] = o->u.val;
        place[i] = (wf_wire_place){0};
        if (o->blob && o->blob->fd >= 0 && o->u.val.type >= WEFT_T_STR &&
            o->u.val.type <= WEFT_T_ARRAY) {
            const void *data = o->u.val.type == WEFT_T_ARRAY
                                   ? o->u.val.u.arr.data
                                   : o->u.val.u.buf.data;
            place[i] = (wf_wire_place){
                .in_fd = true,
                .fd_index = (uint32_t)nfds,
                .offset = (uint64_t)((const char *)data -
                                     (const char *)o->blob->data)};
            fds[nfds++] = o->blob->fd;
            o->blob->shared = true; /* the head maps it: never reused */
        }
    }
    wf_msg_done d = {0, t->nret, NULL, 0};
    if (!nfds) {
        if (wf_msg_put_done(&w->out, seq, &d, vals, place) != 0)
            wf_wk_fail(w, seq, WEFT_ENOMEM, "encoding the results failed");
        return;
    }
    wf_wk_flush(w);
    wf_wbuf one;
    wf_wbuf_init(&one);
    if (wf_msg_put_done(&one, seq, &d, vals, place) != 0 ||
        wf_sock_send(w->fd, one.data, one.len, fds, nfds) != 0) {
        wf_wbuf_free(&one);
        wf_wk_fail(w, seq, WEFT_ESYS, "sending the results failed");
        return;
    }
    wf_wbuf_free(&one);
}

static void wf_wk_run(wf_wk *w, const wf_frame *f)
{
    wf_msg_run m;
    weft_err e = wf_msg_get_run(f, &m, w->args, WF_RUN_MAX_ARGS);
    if (e)
        wf_wk_exit(w, 3, weft_last_error());
    char name[WF_WIRE_NAME_MAX + 1];
    memcpy(name, m.name, m.name_len);
    name[m.name_len] = '\0';
    weft_value *vals = wf_alloc((m.nargs + 1) * sizeof *vals);
    wf_obj **objs = wf_calloc(m.nargs + 1, sizeof *objs);
    weft_ref *refs = wf_alloc(m.num_returns * sizeof *refs);
    size_t used = 0;
    char what[WF_WIRE_NAME_MAX + 64];
    snprintf(what, sizeof what, "task '%s'", name);
    wf_wactor *actor = NULL;
    const wf_func *fn = NULL;
    weft_task_fn call = NULL;
    if (!vals || !objs || !refs) {
        wf_wk_fail(w, f->seq, WEFT_ENOMEM, "worker out of memory");
        goto out;
    }
    if ((e = wf_wk_bind_args(w, &m, vals, objs, &used))) {
        wf_wk_fail(w, f->seq, e, weft_last_error());
        goto out;
    }
    if (m.kind == WF_RUN_TASK) {
        fn = wf_func_find(name);
        call = fn ? fn->fn : NULL;
    } else if (m.kind == WF_RUN_ACTOR_NEW) {
        const wf_class *c = wf_class_find(name);
        if (c && !wf_wk_actor(w, m.actor_id) &&
            (actor = wf_calloc(1, sizeof *actor))) {
            actor->id = m.actor_id;
            actor->cls = c;
            actor->next = w->actors;
            w->actors = actor;
            call = c->init;
        }
    } else if (m.kind == WF_RUN_ACTOR_CALL) {
        actor = wf_wk_actor(w, m.actor_id);
        fn = actor ? wf_class_method(actor->cls, name) : NULL;
        call = fn ? fn->fn : NULL;
    }
    if (!call) {
        char msg[WF_WIRE_NAME_MAX + 160];
        snprintf(msg, sizeof msg,
                 "'%s' is not registered in worker process %d (is it "
                 "registered in the program's executable or library?)",
                 name, (int)getpid());
        wf_wk_fail(w, f->seq,
                   m.kind == WF_RUN_TASK ? WEFT_ENOFUNC : WEFT_ENOACTOR, msg);
        goto out;
    }
    weft_task_opts o;
    weft_task_opts_init(&o);
    o.num_returns = m.num_returns;
    wf_task *t;
    if ((e = wf_task_build(w->rt, fn, what, vals, m.nargs, &o,
                           m.kind == WF_RUN_TASK ? WF_TASK_FN
                                                 : WF_TASK_ACTOR_CALL,
                           &t, refs))) {
        wf_wk_fail(w, f->seq, e, weft_last_error());
        goto out;
    }
    if (m.kind != WF_RUN_TASK)
        t->name = name;
    WF_COUNT(w->rt, submitted);
    wf_ctx_run(w->rt, t, call, actor ? actor->state : NULL,
               m.kind == WF_RUN_ACTOR_NEW ? &actor->state : NULL);
    wf_wk_reply(w, f->seq, t);
    wf_task_free(w->rt, t);
    for (uint32_t i = 0; i < m.num_returns; i++)
        wf_store_drop_handle(w->rt->store,
                             wf_store_lookup(w->rt->store, refs[i]));
out:
    for (uint32_t i = 0; objs && i < m.nargs; i++)
        if (objs[i])
            wf_store_drop_handle(w->rt->store, objs[i]);
    for (size_t i = 0; i < used; i++)
        close(w->fdq[i]);
    if (used) {
        memmove(w->fdq, w->fdq + used, (w->nfdq - used) * sizeof(int));
        w->nfdq -= used;
    }
    wf_free(vals);
    wf_free(objs);
    wf_free(refs);
}

_Noreturn void wf_worker_serve(int fd)
{
    wf_wk w = {0};
    w.fd = fd;
    wf_wbuf_init(&w.out);
    weft_options o;
    weft_options_init(&o);
    o.num_threads = 1;
    w.args = wf_alloc(WF_RUN_MAX_ARGS * sizeof *w.args);
    w.page = wf_worker_page_map();
    if (!w.args || wf_runtime_start(&w.rt, &o, NULL) != 0)
        wf_wk_exit(&w, 3, "cannot start the worker's runtime");
    wf_msg_hello h = {(uint32_t)getpid(), WEFT_WIRE_VERSION};
    wf_msg_put_hello(&w.out, 0, &h);
    wf_wk_flush(&w);
    for (;;) {
        wf_wk_read(&w);
        size_t off = 0;
        while (off < w.rlen) {
            wf_frame f;
            weft_err e = wf_frame_parse(w.rbuf + off, w.rlen - off, &f);
            if (e == WF_FRAME_PARTIAL)
                break;
            if (e)
                wf_wk_exit(&w, 3, weft_last_error());
            if (f.type == WF_MSG_SHUTDOWN)
                wf_wk_exit(&w, 0, NULL);
            if (f.type != WF_MSG_RUN)
                wf_wk_exit(&w, 3, "unexpected message from the parent");
            /* Replies are batched; the shared page tells the parent which
             * task runs, should it crash us. */
            if (w.page)
                atomic_store(&w.page->started, f.seq);
            uint64_t t0 = wf_now_ns();
            wf_wk_run(&w, &f);
            if (w.page) {
                atomic_fetch_add(&w.page->busy_ns, wf_now_ns() - t0);
                atomic_fetch_add(&w.page->done, 1);
            }
            off += f.size;
        }
        memmove(w.rbuf, w.rbuf + off, w.rlen - off);
        w.rlen -= off;
        wf_wk_flush(&w);
    }
}
