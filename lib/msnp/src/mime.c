/* MIME header blocks: `Name: value` lines, an empty line, a body. */
#include "msnp/mime.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

const char *msnp_mime_status_str(msnp_mime_status s) {
    switch (s) {
    case MSNP_MIME_OK: return "ok";
    case MSNP_MIME_ENOCOLON: return "header line without ':'";
    case MSNP_MIME_ETOO_MANY: return "too many header lines";
    case MSNP_MIME_EBAD_NAME: return "empty or malformed header name";
    case MSNP_MIME_ECONTROL: return "NUL byte in the header block";
    }
    return "unknown MIME error";
}

static int name_char_ok(unsigned char c) { return c > 0x20 && c < 0x7f && c != ':'; }

/* msnp_str_trim for the value of every header line, without the call.
 * Most values are written after one space and end in a byte above the
 * blanks: those take a compare or two at either end. */
static inline msnp_str trim_blanks(const char *s, size_t n) {
    if (n > 1 && s[0] == ' ' && (unsigned char)s[1] > ' ') {
        s++;
        n--;
    } else {
        while (n > 0 && (s[0] == ' ' || s[0] == '\t')) {
            s++;
            n--;
        }
    }
    if (n > 0 && (unsigned char)s[n - 1] > ' ') return msnp_str_make(s, n);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    return msnp_str_make(s, n);
}

/* The first byte in [k, end) that cannot be part of a header name (the
 * colon, a blank, a control byte, DEL or above), or end; sixteen bytes at
 * a time where the line has them, and the last ones too where the block
 * (end bytes) holds sixteen: its last sixteen are read, bytes before k
 * shifted out, none outside the block read. */
#if defined(__SSE2__)
static inline unsigned name_stops(const char *at) {
    const __m128i space = _mm_set1_epi8(0x20), tilde = _mm_set1_epi8(0x7e), colon = _mm_set1_epi8(':');
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)at);
    __m128i low = _mm_cmpeq_epi8(_mm_max_epu8(v, space), space);                                /* v <= 0x20 */
    __m128i high = _mm_xor_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, tilde), v), _mm_set1_epi8(-1)); /* v > 0x7e */
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(low, high), _mm_cmpeq_epi8(v, colon)));
}
#endif

static size_t name_end(const char *p, size_t k, size_t end) {
#if defined(__SSE2__)
    while (k + 16 <= end) {
        unsigned mask = name_stops(p + k);
        if (mask) return k + (size_t)__builtin_ctz(mask);
        k += 16;
    }
    if (k < end && end >= 16) { /* end - k < 16 */
        unsigned mask = name_stops(p + end - 16) >> (k - (end - 16));
        return mask ? k + (size_t)__builtin_ctz(mask) : end;
    }
#endif
    while (k < end && name_char_ok((unsigned char)p[k])) k++;
    return k;
}

/* The index of the first LF in [i, n), or n; *nul is set when a NUL byte
 * comes before it. One pass over the line for both, sixteen bytes at a
 * time where the block has them, its last line too where the block holds
 * sixteen (its last sixteen are read, bytes before i shifted out): header
 * lines are short, and two calls of memchr per line (the LF, then a NUL
 * in the value) cost more than the scan. */
static size_t line_end(const char *p, size_t i, size_t n, int *nul) {
    *nul = 0;
#if defined(__SSE2__)
    const __m128i lf = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        unsigned ml = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf));
        unsigned mz = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero));
        if (ml) {
            unsigned before = ml & (0u - ml); /* the first LF's bit */
            if (mz & (before - 1u)) *nul = 1;
            return i + (size_t)__builtin_ctz(ml);
        }
        if (mz) *nul = 1;
        i += 16;
    }
    if (i < n && n >= 16) { /* n - i < 16 */
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + n - 16));
        unsigned shift = (unsigned)(i - (n - 16));
        unsigned ml = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf)) >> shift;
        unsigned mz = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero)) >> shift;
        if (ml) {
            unsigned before = ml & (0u - ml);
            if (mz & (before - 1u)) *nul = 1;
            return i + (size_t)__builtin_ctz(ml);
        }
        if (mz) *nul = 1;
        return n;
    }
#endif
    for (; i < n; i++) {
        if (p[i] == '\n') return i;
        if (p[i] == '\0') *nul = 1;
    }
    return n;
}

/* msnp_mime_parse, with the header count in *count: a count kept in out
 * would be stored and loaded again around every header's stores, as
 * those could be to it as far as the compiler knows. */
