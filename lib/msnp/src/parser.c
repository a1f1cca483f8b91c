/* Incremental, zero-copy MSNP stream parser. See msnp/parser.h.
 *
 * The hot path is: a scan for LF from where the last call stopped, one pass
 * over the line to split tokens, and (for payload commands) one length
 * check, the scans sixteen bytes at a time. No allocation, no copy. */
#include "msnp/parser.h"

#include <limits.h>
#include <stddef.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "msnp/commands.h"

const msnp_parser_limits msnp_default_limits = {4096, 65536, MSNP_MAX_PARAMS};

/* The largest line and the largest payload a parser takes: both at once
 * still fit the long msnp_parse returns. */
#define PARSE_LIMIT_MAX ((size_t)(LONG_MAX / 2))

void msnp_parser_init(msnp_parser *p, msnp_role role, const msnp_parser_limits *limits) {
    memset(p, 0, sizeof(*p));
    p->limits = limits ? *limits : msnp_default_limits;
    if (p->limits.max_params == 0 || p->limits.max_params > MSNP_MAX_PARAMS) p->limits.max_params = MSNP_MAX_PARAMS;
    if (p->limits.max_line < 8) p->limits.max_line = 8;
    /* msnp_parse returns an item's size as a long, line and payload
     * together: with larger limits the sum would wrap and frame a payload
     * beyond the buffer */
    if (p->limits.max_line > PARSE_LIMIT_MAX) p->limits.max_line = PARSE_LIMIT_MAX;
    if (p->limits.max_payload > PARSE_LIMIT_MAX) p->limits.max_payload = PARSE_LIMIT_MAX;
    p->role = role;
}

static void reset_pending(msnp_parser *p) {
    p->scanned = 0;
    p->line_end = 0;
    p->payload = 0;
    p->skip = 0;
}

const char *msnp_parse_status_str(msnp_parse_status s) {
    switch (s) {
    case MSNP_OK: return "ok";
    case MSNP_ELINE_TOO_LONG: return "command line too long (no line end within the limit)";
    case MSNP_EBAD_COMMAND: return "command name is not three upper-case letters or digits";
    case MSNP_ETOO_MANY_PARAMS: return "too many parameters";
    case MSNP_EBAD_LENGTH: return "payload length missing or not a decimal number";
    case MSNP_EPAYLOAD_TOO_BIG: return "payload length above the limit";
    case MSNP_ECONTROL_CHAR: return "control byte (NUL, lone CR, ...) inside a command line";
    }
    return "unknown parse error";
}

int msnp_is_payload_command(uint32_t code, size_t argc) {
    switch (code) {
    case MSNP_MSG:
    case MSNP_IPG:
    case MSNP_NOT: return 1;         /* a missing length is a framing error */
    case MSNP_QRY: return argc == 3; /* client form; the server's `QRY trid` has none */
    default: return 0;
    }
}

static int is_digits(msnp_str s) {
    if (s.n == 0) return 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] < '0' || s.p[i] > '9') return 0;
    return 1;
}

/* Does this command carry a payload? MSNP2-7's (msnp_is_payload_command)
 * and, in the same switch, those of later protocol versions (MSNP8 and up)
 * whose length is their last parameter: `UBX email len`, `UUX trid len`,
 * `ADL trid len`, `GCF trid name len`, ... These have forms without a
 * payload that end in a word (`ADL trid OK`, `GCF trid Shields.xml`). None
 * of their names exists in MSNP2-7; framing them keeps a newer client's or
 * server's stream in step (an observer of such traffic, a client sending
 * them to msnd) where their payload would otherwise be read as command
 * lines. */
/* The MSNP8 commands that carry a payload when their last parameter is a
 * number (ADL 1 OK is the form without one). */
static int msnp8_payload_code(uint32_t code) {
    switch (code) {
    case MSNP_CODE('A', 'D', 'L'):
    case MSNP_CODE('R', 'M', 'L'):
    case MSNP_CODE('F', 'Q', 'Y'):
    case MSNP_CODE('G', 'C', 'F'):
    case MSNP_CODE('U', 'B', 'X'):
    case MSNP_CODE('U', 'U', 'X'):
    case MSNP_CODE('U', 'B', 'N'):
    case MSNP_CODE('U', 'U', 'N'):
    case MSNP_CODE('U', 'B', 'M'):
    case MSNP_CODE('U', 'U', 'M'): return 1;
    default: return 0;
    }
}

