/* The command dispatch shared by the three roles; see role.h. */
#include "role.h"

/* The server's notifications (JOI, NLN, RNG, BPR, QNG, ...) have no TrID
 * slot, so the parser reads none in them. A client never sends them: sent
 * all the same with a TrID where every client command has one (`JOI 5`),
 * they are an unknown command with that TrID, answered 200 like any other
 * while the connection stays. 1 and *out when the first parameter reads
 * as a TrID. */
static int trid_in_first_param(const msnp_cmd *cmd, msnd_trid *out) {
    uint64_t v;
    if (cmd->argc < 1 || msnp_str_to_u64(cmd->argv[0], UINT32_MAX, &v) != 0) return 0;
    out->value = (uint32_t)v;
    out->digits = (uint8_t)cmd->argv[0].n; /* at most 20: msnp_str_to_u64 */
    return 1;
}

void role_dispatch(const role *r, conn *c, const msnp_cmd *cmd) {
    if (cmd->is_error) {
        conn_close(c, "client sent an error code");
        return;
    }
    if (cmd->code == MSNP_PNG && r->answers_png) {
        conn_cmd(c, "QNG", trid_none(), NULL);
        return;
    }
    if (cmd->code == MSNP_OUT) {
        conn_close(c, "client OUT");
        return;
    }
    if (!cmd->has_trid) {
        msnd_trid t;
        if (trid_in_first_param(cmd, &t)) conn_err(c, MSNP_ERR_SYNTAX, t);
        else conn_close(c, "command without TrID");
        return;
    }
    for (size_t i = 0; i < r->ncmds; i++) {
        const role_cmd *e = &r->cmds[i];
        if (e->code != cmd->code) continue;
        if (e->since && c->version && c->version < e->since) break; /* not a command of this version */
        if (!e->fn || (e->needs_login && !(r->logged_in && r->logged_in(c))))
            conn_err(c, MSNP_ERR_NOT_LOGGED_IN, trid_of(cmd));
        else e->fn(c, cmd);
        return;
    }
    conn_err(c, MSNP_ERR_SYNTAX, trid_of(cmd));
}
