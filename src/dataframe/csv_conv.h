/* CSV value parsers and byte search, shared by the partition parser, the
 * planner's type inference and the tests (internal to the CSV reader).
 *
 * Prefix parsers (csv_*_prefix) read one value starting at p and return
 * where it stopped; callers check that the next byte ends the field. They
 * never read past the first byte that cannot continue the value, except
 * date/time parsers, which may look up to 32 bytes ahead: buffers they run
 * over end with at least CSV_PAD bytes of padding. Span parsers
 * (csv_parse_*) take a whole field and accept it only if all of it is a
 * value. */
#ifndef WF_DATAFRAME_CSV_CONV_H
#define WF_DATAFRAME_CSV_CONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define CSV_PAD 64 /* readable bytes after every buffer the parsers scan */

/* Result of a span parse. */
enum csv_conv {
    CSV_OK = 0,
    CSV_BAD,   /* not a value of the type */
    CSV_RANGE, /* an integer outside int64 */
};

static inline bool csv_digit(char c)
{
    return (unsigned)(c - '0') < 10;
}

/* [+-]digits. *st: CSV_OK, CSV_BAD (no digits) or CSV_RANGE. */
static inline const char *csv_i64_prefix(const char *p, int64_t *out, int *st)
{
    bool neg = *p == '-';
    p += neg || *p == '+';
    const char *d0 = p;
    uint64_t v = 0;
    unsigned d;
    while ((d = (unsigned)(unsigned char)*p - '0') < 10 && p - d0 < 18) {
        v = v * 10 + d;
        p++;
    }
    if (p == d0) {
        *st = CSV_BAD;
        return p;
    }
    *st = CSV_OK;
    if ((d = (unsigned)(unsigned char)*p - '0') < 10) {
        /* 19 digits or more: leading zeros are fine, else check range */
        while ((d = (unsigned)(unsigned char)*p - '0') < 10) {
            if (v > (UINT64_MAX - d) / 10)
                *st = CSV_RANGE, v = UINT64_MAX / 10;
            else
                v = v * 10 + d;
            p++;
        }
        uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        if (v > lim)
            *st = CSV_RANGE;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return p;
}

static const double csv_pow10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* The decimal number [+-]digits[.digits][(e|E)[+-]digits] with at least
 * one mantissa digit. Exact fast path when the mantissa fits in 53 bits
 * and |exponent| <= 22 (both operands exact, one IEEE operation: correctly
 * rounded, Clinger 1990); otherwise *slow is set and the caller converts
 * the same bytes with strtod. *st: CSV_OK or CSV_BAD. */
static inline const char *csv_f64_prefix(const char *p, double *out, int *st,
                                         bool *slow)
{
    bool neg = *p == '-';
    p += neg || *p == '+';
    uint64_t m = 0;
    int nsig = 0, exp10 = 0, ndig = 0;
    unsigned d;
    while ((d = (unsigned)(unsigned char)*p - '0') < 10) {
        m = m * 10 + d;
        nsig += m != 0;
        ndig++;
        p++;
    }
    if (*p == '.') {
        p++;
        while ((d = (unsigned)(unsigned char)*p - '0') < 10) {
            m = m * 10 + d;
            nsig += m != 0;
            ndig++;
            exp10--;
            p++;
        }
    }
    if (ndig == 0) {
        *st = CSV_BAD;
        return p;
    }
    *st = CSV_OK;
    if ((*p | 0x20) == 'e') {
        const char *e = p + 1;
        bool eneg = *e == '-';
        e += eneg || *e == '+';
        if (csv_digit(*e)) {
            int ev = 0;
            while (csv_digit(*e)) {
                if (ev < 100000)
                    ev = ev * 10 + (*e - '0');
                e++;
            }
            exp10 += eneg ? -ev : ev;
            p = e;
        }
    }
    /* nsig counts digits from the first nonzero one: m is exact if <= 19 */
    if (nsig <= 19 && m < (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)m;
        v = exp10 < 0 ? v / csv_pow10[-exp10] : v * csv_pow10[exp10];
        *out = neg ? -v : v;
        *slow = false;
    } else if (m == 0 && nsig == 0) {
        *out = neg ? -0.0 : 0.0;
        *slow = false;
    } else {
        *slow = true;
    }
    return p;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static inline int64_t csv_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static inline unsigned csv_days_in_month(unsigned y, unsigned m)
{
    static const unsigned char dm[13] = {0,  31, 28, 31, 30, 31, 30,
                                         31, 31, 30, 31, 30, 31};
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        return 29;
    return dm[m];
}

/* YYYY-MM-DD (a valid date); NULL if p does not start with one. */
static inline const char *csv_date_prefix(const char *p, int64_t *days)
{
    const unsigned char *u = (const unsigned char *)p;
    unsigned y0 = u[0] - '0', y1 = u[1] - '0', y2 = u[2] - '0', y3 = u[3] - '0',
             m0 = u[5] - '0', m1 = u[6] - '0', d0 = u[8] - '0', d1 = u[9] - '0';
    if ((y0 > 9) | (y1 > 9) | (y2 > 9) | (y3 > 9) | (m0 > 9) | (m1 > 9) |
            (d0 > 9) | (d1 > 9) ||
        u[4] != '-' || u[7] != '-')
        return NULL;
    unsigned y = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
    unsigned m = m0 * 10 + m1, d = d0 * 10 + d1;
    if (m - 1 > 11 || d - 1 >= csv_days_in_month(y, m))
        return NULL;
    *days = csv_days_from_civil(y, m, d);
    return p + 10;
}

/* YYYY-MM-DD[( |T)HH:MM:SS[.fraction][Z]] in microseconds since the
 * epoch (a date alone is its midnight); NULL if p does not start with one. */
static inline const char *csv_ts_prefix(const char *p, int64_t *us)
{
    int64_t days;
    if (csv_date_prefix(p, &days) == NULL)
        return NULL;
    if (p[10] != ' ' && p[10] != 'T') {
        *us = days * 86400000000LL;
        return p + 10;
    }
    const unsigned char *u = (const unsigned char *)p + 11;
    unsigned h0 = u[0] - '0', h1 = u[1] - '0', n0 = u[3] - '0', n1 = u[4] - '0',
             s0 = u[6] - '0', s1 = u[7] - '0';
    if ((h0 > 9) | (h1 > 9) | (n0 > 9) | (n1 > 9) | (s0 > 9) | (s1 > 9) ||
        u[2] != ':' || u[5] != ':')
        return NULL;
    unsigned h = h0 * 10 + h1, mi = n0 * 10 + n1, s = s0 * 10 + s1;
    if (h > 23 || mi > 59 || s > 60)
        return NULL;
    int64_t frac = 0;
    p += 19;
    if (*p == '.') {
        p++;
        if (!csv_digit(*p))
            return NULL;
        int n = 0;
        while (csv_digit(*p)) {
            if (n < 6)
                frac = frac * 10 + (*p - '0'), n++;
            p++;
        }
        while (n++ < 6)
            frac *= 10;
    }
    if (*p == 'Z')
        p++;
    *us = ((days * 24 + h) * 60 + mi) * 60000000 + (int64_t)s * 1000000 + frac;
    return p;
}

/* true/false, True/False, TRUE/FALSE as the whole field s[0..n). */
static inline bool csv_parse_bool(const char *s, size_t n, uint8_t *out)
{
    if (n == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "True", 4) == 0 ||
                   memcmp(s, "TRUE", 4) == 0)) {
        *out = 1;
        return true;
    }
    if (n == 5 && (memcmp(s, "false", 5) == 0 || memcmp(s, "False", 5) == 0 ||
                   memcmp(s, "FALSE", 5) == 0)) {
        *out = 0;
        return true;
    }
    return false;
}

