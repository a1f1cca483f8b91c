/* Built-in known-answer checks: `msnp-selfcheck` and `msnd --self-check`. */
#include <stdio.h>
#include <string.h>

#include "msnp/msnp.h"

static void line(char *r, size_t cap, size_t *n, int ok, const char *what) {
    if (!r || *n >= cap) return;
    int w = snprintf(r + *n, cap - *n, "%s  %s\n", ok ? "ok  " : "FAIL", what);
    if (w > 0) *n += (size_t)w < cap - *n ? (size_t)w : cap - *n - 1;
}

int msnp_self_check(char *report, size_t cap) {
    size_t n = 0;
    int fails = 0;
    char out[MSNP_MD5_HEX_LEN + 1];
    if (report && cap) report[0] = '\0';

    /* Challenge vectors published with MSNP6 logs. */
    msnp_chl_response(msnp_str_c("11111111111111111111"), msnp_str_c(MSNP_CHL_CLIENT_ID), out);
    int ok = strcmp(out, "3b6666b60157322b6fc6e41a115968f5") == 0;
    fails += !ok;
    line(report, cap, &n, ok, "CHL/QRY answer for challenge 11111111111111111111");

    /* RFC 1321 test vector through the login path. */
    msnp_login_response(msnp_str_c("ab"), msnp_str_c("c"), out);
    ok = strcmp(out, "900150983cd24fb0d6963f7d28e17f72") == 0;
    fails += !ok;
    line(report, cap, &n, ok, "MD5 login answer (RFC 1321 vector md5(\"abc\"))");

    /* Parse and re-serialize a message with a payload. */
    static const char msg[] = "MSG 4 N 133\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                              "X-MMS-IM-Format: FN=Arial; EF=I; CO=0; CS=0; PF=22\r\n\r\nHello! How are you?";
    msnp_parser p;
    msnp_cmd c;
    msnp_parse_error e;
    char buf[256];
    msnp_parser_init(&p, MSNP_FROM_CLIENT, NULL);
    long used = msnp_parse(&p, msg, sizeof(msg) - 1, &c, &e);
    long w = used > 0 ? msnp_write_parsed(buf, sizeof(buf), &c) : -1;
    ok = used == (long)(sizeof(msg) - 1) && w == used && memcmp(buf, msg, (size_t)w) == 0 && c.trid == 4;
    fails += !ok;
    line(report, cap, &n, ok, "parse and re-serialize MSG 4 N 133 (hypothetic.org example)");
    return fails ? -1 : 0;
}
