/* jsonw.h - the JSON text writer behind the event lines.
 *
 * Appends JSON to one growable buffer. Strings are escaped the way the
 * analyzer has always written them (\" \\ \b \f \n \r \t, other bytes
 * below 0x20 as \u00XX, everything else as is) and made valid UTF-8 on the
 * way: each byte that does not start a well-formed sequence (stray
 * continuation bytes, overlong forms, surrogates, code points above
 * U+10FFFF, sequences cut short) becomes U+FFFD. A failed allocation sets
 * `failed` and further writes are ignored, so callers check once. */
#ifndef SN_JSONW_H
#define SN_JSONW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct sn_jbuf {
    char *p;
    size_t n, cap; /* cap is n once failed: a failed buffer has no room */
    int failed;
    /* p is someone else's memory (an outq's buffer an event is built in):
     * growing moves the bytes to a buffer of the jbuf's own, never
     * reallocates p */
    int borrowed;
} sn_jbuf;

/* The slow path of sn_jb_reserve: grow the buffer. */
int sn_jb_grow(sn_jbuf *b, size_t more);
/* Whether `more` (> 0) bytes fit after the current end without growing.
 * One compare: a failed buffer's cap is its end (sn_jb_grow never grows
 * it again), so the test of `failed` is left to that slow path. */
static inline int sn_jb_has_room(const sn_jbuf *b, size_t more) { return more <= b->cap - b->n; }
/* Room for `more` bytes after the current end; 0 when memory ran out.
 * Inline: every field of every event reserves, and almost always fits. */
static inline int sn_jb_reserve(sn_jbuf *b, size_t more) {
    if (sn_jb_has_room(b, more)) return 1;
    return sn_jb_grow(b, more);
}
static inline void sn_jb_put(sn_jbuf *b, const void *s, size_t n) {
    if (n && sn_jb_reserve(b, n)) {
        memcpy(b->p + b->n, s, n);
        b->n += n;
    }
}
static inline void sn_jb_putc(sn_jbuf *b, char c) {
    if (sn_jb_reserve(b, 1)) b->p[b->n++] = c;
}
/* A quoted, escaped JSON string of s[0..n). */
void sn_jb_string(sn_jbuf *b, const char *s, size_t n);
/* The strings sn_jb_short_plain takes: most values of most events. */
#define SN_JB_SHORT 32
/* When s[0..n) is at most SN_JB_SHORT bytes and needs no escaping: copies
 * it to o (room for n bytes) and returns 1, else 0. */
int sn_jb_short_plain(char *o, const char *s, size_t n);
/* A JSON integer. */
void sn_jb_int(sn_jbuf *b, int64_t v);
/* The room sn_jb_format_int needs: it writes at most 20 characters
 * ("-9223372036854775808") but copies its digits as one fixed block. */
#define SN_JB_INT_MAX 24
/* Writes v's digits at o (room for SN_JB_INT_MAX bytes; those after the
 * digits are scratch) and returns the position after them. */
char *sn_jb_format_int(char *o, int64_t v);
void sn_jb_free(sn_jbuf *b);

/* The inverse of sn_jb_string for the escapes it writes: the contents of a
 * JSON string (without its quotes) decoded into out, which has room for n
 * bytes (decoding never grows). Returns the decoded length. */
size_t sn_json_unescape(const char *s, size_t n, char *out);

#endif
