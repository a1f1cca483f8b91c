/* The commands the dispatch and notification roles share before login:
 * VER, INF and CVR. */
#include "login.h"

#include <stdio.h>

#define ARG(i) (cmd->argv[(i)])

void login_ver(conn *c, const msnp_cmd *cmd) {
    int best = 0, cvr0 = 0;
    for (size_t i = 1; i < cmd->argc; i++) {
        int v = (int)msnp_version_parse(ARG(i));
        if (v > best) best = v;
        if (msnp_str_ieq(ARG(i), "CVR0")) cvr0 = 1;
    }
    if (best == 0) {
        conn_cmd(c, "VER", trid_of(cmd), "0", NULL);
        conn_close(c, "no common protocol version");
        return;
    }
    c->version = best;
    /* The chosen dialect first, then the client's other dialects that we
     * also speak, in its order, then CVR0: for the usual descending list
     * this echoes the client's line, as the real service did. */
    msnp_str params[MSNP_MAX_PARAMS];
    char chosen[16];
    snprintf(chosen, sizeof chosen, "MSNP%d", best);
    size_t n = 0;
    params[n++] = msnp_str_c(chosen);
    for (size_t i = 1; i < cmd->argc && n < MSNP_MAX_PARAMS - 1; i++) {
        int v = (int)msnp_version_parse(ARG(i));
        if (v == 0 || v == best) continue;
        int dup = 0;
        for (size_t k = 1; k < n; k++)
            if ((int)msnp_version_parse(params[k]) == v) dup = 1;
        if (!dup) params[n++] = ARG(i);
    }
    if (cvr0) params[n++] = msnp_str_c("CVR0");
    char buf[512];
    long len = msnp_write_cmd(buf, sizeof buf, "VER", trid_of(cmd).digits, cmd->trid, params, n);
    if (len > 0) conn_send(c, buf, (size_t)len);
}

void login_inf(conn *c, const msnp_cmd *cmd) { conn_cmd(c, "INF", trid_of(cmd), "MD5", NULL); }

void login_cvr(conn *c, const msnp_cmd *cmd) {
    /* CVR trid locale os osver arch library clientver [ident] */
    if (cmd->argc < 7) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    char ver[32];
    if (str_copy(ARG(6), ver, sizeof ver) != 0 || !msnp_param_is_safe(ARG(6))) snprintf(ver, sizeof ver, "5.0.0544");
    conn_cmd(c, "CVR", trid_of(cmd), ver, ver, "1.0.0863", "http://127.0.0.1/msnkit/download",
             "http://127.0.0.1/msnkit/", NULL);
}
