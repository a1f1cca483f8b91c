/* X-MMS-IM-Format: FN=<font>; EF=<BIUS>; CO=<bbggrr>; CS=<hex>; PF=<hex>[; RL=1] */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "msnp/mime.h"
#include "msnp/util.h"

static int parse_hex(msnp_str s, unsigned long max, unsigned long *out) {
    if (s.n == 0 || s.n > 8) return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
        else return -1;
        v = v * 16 + d;
    }
    if (v > max) return -1;
    *out = v;
    return 0;
}

/* A blank or a line break: a folded header's value goes on after CRLF and
 * a blank (msnp_mime keeps the continuation lines in the value), and
 * official clients fold this one between its items. All are at most ' ':
 * a byte above it (most first and last bytes) is told by one compare. */
static inline int fold_blank(char c) {
    return (unsigned char)c <= ' ' && (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

/* s without the blanks and line breaks at either end. */
static inline msnp_str trim_folded(msnp_str s) {
    while (s.n > 0 && fold_blank(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && fold_blank(s.p[s.n - 1])) s.n--;
    return s;
}

/* The first ';' in [k, n), or n. Values are a few bytes: eight at a time
 * in a word (a byte equal to ';' is a zero byte of w ^ ";;;;;;;;", and
 * the lowest flagged byte is the first zero one), the last few one by
 * one, without a call. */
static inline size_t item_end(const char *p, size_t k, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ull;
    for (; n - k >= 8; k += 8) {
        uint64_t w;
        memcpy(&w, p + k, 8);
        w ^= ones * ';';
        uint64_t zero = (w - ones) & ~w & ones * 0x80;
        if (zero) return k + (size_t)__builtin_ctzll(zero) / 8;
    }
#endif
    for (; k < n; k++)
        if (p[k] == ';') return k;
    return n;
}

/* An ASCII letter: what the keys are made of. */
static inline int key_letter(char c) { return (unsigned)(((unsigned char)c | 0x20u) - 'a') < 26u; }

/* A two-letter key as one number; setting 0x20 lower-cases letters. */
#define KEY2(a, b) ((unsigned)(a) << 8 | (unsigned)(b))

int msnp_imformat_parse(msnp_str value, msnp_imformat *f) {
    memset(f, 0, sizeof(*f));
    const char *p = value.p;
    size_t end = value.n, i = 0;
    int any = 0;
    while (i < end) {
        size_t eq, e;
        msnp_str key;
        /* the item as clients write it, `KK=value` after at most one
         * space, two letters its key: its '=' is the first '=' or ';'
         * from i, its key the two bytes before it, untrimmed */
        size_t j = i + (p[i] == ' ');
        if (j + 2 < end && p[j + 2] == '=' && key_letter(p[j]) && key_letter(p[j + 1])) {
            eq = j + 2;
            e = item_end(p, eq + 1, end);
            key = msnp_str_make(p + j, 2);
        } else {
            /* any other: the item [i, e) needs no trim of its own: its key
             * and its value are trimmed, and what a trim takes is never
             * '=' */
            e = item_end(p, i, end);
            eq = i;
            while (eq < e && p[eq] != '=') eq++;
            if (eq == e) {
                i = e + 1;
                continue;
            }
            key = trim_folded(msnp_str_make(p + i, eq - i));
        }
        i = e + 1;
        any = 1;
        msnp_str val = trim_folded(msnp_str_make(p + eq + 1, e - eq - 1));
        unsigned long v;
        /* every key is two letters: one compare of both, case folded */
        unsigned two =
            key.n == 2 ? (unsigned)((unsigned char)key.p[0] | 0x20u) << 8 | ((unsigned char)key.p[1] | 0x20u) : 0;
        if (two == KEY2('f', 'n')) {
            /* refused when it does not fit or decodes to a NUL (`A%00B`):
             * then the font stays as it was, "" unless an earlier FN set it */
            char font[sizeof(f->font)];
            long n = msnp_url_decode(val, font, sizeof(font));
            if (n >= 0 && memchr(font, '\0', (size_t)n) == NULL) {
                memcpy(f->font, font, (size_t)n + 1);
                f->has_font = 1;
            }
        } else if (two == KEY2('e', 'f')) {
            f->has_effects = 1;
            for (size_t k = 0; k < val.n; k++) {
                switch (val.p[k]) {
                case 'B':
                case 'b': f->effects |= MSNP_EF_BOLD; break;
                case 'I':
                case 'i': f->effects |= MSNP_EF_ITALIC; break;
                case 'U':
                case 'u': f->effects |= MSNP_EF_UNDERLINE; break;
                case 'S':
                case 's': f->effects |= MSNP_EF_STRIKE; break;
                default: break;
                }
            }
        } else if (two == KEY2('c', 'o')) {
            if (parse_hex(val, 0xffffffUL, &v) == 0) {
                f->color_bgr = (uint32_t)v;
                f->has_color = 1;
            }
        } else if (two == KEY2('c', 's')) {
            if (parse_hex(val, 0xffUL, &v) == 0) {
                f->charset = (unsigned)v;
                f->has_charset = 1;
            }
        } else if (two == KEY2('p', 'f')) {
            if (parse_hex(val, 0xffUL, &v) == 0) {
                f->pitch_family = (unsigned)v;
                f->has_pf = 1;
            }
        } else if (two == KEY2('r', 'l')) {
            f->rtl = (uint8_t)msnp_str_eq(val, "1");
        }
    }
    return any ? 0 : -1;
}

long msnp_imformat_write(const msnp_imformat *f, char *dst, size_t cap) {
    /* FN= only for a font it has: "FN=; " would name an empty font */
    char font[3 * sizeof(f->font) + 1 + 5] = "";
    if (f->has_font) {
        memcpy(font, "FN=", 3);
        const char *end = memchr(f->font, '\0', sizeof(f->font));
        size_t len = end ? (size_t)(end - f->font) : sizeof(f->font);
        long fn = msnp_url_encode(msnp_str_make(f->font, len), font + 3, sizeof(font) - 5);
        if (fn < 0) return -1;
        memcpy(font + 3 + fn, "; ", 3);
    }
    char ef[5];
    size_t n = 0;
    if (f->effects & MSNP_EF_BOLD) ef[n++] = 'B';
    if (f->effects & MSNP_EF_ITALIC) ef[n++] = 'I';
    if (f->effects & MSNP_EF_UNDERLINE) ef[n++] = 'U';
    if (f->effects & MSNP_EF_STRIKE) ef[n++] = 'S';
    ef[n] = '\0';
    int w = snprintf(dst, cap, "%sEF=%s; CO=%x; CS=%x; PF=%x%s", font, ef, (unsigned)f->color_bgr, f->charset,
                     f->pitch_family, f->rtl ? "; RL=1" : "");
    if (w < 0 || (size_t)w >= cap) return -1;
    return w;
}

uint32_t msnp_imformat_rgb(const msnp_imformat *f) {
    uint32_t c = f->color_bgr;
    return ((c & 0xffu) << 16) | (c & 0xff00u) | ((c >> 16) & 0xffu);
}
