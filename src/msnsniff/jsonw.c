/* jsonw.c - JSON text writer: escaping, UTF-8 repair, integers. */
#include "jsonw.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#include <msnkit/text.h>
#endif

/* Failed: no more room (sn_jb_has_room tests only the room), and no
 * more growth. The cap claimed is never above what was allocated. */
static void jb_fail(sn_jbuf *b) {
    b->failed = 1;
    b->cap = b->n;
}

/* Rarely taken (the line buffers are reused): kept out of the callers. */
__attribute__((noinline, cold)) int sn_jb_grow(sn_jbuf *b, size_t more) {
    if (b->failed) {
        b->cap = b->n; /* and stays without room, whatever moved its end */
        return 0;
    }
    if (more <= b->cap - b->n) return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->n < more) {
        if (cap > SIZE_MAX / 2) {
            jb_fail(b);
            return 0;
        }
        cap *= 2;
    }
    char *q = b->borrowed ? malloc(cap) : realloc(b->p, cap);
    if (!q) {
        jb_fail(b);
        return 0;
    }
    if (b->borrowed) { /* the bytes so far move to a buffer of its own */
        if (b->n) memcpy(q, b->p, b->n);
        b->borrowed = 0;
    }
    b->p = q;
    b->cap = cap;
    return 1;
}

void sn_jb_free(sn_jbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Bytes that go out as they are: printable ASCII except the quote and the
 * backslash, and DEL (JSON does not require escaping it). */
static const unsigned char plain[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0),                                                                         /* 0x00-0x1F */
    1,      1,      0,      1,      1,      1,      1,      1,      1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2F: '"' */
    R16(1), R16(1),                                                                         /* 0x30-0x4F */
    1,      1,      1,      1,      1,      1,      1,      1,      1, 1, 1, 1, 0, 1, 1, 1, /* 0x50-0x5F: '\\' */
    R16(1), R16(1),                                                                         /* 0x60-0x7F */
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0),                         /* 0x80-0xFF */
#undef R16
};

/* Length of the well-formed UTF-8 sequence at s (n bytes left, s[0] >=
 * 0x80), or 0. The ranges are those of Unicode's table 3-7: no overlong
 * forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;      /* overlong below U+0800 */
        else if (c == 0xED) hi = 0x9F; /* surrogates U+D800-DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;      /* overlong below U+10000 */
        else if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0/C1 (overlong ASCII) or F5-FF */
    }
    if (len > n || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if ((s[k] & 0xC0u) != 0x80u) return 0;
    return len;
}

/* No byte of w needs care: none below 0x20 or at/above 0x80, no '"' (0x22),
 * no '\\' (0x5C). */
static inline int clean8(uint64_t w) {
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t ctl = (w - ones * 0x20) & ~w;
    uint64_t quo = ((w ^ (ones * 0x22)) - ones) & ~(w ^ (ones * 0x22));
    uint64_t bsl = ((w ^ (ones * 0x5C)) - ones) & ~(w ^ (ones * 0x5C));
    return !((ctl | quo | bsl | w) & high);
}

static inline int clean4(uint32_t w) {
    const uint32_t ones = 0x01010101u, high = 0x80808080u;
    uint32_t ctl = (w - ones * 0x20) & ~w;
    uint32_t quo = ((w ^ (ones * 0x22)) - ones) & ~(w ^ (ones * 0x22));
    uint32_t bsl = ((w ^ (ones * 0x5C)) - ones) & ~(w ^ (ones * 0x5C));
    return !((ctl | quo | bsl | w) & high);
}

#if defined(__SSE2__)
/* Bit i set: byte i of the sixteen at s needs care. As signed bytes,
 * everything below 0x20 and at/above 0x80 is less than 0x20. */
static inline unsigned care_v(__m128i v) {
    const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'), bsl = _mm_set1_epi8('\\');
    __m128i bad =
        _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bsl)));
    return (unsigned)_mm_movemask_epi8(bad);
}

static inline unsigned care16(const unsigned char *s) {
    return care_v(_mm_loadu_si128((const __m128i *)(const void *)s));
}
#endif

/* A string of at most 32 bytes that needs no escaping (most fields of
 * most events: names, addresses, cookies, times) is checked with one or
 * two overlapping loads from each end and copied the same way. 0 when
 * it needs the general path. */
