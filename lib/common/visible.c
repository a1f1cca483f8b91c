/* visible.c - text from the network, written for a terminal (visible.h). */
#include "msnkit/visible.h"

#include <stddef.h>
#include <stdint.h>

/* One UTF-8 sequence at p: its length and code point, or 0 if p does not
 * start a valid (shortest-form, non-surrogate) sequence. */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp) {
    size_t n;
    uint32_t v;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) n = 2, v = p[0] & 0x1Fu;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF) n = 3, v = p[0] & 0x0Fu;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4) n = 4, v = p[0] & 0x07u;
    else return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3Fu);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

void msnkit_put_visible(FILE *fp, const char *s, const char *indent) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned ch = *p;
        if (indent && ch == '\r' && p[1] == '\n') {
            p++;
            continue;
        }
        if (indent && ch == '\n') {
            fputc('\n', fp);
            fputs(indent, fp);
            p++;
        } else if (ch == '\t') {
            fputc('\t', fp);
            p++;
        } else if (ch < 0x20 || ch == 0x7F) {
            fprintf(fp, "^%c", ch == 0x7F ? '?' : (char)(ch + 0x40));
            p++;
        } else if (ch < 0x80) {
            fputc((int)ch, fp);
            p++;
        } else {
            uint32_t cp = 0;
            size_t n = utf8_seq(p, &cp);
            if (n == 0) {
                fprintf(fp, "\\x%02X", ch);
                p++;
            } else if (cp <= 0x9F || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) {
                fprintf(fp, "<U+%04X>", (unsigned)cp);
                p += n;
            } else {
                fwrite(p, 1, n, fp);
                p += n;
            }
        }
    }
}
