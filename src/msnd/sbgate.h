/* sbgate.h - the notification side of switchboard admission.
 *
 * A switchboard never decides alone who may join or whom it may ring: the
 * notification server that issued the XFR SB cookie, and that holds the
 * callee's session, does. A switchboard in the same process calls these
 * directly; one in its own process (--role sb) asks over the cluster link
 * (link.h), and the notification server answers with these same functions,
 * so both set-ups behave alike. */
#ifndef MSND_SBGATE_H
#define MSND_SBGATE_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

/* Answers other than 0. A cluster tells them apart: SBGATE_ELSEWHERE means
 * "not this node's to decide" (a cookie it never issued, a callee with no
 * session here), and the switchboard asks the next node; SBGATE_NO is this
 * node's refusal. A client sees both as the same error. */
#define SBGATE_ELSEWHERE (-1)
#define SBGATE_NO (-2)
/* The database could not be read to decide (the caller's account, the
 * callee's privacy): neither yes nor no, 501 for the client. */
#define SBGATE_FAIL (-3)

/* USR at a switchboard: consume an XFR SB cookie issued to email. Returns
 * 0 and the user's current friendly name; SBGATE_NO when the cookie was
 * issued here but not to email, or has expired (it is consumed: a leaked
 * cookie cannot be tried twice); SBGATE_ELSEWHERE when this node does not
 * hold it. Either is 911 for the client. */
int sbgate_auth(msnd_server *s, const char *cookie, const char *email, char *name, size_t namecap);

/* CAL at a switchboard: if callee is online, visible and allows caller,
 * send it RNG with the switchboard's address (sb_addr; NULL = this
 * process's switchboard listener as the callee reaches us) and return 0
 * with the callee's friendly name. SBGATE_ELSEWHERE when the callee has
 * no session on this node, SBGATE_NO when it has one that the caller may
 * not ring (hidden, blocking, not allowed). For the client offline, hidden,
 * blocking, unknown and not logged in all look the same (217), so CAL
 * cannot probe presence. */
int sbgate_ring(msnd_server *s, const char *caller, const char *caller_name, const char *callee, uint32_t session_id,
                const char *cookie, const char *sb_addr, char *callee_name, size_t namecap);

/* Does caller appear offline to this node's users? Its session here is
 * hidden (HDN), or it has none here and no linked notification peer says
 * it is visible (logged out, hidden or not yet online on its node, or that
 * node not linked now). A caller that appears offline may not ring anyone
 * (913): the RNG would show it online. */
int sbgate_caller_offline(msnd_server *s, const char *caller);

/* A user's friendly name: the online session's, else the stored one, else
 * the e-mail itself. */
void sbgate_name_of(msnd_server *s, const char *email, char *out, size_t cap);

#endif