static inline msnp_mime_status parse_block(const char *p, size_t n, msnp_mime *out, size_t *err_offset, size_t *count) {
    out->body = msnp_str_make(p + n, 0);
    out->has_blank = 0;
    size_t i = 0;
    while (i < n) {
        size_t ls = i;
        int nul;
        /* The common line, `Name: value` with a clean name: one pass over
         * the name finds the colon (no LF or NUL comes before it), and the
         * LF is looked for after it; anything else takes the checks below,
         * which decide which error a line has. */
        if (*count < MSNP_MIME_MAX_HEADERS) {
            size_t k = name_end(p, ls, n);
            if (k > ls && k < n && p[k] == ':') {
                size_t le = line_end(p, k + 1, n, &nul); /* index of LF or end */
                if (!nul) {
                    size_t ce = p[le - 1] == '\r' ? le - 1 : le; /* p[k] is the colon */
                    msnp_header *h = &out->h[(*count)++];
                    h->name = msnp_str_make(p + ls, k - ls);
                    h->value = trim_blanks(p + k + 1, ce - k - 1);
                    if (h->value.n == 0) h->value.p = p + ce; /* keep an address inside the block */
                    h->folded = 0;
                    i = le < n ? le + 1 : n;
                    continue;
                }
            }
        }
        size_t le = line_end(p, i, n, &nul); /* index of LF or end */
        size_t next = le < n ? le + 1 : n;
        size_t ce = le;
        if (ce > ls && p[ce - 1] == '\r') ce--;
        const char *z = nul ? memchr(p + ls, '\0', ce - ls) : NULL;
        if (z) {
            if (err_offset) *err_offset = (size_t)(z - p);
            return MSNP_MIME_ECONTROL;
        }
        if (ce == ls) { /* empty line: end of headers */
            out->has_blank = 1;
            out->body = msnp_str_make(p + next, n - next);
            return MSNP_MIME_OK;
        }
        if ((p[ls] == ' ' || p[ls] == '\t') && *count > 0) { /* folded continuation */
            msnp_header *h = &out->h[*count - 1];
            msnp_str cont = msnp_str_trim(msnp_str_make(p + ls, ce - ls));
            if (cont.n) {
                if (h->value.n == 0) h->value = cont;
                else h->value.n = (size_t)(cont.p + cont.n - h->value.p);
                h->folded = 1;
            }
            i = next;
            continue;
        }
        const char *colon = memchr(p + ls, ':', ce - ls);
        if (!colon) {
            if (err_offset) *err_offset = ls;
            return MSNP_MIME_ENOCOLON;
        }
        msnp_str name = msnp_str_trim(msnp_str_make(p + ls, (size_t)(colon - (p + ls))));
        if (name.n == 0) {
            if (err_offset) *err_offset = ls;
            return MSNP_MIME_EBAD_NAME;
        }
        for (size_t k = 0; k < name.n; k++)
            if (!name_char_ok((unsigned char)name.p[k])) {
                if (err_offset) *err_offset = (size_t)(name.p + k - p);
                return MSNP_MIME_EBAD_NAME;
            }
        if (*count == MSNP_MIME_MAX_HEADERS) {
            if (err_offset) *err_offset = ls;
            return MSNP_MIME_ETOO_MANY;
        }
        msnp_header *h = &out->h[(*count)++];
        h->name = name;
        size_t vs = (size_t)(colon - p) + 1;
        h->value = msnp_str_trim(msnp_str_make(p + vs, ce - vs));
        if (h->value.n == 0) h->value.p = p + ce; /* keep an address inside the block */
        h->folded = 0;
        i = next;
    }
    return MSNP_MIME_OK;
}

msnp_mime_status msnp_mime_parse(const char *p, size_t n, msnp_mime *out, size_t *err_offset) {
    size_t count = 0;
    msnp_mime_status st = parse_block(p, n, out, err_offset, &count);
    out->count = count;
    return st;
}

/* The first header whose name is want (case-insensitive), or NULL. */
static const msnp_header *mime_find(const msnp_mime *m, msnp_str want) {
    if (want.n == 0) {
        for (size_t i = 0; i < m->count; i++)
            if (m->h[i].name.n == 0) return &m->h[i];
        return NULL;
    }
    /* the first bytes with bit 0x20 set (ASCII letters folded) sort out
     * most names of the same length before the full comparison */
    unsigned first = (unsigned char)want.p[0] | 0x20u;
    for (size_t i = 0; i < m->count; i++)
        if (m->h[i].name.n == want.n && ((unsigned char)m->h[i].name.p[0] | 0x20u) == first &&
            msnp_str_ieq_str(m->h[i].name, want))
            return &m->h[i];
    return NULL;
}

