/* X-MMS-IM-Format: FN=<font>; EF=<BIUS>; CO=<bbggrr>; CS=<hex>; PF=<hex>[; RL=1] */
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

/* s without the blanks at either end, line breaks among them: a folded
 * header's value goes on after CRLF and a blank (msnp_mime keeps the
 * continuation lines in the value), and official clients fold this one
 * between its items. */
static msnp_str trim_folded(msnp_str s) {
    while (s.n > 0 && (s.p[0] == ' ' || s.p[0] == '\t' || s.p[0] == '\r' || s.p[0] == '\n')) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' || s.p[s.n - 1] == '\r' || s.p[s.n - 1] == '\n'))
        s.n--;
    return s;
}

/* A two-letter key as one number; setting 0x20 lower-cases letters. */
#define KEY2(a, b) ((unsigned)(a) << 8 | (unsigned)(b))

int msnp_imformat_parse(msnp_str value, msnp_imformat *f) {
    memset(f, 0, sizeof(*f));
    size_t i = 0;
    int any = 0;
    while (i < value.n) {
        const char *semi = memchr(value.p + i, ';', value.n - i);
        size_t e = semi ? (size_t)(semi - value.p) : value.n;
        /* the item [i, e) needs no trim of its own: its key and its value
         * are trimmed, and what a trim takes is never '='; the key is two
         * letters, so the '=' is a few bytes in */
        size_t eq = i;
        while (eq < e && value.p[eq] != '=') eq++;
        size_t from = i;
        i = e + 1;
        if (eq == e) continue;
        any = 1;
        msnp_str key = trim_folded(msnp_str_make(value.p + from, eq - from));
        msnp_str val = trim_folded(msnp_str_make(value.p + eq + 1, e - eq - 1));
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
