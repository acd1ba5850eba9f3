/* Text and JSON-lines files: the kernel reading one block of a file (the
 * lines that start in it), and the kernel writing a partition as lines. */
#include "bag/bag_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
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

/* Newlines in the file before byte end (for an error's line number). */
static int64_t lines_before(int fd, int64_t end)
{
    int64_t lines = 0, off = 0;
    char *buf = malloc(WB_EXTEND);
    if (!buf)
        return -1;
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

/* The bytes [a, end) of the file and on to the first newline at or after
 * end - 1 (or the end of the file): *data and *n. */
static weft_err read_block(wg_call *c, int fd, const char *path, int64_t a,
                           int64_t end, wb_buf *d)
{
    size_t want = (size_t)(end - a);
    if (!wb_buf_reserve(d, want + 1))
        return wg_fail(c, "out of memory");
    ssize_t k = read_at(fd, d->p, want, a);
    if (k < 0)
        return wg_fail(c, "%s: %s", path, strerror(errno));
    d->len = (size_t)k;
    if ((size_t)k < want || (k > 0 && d->p[k - 1] == '\n'))
        return 0; /* end of file, or the block ends a line */
    for (;;) {
        if (!wb_buf_reserve(d, WB_EXTEND))
            return wg_fail(c, "out of memory");
        k = read_at(fd, d->p + d->len, WB_EXTEND, a + (int64_t)d->len);
        if (k < 0)
            return wg_fail(c, "%s: %s", path, strerror(errno));
        const void *nl = memchr(d->p + d->len, '\n', (size_t)k);
        d->len += (size_t)k;
        if (nl || k < WB_EXTEND)
            return 0;
    }
}

static bool blank(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* wb_k_read(): the lines starting in [off, off + len) of the file in
 * params, as text records (or JSON records, checked, for JSON-lines). */
static weft_err wb_k_read(wg_call *c)
{
    size_t plen;
    const wb_block_params *bp = wg_params(c, &plen);
    if (plen < sizeof *bp || plen != sizeof *bp + bp->pathlen ||
        bp->pathlen > 4096 || bp->off < 0 || bp->len < 0)
        return wg_fail(c, "bad parameters");
    char path[4097];
    memcpy(path, bp + 1, bp->pathlen);
    path[bp->pathlen] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wg_fail(c, "%s: %s", path, strerror(errno));
    int64_t a = bp->off > 0 ? bp->off - 1 : 0, end = bp->off + bp->len;
    wb_buf d = {0}, out = {0};
    weft_err e = read_block(c, fd, path, a, end, &d);
    size_t s = 0, lim = (size_t)(end - a);
    if (!e &&
        bp->off > 0) { /* the line under way belongs to the block before */
        const uint8_t *nl = memchr(d.p, '\n', d.len);
        s = nl ? (size_t)(nl - d.p) + 1 : d.len;
    }
    if (!e && !wb_buf_reserve(&out, d.len + d.len / 4 + 64))
        e = wg_fail(c, "out of memory");
    while (!e && s < lim && s < d.len) {
        const uint8_t *nl = memchr(d.p + s, '\n', d.len - s);
        size_t eol = nl ? (size_t)(nl - d.p) : d.len, n = eol - s;
        if (n && d.p[s + n - 1] == '\r')
            n--;
        if (!bp->json) {
            if (!wb_put_rec(&out, WB_TEXT, d.p + s, n, 0))
                e = wg_fail(c, "out of memory");
        } else if (!blank(d.p + s, n)) {
            json_error_t je;
            json_t *j =
                json_loadb((const char *)d.p + s, n, JSON_DECODE_ANY, &je);
            if (!j) {
                int64_t line = lines_before(fd, a);
                for (size_t i = 0; i < s; i++)
                    line += d.p[i] == '\n';
                e = wg_fail(c, "%s:%lld: not JSON: %s (column %d)", path,
                            (long long)line + 1, je.text, je.column);
            } else {
                if (wb_put_json(&out, j))
                    e = wg_fail(c, "out of memory");
                json_decref(j);
            }
        }
        s = eol + 1;
    }
    if (!e)
        e = wb_out_part(c, &out);
    close(fd);
    free(d.p);
    free(out.p);
    return e;
}
WG_KERNEL(wb_k_read)

/* wb_k_write(partition): the records as lines of the file named by the
 * params; the number written, an i64. */
static weft_err wb_k_write(wg_call *c)
{
    size_t plen, n = 0, off = 0;
    const char *pp = wg_params(c, &plen);
    const uint8_t *p = NULL;
    if (plen == 0 || plen > 4096)
        return wg_fail(c, "bad parameters");
    weft_err e = wb_part_in(c, 0, &p, &n);
    if (e)
        return e;
    char path[4097];
    memcpy(path, pp, plen);
    path[plen] = '\0';
    FILE *f = fopen(path, "we");
    if (!f)
        return wg_fail(c, "%s: %s", path, strerror(errno));
    wb_buf js = {0};
    int64_t k = 0;
    wb_rec r;
    int got = 0;
    while (!e && (got = wb_next(p, n, &off, &r)) > 0) {
        const void *s = r.data;
        size_t len = r.len;
        if (r.kind == WB_COUNT) {
            js.len = 0;
            if (!wb_json_append(&js, &r)) {
                e = wg_fail(c, "out of memory");
                break;
            }
            s = js.p;
            len = js.len;
        }
        if (fwrite(s, 1, len, f) != len || fputc('\n', f) == EOF)
            e = wg_fail(c, "%s: %s", path, strerror(errno));
        k++;
    }
    if (!e && got < 0)
        e = wb_corrupt(c, 0);
    if (fclose(f) != 0 && !e)
        e = wg_fail(c, "%s: %s", path, strerror(errno));
    free(js.p);
    if (!e) {
        weft_value v = weft_i64(k);
        e = wg_out(c, &v);
    }
    return e;
}
WG_KERNEL(wb_k_write)

void wb_text_link(void)
{
}