/* What a command name of three letters tells msnp_parse, in one look-up
 * instead of a switch for the TrID and another for the payload: the
 * directions in which its first parameter is no TrID (as
 * msnp_command_has_trid answers; a test holds the two to the same
 * answers for every name) and how it carries a payload (as
 * msnp_is_payload_command and msnp8_payload_code). Names not listed have
 * a TrID both ways and no payload. */
enum {
    NO_TRID_FROM_CLIENT = 1,
    NO_TRID_FROM_SERVER = 2,
    NO_TRID = NO_TRID_FROM_CLIENT | NO_TRID_FROM_SERVER,
    PAYLOAD = 4,       /* MSG, IPG, NOT */
    PAYLOAD_QRY = 8,   /* with three parameters */
    PAYLOAD_MSNP8 = 16 /* with two or more, the last a number */
};
#define NAME_INDEX(a, b, c) ((((unsigned)(a) - 'A') * 26 + ((unsigned)(b) - 'A')) * 26 + ((unsigned)(c) - 'A'))
static const uint8_t name_flags[26 * 26 * 26] = {
    [NAME_INDEX('P', 'N', 'G')] = NO_TRID, /* client keep-alive */
    [NAME_INDEX('O', 'U', 'T')] = NO_TRID, /* both directions */
    /* server notifications */
    [NAME_INDEX('N', 'L', 'N')] = NO_TRID,
    [NAME_INDEX('F', 'L', 'N')] = NO_TRID,
    [NAME_INDEX('R', 'N', 'G')] = NO_TRID,
    [NAME_INDEX('J', 'O', 'I')] = NO_TRID,
    [NAME_INDEX('B', 'Y', 'E')] = NO_TRID,
    [NAME_INDEX('Q', 'N', 'G')] = NO_TRID,
    [NAME_INDEX('B', 'P', 'R')] = NO_TRID,
    [NAME_INDEX('I', 'P', 'G')] = NO_TRID | PAYLOAD,
    [NAME_INDEX('N', 'O', 'T')] = NO_TRID | PAYLOAD,
    /* client `MSG trid A len`; server `MSG email name len` */
    [NAME_INDEX('M', 'S', 'G')] = NO_TRID_FROM_SERVER | PAYLOAD,
    /* MSNFTP */
    [NAME_INDEX('F', 'I', 'L')] = NO_TRID,
    [NAME_INDEX('T', 'F', 'R')] = NO_TRID,
    [NAME_INDEX('C', 'C', 'L')] = NO_TRID,
    [NAME_INDEX('Q', 'R', 'Y')] = PAYLOAD_QRY,
    [NAME_INDEX('A', 'D', 'L')] = PAYLOAD_MSNP8,
    [NAME_INDEX('R', 'M', 'L')] = PAYLOAD_MSNP8,
    [NAME_INDEX('F', 'Q', 'Y')] = PAYLOAD_MSNP8,
    [NAME_INDEX('G', 'C', 'F')] = PAYLOAD_MSNP8,
    [NAME_INDEX('U', 'B', 'X')] = PAYLOAD_MSNP8,
    [NAME_INDEX('U', 'U', 'X')] = PAYLOAD_MSNP8,
    [NAME_INDEX('U', 'B', 'N')] = PAYLOAD_MSNP8,
    [NAME_INDEX('U', 'U', 'N')] = PAYLOAD_MSNP8,
    [NAME_INDEX('U', 'B', 'M')] = PAYLOAD_MSNP8,
    [NAME_INDEX('U', 'U', 'M')] = PAYLOAD_MSNP8,
};

/* The flags of a tokenized command: none for an error reply (digits). */
static unsigned command_flags(const msnp_cmd *c) {
    return c->is_error ? 0u : name_flags[NAME_INDEX(c->name[0], c->name[1], c->name[2])];
}

static int has_payload(const msnp_cmd *c, unsigned flags) {
    if (flags & PAYLOAD) return 1;
    if (flags & PAYLOAD_QRY) return c->argc == 3;
    return (flags & PAYLOAD_MSNP8) && c->argc >= 2 && is_digits(c->argv[c->argc - 1]);
}

enum { BYTE_TOKEN, BYTE_BLANK, BYTE_CONTROL };

