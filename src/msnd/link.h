/* link.h - the cluster link between switchboard processes and notification
 * servers. Notification servers also link to each other over the same
 * listener (--ns-peers): that protocol is in peering.h.
 *
 * With --role sb a switchboard runs in a process of its own. It connects to
 * the --link-listen address of every notification server (--ns-links, in
 * the order of --ns-nodes, so the e-mail hash that sends a user to an NS
 * also picks the link that reaches it) and asks the two questions of
 * sbgate.h: may this e-mail join with this XFR SB cookie, and ring this
 * callee for me. A notification server hands out the addresses of the
 * switchboards linked to it in XFR SB, in turn.
 *
 * A line protocol for a trusted private network (the secret only keeps
 * apart clusters that share one):
 *   SB -> NS  HELLO 1 <sb-host:port> <secret|->
 *   NS -> SB  HELLO 1 OK                      (or ERR <word>, then close)
 *   SB -> NS  AUTH <id> <cookie> <email>
 *   NS -> SB  AUTH <id> OK <name>  |  AUTH <id> NO
 *   SB -> NS  RING <id> <session> <cookie> <caller> <caller-name> <callee>
 *   NS -> SB  RING <id> OK <callee-name>  |  RING <id> NO
 * Version 2 adds the answer UNKNOWN (not this node's: ask the next);
 * version 3 adds, unasked,
 *   NS -> SB  RINGEND <callee> <cookie>      (the session rung has ended)
 * version 4 adds the RING answer HIDDEN (the caller appears offline to
 * the callee's node: 913 for the client) and, unasked,
 *   NS -> SB  GONE <email>                   (the account was deleted)
 * Every token is an MSNP parameter: no spaces (names stay URL-encoded).
 * A request the NS does not answer within LINK_REQUEST_TIMEOUT_MS, or that
 * is pending when a link drops, fails with 601 to the client; a dropped
 * link is dialled again with back-off. */
#ifndef MSND_LINK_H
#define MSND_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

#define LINK_REQUEST_TIMEOUT_MS 10000u
/* Room for what a failed request comes from (an address and a few words). */
#define LINK_WHY_MAX 512

/* Notification side: accept switchboards on addr. */
int link_listen(msnd_server *s, const char *addr, char *err, size_t errcap);
/* "ip:port" bound by link_listen, or NULL. */
const char *link_bound(const msnd_server *s);
/* Next linked switchboard's address for XFR SB. 0, or -1 if none is. */
int link_next_sb(msnd_server *s, char *out, size_t cap);

/* Switchboard side: dial every --ns-links address; sb_addr is what this
 * switchboard's clients connect to. */
int link_connect_all(msnd_server *s, const char *ns_links, const char *sb_addr, char *err, size_t errcap);
/* Ask the user's notification server. The answer arrives through
 * sb_auth_done / sb_ring_done (sb.h). -1 when that server is not linked
 * now or too many requests are waiting (nothing will be called back). */
int link_ask_auth(msnd_server *s, conn *c, msnd_trid trid, const char *cookie, const char *email, char *why,
                  size_t whycap);
int link_ask_ring(msnd_server *s, conn *c, msnd_trid trid, uint32_t session_id, const char *cookie, const char *caller,
                  const char *caller_name, const char *callee, char *why, size_t whycap);
/* The account was deleted and its session here ended: the switchboards
 * linked to this node (version 4) hear GONE and close its connections. */
void link_account_gone(msnd_server *s, const char *email);
/* c is closing: its waiting requests complete without it. */
void link_forget_conn(msnd_server *s, conn *c);
/* A notification session was rung (RNG with this cookie) for a switchboard
 * process that asked over the link: kept on the session (at most
 * LINK_RINGS_KEPT, the oldest make room). */
void link_ring_made(msnd_server *s, const conn *callee, const char *cookie);
/* The notification session c ended: the switchboards linked to this node
 * (version 3) hear RINGEND for each ring kept on it, so a ring nobody
 * answered ends with it there as it does in this process's switchboard. */
void link_rings_ended(msnd_server *s, const conn *c);
/* Fail requests older than LINK_REQUEST_TIMEOUT_MS. */
void link_sweep(msnd_server *s, uint64_t now_ms);
/* An accepted link's job waits on a fiber (a line reading the store, or
 * its users going offline): the loop must not end under it. */
int link_busy(const msnd_server *s);
void link_free(msnd_server *s);

#endif
