/* Views into caller-owned bytes. */
#include "msnp/str.h"

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }

int msnp_str_ieq_str(msnp_str a, msnp_str b) {
    if (a.n != b.n) return 0;
    size_t i = 0;
    /* eight bytes at a time while they are equal as they are: names are
     * mostly written the way they are looked up */
    for (; i + 8 <= a.n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a.p + i, 8);
        memcpy(&y, b.p + i, 8);
        if (x != y) break;
    }
    if (i < a.n && a.n >= 8 && i + 8 > a.n) { /* a short tail, as the last eight bytes equal as they are */
        uint64_t x, y;
        memcpy(&x, a.p + a.n - 8, 8);
        memcpy(&y, b.p + a.n - 8, 8);
        if (x == y) return 1;
    }
    for (; i < a.n; i++)
        if (lower((unsigned char)a.p[i]) != lower((unsigned char)b.p[i])) return 0;
    return 1;
}

int msnp_str_istarts(msnp_str s, const char *prefix) {
    size_t n = strlen(prefix);
    if (s.n < n) return 0;
    return msnp_str_ieq(msnp_str_make(s.p, n), prefix);
}

msnp_str msnp_str_trim(msnp_str s) {
    while (s.n > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t')) s.n--;
    return s;
}

int msnp_str_to_u64(msnp_str s, uint64_t max, uint64_t *out) {
    if (s.n == 0 || s.n > 20) return -1;
    uint64_t v = 0;
    /* nineteen digits stay below 10^19 < 2^64: only a twentieth can
     * overflow, and only it is checked (TrIDs and lengths, a few digits,
     * take no division per digit) */
    size_t safe = s.n < 20 ? s.n : 19;
    for (size_t i = 0; i < safe; i++) {
        unsigned d = (unsigned)((unsigned char)s.p[i] - '0');
        if (d > 9) return -1;
        v = v * 10 + d;
    }
    if (s.n == 20) {
        unsigned d = (unsigned)((unsigned char)s.p[19] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (v > max) return -1;
    *out = v;
    return 0;
}

size_t msnp_str_copy(msnp_str s, char *dst, size_t cap) {
    if (cap == 0) return 0;
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    if (n) memcpy(dst, s.p, n);
    dst[n] = '\0';
    return n;
}
