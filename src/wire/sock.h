/* Bytes and file descriptors over a unix SOCK_STREAM socket (the
 * socketpair between a program and a worker). Large buffers travel as
 * memfds passed with SCM_RIGHTS instead of through the stream.
 *
 * Which frame do received fds belong to? On Linux, fds sent with a
 * wf_sock_send arrive with the wf_sock_recv that returns the first byte of
 * that send, and that recv returns no bytes sent after them. So when each
 * frame that carries fds is sent by its own wf_sock_send, the fds from one
 * recv belong to the last frame that starts within the bytes it returned. */
#ifndef WF_WIRE_SOCK_H
#define WF_WIRE_SOCK_H

#include <stddef.h>
#include <sys/types.h>

#include <weft/errors.h>

/* The most fds one send may carry (the kernel's SCM_MAX_FD). */
#define WF_SOCK_MAX_FDS 253

/* Send all of buf[0..len) on socket fd, with fds[0..nfds) attached to the
 * first byte (nfds <= WF_SOCK_MAX_FDS; len must be >= 1 if nfds > 0).
 * Blocks until everything is sent, also on a non-blocking socket; retries
 * on EINTR; never raises SIGPIPE. The fds stay the caller's (the peer gets
 * its own copies). Returns 0, WEFT_EIO if the peer has gone (detail says
 * why), WEFT_ESYS for other failures, WEFT_EINVAL for bad arguments. After
 * a failure part of buf may have been sent: the stream is unusable. */
weft_err wf_sock_send(int fd, const void *buf, size_t len, const int *fds,
                      size_t nfds);

/* Receive up to cap (>= 1) bytes into buf from socket fd, blocking until
 * at least one byte or end of stream. Returns the number of bytes, 0 at
 * end of stream, or a negative weft_err. Fds received with them are
 * stored in fds[0..*nfds), close-on-exec, and are the caller's to close.
 * More than maxfds fds is WEFT_EPROTO (the peer broke the protocol); on any
 * error every fd received is closed and *nfds is 0. */
ssize_t wf_sock_recv(int fd, void *buf, size_t cap, int *fds, size_t maxfds,
                     size_t *nfds);

#endif
