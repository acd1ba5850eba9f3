/* Lazy task graphs for the collections (arrays, dataframes, bags).
 *
 * A collection operation adds nodes to a graph; nothing runs until
 * wg_compute. A node is a kernel (a C function registered by name in every
 * process, see WG_KERNEL) applied to inputs: other nodes' outputs, literal
 * values, or objects already in the store (weft_refs, e.g. persisted
 * partitions). Before running, the graph is culled to what the requested
 * nodes need, and chains of fusible nodes whose output feeds exactly one
 * fusible consumer that reads no other node are fused (up to 4000 inputs
 * in all): each remaining group runs as ONE weft task
 * ("weft.graph.run") that calls its kernels in turn, passing intermediate
 * values in memory. Tasks carry only values (the group's program, encoded,
 * and its inputs), so graphs run unchanged on threads, worker processes
 * and a cluster.
 *
 * Uses only the public API (DESIGN.md: collections are "api only"). */
#ifndef WF_GRAPH_GRAPH_H
#define WF_GRAPH_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <weft/weft.h>

/* ------------------------------------------------------------ kernels */

typedef struct wg_call wg_call;
typedef weft_err (*wg_kernel_fn)(wg_call *c);

/* Register fn under name (at most 63 bytes), usually from a constructor
 * (WG_KERNEL). Thread-safe. WEFT_EEXIST if the name has another fn. */
weft_err wg_kernel_register(const char *name, wg_kernel_fn fn);

#define WG_KERNEL(fn)                                                          \
    __attribute__((constructor)) static void wg__reg_##fn(void)                \
    {                                                                          \
        (void)wg_kernel_register(#fn, fn);                                     \
    }

/* In a kernel: its inputs, its parameters (8-byte aligned), and its one
 * output. */
size_t wg_nin(const wg_call *c);
const weft_value *wg_in(const wg_call *c, size_t i);
const void *wg_params(const wg_call *c, size_t *len);

/* Set the output to v (its buffer is copied). Once per call. */
weft_err wg_out(wg_call *c, const weft_value *v);

/* Set the output to a new buffer of n bytes the kernel fills: bytes, or
 * an array of dtype and shape when ndim > 0 (n must match). *data stays
 * valid until the kernel returns (and after, as the output). */
weft_err wg_out_alloc(wg_call *c, weft_type type, weft_dtype dtype,
                      uint32_t ndim, const int64_t *shape, size_t n,
                      void **data);

/* Fail the call; the message gets "kernel ('key'): " in front. */
weft_err wg_fail(wg_call *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------ graphs */

typedef struct wg_graph wg_graph;
typedef uint32_t wg_node;

typedef enum wg_input_kind {
    WG_IN_NODE,  /* another node's output */
    WG_IN_VALUE, /* a literal (copied into the graph) */
    WG_IN_REF,   /* an object in the store (retained by the graph) */
} wg_input_kind;

typedef struct wg_input {
    wg_input_kind kind;
    wg_node node;
    weft_value value;
    weft_ref ref;
} wg_input;

static inline wg_input wg_node_in(wg_node n)
{
    wg_input i = {WG_IN_NODE, n, {WEFT_T_NONE, {0}}, {0}};
    return i;
}
static inline wg_input wg_value_in(weft_value v)
{
    wg_input i = {WG_IN_VALUE, 0, v, {0}};
    return i;
}
static inline wg_input wg_ref_in(weft_ref r)
{
    wg_input i = {WG_IN_REF, 0, {WEFT_T_NONE, {0}}, r};
    return i;
}

/* An empty graph for runtime rt (refs are retained and released on it). */
wg_graph *wg_new(weft_runtime *rt);

/* Free g and release the refs it holds. */
void wg_free(wg_graph *g);

/* Add a node: kernel applied to in[0..nin), with params (copied), shown
 * as key. Nodes may only use nodes added before them. Returns the node,
 * or UINT32_MAX on a bad input (unknown node, bad value) or no memory,
 * with weft_last_error()-style detail in wg_error(g). */
wg_node wg_add(wg_graph *g, const char *kernel, const void *params, size_t plen,
               const wg_input *in, size_t nin, const char *key, bool fusible);

/* What went wrong in the last failed wg_add ("" if nothing). */
const char *wg_error(const wg_graph *g);

/* Mark n as cheap to recompute (a random or zeros chunk, a literal): it
 * never runs as a task of its own or sits in the store; every task that
 * consumes it runs a copy of it (Dask's inlining). A requested output
 * still runs as its own task. No-op with no_fusion. */
void wg_set_inline(wg_graph *g, wg_node n);

typedef struct wg_stats {
    size_t nodes;     /* in the graph */
    size_t needed;    /* after culling */
    size_t tasks;     /* after fusion: tasks submitted */
    size_t inlined;   /* copies of inline nodes run inside other tasks */
    size_t persisted; /* needed nodes served from persisted objects */
} wg_stats;

typedef struct wg_opts {
    bool no_fusion;             /* one task per node */
    const weft_task_opts *task; /* options for every task (NULL: defaults) */
    /* Wait for the results, showing tasks done/total, rate and elapsed
     * time on stderr when stderr is a terminal (off by default). */
    bool progress;
} wg_opts;

/* Run what outs[0..n) need; refs[i] is the object of outs[i] (yours to
 * get and release). Does not wait for the results, except with progress.
 * Errors of a kernel come out of weft_get on the refs that depend on it:
 * WEFT_ETASK / WEFT_EUPSTREAM with weft_error_message naming the kernel
 * and node. */
weft_err wg_compute(wg_graph *g, const wg_node *outs, size_t n, weft_ref *refs,
                    const wg_opts *o, wg_stats *st);

/* Run outs[0..n) like wg_compute and keep their objects: later computes
 * (and DOT output) use them instead of re-running the nodes or anything
 * upstream of them. The graph holds the objects until wg_free; the result
 * of a failed task surfaces from the computes that use it. */
weft_err wg_persist(wg_graph *g, const wg_node *outs, size_t n,
                    const wg_opts *o, wg_stats *st);

/* Wait until every one of refs[0..n) is ready (done or failed), showing
 * tasks done/total, rate and elapsed time on stderr when it is a
 * terminal. Keeps the references. */
weft_err wg_wait_progress(weft_runtime *rt, const weft_ref *refs, size_t n);

/* n bytes on 2 MiB boundaries, rounded up to whole 2 MiB pages, all
 * advised onto transparent huge pages: a big chunk buffer written once
 * front to back then takes no 4 KiB faults. Freed with free(); NULL when
 * out of memory. Callers choose from what size it pays. */
void *wg_huge_alloc(size_t n);

/* Whether node n was persisted. */
bool wg_persisted(const wg_graph *g, wg_node n);

/* Write g (culled to outs, fused unless no_fusion) as Graphviz DOT: one
 * box per task listing its nodes' keys, one edge per value passed. */
weft_err wg_write_dot(wg_graph *g, const wg_node *outs, size_t n,
                      bool no_fusion, FILE *f);

/* The same as SVG at path, by running `dot -Tsvg` (Graphviz); WEFT_ESYS
 * with a message when dot cannot be run. */
weft_err wg_write_svg(wg_graph *g, const wg_node *outs, size_t n,
                      bool no_fusion, const char *path);

#endif
