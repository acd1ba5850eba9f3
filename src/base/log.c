#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int wf_log_level = WF_LOG_LVL_WARN;

static const char *const wf_level_names[] = {"error", "warn", "info", "debug"};

void wf_log_init(void)
{
    const char *e = getenv("WEFT_LOG");
    if (!e)
        return;
    for (int i = 0; i < 4; i++)
        if (strcmp(e, wf_level_names[i]) == 0)
            wf_log_level = i;
}

void wf_log_write(int level, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const char *base = strrchr(file, '/');
    fprintf(stderr, "weft %ld.%06ld level=%s pid=%d at=%s:%d %s\n",
            (long)ts.tv_sec, ts.tv_nsec / 1000, wf_level_names[level],
            (int)getpid(), base ? base + 1 : file, line, msg);
}

void wf_assert_fail(const char *cond, const char *what, const char *file,
                    int line)
{
    fprintf(stderr,
            "weft: internal error at %s:%d: %s (assertion '%s' failed, "
            "pid=%d)\n",
            file, line, what, cond, (int)getpid());
    abort();
}
