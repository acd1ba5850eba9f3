#include "wire/sock.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/err.h"

/* Room for the most fds one message can carry, aligned as cmsghdr needs:
 * the kernel then never has to cut a control message we asked for. */
typedef union wf_cmsg_buf {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * WF_SOCK_MAX_FDS)];
} wf_cmsg_buf;

/* A peer that went away is an I/O condition the caller expects (a worker
 * died); anything else is a failing system call. */
static weft_err wf_sock_err(const char *op, int err)
{
    weft_err code = err == EPIPE || err == ECONNRESET ? WEFT_EIO : WEFT_ESYS;
    return wf_err(code, "wire: %s: %s", op, strerror(err));
}

/* Sleep until fd is ready for events. Errors and hang-ups also wake us:
 * the next send or recv then reports them. */
static weft_err wf_sock_wait(int fd, short events, const char *op)
{
    struct pollfd p = {.fd = fd, .events = events};
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR)
            return wf_sock_err(op, errno);
    return 0;
}

static ssize_t wf_sock_sendmsg(int fd, const char *p, size_t len,
                               const int *fds, size_t nfds)
{
    struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    wf_cmsg_buf cb;
    if (nfds > 0) {
        memset(&cb, 0, sizeof cb);
        msg.msg_control = cb.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

weft_err wf_sock_send(int fd, const void *buf, size_t len, const int *fds,
                      size_t nfds)
{
    if (nfds > WF_SOCK_MAX_FDS || (nfds > 0 && (len == 0 || !fds)) ||
        (len > 0 && !buf))
        return wf_err(WEFT_EINVAL,
                      "wire: send of %zu bytes with %zu fds: bad arguments",
                      len, nfds);
    const char *p = buf;
    while (len > 0) {
        ssize_t n = wf_sock_sendmsg(fd, p, len, fds, nfds);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return wf_sock_err("sendmsg", errno);
            weft_err e = wf_sock_wait(fd, POLLOUT, "poll before sendmsg");
            if (e)
                return e;
            continue;
        }
        /* Whatever part was sent, the fds went with its first byte. */
        p += n;
        len -= (size_t)n;
        nfds = 0;
    }
    return 0;
}

static void wf_close_all(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* Move the fds of every SCM_RIGHTS message in msg to fds[0..maxfds); if
 * there are more, or the kernel cut some off, close every one of them.
 * Returns n or the error. */
static ssize_t wf_sock_take_fds(const struct msghdr *msg, ssize_t n, int *fds,
                                size_t maxfds, size_t *nfds)
{
    size_t got = 0, total = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c;
         c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
            c->cmsg_len < CMSG_LEN(0))
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *d = CMSG_DATA(c);
        for (size_t i = 0; i < k; i++, total++) {
            int rfd;
            memcpy(&rfd, d + i * sizeof(int), sizeof rfd);
            if (got < maxfds)
                fds[got++] = rfd;
            else
                close(rfd);
        }
    }
    weft_err e = 0;
    if (msg->msg_flags & MSG_CTRUNC)
        e = wf_err(WEFT_ESYS, "wire: received fds were cut off "
                              "(MSG_CTRUNC: out of file descriptors?)");
    else if (total > maxfds)
        e = wf_err(WEFT_EPROTO, "wire: peer sent %zu fds, at most %zu expected",
                   total, maxfds);
    if (e) {
        wf_close_all(fds, got);
        return e;
    }
    if (nfds)
        *nfds = got;
    return n;
}

ssize_t wf_sock_recv(int fd, void *buf, size_t cap, int *fds, size_t maxfds,
                     size_t *nfds)
{
    if (nfds)
        *nfds = 0;
    if (cap == 0 || !buf || (maxfds > 0 && (!fds || !nfds)))
        return wf_err(WEFT_EINVAL, "wire: recv into %zu bytes: bad arguments",
                      cap);
    if (cap > SSIZE_MAX)
        cap = SSIZE_MAX;
    wf_cmsg_buf cb;
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    struct msghdr msg;
    for (;;) {
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cb.buf;
        msg.msg_controllen = sizeof cb.buf;
        ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (n >= 0)
            return wf_sock_take_fds(&msg, n, fds, maxfds, nfds);
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return wf_sock_err("recvmsg", errno);
        weft_err e = wf_sock_wait(fd, POLLIN, "poll before recvmsg");
        if (e)
            return e;
    }
}