/* What each byte is to the tokenizer: a separator (space, tab), a control
 * byte (below 0x20 or DEL, refused) or part of a token. */
static const unsigned char byte_class[256] = {
    2,          2, 2, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, /* 0x00-0x0F: tab is blank */
    2,          2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x10-0x1F */
    1,                                                       /* space; the rest: tokens */
    [0x7f] = 2,
};

/* A payload length: decimal digits, leading zeros allowed (`007` is 7).
 * Above max_payload, or above 2^64 - 1, it is too big; anything else is no
 * length. */
static msnp_parse_status read_length(const msnp_parser *p, msnp_str s, uint64_t *v) {
    msnp_str digits = s;
    while (digits.n > 1 && digits.p[0] == '0') {
        digits.p++;
        digits.n--;
    }
    /* msnp_str_to_u64 takes digits only: the length is read once, and
     * looked at again only when it is refused, for which error it is */
    if (msnp_str_to_u64(digits, UINT64_MAX, v) != 0) return is_digits(s) ? MSNP_EPAYLOAD_TOO_BIG : MSNP_EBAD_LENGTH;
    if (*v > p->limits.max_payload) return MSNP_EPAYLOAD_TOO_BIG;
    return MSNP_OK;
}

/* Is a MSG with argc parameters short of its length? Both forms, the
 * client's `MSG trid U|N|A|D len` and the server's `MSG email name len`,
 * have three: with fewer, the last one is a TrID or a word, not a length. */
static int msg_too_short(uint32_t code, size_t argc) { return code == MSNP_MSG && argc < 3; }

/* For a line [start, end) that tokenize refused for its content: is it a
 * payload command, whose payload follows the line whatever the line held?
 * The name is the first three bytes when a blank, a control byte or the
 * line end follows them; the parameters are what blanks separate after the
 * first token, control bytes included. Returns 0 for no payload, 1 with
 * *plen for a payload whose length is the last parameter (digits, within
 * max_payload), or the framing error (negative, *at its byte) when the
 * command carries a payload whose length cannot be read: then nothing
 * tells where the next item starts. */
static int refused_line_payload(const msnp_parser *p, const char *buf, size_t start, size_t end, uint64_t *plen,
                                size_t *at) {
    if (end - start < 3 || (end - start > 3 && byte_class[(unsigned char)buf[start + 3]] == BYTE_TOKEN)) return 0;
    uint32_t code = MSNP_CODE((unsigned char)buf[start], (unsigned char)buf[start + 1], (unsigned char)buf[start + 2]);
    size_t i = start, argc = 0;
    msnp_str last = MSNP_STR_NULL;
    int last_control = 0;
    while (i < end && buf[i] != ' ' && buf[i] != '\t') i++;
    while (i < end) {
        if (buf[i] == ' ' || buf[i] == '\t') {
            i++;
            continue;
        }
        size_t tok = i;
        last_control = 0;
        while (i < end && buf[i] != ' ' && buf[i] != '\t') {
            if (byte_class[(unsigned char)buf[i]] == BYTE_CONTROL) last_control = 1;
            i++;
        }
        last = msnp_str_make(buf + tok, i - tok);
        argc++;
    }
    switch (code) {
    case MSNP_MSG:
    case MSNP_IPG:
    case MSNP_NOT:
    case MSNP_QRY:
        if (!msnp_is_payload_command(code, argc)) return 0;
        if (argc == 0 || msg_too_short(code, argc)) {
            *at = argc ? (size_t)(last.p - buf) : start;
            return MSNP_EBAD_LENGTH;
        }
        break;
    default:
        /* a word last: the form without a payload; a control byte in it:
         * a length or a word, no telling */
        if (!msnp8_payload_code(code) || argc < 2 || (!is_digits(last) && !last_control)) return 0;
        break;
    }
    *at = (size_t)(last.p - buf);
    msnp_parse_status st = read_length(p, last, plen);
    return st == MSNP_OK ? 1 : (int)st;
}

static long fail(msnp_parser *p, msnp_parse_error *err, msnp_parse_status st, size_t at) {
    if (err) {
        err->status = st;
        err->offset = p->offset + at;
        err->what = msnp_parse_status_str(st);
    }
    return (long)st;
}

