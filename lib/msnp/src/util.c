/* URL-encoding of names, handle and address checks. */
#include "msnp/util.h"

#include <string.h>

long msnp_url_encode(msnp_str in, char *dst, size_t cap) {
    static const char hexd[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < in.n; i++) {
        unsigned char c = (unsigned char)in.p[i];
        if (c <= 0x20 || c >= 0x7f || c == '%') {
            if (o + 3 >= cap) return -1;
            dst[o++] = '%';
            dst[o++] = hexd[c >> 4];
            dst[o++] = hexd[c & 15];
        } else {
            if (o + 1 >= cap) return -1;
            dst[o++] = (char)c;
        }
    }
    if (o >= cap) return -1;
    dst[o] = '\0';
    return (long)o;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long msnp_url_decode(msnp_str in, char *dst, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < in.n; i++) {
        /* the bytes up to the next '%' are copied as one run */
        const char *pct = memchr(in.p + i, '%', in.n - i);
        size_t run = (pct ? (size_t)(pct - in.p) : in.n) - i;
        if (run) {
            if (o + run >= cap) { /* as byte by byte: what fits, then the error */
                if (cap > o + 1) memcpy(dst + o, in.p + i, cap - o - 1);
                return -1;
            }
            memcpy(dst + o, in.p + i, run);
            o += run;
            i += run;
            if (i == in.n) break;
        }
        char c = in.p[i];
        if (c == '%' && i + 2 < in.n + 0 && hexval(in.p[i + 1]) >= 0 && hexval(in.p[i + 2]) >= 0) {
            c = (char)(hexval(in.p[i + 1]) * 16 + hexval(in.p[i + 2]));
            i += 2;
        }
        if (o + 1 >= cap) return -1;
        dst[o++] = c;
    }
    if (o >= cap) return -1;
    dst[o] = '\0';
    return (long)o;
}

int msnp_email_valid(msnp_str s) {
    if (s.n < 5 || s.n > MSNP_MAX_EMAIL) return 0;
    size_t at = (size_t)-1;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c <= 0x20 || c >= 0x7f || c == ',' || c == '"' || c == '<' || c == '>' || c == '(' || c == ')') return 0;
        if (c == '@') {
            if (at != (size_t)-1) return 0;
            at = i;
        }
    }
    if (at == (size_t)-1 || at == 0 || at + 1 >= s.n) return 0;
    msnp_str dom = msnp_str_make(s.p + at + 1, s.n - at - 1);
    const char *dot = memchr(dom.p, '.', dom.n);
    if (!dot || dot == dom.p || dom.p[dom.n - 1] == '.') return 0;
    for (size_t i = 1; i < dom.n; i++)
        if (dom.p[i] == '.' && dom.p[i - 1] == '.') return 0;
    return 1;
}

size_t msnp_utf8_prefix(const char *s, size_t n, size_t max) {
    if (n <= max) return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0u) == 0x80u) max--;
    return max;
}

size_t msnp_utf8_seq(const char *p, size_t n, uint32_t *out) {
    const unsigned char *s = (const unsigned char *)p;
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        if (out) *out = c;
        return 1;
    }
    size_t len;
    unsigned min;
    unsigned cp;
    if ((c & 0xe0) == 0xc0) {
        len = 2;
        min = 0x80;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        min = 0x800;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        min = 0x10000;
        cp = c & 0x07;
    } else return 0;
    if (len > n) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    if (out) *out = cp;
    return len;
}

int msnp_utf8_valid(const char *p, size_t n) {
    for (size_t i = 0; i < n;) {
        if ((unsigned char)p[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = msnp_utf8_seq(p + i, n - i, NULL);
        if (len == 0) return 0;
        i += len;
    }
    return 1;
}

int msnp_text_valid(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) return 0;
    return msnp_utf8_valid(p, n);
}

int msnp_split_hostport(msnp_str s, msnp_str *host, uint16_t *port, int need_port) {
    s = msnp_str_trim(s);
    if (s.n && s.p[0] == '[') { /* an IPv6 address in brackets, as in URLs */
        const char *close = memchr(s.p, ']', s.n);
        if (!close || close == s.p + 1) return -1;
        msnp_str h = msnp_str_make(s.p + 1, (size_t)(close - s.p - 1));
        size_t rest = s.n - (size_t)(close + 1 - s.p);
        uint64_t v;
        if (rest == 0) {
            if (need_port) return -1;
        } else if (close[1] != ':' || msnp_str_to_u64(msnp_str_make(close + 2, rest - 1), 65535, &v) != 0 || v == 0) {
            return -1;
        } else {
            *port = (uint16_t)v;
        }
        *host = h;
        return 0;
    }
    const char *colon = NULL;
    for (size_t i = s.n; i > 0; i--)
        if (s.p[i - 1] == ':') {
            colon = s.p + i - 1;
            break;
        }
    if (!colon) {
        if (need_port || s.n == 0) return -1;
        *host = s;
        return 0;
    }
    msnp_str h = msnp_str_make(s.p, (size_t)(colon - s.p));
    msnp_str pt = msnp_str_make(colon + 1, s.n - h.n - 1);
    uint64_t v;
    if (h.n == 0 || msnp_str_to_u64(pt, 65535, &v) != 0 || v == 0) return -1;
    *host = h;
    *port = (uint16_t)v;
    return 0;
}

/* The value of byte c as a decimal digit, or above 9 when it is none. */
static inline unsigned digit(char c) { return (unsigned)(unsigned char)c - '0'; }

int msnp_ipv4_parse(msnp_str s, uint8_t out[4]) {
    /* "a.b.c.d": at most 15 bytes, which also bounds the reads below */
    if (s.n < 7 || s.n > 15) return 0;
    uint8_t b[4];
    size_t i = 0;
    for (int parts = 0; parts < 4; parts++) {
        if (parts) {
            if (i >= s.n || s.p[i] != '.') return 0;
            i++;
        }
        /* one to three digits, unrolled: a digit read each step */
        unsigned v = i < s.n ? digit(s.p[i]) : 10;
        if (v > 9) return 0;
        i++;
        unsigned d = i < s.n ? digit(s.p[i]) : 10;
        if (d <= 9) {
            if (v == 0) return 0; /* no leading zeros: 010 is ambiguous */
            v = v * 10 + d;
            i++;
            d = i < s.n ? digit(s.p[i]) : 10;
            if (d <= 9) {
                v = v * 10 + d;
                i++;
                if (v > 255) return 0;
            }
        }
        b[parts] = (uint8_t)v;
    }
    if (i != s.n) return 0;
    memcpy(out, b, 4);
    return 1;
}

int msnp_ipv4_parse_cstr(msnp_str s, uint8_t out[4]) {
    /* in place first: a dotted quad holds no NUL */
    if (msnp_ipv4_parse(s, out)) return 1;
    const char *nul = s.n ? memchr(s.p, '\0', s.n) : NULL;
    return nul && msnp_ipv4_parse(msnp_str_make(s.p, (size_t)(nul - s.p)), out);
}

int msnp_ipv4_valid(msnp_str s) {
    uint8_t b[4];
    return msnp_ipv4_parse(s, b);
}

const char *msnp_version_string(void) { return "0.1.0"; }
