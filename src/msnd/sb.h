/* sb.h - what the switchboard role exports besides its command table
 * (server.h): the completions of the questions it asks the notification
 * side (sbgate.h), whether answered in-process or over the link. */
#ifndef MSND_SB_H
#define MSND_SB_H

#include <stdint.h>

#include "server.h"

/* Answer outcomes. */
#define SB_ANSWER_YES 1
#define SB_ANSWER_NO 0
#define SB_ANSWER_UNAVAILABLE (-1)
#define SB_ANSWER_DB_ERROR (-2)       /* the notification server could not read the database: 501 */
#define SB_ANSWER_CALLER_OFFLINE (-3) /* the caller appears offline to the callee's node: 913 */

/* USR: c may be NULL (the client left while waiting). name is set for YES. */
void sb_auth_done(msnd_server *s, conn *c, msnd_trid trid, int answer, const char *email, const char *name,
                  const char *why);
/* CAL: c may be NULL; the ring's cookie is withdrawn unless the answer is YES.
 * why says what a NO or UNAVAILABLE comes from, for the log (NULL for YES). */
void sb_ring_done(msnd_server *s, conn *c, msnd_trid trid, uint32_t session_id, const char *callee, const char *cookie,
                  int answer, const char *callee_name, const char *why);

#endif
