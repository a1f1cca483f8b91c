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

static inline msnp_str msnp_str_make(const char *p, size_t n) {
    msnp_str s;
    s.p = p;
    s.n = n;
    return s;
}

static inline msnp_str msnp_str_c(const char *cstr) {
    return msnp_str_make(cstr, cstr ? strlen(cstr) : 0);
}

/* Exact, case-sensitive comparison with a C string. */
int msnp_str_eq(msnp_str s, const char *cstr);
/* ASCII case-insensitive comparison with a C string. */
int msnp_str_ieq(msnp_str s, const char *cstr);
/* ASCII case-insensitive comparison of two views. */
int msnp_str_ieq_str(msnp_str a, msnp_str b);
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