/* The index of the first byte in [i, end) that does not belong to a token
 * (a blank or a control byte), or end. Sixteen bytes at a time where the
 * line has them: addresses, cookies and hashes are tokens of 10 to 40
 * bytes. The last token of a line, and every token of a short one, is
 * ended the same way where the buffer (len bytes) holds sixteen from i, or
 * its last sixteen are read (len >= 16): bytes past end are masked, and
 * none outside the buffer is read. */
static size_t token_end(const char *buf, size_t len, size_t i, size_t end) {
#if defined(__SSE2__)
    const __m128i space = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
    while (i + 16 <= end) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(buf + i));
        /* unsigned v <= 0x20 (controls, tab, space), or DEL */
        __m128i low = _mm_cmpeq_epi8(_mm_max_epu8(v, space), space);
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_or_si128(low, _mm_cmpeq_epi8(v, del)));
        if (mask) return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
    if (i < end && len >= 16) { /* end - i < 16 */
        size_t from = i + 16 <= len ? i : len - 16;
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(buf + from));
        __m128i low = _mm_cmpeq_epi8(_mm_max_epu8(v, space), space);
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_or_si128(low, _mm_cmpeq_epi8(v, del))) >> (i - from);
        return i + (size_t)__builtin_ctz(mask | 1u << (end - i));
    }
#else
    (void)len;
#endif
    while (i < end && byte_class[(unsigned char)buf[i]] == BYTE_TOKEN) i++;
    return i;
}

/* The index of the first LF in [i, stop), or stop when it has none
 * (i < stop <= len). Sixteen bytes at a time, the last ones too where the
 * buffer holds sixteen from i or its last sixteen are read (len >= 16):
 * most lines are found in one or two reads, without a call. */
static size_t find_lf(const char *buf, size_t len, size_t i, size_t stop) {
#if defined(__SSE2__)
    const __m128i lf = _mm_set1_epi8('\n');
    while (i + 16 <= stop) {
        unsigned m =
            (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(buf + i)), lf));
        if (m) return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
    if (i < stop && len >= 16) { /* stop - i < 16 */
        size_t from = i + 16 <= len ? i : len - 16;
        unsigned m = (unsigned)_mm_movemask_epi8(
                         _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(buf + from)), lf)) >>
            (i - from);
        return i + (size_t)__builtin_ctz(m | 1u << (stop - i));
    }
#else
    (void)len;
#endif
    const char *at = memchr(buf + i, '\n', stop - i);
    return at ? (size_t)(at - buf) : stop;
}

/* Split line [start, end) (line ending already stripped) of a buffer of len
 * bytes into out. Returns MSNP_OK or an error with *bad set to the
 * offending byte's index. */
static msnp_parse_status tokenize(const msnp_parser *p, const char *buf, size_t len, size_t start, size_t end,
                                  msnp_cmd *out, size_t *bad) {
    /* command name: three letters or digits, then a blank or the end */
    unsigned char a = 0, b = 0, c = 0;
    int name_ok = 0, digits = 0;
    if (end - start >= 3) {
        a = (unsigned char)buf[start];
        b = (unsigned char)buf[start + 1];
        c = (unsigned char)buf[start + 2];
        int letters = (a >= 'A' && a <= 'Z') && (b >= 'A' && b <= 'Z') && (c >= 'A' && c <= 'Z');
        digits = (a >= '0' && a <= '9') && (b >= '0' && b <= '9') && (c >= '0' && c <= '9');
        name_ok = (letters || digits) && (end - start == 3 || buf[start + 3] == ' ' || buf[start + 3] == '\t');
    }
    if (!name_ok) {
        /* a control byte in or right after the command name (`VER\0 1`,
         * the lone CR of `\r\r\n`) is one, not a bad name; a good name has
         * none there */
        for (size_t k = start; k < end && k < start + 4; k++)
            if (byte_class[(unsigned char)buf[k]] == BYTE_CONTROL) {
                *bad = k;
                return MSNP_ECONTROL_CHAR;
            }
        *bad = start;
        return MSNP_EBAD_COMMAND;
    }
    out->name[0] = (char)a;
    out->name[1] = (char)b;
    out->name[2] = (char)c;
    out->name[3] = '\0';
    out->code = MSNP_CODE(a, b, c);
    out->is_error = (uint8_t)(digits != 0);
    /* the count in a local: stores to argv need not reload it */
    size_t argc = 0, max = p->limits.max_params;
    msnp_parse_status st = MSNP_OK;
    /* at the top of the loop, buf[i] is a blank (the name's, or the one
     * that ended a token) or i is the end */
    size_t i = start + 3;
    while (i < end) {
        do i++;
        while (i < end && (buf[i] == ' ' || buf[i] == '\t'));
        if (i == end) break;
        size_t tok = i;
        i = token_end(buf, len, i, end);
        if (i < end && buf[i] != ' ' && buf[i] != '\t') { /* what ends a token: a blank, or a control byte */
            *bad = i;
            st = MSNP_ECONTROL_CHAR;
            break;
        }
        if (argc >= max) {
            *bad = tok;
            st = MSNP_ETOO_MANY_PARAMS;
            break;
        }
        out->argv[argc++] = msnp_str_make(buf + tok, i - tok);
    }
    out->argc = argc;
    return st;
}

