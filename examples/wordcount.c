/* Word count with a bag: the lines of text files, split into lowercase
 * words (punctuation stripped, built-in "wb.words"), counted by
 * frequencies. Each file block is read, split and counted by one task;
 * the per-block counts are merged in a tree.
 *
 *   wordcount [GLOB [TOP]]   (default: the sample texts beside this file,
 *                             the top 20 words) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/bag.h>
#include <weft/weft.h>

int main(int argc, char **argv)
{
    weft_runtime *rt;
    WEFT_CHECK(weft_init(&rt, NULL));

    char glob[4096];
    if (argc > 1) {
        snprintf(glob, sizeof glob, "%s", argv[1]);
    } else { /* examples/data/text/ beside this source file */
        const char *slash = strrchr(__FILE__, '/');
        int dir = slash ? (int)(slash - __FILE__) : 0;
        snprintf(glob, sizeof glob, "%.*s%sdata/text/*.txt", dir, __FILE__,
                 slash ? "/" : "");
    }
    long top = argc > 2 ? strtol(argv[2], NULL, 10) : 20;

    wb_bag *lines, *words, *freq;
    if (wb_read_text(rt, glob, NULL, &lines)) {
        fprintf(stderr, "wordcount: %s\n", weft_last_error());
        return 1;
    }
    words = wb_flat_map(lines, "wb.words", NULL, 0);
    freq = wb_frequencies(words);
    wb_records *r;
    if (!freq || wb_compute(freq, &r)) {
        fprintf(stderr, "wordcount: %s\n", weft_last_error());
        return 1;
    }
    /* (key, count) records, by count descending, then word */
    long long total = 0;
    for (size_t i = 0; i < r->n; i++)
        total += r->recs[i].n;
    printf("words %lld\ndistinct %zu\n", total, r->n);
    for (size_t i = 0; i < r->n && (long)i < top; i++)
        printf("%s %lld\n", r->recs[i].data, (long long)r->recs[i].n);

    wb_records_free(r);
    wb_free(freq);
    wb_free(words);
    wb_free(lines);
    weft_shutdown(rt);
    return 0;
}
