/* Test helpers shared by the dataframe layer's unit tests. */
#ifndef WF_DATAFRAME_DF_TESTUTIL_H
#define WF_DATAFRAME_DF_TESTUTIL_H

#include <stdio.h>
#include <string.h>

#include "dataframe/column.h"
#include "testutil.h"

/* Keys at the text-key paths' length edges: 12 bytes, 16 bytes and
 * longer, each in a pair differing in its last byte only. */
static const char *const edge_words[] = {
    "twelve bytes",
    "twelve bytez",
    "exactly 16 bytes",
    "exactly 16 bytez",
    "a key longer than sixteen bytes",
    "a key longer than sixteen bytez",
};
enum { NEDGE = sizeof edge_words / sizeof *edge_words };

/* Push a random text key onto c: null, one of words[0..nw) or
 * edge_words, or one of `alike` keys that differ only in their last bytes
 * ("twelve by000"...), which makes hash probing pass over many of them.
 * Words and alike keys come about half the time each, a null once in
 * 2 * (nw + NEDGE) + 1. */
static inline void push_text_key(wf_column *c, uint64_t *rng,
                                 const char *const *words, size_t nw,
                                 unsigned alike)
{
    size_t all = nw + NEDGE;
    size_t pick = (size_t)xorshift_below(rng, 2 * all + 1);
    if (pick == all) {
        wf_col_push_null(c);
    } else if (pick > all) {
        char s[32];
        int len = snprintf(s, sizeof s, "twelve by%03u",
                           (unsigned)xorshift_below(rng, alike));
        wf_col_push_str(c, s, (size_t)len);
    } else {
        const char *w = pick < nw ? words[pick] : edge_words[pick - nw];
        wf_col_push_str(c, w, strlen(w));
    }
}

#endif