/* out's TrID fields are zero (msnp_parse cleared them) */
static void set_trid(const msnp_parser *p, msnp_cmd *out, unsigned flags) {
    if (out->argc == 0) return;
    /* msnp_str_to_u64 takes digits only: no separate digit test */
    int slot;
    if (out->is_error) slot = 1;
    else if (p->role == MSNP_FROM_UNKNOWN) slot = (flags & NO_TRID) != NO_TRID; /* a TrID either way */
    else slot = !(flags & (p->role == MSNP_FROM_SERVER ? NO_TRID_FROM_SERVER : NO_TRID_FROM_CLIENT));
    uint64_t v;
    if (slot && msnp_str_to_u64(out->argv[0], UINT32_MAX, &v) == 0) {
        out->has_trid = 1;
        out->trid_digits = (uint8_t)out->argv[0].n; /* at most 20: msnp_str_to_u64 */
        out->trid = (uint32_t)v;
    }
}

long msnp_parse(msnp_parser *p, const char *buf, size_t len, msnp_cmd *out, msnp_parse_error *err) {
    if (p->line_end == 0) {
        /* Skip empty lines, then find the LF of the next line. */
        size_t i = p->skip > p->scanned ? p->skip : p->scanned;
        for (;;) {
            size_t line_start = p->skip;
            if (i >= len) {
                p->scanned = i;
                return 0;
            }
            size_t limit = line_start + p->limits.max_line;
            size_t stop = len < limit ? len : limit;
            size_t lf_at = i < stop ? find_lf(buf, len, i, stop) : stop;
            if (lf_at >= stop) { /* no LF */
                if (len >= limit) return fail(p, err, MSNP_ELINE_TOO_LONG, limit);
                p->scanned = len;
                return 0;
            }
            size_t content_end = lf_at;
            if (content_end > line_start && buf[content_end - 1] == '\r') content_end--;
            if (content_end == line_start) {        /* empty line: tolerated, skipped */
                if (lf_at + 1 > p->limits.max_line) /* but not without end */
                    return fail(p, err, MSNP_ELINE_TOO_LONG, lf_at);
                p->skip = lf_at + 1;
                i = p->skip;
                continue;
            }
            p->line_end = lf_at + 1;
            break;
        }
    }

    size_t start = p->skip;
    size_t content_end = p->line_end - 1;
    if (content_end > start && buf[content_end - 1] == '\r') content_end--;
    size_t bad = 0;
    memset(out, 0, offsetof(msnp_cmd, argv));
    msnp_parse_status st = tokenize(p, buf, len, start, content_end, out, &bad);
    if (st != MSNP_OK) {
        /* A refused payload command still frames what follows: report it
         * once its payload is in, so that msnp_parse_bad_line() steps over
         * both; without a readable length the framing is lost. */
        uint64_t plen = 0;
        size_t at = 0;
        int r = refused_line_payload(p, buf, start, content_end, &plen, &at);
        if (r < 0) return fail(p, err, (msnp_parse_status)r, at);
        if (r > 0) {
            p->payload = (size_t)plen;
            if (len - p->line_end < p->payload) return 0; /* wait for the payload */
        }
        return fail(p, err, st, bad);
    }
    /* A CR anywhere but right before the LF was rejected as a control byte
     * by tokenize; so was NUL. */
    unsigned flags = command_flags(out);
    set_trid(p, out, flags);

    size_t need = p->line_end;
    out->payload = MSNP_STR_NULL;
    if (has_payload(out, flags)) {
        uint64_t plen;
        if (out->argc == 0) return fail(p, err, MSNP_EBAD_LENGTH, start);
        msnp_str last = out->argv[out->argc - 1];
        /* `MSG 5`: a TrID or a word where the length should be */
        if (msg_too_short(out->code, out->argc)) return fail(p, err, MSNP_EBAD_LENGTH, (size_t)(last.p - buf));
        msnp_parse_status lst = read_length(p, last, &plen);
        if (lst != MSNP_OK) return fail(p, err, lst, (size_t)(last.p - buf));
        p->payload = (size_t)plen;
        need += p->payload;
        if (len < need) return 0; /* line stays parsed; wait for the payload */
        out->has_payload = 1;
        out->payload = msnp_str_make(buf + p->line_end, p->payload);
    }
    out->line = msnp_str_make(buf + start, content_end - start);
    out->offset = p->offset + start;
    out->size = need - start;
    p->offset += need;
    reset_pending(p);
    return (long)need;
}