/* Span parsers: the whole field s[0..n) must be the value. s must be
 * followed by CSV_PAD readable bytes, the first of which is not a digit
 * (the buffers hold the field's terminator or a NUL there). */
int csv_parse_i64(const char *s, size_t n, int64_t *out);
int csv_parse_f64(const char *s, size_t n, double *out);
int csv_parse_date(const char *s, size_t n, int64_t *out);
int csv_parse_ts(const char *s, size_t n, int64_t *out);

/* The first byte in [p, end) equal to a, b, c or d; end if none. Reads up
 * to 15 bytes past end. */
static inline const char *csv_find4(const char *p, const char *end, char a,
                                    char b, char c, char d)
{
#if defined(__SSE2__)
    const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b),
                  vc = _mm_set1_epi8(c), vd = _mm_set1_epi8(d);
    for (; p < end; p += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        __m128i hit = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(x, va), _mm_cmpeq_epi8(x, vb)),
            _mm_or_si128(_mm_cmpeq_epi8(x, vc), _mm_cmpeq_epi8(x, vd)));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        if (mask) {
            p += __builtin_ctz(mask);
            return p < end ? p : end;
        }
    }
    return end;
#else
    for (; p < end; p++)
        if (*p == a || *p == b || *p == c || *p == d)
            return p;
    return end;
#endif
}

#endif
