/* Reading text files by blocks: a block holds the lines that start in
 * it, so a reader takes its first bytes after the newline before them and
 * reads on past its end to the end of its last line. */
#include "bag/bag_int.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define WB_EXTEND (64 * 1024) /* read past a block's end by this much */

/* Read up to n bytes at off into p; bytes read, or -1. */
static ssize_t read_at(int fd, void *p, size_t n, int64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (char *)p + got, n - got, (off_t)off + got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

int64_t wb_lines_before(int fd, int64_t end)
{
    int64_t lines = 0, off = 0;
    char *buf = malloc(WB_EXTEND);
    if (!buf)
        return 0;
    while (off < end) {
        size_t want = end - off < WB_EXTEND ? (size_t)(end - off) : WB_EXTEND;
        ssize_t k = read_at(fd, buf, want, off);
        if (k <= 0)
            break;
        for (ssize_t i = 0; i < k; i++)
            lines += buf[i] == '\n';
        off += k;
    }
    free(buf);
    return lines;
}

weft_err wb_read_block(wg_call *c, int fd, const char *path, int64_t a,
                       int64_t end, wb_buf *d)
{
    size_t want = (size_t)(end - a);
    if (!wb_buf_reserve(d, want + 1))
        return wb_nomem(c);
    ssize_t k = read_at(fd, d->p, want, a);
    if (k < 0)
        return wg_fail(c, "%s: %s", path, strerror(errno));
    d->len = (size_t)k;
    if ((size_t)k < want || (k > 0 && d->p[k - 1] == '\n'))
        return 0; /* end of file, or the block ends a line */
    for (;;) {
        if (!wb_buf_reserve(d, WB_EXTEND + 1))
            return wb_nomem(c);
        k = read_at(fd, d->p + d->len, WB_EXTEND, a + (int64_t)d->len);
        if (k < 0)
            return wg_fail(c, "%s: %s", path, strerror(errno));
        const void *nl = memchr(d->p + d->len, '\n', (size_t)k);
        d->len += (size_t)k;
        if (nl || k < WB_EXTEND)
            return 0;
    }
}
