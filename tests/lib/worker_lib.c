/* A shared library of task functions, loaded by worker processes through
 * `weft worker --library` (tests/worker_lib_test.c). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <weft/weft.h>

static weft_err lib_triple(weft_task *t)
{
    return weft_return_i64(t, 3 * weft_arg_i64(t, 0));
}
WEFT_REGISTER_SIG(lib_triple, "i");

/* The executable this task runs in: the `weft` host, not the test. */
static weft_err lib_exe(weft_task *t)
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n < 0)
        return weft_fail(t, "readlink failed");
    buf[n] = '\0';
    const char *base = strrchr(buf, '/');
    return weft_return_str(t, base ? base + 1 : buf);
}
WEFT_REGISTER(lib_exe);