static inline int short_plain(char *o, const unsigned char *s, size_t n) {
    if (n >= 16) {
#if defined(__SSE2__)
        if (care16(s) | care16(s + n - 16)) return 0;
#else
        uint64_t w[4];
        memcpy(&w[0], s, 8);
        memcpy(&w[1], s + 8, 8);
        memcpy(&w[2], s + n - 16, 8);
        memcpy(&w[3], s + n - 8, 8);
        if (!(clean8(w[0]) && clean8(w[1]) && clean8(w[2]) && clean8(w[3]))) return 0;
#endif
        memcpy(o, s, 16);
        memcpy(o + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        uint64_t a, z;
        memcpy(&a, s, 8);
        memcpy(&z, s + n - 8, 8);
#if defined(__SSE2__)
        if (care_v(_mm_set_epi64x((long long)z, (long long)a))) return 0; /* both words in one test */
#else
        if (!clean8(a) || !clean8(z)) return 0;
#endif
        memcpy(o, &a, 8);
        memcpy(o + n - 8, &z, 8);
    } else if (n >= 4) {
        uint32_t a, z;
        memcpy(&a, s, 4);
        memcpy(&z, s + n - 4, 4);
        if (!clean8((uint64_t)a | (uint64_t)z << 32)) return 0; /* both words in one test */
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &z, 4);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (!plain[s[i]]) return 0;
            o[i] = (char)s[i];
        }
    }
    return 1;
}

/* The general path of sn_jb_string: long strings and those that need
 * escaping or UTF-8 repair. Kept out of line so the short path sets up
 * no more than it uses. */
static __attribute__((noinline)) void string_general(sn_jbuf *b, const char *str, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    /* worst case: every byte becomes \u00XX; one reservation, then no checks */
    if (n > (SIZE_MAX - 2) / 6 || !sn_jb_reserve(b, n * 6 + 2)) {
        jb_fail(b);
        return;
    }
    const unsigned char *s = (const unsigned char *)str;
    char *o = b->p + b->n;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        size_t run = i;
#if defined(__SSE2__)
        /* sixteen bytes at a time while none needs care: as signed bytes,
         * everything below 0x20 and at/above 0x80 is less than 0x20; the
         * bytes are copied as they are scanned, and the scan stops at the
         * first byte that needs care */
        {
            const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'), bsl = _mm_set1_epi8('\\');
            while (run + 16 <= n) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + run));
                __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, space),
                                           _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bsl)));
                unsigned mask = (unsigned)_mm_movemask_epi8(bad);
                _mm_storeu_si128((__m128i *)(void *)(o + (run - i)), v);
                if (mask) {
                    run += (size_t)__builtin_ctz(mask);
                    break;
                }
                run += 16;
            }
            /* the last bytes (fewer than sixteen) in one load that ends at
             * the end of the string; it overlaps bytes already copied,
             * which it writes again unchanged, so it must not reach back
             * before i (output there may be escaped) */
            if (run + 16 > n && run < n && n >= 16 && n - 16 >= i) {
                size_t back = n - 16;
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + back));
                __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, space),
                                           _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bsl)));
                unsigned mask = (unsigned)_mm_movemask_epi8(bad) >> (run - back);
                _mm_storeu_si128((__m128i *)(void *)(o + (back - i)), v);
                run = mask ? run + (size_t)__builtin_ctz(mask) : n;
            }
        }
#else
        /* eight bytes at a time while none needs care: no byte below 0x20
         * or at/above 0x80, no '"' (0x22) and no '\\' (0x5C); the bytes
         * are copied as they are scanned */
        while (run + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + run, 8);
            if (!clean8(w)) break;
            memcpy(o + (run - i), &w, 8);
            run += 8;
        }
#endif
        /* a clean rest of 4 to 15 bytes in two overlapping loads, which
         * start at or after i so they never rewrite escaped output */
        if (n - run >= 8 && n - run < 16) {
            uint64_t a, z;
            memcpy(&a, s + run, 8);
            memcpy(&z, s + n - 8, 8);
            if (clean8(a) && clean8(z)) {
                memcpy(o + (run - i), &a, 8);
                memcpy(o + (n - 8 - i), &z, 8);
                run = n;
            }
        } else if (n - run >= 4 && n - run < 8) {
            uint32_t a, z;
            memcpy(&a, s + run, 4);
            memcpy(&z, s + n - 4, 4);
            if (clean4(a) && clean4(z)) {
                memcpy(o + (run - i), &a, 4);
                memcpy(o + (n - 4 - i), &z, 4);
                run = n;
            }
        }
        if (run > i) {
            o += run - i;
            i = run;
            if (i == n) break;
        }
        while (run < n && plain[s[run]]) run++;
        if (run > i) {
            memcpy(o, s + i, run - i);
            o += run - i;
            i = run;
            if (i == n) break;
        }
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t len = utf8_seq(s + i, n - i);
            if (len) {
                memcpy(o, s + i, len);
                o += len;
                i += len;
            } else {
                memcpy(o, "\xEF\xBF\xBD", 3);
                o += 3;
                i++;
            }
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15u];
        }
        i++;
    }
    *o++ = '"';
    b->n = (size_t)(o - b->p);
}

