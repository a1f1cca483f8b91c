/* Dispatch role: VER/INF/CVR, then USR MD5 I -> XFR NS and close. */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "login.h"
#include "role.h"
#include "server.h"

static void ds_usr(conn *c, const msnp_cmd *cmd) {
    if (c->version == 0) {
        conn_err(c, MSNP_ERR_NOT_EXPECTED, trid_of(cmd));
        return;
    }
    char email[MSNP_MAX_EMAIL + 1];
    if (cmd->argc < 4 || !msnp_str_eq(cmd->argv[1], "MD5") || !msnp_str_eq(cmd->argv[2], "I") ||
        email_normalize(cmd->argv[3], email, sizeof email) != 0) {
        conn_err(c, MSNP_ERR_AUTH_FAILED, trid_of(cmd));
        return;
    }
    char ns[CFG_ADDR], self[CFG_ADDR];
    server_ns_for(c->srv, c, email, ns, sizeof ns);
    server_advertised(c->srv, c, CONN_DS, self, sizeof self);
    /* XFR NS grew a constant 0 in MSNP3 and the sender's address in MSNP7. */
    if (c->version <= 2) conn_cmd(c, "XFR", trid_of(cmd), "NS", ns, NULL);
    else if (c->version <= 6) conn_cmd(c, "XFR", trid_of(cmd), "NS", ns, "0", NULL);
    else conn_cmd(c, "XFR", trid_of(cmd), "NS", ns, "0", self, NULL);
    LOGI("referred to notification server", "conn=%llu user=%s ns=%s", (unsigned long long)c->id, email, ns);
    conn_close(c, "referred");
}

static void ds_msg(conn *c, const msnp_cmd *cmd) {
    (void)cmd;
    /* Clients never send MSG to a server but a switchboard: as the
     * notification server does, hang up. */
    conn_close(c, "MSG sent to the dispatch server");
}

/* The notification commands are known here (302, not 200): a client that
 * sends them to the dispatch server has skipped the referral. MSG closes. */
static const role_cmd ds_cmds[] = {
    {MSNP_VER, login_ver, 0, 0}, {MSNP_INF, login_inf, 0, 0}, {MSNP_CVR, login_cvr, 0, 0}, {MSNP_USR, ds_usr, 0, 0},
    {MSNP_SYN, NULL, 1, 0},      {MSNP_CHG, NULL, 1, 0},      {MSNP_ADD, NULL, 1, 0},      {MSNP_REM, NULL, 1, 0},
    {MSNP_REA, NULL, 1, 0},      {MSNP_BLP, NULL, 1, 0},      {MSNP_GTC, NULL, 1, 0},      {MSNP_LST, NULL, 1, 0},
    {MSNP_XFR, NULL, 1, 0},      {MSNP_URL, NULL, 1, 0},      {MSNP_QRY, NULL, 1, 0},      {MSNP_PRP, NULL, 1, 0},
    {MSNP_ADG, NULL, 1, 0},      {MSNP_RMG, NULL, 1, 0},      {MSNP_REG, NULL, 1, 0},      {MSNP_IMS, NULL, 1, 0},
    {MSNP_FND, NULL, 1, 0},      {MSNP_SND, NULL, 1, 0},      {MSNP_SDC, NULL, 1, 0},      {MSNP_MSG, ds_msg, 0, 0},
};

const role ds_role = {ds_cmds, sizeof ds_cmds / sizeof ds_cmds[0], 1, NULL};
