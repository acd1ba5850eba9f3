/* weft error codes. Every fallible public function returns a weft_err:
 * 0 on success, or one of the negative codes below. Codes are only ever
 * appended to this list, never renumbered. */
#ifndef WEFT_ERRORS_H
#define WEFT_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef int weft_err;

/* X(name, value, message) */
#define WEFT_ERRNO_MAP(X)                                                      \
    X(EINVAL, -1, "invalid argument")                                          \
    X(ENOMEM, -2, "out of memory")                                             \
    X(ENOFUNC, -3, "unknown function name")                                    \
    X(EARGC, -4, "wrong number of arguments")                                  \
    X(ETYPE, -5, "wrong argument or value type")                               \
    X(EBADREF, -6, "invalid, released or foreign reference")                   \
    X(ETIMEDOUT, -7, "timed out")                                              \
    X(ETASK, -8, "task failed")                                                \
    X(EUPSTREAM, -9, "a task this one depends on failed")                      \
    X(ECRASHED, -10, "worker process crashed")                                 \
    X(ESTOREFULL, -11, "object store memory cap reached")                      \
    X(ERESOURCE, -12, "no resources can ever satisfy the request")             \
    X(ENOACTOR, -13, "unknown actor class, name or method")                    \
    X(EACTORDEAD, -14, "actor is dead")                                        \
    X(ESHUTDOWN, -15, "runtime is shut down")                                  \
    X(EEXIST, -16, "name already in use")                                      \
    X(ESYS, -17, "system call failed")                                         \
    X(EPROTO, -18, "malformed or unexpected message")                          \
    X(ERANGE, -19, "value out of range")                                       \
    X(ECANCELLED, -20, "cancelled")                                            \
    X(EIO, -21, "input/output error")

typedef enum weft_errno {
    WEFT_OK = 0,
#define WEFT__ERRNO_ENUM(name, val, msg) WEFT_##name = val,
    WEFT_ERRNO_MAP(WEFT__ERRNO_ENUM)
#undef WEFT__ERRNO_ENUM
} weft_errno;

/* Static message for a code ("invalid argument"); never NULL. */
const char *weft_strerror(weft_err code);

/* Static name of a code ("WEFT_EINVAL"); never NULL. */
const char *weft_err_name(weft_err code);

/* Detail of the last error a weft call made on this thread, such as
 * "weft_submit: unknown function 'bmo'". Valid until the next weft call on
 * the same thread; "" when there is none. Never NULL. */
const char *weft_last_error(void);

/* Set this thread's weft_last_error() to the printf-style message and
 * return code: for libraries built on weft that report errors as weft's
 * own calls do. */
weft_err weft_set_error(weft_err code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