int sn_jb_short_plain(char *o, const char *s, size_t n) {
    return n <= SN_JB_SHORT && short_plain(o, (const unsigned char *)s, n);
}

void sn_jb_string(sn_jbuf *b, const char *str, size_t n) {
    if (n <= SN_JB_SHORT && sn_jb_reserve(b, n + 2)) {
        char *o = b->p + b->n;
        if (short_plain(o + 1, (const unsigned char *)str, n)) {
            o[0] = '"';
            o[n + 1] = '"';
            b->n += n + 2;
            return;
        }
    }
    string_general(b, str, n);
}

char *sn_jb_format_int(char *o, int64_t v) {
    /* two digits per division: events carry many counters and ids */
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                   "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                   "8081828384858687888990919293949596979899";
    uint64_t u = v < 0 ? 0u - (uint64_t)v : (uint64_t)v;
    if (v < 0) *o++ = '-';
    if (u < 100) {
        if (u < 10) {
            *o = (char)('0' + u);
            return o + 1;
        }
        memcpy(o, pairs + 2 * u, 2);
        return o + 2;
    }
    if (u <= UINT32_MAX) {
        /* most numbers (ports, ids, counters): the digits counted first,
         * then written in place from the end, in 32-bit arithmetic (a
         * division of 64 bits by a constant is a wider multiply) */
        uint32_t x = (uint32_t)u;
        size_t n = x < 1000u  ? 3
            : x < 10000u      ? 4
            : x < 100000u     ? 5
            : x < 1000000u    ? 6
            : x < 10000000u   ? 7
            : x < 100000000u  ? 8
            : x < 1000000000u ? 9
                              : 10;
        char *w = o + n;
        while (x >= 100u) {
            uint32_t r = x % 100u;
            x /= 100u;
            w -= 2;
            memcpy(w, pairs + 2 * r, 2);
        }
        if (x >= 10u) memcpy(w - 2, pairs + 2 * x, 2);
        else w[-1] = (char)('0' + x);
        return o + n;
    }
    /* written backwards into the middle of buf, then copied out as a
     * fixed 20 bytes: no digit count first */
    char buf[20 + SN_JB_INT_MAX];
    char *end = buf + 20, *w = end;
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100u);
        u /= 100u;
        *--w = pairs[2 * r + 1];
        *--w = pairs[2 * r];
    }
    if (u >= 10) {
        *--w = pairs[2 * u + 1];
        *--w = pairs[2 * u];
    } else {
        *--w = (char)('0' + u);
    }
    memcpy(o, w, 20); /* at most 20 digits; o has room for the sign and them */
    return o + (end - w);
}

void sn_jb_int(sn_jbuf *b, int64_t v) {
    if (sn_jb_reserve(b, SN_JB_INT_MAX)) b->n = (size_t)(sn_jb_format_int(b->p + b->n, v) - b->p);
}

size_t sn_json_unescape(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\' || i + 1 >= n) {
            out[o++] = s[i++];
            continue;
        }
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            unsigned cp = 0;
            int ok = i + 4 <= n;
            for (size_t k = 0; ok && k < 4; k++) {
                int h = msnkit_hex_digit(s[i + k]);
                ok = h >= 0;
                cp = cp << 4 | (unsigned)(h < 0 ? 0 : h);
            }
            if (!ok) {
                out[o++] = '?';
                break;
            }
            i += 4;
            /* six input bytes, at most three output bytes */
            if (cp < 0x80) {
                out[o++] = (char)cp;
            } else if (cp < 0x800) {
                out[o++] = (char)(0xC0 | cp >> 6);
                out[o++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                memcpy(out + o, "\xEF\xBF\xBD", 3); /* this writer never emits surrogates */
                o += 3;
            } else {
                out[o++] = (char)(0xE0 | cp >> 12);
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: out[o++] = e; break; /* \" \\ \/ */
        }
    }
    return o;
}
