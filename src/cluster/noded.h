/* A node's task service: where drivers run their tasks.
 *
 * The service listens (net/conn.h: every connection proves the cluster
 * token first). A driver connects, names its program by SHA-256
 * (DRIVER_HELLO, cluster/proto.h); the node takes it from its cache
 * (<cache_dir>/<hex>, or <hex>.so for a library: a file of that name and
 * size is trusted, as only this user can write the cache) or asks for the
 * bytes (EXE_WANT, EXE_CHUNK), checks their hash, caches the file (mode
 * 0700) and answers READY. Each driver gets
 * its own worker processes (exec/procs.h) running its program in worker
 * mode (or `weft worker --library` for a library), one per cpu of the
 * node. RUN frames from the driver go to those processes; their DONE
 * frames go back with the driver's seq, every value inline. A task whose
 * worker process dies is answered with status WEFT_ECRASHED: the driver
 * owns the retry decision.
 *
 * When a driver's connection closes, its worker processes are stopped:
 * what it had running is cancelled. Anything malformed or out of turn
 * closes that connection only, with a warning in the log.
 *
 * Threads: start and stop on the loop's thread; everything runs there
 * except the worker-process I/O, which hands completions back through a
 * uv_async. */
#ifndef WF_CLUSTER_NODED_H
#define WF_CLUSTER_NODED_H

#include <stdint.h>

#include <uv.h>

#include <weft/errors.h>

#include "net/auth.h"

typedef struct wf_noded wf_noded;

typedef struct wf_noded_opts {
    const char *cache_dir; /* required: a directory only we may write */
    int nprocs;            /* worker processes per driver; 0: cores */
} wf_noded_opts;

/* Listen on host:port (0: ephemeral) for drivers. Returns 0 with *out;
 * WEFT_EINVAL for bad options, or the errors of wf_net_server_start. */
weft_err wf_noded_start(uv_loop_t *loop, const char *host, int port,
                        const wf_token *token, const wf_noded_opts *opts,
                        wf_noded **out);

/* The task address drivers reach it at ("HOST:PORT"): remote values held
 * there are local. */
void wf_noded_set_self(wf_noded *d, const char *addr);

/* The port it listens on. */
int wf_noded_port(const wf_noded *d);

/* Tasks sent to this node and not answered yet, over all drivers. */
uint32_t wf_noded_load(const wf_noded *d);

/* Drivers connected now. */
uint32_t wf_noded_drivers(const wf_noded *d);

/* Stop listening, stop every driver's workers and close the connections;
 * freed once the loop has run the close callbacks. */
void wf_noded_stop(wf_noded *d);

#endif
