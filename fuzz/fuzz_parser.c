/* libFuzzer: the stream parser, fed the input in chunks whose sizes come
 * from the input itself, in all three roles. Checks invariants: consumed
 * counts never exceed the buffer, views stay inside it, re-serialization of
 * a parsed item re-parses to the same item; a malformed whole line is
 * stepped over with msnp_parse_bad_line(), as msnd does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msnp/msnp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_item(const char *buf, size_t have, const msnp_cmd *c) {
    for (size_t i = 0; i < c->argc; i++)
        if (c->argv[i].p < buf || c->argv[i].p + c->argv[i].n > buf + have) abort();
    if (c->has_payload && (c->payload.p < buf || c->payload.p + c->payload.n > buf + have)) abort();
    static char out[70000];
    long w = msnp_write_parsed(out, sizeof(out), c);
    if (w <= 0) abort();
    msnp_parser q;
    msnp_cmd d;
    msnp_parse_error e;
    msnp_parser_init(&q, MSNP_FROM_UNKNOWN, NULL);
    long r = msnp_parse(&q, out, (size_t)w, &d, &e);
    if (r != w || d.argc != c->argc || d.code != c->code || d.payload.n != c->payload.n) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned step = (unsigned)(data[0] % 17) + 1;
    msnp_role role = (msnp_role)(data[0] % 3);
    data++;
    size--;
    msnp_parser_limits lim = {512, 4096, MSNP_MAX_PARAMS};
    msnp_parser p;
    msnp_parser_init(&p, role, &lim);
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    size_t have = 0, fed = 0;
    while (fed < size) {
        size_t c = step < size - fed ? step : size - fed;
        memcpy(buf + have, data + fed, c);
        have += c;
        fed += c;
        for (;;) {
            msnp_cmd cmd;
            msnp_parse_error err;
            long used = msnp_parse(&p, buf, have, &cmd, &err);
            if (used < 0) {
                /* a whole line refused for its content is stepped over as a
                 * server does (200 TrID), a payload command's payload with
                 * it, ending the item; anything else resynchronises */
                long bad = msnp_parse_bad_line(&p, buf, have, &err, &cmd);
                if (bad > 0) {
                    if ((size_t)bad > have || cmd.code != 0 || cmd.argc != cmd.has_trid || cmd.line.p < buf ||
                        cmd.line.p + cmd.line.n > buf + bad)
                        abort();
                    if (cmd.has_payload &&
                        (cmd.payload.p < cmd.line.p + cmd.line.n || cmd.payload.p + cmd.payload.n != buf + bad))
                        abort();
                    for (size_t i = 0; i < cmd.argc; i++)
                        if (cmd.argv[i].p < cmd.line.p || cmd.argv[i].p + cmd.argv[i].n > cmd.line.p + cmd.line.n)
                            abort();
                    memmove(buf, buf + bad, have - (size_t)bad);
                    have -= (size_t)bad;
                    continue;
                }
                size_t drop = msnp_parser_resync(&p, buf + 1, have - 1) + 1;
                if (drop > have) abort();
                memmove(buf, buf + drop, have - drop);
                have -= drop;
                continue;
            }
            if (used == 0) break;
            if ((size_t)used > have) abort();
            check_item(buf, have, &cmd);
            if (cmd.has_payload) {
                msnp_mime m;
                if (msnp_mime_parse(cmd.payload.p, cmd.payload.n, &m, NULL) == MSNP_MIME_OK &&
                    msnp_content_kind_of(&m) == MSNP_CT_INVITE) {
                    msnp_invite inv;
                    if (msnp_invite_parse(m.body.p, m.body.n, &inv, NULL) == MSNP_INVITE_OK)
                        (void)msnp_invite_classify(&inv, NULL);
                }
            }
            memmove(buf, buf + used, have - (size_t)used);
            have -= (size_t)used;
        }
    }
    free(buf);
    return 0;
}
