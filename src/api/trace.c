/* Timeline of what ran where and when, written as Chrome trace JSON
 * (chrome://tracing, Perfetto). Off unless asked for; one short lock per
 * event when on. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/runtime.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/platform.h"

typedef struct wf_event {
    char *name;
    uint64_t t0, t1;
    int tid;
    bool ok;
} wf_event;

struct wf_trace {
    pthread_mutex_t lock;
    wf_event *ev;
    size_t n, cap;
    uint64_t origin;
};

static wf_trace *wf_trace_new(void)
{
    wf_trace *tr = wf_calloc(1, sizeof *tr);
    if (!tr)
        return NULL;
    pthread_mutex_init(&tr->lock, NULL);
    tr->origin = wf_now_ns();
    return tr;
}

void wf_trace_free(wf_trace *tr)
{
    if (!tr)
        return;
    for (size_t i = 0; i < tr->n; i++)
        wf_free(tr->ev[i].name);
    wf_free(tr->ev);
    pthread_mutex_destroy(&tr->lock);
    wf_free(tr);
}

void wf_trace_event(weft_runtime *rt, const char *name, uint64_t t0,
                    uint64_t t1, bool ok, int tid)
{
    wf_trace *tr = rt->trace;
    char *copy = wf_strdup(name);
    if (!copy)
        return;
    pthread_mutex_lock(&tr->lock);
    if (tr->n == tr->cap) {
        size_t cap = tr->cap ? tr->cap * 2 : 1024;
        wf_event *ev = wf_realloc(tr->ev, cap * sizeof *ev);
        if (!ev) {
            pthread_mutex_unlock(&tr->lock);
            wf_free(copy);
            return;
        }
        tr->ev = ev;
        tr->cap = cap;
    }
    tr->ev[tr->n++] = (wf_event){copy, t0, t1, tid, ok};
    pthread_mutex_unlock(&tr->lock);
}

WF_EXPORT weft_err weft_trace_start(weft_runtime *rt)
{
    if (!rt)
        return wf_err(WEFT_EINVAL, "weft_trace_start: NULL runtime");
    if (!rt->trace && !(rt->trace = wf_trace_new()))
        return wf_err(WEFT_ENOMEM, "weft_trace_start: out of memory");
    return 0;
}

static void wf_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

WF_EXPORT weft_err weft_trace_write(weft_runtime *rt, const char *path)
{
    if (!rt || !path)
        return wf_err(WEFT_EINVAL, "weft_trace_write: NULL %s",
                      !rt ? "runtime" : "path");
    if (!rt->trace)
        return wf_err(WEFT_EINVAL, "weft_trace_write: tracing was not started "
                                   "(weft_trace_start or options.trace_path)");
    FILE *f = fopen(path, "w");
    if (!f)
        return wf_err(WEFT_EIO, "weft_trace_write: cannot open '%s'", path);
    wf_trace *tr = rt->trace;
    pthread_mutex_lock(&tr->lock);
    fputs("{\"traceEvents\":[\n", f);
    for (size_t i = 0; i < tr->n; i++) {
        wf_event *e = &tr->ev[i];
        fputs("{\"name\":", f);
        wf_json_str(f, e->name);
        fprintf(f,
                ",\"cat\":\"task\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,"
                "\"pid\":%d,\"tid\":%d,\"args\":{\"ok\":%s}}%s\n",
                (double)(e->t0 - tr->origin) / 1e3,
                (double)(e->t1 - e->t0) / 1e3, (int)getpid(), e->tid,
                e->ok ? "true" : "false", i + 1 < tr->n ? "," : "");
    }
    fputs("],\"displayTimeUnit\":\"ms\"}\n", f);
    pthread_mutex_unlock(&tr->lock);
    if (fclose(f) != 0)
        return wf_err(WEFT_EIO, "weft_trace_write: writing '%s' failed", path);
    return 0;
}
