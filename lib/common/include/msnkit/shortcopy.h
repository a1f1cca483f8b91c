/* msnkit/shortcopy.h - copying the few bytes of a key or a name.
 *
 * Keys, user names, cookies and host names are mostly 4 to 32 bytes. A
 * memcpy of a length known only at run time is a call, or, in code a
 * profile-guided build compiles for size, a `rep movsb` whose start-up
 * costs more than such a string; two overlapping loads and stores from
 * each end copy it without either. */
#ifndef MSNKIT_SHORTCOPY_H
#define MSNKIT_SHORTCOPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Copies n bytes of s to o (which do not overlap); s may be NULL when n
 * is 0. */
static inline void msnkit_copy_short(char *o, const char *s, size_t n) {
    if (n >= 16 && n <= 32) {
        char a[16], z[16];
        memcpy(a, s, 16);
        memcpy(z, s + n - 16, 16);
        memcpy(o, a, 16);
        memcpy(o + n - 16, z, 16);
    } else if (n >= 8 && n < 16) {
        uint64_t a, z;
        memcpy(&a, s, 8);
        memcpy(&z, s + n - 8, 8);
        memcpy(o, &a, 8);
        memcpy(o + n - 8, &z, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, z;
        memcpy(&a, s, 4);
        memcpy(&z, s + n - 4, 4);
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &z, 4);
    } else if (n) {
        memcpy(o, s, n);
    }
}

#endif
