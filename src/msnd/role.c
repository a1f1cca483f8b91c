/* The command dispatch shared by the three roles; see role.h. */
#include "role.h"

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
        conn_close(c, "command without TrID");
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
