/* login.h - the commands the dispatch and notification roles share:
 * version negotiation (VER), security packages (INF) and the client
 * version report (CVR). */
#ifndef MSND_LOGIN_H
#define MSND_LOGIN_H

#include "server.h"

void login_ver(conn *c, const msnp_cmd *cmd);
void login_inf(conn *c, const msnp_cmd *cmd);
void login_cvr(conn *c, const msnp_cmd *cmd);

#endif
