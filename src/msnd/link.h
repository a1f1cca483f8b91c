/* link.h - the cluster link: switchboard processes to notification servers,
 * and notification servers to each other (--ns-peers, further below).
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
int link_ask_auth(msnd_server *s, conn *c, uint32_t trid, const char *cookie, const char *email);
int link_ask_ring(msnd_server *s, conn *c, uint32_t trid, uint32_t session_id, const char *cookie,
                  const char *caller, const char *caller_name, const char *callee);
/* Notification side, several NS nodes: dial the other nodes' --link-listen
 * addresses (--ns-peers) and tell each, once linked, every visible user of
 * this node and then every change:
 *   NS -> NS  PEER 1 <own-link-addr> <secret|-> [<own-sb-addr>]   (answered like HELLO)
 *   NS -> NS  ON <email> <status> <name>          visible, or a new status/name
 *   NS -> NS  SYNCED <count>                      after the ON lines of the snapshot
 *   NS -> NS  RL <contact> ADD <ver> <by> <by-name> | RL <contact> REM <ver> <by>
 *                                                 by changed FL: ADD/REM RL for contact
 *   NS -> NS  OFF <email>                         offline or hidden
 *   NS -> NS  PRIV <email> <status> <name> <watcher|*>   privacy changed:
 *                                                 re-tell that watcher (or all)
 * The receiving node tells its own watchers (presence.h); a dropped link
 * takes the peer's users offline there. The dialling node may also ask
 * RING (as a switchboard does) for a CAL at its own switchboard to a user
 * of the receiving node, which rings with the <own-sb-addr> of PEER. */
int link_peer_all(msnd_server *s, const char *ns_peers, char *err, size_t errcap);
/* CAL at this process's switchboard for a callee logged in to another
 * node (from: presence_remote_from): ask that node to ring, over the link
 * this node dialled. The answer arrives through sb_ring_done. -1 when that
 * node is not linked now. */
int link_ask_peer_ring(msnd_server *s, const void *from, conn *c, uint32_t trid, uint32_t session_id,
                       const char *cookie, const char *caller, const char *caller_name, const char *callee);
/* Someone (by) added or removed contact on FL: tell every peer, which
 * passes ADD/REM RL on if contact is logged in there. */
void link_rl_out(msnd_server *s, const char *contact, int added, const char *ver, const char *by, const char *by_name);
/* What a peer is told of one of our users: visible (or a new status or
 * name), gone (logged out or hidden), or privacy changed (PRIV, for the
 * watcher `only`, or all of them when NULL). */
typedef enum link_presence { LINK_ON, LINK_OFF, LINK_PRIV } link_presence;
void link_presence_out(msnd_server *s, link_presence what, const conn *c, const char *only);
/* c is closing: its waiting requests complete without it. */
void link_forget_conn(msnd_server *s, conn *c);
/* Fail requests older than LINK_REQUEST_TIMEOUT_MS. */
void link_sweep(msnd_server *s, uint64_t now_ms);
void link_free(msnd_server *s);

#endif