long msnp_parse_bad_line(msnp_parser *p, const char *buf, size_t len, const msnp_parse_error *err, msnp_cmd *out) {
    if (!err ||
        (err->status != MSNP_EBAD_COMMAND && err->status != MSNP_ETOO_MANY_PARAMS && err->status != MSNP_ECONTROL_CHAR))
        return 0;
    /* tokenize failed: the line was found; a payload command's payload,
     * when its length could be read, is in too (msnp_parse waited for it) */
    if (p->line_end == 0 || p->line_end > len) return 0;
    size_t start = p->skip, end = p->line_end - 1;
    if (end > start && buf[end - 1] == '\r') end--;
    size_t bad = 0, at = 0;
    if (tokenize(p, buf, len, start, end, out, &bad) == MSNP_OK) return 0;
    uint64_t plen = 0;
    int r = refused_line_payload(p, buf, start, end, &plen, &at);
    if (r < 0 || len - p->line_end < plen) return 0;
    memset(out, 0, offsetof(msnp_cmd, argv));
    size_t i = start;
    while (i < end && buf[i] != ' ' && buf[i] != '\t') i++;
    while (i < end && (buf[i] == ' ' || buf[i] == '\t')) i++;
    size_t tok = i;
    while (i < end && buf[i] != ' ' && buf[i] != '\t') i++;
    msnp_str t = msnp_str_make(buf + tok, i - tok);
    uint64_t v;
    if (is_digits(t) && msnp_str_to_u64(t, UINT32_MAX, &v) == 0) {
        out->argc = 1;
        out->argv[0] = t;
        out->has_trid = 1;
        out->trid_digits = (uint8_t)t.n; /* at most 20: msnp_str_to_u64 */
        out->trid = (uint32_t)v;
    }
    out->payload = MSNP_STR_NULL;
    if (r > 0) {
        out->has_payload = 1;
        out->payload = msnp_str_make(buf + p->line_end, (size_t)plen);
    }
    size_t need = p->line_end + (size_t)plen;
    out->line = msnp_str_make(buf + start, end - start);
    out->offset = p->offset + start;
    out->size = need - start;
    p->offset += need;
    reset_pending(p);
    return (long)need;
}

static int looks_like_command(const char *s, size_t n) {
    if (n < 4) return -1; /* cannot tell yet */
    int letters = 1, digits = 1;
    for (int k = 0; k < 3; k++) {
        unsigned char c = (unsigned char)s[k];
        letters &= (c >= 'A' && c <= 'Z');
        digits &= (c >= '0' && c <= '9');
    }
    return (letters || digits) && (s[3] == ' ' || s[3] == '\r' || s[3] == '\n');
}

size_t msnp_parser_resync(msnp_parser *p, const char *buf, size_t len) {
    size_t drop = len;
    size_t i = 0;
    for (;;) {
        int r = looks_like_command(buf + i, len - i);
        if (r != 0) {
            drop = i;
            break;
        }
        const char *lf = memchr(buf + i, '\n', len - i);
        if (!lf) break;
        i = (size_t)(lf - buf) + 1;
        if (i >= len) {
            drop = len;
            break;
        }
    }
    reset_pending(p);
    p->offset += drop;
    return drop;
}

void msnp_parser_skip(msnp_parser *p, uint64_t n) {
    reset_pending(p);
    p->offset += n;
}
