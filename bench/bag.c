/* Bag benchmark: word count over 100 MB of text, as Dask bag does it
 * (read_text, split at whitespace, flatten, frequencies), with files warm
 * in the page cache; the median of 3 runs, planning included. The same
 * files are counted by bench/bag_dask.py with dask.bag for the ratio.
 *
 * Data: 8 files of 12.5 MB of generated text (a fixed seed; a vocabulary
 * of 30,000 made-up words drawn with Zipf-like frequencies, 8 to 16 words
 * a line) in argv[1], $WEFT_BAG_DATA, or else bench-data/text in the
 * build directory; made once, reused when its manifest matches. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weft/bag.h>

#include "bench.h"

enum { NFILES = 8, VOCAB = 30000 };
#define FILE_BYTES 12500000L
#define MANIFEST "bag-text v1 8 x 12500000 seed 42\n"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Word i of the vocabulary: syllables picked by i's digits in base 20. */
static size_t vocab_word(uint32_t i, char *out)
{
    static const char *const syl[20] = {
        "ka", "to", "ri",  "men", "sa", "lo",  "ve", "dun", "pi", "ar",
        "el", "os", "tri", "ba",  "nu", "qui", "ze", "ho",  "ly", "fa"};
    size_t n = 0;
    uint32_t x = i + 1;
    do {
        const char *s = syl[x % 20];
        size_t k = strlen(s);
        memcpy(out + n, s, k);
        n += k;
        x /= 20;
    } while (x);
    return n;
}

static bool manifest_ok(const char *dir)
{
    char path[4200], buf[128] = {0};
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return got == strlen(MANIFEST) && strcmp(buf, MANIFEST) == 0;
}

static int make_dirs(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *q = tmp + 1; *q; q++)
        if (*q == '/') {
            *q = '\0';
            if (mkdir(tmp, 0777) && errno != EEXIST)
                return -1;
            *q = '/';
        }
    return mkdir(tmp, 0777) && errno != EEXIST ? -1 : 0;
}

/* Write the data set into dir unless it is there already. */
static int make_data(const char *dir)
{
    if (manifest_ok(dir))
        return 0;
    if (make_dirs(dir)) {
        fprintf(stderr, "bag: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char(*words)[48] = malloc(VOCAB * sizeof *words);
    uint8_t *wl = malloc(VOCAB);
    char *buf = malloc(FILE_BYTES + 256);
    if (!words || !wl || !buf)
        return -1;
    for (uint32_t i = 0; i < VOCAB; i++)
        wl[i] = (uint8_t)vocab_word(i, words[i]);
    uint64_t s = 42;
    double lv = log((double)VOCAB + 1);
    for (int f = 0; f < NFILES; f++) {
        size_t n = 0;
        while (n < FILE_BYTES) {
            int per = 8 + (int)(rng_next(&s) % 9);
            for (int w = 0; w < per; w++) {
                /* rank ~ 1/(r+1): exp(u * ln(V+1)) - 1 */
                double u = (double)(rng_next(&s) >> 11) * 0x1p-53;
                uint32_t r = (uint32_t)(exp(u * lv) - 1);
                if (r >= VOCAB)
                    r = VOCAB - 1;
                if (w)
                    buf[n++] = ' ';
                memcpy(buf + n, words[r], wl[r]);
                n += wl[r];
            }
            buf[n++] = '\n';
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/part-%d.txt", dir, f);
        FILE *fp = fopen(path, "wb");
        if (!fp || fwrite(buf, 1, FILE_BYTES, fp) != (size_t)FILE_BYTES ||
            fclose(fp) != 0) {
            fprintf(stderr, "bag: cannot write %s\n", path);
            return -1;
        }
    }
    free(words);
    free(wl);
    free(buf);
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    FILE *fp = fopen(path, "w");
    if (!fp || fputs(MANIFEST, fp) < 0 || fclose(fp) != 0)
        return -1;
    return 0;
}

/* CPU seconds this process has used, all its threads. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One word count: files -> words -> frequencies; sets total, distinct. */
static int wordcount(weft_runtime *rt, const char *glob, long long *total,
                     size_t *distinct, char *top, size_t ntop)
{
    wb_bag *lines = NULL;
    if (wb_read_text(rt, glob, NULL, &lines))
        return -1;
    wb_bag *words = wb_flat_map(lines, "wb.split", NULL, 0);
    wb_bag *freq = wb_frequencies(words);
    wb_records *r = NULL;
    int rc = freq && wb_compute(freq, &r) == 0 ? 0 : -1;
    if (!rc) {
        *total = 0;
        for (size_t i = 0; i < r->n; i++)
            *total += r->recs[i].n;
        *distinct = r->n;
        snprintf(top, ntop, "%s %lld", r->n ? r->recs[0].data : "",
                 r->n ? (long long)r->recs[0].n : 0LL);
    }
    wb_records_free(r);
    wb_free(freq);
    wb_free(words);
    wb_free(lines);
    return rc;
}

int main(int argc, char **argv)
{
    weft_worker_check();
    char dir[4096];
    const char *env = getenv("WEFT_BAG_DATA");
    if (argc > 1)
        snprintf(dir, sizeof dir, "%s", argv[1]);
    else if (env && *env)
        snprintf(dir, sizeof dir, "%s", env);
    else { /* <build>/bench/bag -> <build>/bench-data/text */
        char exe[4000];
        ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[k > 0 ? k : 0] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(dir, sizeof dir, "%s/../bench-data/text", exe);
    }
    bench_note_load("bag");
    double t0 = bench_now();
    if (make_data(dir))
        return 1;
    bench_note("bag: data in %s (%d files, %.0f MB; ready in %.1f s)", dir,
               NFILES, NFILES * FILE_BYTES / 1e6, bench_now() - t0);

    weft_runtime *rt;
    WEFT_CHECK(weft_init(&rt, NULL));
    char glob[4200], top[128];
    snprintf(glob, sizeof glob, "%s/part-*.txt", dir);
    long long total = 0;
    size_t distinct = 0;
    if (wordcount(rt, glob, &total, &distinct, top, sizeof top)) { /* warm */
        fprintf(stderr, "bag: %s\n", weft_last_error());
        return 1;
    }
    enum { RUNS = 3 };
    double t[RUNS], cpu[RUNS];
    for (int i = 0; i < RUNS; i++) {
        double s = bench_now(), c = cpu_now();
        if (wordcount(rt, glob, &total, &distinct, top, sizeof top)) {
            fprintf(stderr, "bag: %s\n", weft_last_error());
            return 1;
        }
        t[i] = bench_now() - s;
        cpu[i] = cpu_now() - c;
    }
    weft_stats st;
    weft_get_stats(rt, &st);
    bench_note("bag: %lld words, %zu distinct, top '%s', %u threads", total,
               distinct, top, st.threads);
    bench_runs("bag.wordcount_100mb", t, RUNS, 1, "s");
    bench_runs("bag.wordcount_100mb_cpu", cpu, RUNS, 1,
               "s of cpu, all threads (the machine's load inflates wall time)");
    double med = bench_median(t, RUNS);
    bench_emit("bag.wordcount_100mb", med, "s");
    bench_emit("bag.wordcount_mb_per_s", NFILES * FILE_BYTES / 1e6 / med,
               "MB/s");
    weft_shutdown(rt);
    return 0;
}
