/* Serializing commands: bounded, framing-safe. */
#include "msnp/writer.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

/* The bytes that would split or end a command line. */
static const unsigned char splits_line[256] = {[' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1, ['\0'] = 1};

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

int msnp_param_is_safe(msnp_str s) {
    if (s.n == 0) return 0;
    size_t i = 0;
    /* Every byte that splits a line is below '!': eight bytes at a time,
     * a word with none below it is safe, and only a word with one is
     * looked at byte by byte. */
    for (; i + 8 <= s.n; i += 8) {
        uint64_t w;
        memcpy(&w, s.p + i, 8);
        if (((w - ONES * 0x21u) & ~w & HIGHS) == 0) continue;
        for (size_t k = i; k < i + 8; k++)
            if (splits_line[(unsigned char)s.p[k]]) return 0;
    }
    for (; i < s.n; i++)
        if (splits_line[(unsigned char)s.p[i]]) return 0;
    return 1;
}

typedef struct out {
    char *p;
    size_t cap, n;
    int bad;
} out;

static void put(out *o, const void *src, size_t n) {
    if (o->bad) return;
    if (n > o->cap - o->n) {
        o->bad = 1;
        return;
    }
    memcpy(o->p + o->n, src, n);
    o->n += n;
}

static void put_u64(out *o, uint64_t v) {
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + (v % 10));
        v /= 10;
    } while (v);
    put(o, tmp + i, sizeof(tmp) - i);
}

static int name_ok(const char *name) {
    if (!name || strlen(name) != 3) return 0;
    for (int i = 0; i < 3; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return 0;
    }
    return 1;
}

static long write_common(char *dst, size_t cap, const char *name, int has_trid, uint32_t trid, const msnp_str *params,
                         size_t nparams, int with_len, size_t payload_len, const void *payload) {
    if (!name_ok(name)) return -1;
    out o = {dst, cap, 0, 0};
    put(&o, name, 3);
    if (has_trid) {
        put(&o, " ", 1);
        put_u64(&o, trid);
    }
    for (size_t i = 0; i < nparams; i++) {
        if (!msnp_param_is_safe(params[i])) return -1;
        put(&o, " ", 1);
        put(&o, params[i].p, params[i].n);
    }
    if (with_len) {
        put(&o, " ", 1);
        put_u64(&o, payload_len);
    }
    put(&o, "\r\n", 2);
    if (with_len && payload_len) put(&o, payload, payload_len);
    return o.bad ? -1 : (long)o.n;
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
