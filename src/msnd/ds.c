/* Dispatch role: VER/INF/CVR, then USR MD5 I -> XFR NS and close. */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "login.h"
#include "server.h"

static void ds_usr(conn *c, const msnp_cmd *cmd) {
    if (c->version == 0) {
        conn_err(c, MSNP_ERR_NOT_EXPECTED, cmd->trid);
        return;
    }
    char email[MSNP_MAX_EMAIL + 1];
    if (cmd->argc < 4 || !msnp_str_eq(cmd->argv[1], "MD5") || !msnp_str_eq(cmd->argv[2], "I") ||
        email_normalize(cmd->argv[3], email, sizeof email) != 0) {
        conn_err(c, MSNP_ERR_AUTH_FAILED, cmd->trid);
        return;
    }
    char ns[CFG_ADDR], self[CFG_ADDR];
    server_ns_for(c->srv, c, email, ns, sizeof ns);
    server_advertised(c->srv, c, CONN_DS, self, sizeof self);
    /* XFR NS grew a constant 0 in MSNP3 and the sender's address in MSNP7. */
    if (c->version <= 2) conn_cmd(c, "XFR", 1, cmd->trid, "NS", ns, NULL);
    else if (c->version <= 6) conn_cmd(c, "XFR", 1, cmd->trid, "NS", ns, "0", NULL);
    else conn_cmd(c, "XFR", 1, cmd->trid, "NS", ns, "0", self, NULL);
    LOGI("referred to notification server", "conn=%llu user=%s ns=%s", (unsigned long long)c->id, email, ns);
    conn_close(c, "referred");
}

void ds_handle(conn *c, const msnp_cmd *cmd) {
    if (cmd->is_error) {
        conn_close(c, "client sent an error code");
        return;
    }
    switch (cmd->code) {
    case MSNP_PNG: conn_cmd(c, "QNG", 0, 0, NULL); return;
    case MSNP_OUT: conn_close(c, "client OUT"); return;
    default: break;
    }
    if (!cmd->has_trid) {
        conn_close(c, "command without TrID");
        return;
    }
    switch (cmd->code) {
    case MSNP_VER: login_ver(c, cmd); break;
    case MSNP_INF: login_inf(c, cmd); break;
    case MSNP_CVR: login_cvr(c, cmd); break;
    case MSNP_USR: ds_usr(c, cmd); break;
    default:
        conn_err(c, ns_knows(cmd->code) ? MSNP_ERR_NOT_LOGGED_IN : MSNP_ERR_SYNTAX, cmd->trid);
        break;
    }
}
