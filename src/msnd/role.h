/* role.h - one command table per role (dispatch, notification,
 * switchboard) and the one way every role reads a command.
 *
 * For every role: a client error code or OUT closes; a command without a
 * TrID closes, except a server notification written with one (`JOI 5`:
 * 200 with it); a command the role does not know gets 200; one that needs
 * login before it has happened gets MSNP_ERR_NOT_LOGGED_IN. */
#ifndef MSND_ROLE_H
#define MSND_ROLE_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

typedef void (*cmd_handler)(conn *c, const msnp_cmd *cmd);

typedef struct role_cmd {
    uint32_t code;
    cmd_handler fn;      /* NULL: known to the protocol, but served only by another role after login */
    uint8_t needs_login; /* 715 until the role's logged_in says yes */
    uint8_t since;       /* the MSNP version that brought it (0: all): before it, 200 as unknown */
} role_cmd;

typedef struct role {
    const role_cmd *cmds;
    size_t ncmds;
    uint8_t answers_png;             /* PNG (no TrID) gets QNG */
    int (*logged_in)(const conn *c); /* NULL: never */
} role;

extern const role ds_role, ns_role, sb_role;

void role_dispatch(const role *r, conn *c, const msnp_cmd *cmd);

#endif
