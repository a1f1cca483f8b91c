/* msnp/str.h - borrowed byte ranges ("views") into a caller's buffer.
 *
 * The codec never copies protocol text: every token, header and payload it
 * hands back is a view into the bytes the caller passed in. A view is valid
 * for as long as those bytes are. */
#ifndef MSNP_STR_H
#define MSNP_STR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct msnp_str {
    const char *p;
    size_t n;
} msnp_str;

#define MSNP_STR_NULL ((msnp_str){NULL, 0})

/* Inlined whatever the compiler's size limits (GCC, Clang; plain inline
 * elsewhere): for the few helpers below that are worth it only inlined. */
#if defined(__GNUC__)
#define MSNP_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define MSNP_ALWAYS_INLINE inline
#endif

static inline msnp_str msnp_str_make(const char *p, size_t n) {
    msnp_str s;
    s.p = p;
    s.n = n;
    return s;
}

static inline msnp_str msnp_str_c(const char *cstr) { return msnp_str_make(cstr, cstr ? strlen(cstr) : 0); }

/* ASCII case-insensitive comparison of two views. */
int msnp_str_ieq_str(msnp_str a, msnp_str b);
/* Exact, case-sensitive comparison with a C string. Always inlined: with
 * a literal (most calls, a command's argument against a keyword) its
 * length is then a constant and the compare a few instructions, where a
 * copy left out of line ran strlen and memcmp for every comparison. */
static MSNP_ALWAYS_INLINE int msnp_str_eq(msnp_str s, const char *cstr) {
    size_t n = strlen(cstr);
    return s.n == n && (n == 0 || memcmp(s.p, cstr, n) == 0);
}
/* ASCII case-insensitive comparison with a C string. Always inlined so
 * that, with a literal, the length test is a constant compare: parsers
 * test one header name against many names, and most differ in length. */
static MSNP_ALWAYS_INLINE int msnp_str_ieq(msnp_str s, const char *cstr) {
    size_t n = strlen(cstr);
    return s.n == n && msnp_str_ieq_str(s, msnp_str_make(cstr, n));
}
/* ASCII case-insensitive prefix test. */
int msnp_str_istarts(msnp_str s, const char *prefix);
/* Strip leading and trailing spaces and tabs. */
msnp_str msnp_str_trim(msnp_str s);
/* Parse an unsigned decimal number (digits only, no sign, no spaces).
 * Returns 0 on success, -1 if empty, not all digits, or above max. */
int msnp_str_to_u64(msnp_str s, uint64_t max, uint64_t *out);
/* Copy into a NUL-terminated buffer, truncating; returns bytes copied. */
size_t msnp_str_copy(msnp_str s, char *dst, size_t cap);

#endif
