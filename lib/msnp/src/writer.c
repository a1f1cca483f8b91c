/* Serializing commands: bounded, framing-safe. */
#include "msnp/writer.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

/* The bytes a parameter cannot hold: those that split or end a command
 * line (space, tab, CR, LF, NUL) and the other control bytes, which the
 * parser refuses in a line (so a peer would refuse the line written). */
static const unsigned char refused_in_param[256] = {
    1,          1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00-0x0F */
    1,          1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10-0x1F */
    1,                                                       /* space */
    [0x7f] = 1,
};

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* The exact check, byte by byte: the slow path, taken only when a word
 * may hold a byte below '!' or a DEL (the test on whole words can say so
 * of a safe word too). */
static int bytes_safe(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (refused_in_param[(unsigned char)p[i]]) return 0;
    return 1;
}

/* No byte of the word is below '!' and none is DEL (0x7f): the refused
 * bytes are all of those. */
static inline int clean8(uint64_t w) {
    uint64_t del = w ^ (ONES * 0x7fu);
    return (((w - ONES * 0x21u) & ~w) | ((del - ONES) & ~del)) & HIGHS ? 0 : 1;
}
static inline int clean4(uint32_t w) {
    uint32_t del = w ^ 0x7f7f7f7fu;
    return (((w - 0x21212121u) & ~w) | ((del - 0x01010101u) & ~del)) & 0x80808080u ? 0 : 1;
}

/* Inline for the writer's loop, which checks every parameter of every
 * reply line: whole words, the last one overlapping the one before, so a
 * parameter's tail costs one load instead of a loop. With dst, each word
 * is stored there as it was checked (the check and the copy in one pass;
 * dst is a constant NULL or not where this is inlined). A word the test
 * on whole words cannot clear sends the whole parameter to the exact
 * check, once. 0 when it is not safe (dst then holds some of it). */
static inline int scan_param(char *dst, const char *p, size_t n) {
    if (n >= 8) {
        uint64_t w;
        for (size_t i = 0; i + 8 <= n; i += 8) {
            memcpy(&w, p + i, 8);
            if (!clean8(w)) goto exact;
            if (dst) memcpy(dst + i, &w, 8);
        }
        memcpy(&w, p + n - 8, 8);
        if (!clean8(w)) goto exact;
        if (dst) memcpy(dst + n - 8, &w, 8);
        return 1;
    }
    if (n >= 4) {
        uint32_t a, z;
        memcpy(&a, p, 4);
        memcpy(&z, p + n - 4, 4);
        if (!(clean4(a) && clean4(z))) goto exact;
        if (dst) {
            memcpy(dst, &a, 4);
            memcpy(dst + n - 4, &z, 4);
        }
        return 1;
    }
exact:
    if (n >= 8) {
        if (!bytes_safe(p, n)) return 0;
        if (dst) memcpy(dst, p, n);
        return 1;
    }
    for (size_t i = 0; i < n; i++) { /* a few bytes: checked and copied in one loop, no call */
        if (refused_in_param[(unsigned char)p[i]]) return 0;
        if (dst) dst[i] = p[i];
    }
    return n > 0;
}

int msnp_param_is_safe(msnp_str s) { return scan_param(NULL, s.p, s.n); }

/* v's decimal digits at the end of tmp[20]; returns where they start. */
static char *u64_digits(char tmp[20], uint64_t v) {
    char *d = tmp + 20;
    do {
        *--d = (char)('0' + (v % 10));
        v /= 10;
    } while (v);
    return d;
}

static int name_ok(const char *name) {
    if (!name) return 0;
    for (int i = 0; i < 3; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return 0;
    }
    return name[3] == '\0';
}

/* The line's length is added up first, so the bytes are then written
 * without a bound check each, every parameter checked as it is copied:
 * reply lines are most of what a login costs msnd after the store read. */
static long write_common(char *dst, size_t cap, const char *name, int has_trid, uint32_t trid, const msnp_str *params,
                         size_t nparams, int with_len, size_t payload_len, const void *payload) {
    if (!name_ok(name)) return -1;
    char trid_buf[20], len_buf[20];
    const char *trid_s = NULL, *len_s = NULL;
    size_t total = 3 + 2; /* name, CRLF */
    if (has_trid) {
        char *d = u64_digits(trid_buf, trid);
        /* the leading zeros of a TrID echoed as the client wrote it */
        const char *widest = has_trid < 20 ? trid_buf + 20 - has_trid : trid_buf;
        while (d > widest) *--d = '0';
        trid_s = d;
        total += 1 + (size_t)(trid_buf + 20 - trid_s);
    }
    for (size_t i = 0; i < nparams; i++) total += 1 + params[i].n;
    if (with_len) {
        len_s = u64_digits(len_buf, payload_len);
        total += 1 + (size_t)(len_buf + 20 - len_s);
        if (payload_len > cap) return -1;
        total += payload_len;
    }
    if (total > cap) return -1;
    char *o = dst;
    memcpy(o, name, 3);
    o += 3;
    if (trid_s) {
        *o++ = ' ';
        size_t n = (size_t)(trid_buf + 20 - trid_s);
        memcpy(o, trid_s, n);
        o += n;
    }
    for (size_t i = 0; i < nparams; i++) {
        *o++ = ' ';
        if (!scan_param(o, params[i].p, params[i].n)) return -1;
        o += params[i].n;
    }
    if (len_s) {
        *o++ = ' ';
        size_t n = (size_t)(len_buf + 20 - len_s);
        memcpy(o, len_s, n);
        o += n;
    }
    *o++ = '\r';
    *o++ = '\n';
    if (with_len && payload_len) {
        memcpy(o, payload, payload_len);
        o += payload_len;
    }
    return (long)(o - dst);
}

long msnp_write_cmd(char *dst, size_t cap, const char *name, int has_trid, uint32_t trid, const msnp_str *params,
                    size_t nparams) {
    return write_common(dst, cap, name, has_trid, trid, params, nparams, 0, 0, NULL);
}

long msnp_write_payload_cmd(char *dst, size_t cap, const char *name, int has_trid, uint32_t trid,
                            const msnp_str *params, size_t nparams, const void *payload, size_t payload_len) {
    return write_common(dst, cap, name, has_trid, trid, params, nparams, 1, payload_len, payload);
}

long msnp_writev(char *dst, size_t cap, const char *name, int has_trid, uint32_t trid, ...) {
    msnp_str params[MSNP_MAX_PARAMS];
    size_t n = 0;
    va_list ap;
    va_start(ap, trid);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL) {
        if (n == MSNP_MAX_PARAMS) {
            va_end(ap);
            return -1;
        }
        params[n++] = msnp_str_c(s);
    }
    va_end(ap);
    return msnp_write_cmd(dst, cap, name, has_trid, trid, params, n);
}

long msnp_write_error(char *dst, size_t cap, int code, uint32_t trid) {
    if (code < 100 || code > 999) return -1;
    char name[4] = {(char)('0' + code / 100), (char)('0' + (code / 10) % 10), (char)('0' + code % 10), 0};
    return msnp_write_cmd(dst, cap, name, 1, trid, NULL, 0);
}

long msnp_write_parsed(char *dst, size_t cap, const msnp_cmd *cmd) {
    if (cmd->has_payload) {
        if (cmd->argc == 0) return -1;
        return write_common(dst, cap, cmd->name, 0, 0, cmd->argv, cmd->argc - 1, 1, cmd->payload.n, cmd->payload.p);
    }
    return write_common(dst, cap, cmd->name, 0, 0, cmd->argv, cmd->argc, 0, 0, NULL);
}