const msnp_header *msnp_mime_get(const msnp_mime *m, const char *name) { return mime_find(m, msnp_str_c(name)); }

const msnp_header *msnp_mime_get_next(const msnp_mime *m, const msnp_header *prev) {
    if (!prev) return NULL;
    for (size_t i = (size_t)(prev - m->h) + 1; i < m->count; i++)
        if (msnp_str_ieq_str(m->h[i].name, prev->name)) return &m->h[i];
    return NULL;
}

msnp_str msnp_mime_value(const msnp_mime *m, const char *name) {
    const msnp_header *h = mime_find(m, msnp_str_c(name));
    return h ? h->value : MSNP_STR_NULL;
}

msnp_str msnp_mime_value_n(const msnp_mime *m, const char *name, size_t n) {
    const msnp_header *h = mime_find(m, msnp_str_make(name, n));
    return h ? h->value : MSNP_STR_NULL;
}

size_t msnp_header_unfold(const msnp_header *h, char *dst, size_t cap) {
    if (cap == 0) return 0;
    size_t o = 0;
    int in_break = 0;
    for (size_t i = 0; i < h->value.n && o + 1 < cap; i++) {
        char c = h->value.p[i];
        if (c == '\r' || c == '\n') {
            in_break = 1;
            continue;
        }
        if (in_break) {
            if (c == ' ' || c == '\t') continue;
            dst[o++] = ' ';
            in_break = 0;
            if (o + 1 >= cap) break;
        }
        dst[o++] = c;
    }
    dst[o] = '\0';
    return o;
}

void msnp_content_type_split(msnp_str value, msnp_str *type, msnp_str *charset) {
    const char *semi = value.n ? memchr(value.p, ';', value.n) : NULL;
    size_t tl = semi ? (size_t)(semi - value.p) : value.n;
    if (type) *type = msnp_str_trim(msnp_str_make(value.p, tl));
    if (charset) *charset = MSNP_STR_NULL;
    while (semi && charset) {
        size_t at = (size_t)(semi - value.p) + 1;
        const char *nxt = at < value.n ? memchr(value.p + at, ';', value.n - at) : NULL;
        size_t pe = nxt ? (size_t)(nxt - value.p) : value.n;
        msnp_str param = msnp_str_trim(msnp_str_make(value.p + at, pe - at));
        if (msnp_str_istarts(param, "charset=")) {
            msnp_str v = msnp_str_make(param.p + 8, param.n - 8);
            if (v.n >= 2 && v.p[0] == '"' && v.p[v.n - 1] == '"') v = msnp_str_make(v.p + 1, v.n - 2);
            *charset = v;
            return;
        }
        semi = nxt;
    }
}

/* The known types share long prefixes ("text/x-msmsgs..."): the length
 * is compared first, so a message's type is read about once. */
#define KIND(t, k, n) \
    { t, sizeof(t) - 1, k, n }
static const struct {
    const char *type;
    size_t len;
    msnp_content_kind kind;
    const char *name;
} kinds[] = {
    KIND("text/plain", MSNP_CT_TEXT_PLAIN, "text"),
    KIND("text/x-msmsgscontrol", MSNP_CT_CONTROL, "control"),
    KIND("text/x-msmsgsprofile", MSNP_CT_PROFILE, "profile"),
    KIND("text/x-msmsgsinitialemailnotification", MSNP_CT_INITIAL_EMAIL, "initial_email"),
    KIND("text/x-msmsgsemailnotification", MSNP_CT_EMAIL, "email"),
    KIND("text/x-msmsgsactivemailnotification", MSNP_CT_ACTIVE_EMAIL, "active_email"),
    KIND("text/x-msmsgsinvite", MSNP_CT_INVITE, "invite"),
};
#undef KIND

msnp_content_kind msnp_content_kind_of(const msnp_mime *m) {
    const msnp_header *h = mime_find(m, msnp_str_make("Content-Type", 12));
    if (!h) return MSNP_CT_NONE;
    msnp_str type;
    msnp_content_type_split(h->value, &type, NULL);
    /* the table's lengths, not strlen's: msnp_str_ieq measured each
     * name again */
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (type.n == kinds[i].len && msnp_str_ieq_str(type, msnp_str_make(kinds[i].type, kinds[i].len)))
            return kinds[i].kind;
    return MSNP_CT_OTHER;
}

const char *msnp_content_kind_name(msnp_content_kind k) {
    if (k == MSNP_CT_NONE) return "none";
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (kinds[i].kind == k) return kinds[i].name;
    return "other";
}
