/* peering.h - notification servers of one cluster telling each other their
 * users' presence (--ns-peers), over the cluster link's connections
 * (link.h has the switchboard protocol on the same listener).
 *
 * A node dials the other nodes' --link-listen addresses and tells each,
 * once linked, every visible user of this node and then every change:
 *   NS -> NS  PEER 6 <own-link-addr> <secret|-> [<own-sb-addr>]   (answered HELLO 6 OK)
 *   NS -> NS  RLBASE <count>                      RL lines sent to that node before this link
 *   NS -> NS  SESSION <email> <age-ms>            in the snapshot (version 4): each logged-in
 *                                                 user, hidden ones too, and how long ago it
 *                                                 logged in; the receiving node ends a session
 *                                                 of that account that is not newer (OUT OTH)
 *   NS -> NS  ON <email> <status> <name> [<rl-heard> <watchers|->]
 *                                                 visible, or a new status/name; with the
 *                                                 user's allowed watchers (e-mails joined by
 *                                                 commas) and how many RL lines the sender had
 *                                                 handled from the receiver when it made them
 *   NS -> NS  SYNCED <count>                      after the ON lines of the snapshot
 *   NS -> NS  RL <contact> ADD <ver> <by> <by-name> | RL <contact> REM <ver> <by>
 *                                                 by changed FL: ADD/REM RL for contact
 *   NS -> NS  OFF <email>                         offline or hidden
 *   NS -> NS  LOGIN <email> <source>              logged in here (version 3): a session of
 *                                                 that account on the receiving node ends
 *                                                 with OUT OTH, as a second login on one node,
 *                                                 and its failures from that source are forgotten
 *   NS -> NS  FAIL <email|-> <source>             a failed login here (version 3): counted by
 *                                                 the receiving node's login throttles as well
 *   NS -> NS  PRIV <email> <status> <name> <watcher|*>   privacy changed:
 *                                                 re-tell that watcher (or all)
 *   NS -> NS  GONE <email>                        the account was deleted and its
 *                                                 session here ended (version 6): the
 *                                                 receiving node closes its switchboard
 *                                                 connections (the others see BYE)
 * The receiving node tells its own watchers (presence.h); a dropped link
 * takes the peer's users offline there. It keeps a watcher list only when
 * the sender had handled every RL line it sent that node (rl-heard equals
 * its own count): a list made before the sender heard of a change here may
 * lack a watcher of this node, and is then read from the store instead.
 * A node still speaking version 1 (PEER 1: no RLBASE, ON without lists), 2
 * (no LOGIN), 3 (no SESSION), 4 (no RING FAIL) or 5 (no GONE) is accepted;
 * this node's own PEER 6 is refused by a node older than version 6, and
 * the next dial then says PEER 5, the one after PEER 4 (as a switchboard
 * falls back from HELLO 4 to 3 and 2), which a node of that version
 * accepts; versions 1 to 3 refuse them all. The dialling
 * node may also ask RING (as a switchboard does, link.h) for a CAL at its
 * own switchboard to a user of the receiving node, which rings with the
 * <own-sb-addr> of PEER. The answer is OK, NO or, to a node that said PEER
 * 5 or later, FAIL: the database could not be read to decide (the caller
 * gets 501, as for a callee of its own node; a version-4 node is told NO).
 * Only presence.c sends presence and RL lines. */
#ifndef MSND_PEERING_H
#define MSND_PEERING_H

#include <stdint.h>

#include "server.h"

/* The version of PEER this node sends first and of HELLO it expects back;
 * after a dial its PEER line was refused on, the version before, down to
 * PEERING_VERSION_OLDEST (then the newest again). */
#define PEERING_VERSION 6
#define PEERING_VERSION_OLDEST 4
/* The first version whose RING may be answered FAIL. */
#define PEERING_VERSION_RING_FAIL 5
/* The first version that hears GONE. */
#define PEERING_VERSION_GONE 6
/* The longest watcher list an ON line carries; longer ones are read by the
 * receiving node from the store. */
#define PEERING_LIST_MAX 1400

/* Another notification node, as its link reached this one: what presence
 * records as the source of a remote user. */
typedef struct link_in ns_peer;

/* Dial every --ns-peers address (needs --link-listen). */
int peering_dial_all(msnd_server *s, const char *ns_peers, char *err, size_t errcap);

/* CAL at this process's switchboard for a callee logged in to another
 * node (from: presence_remote_from): ask that node to ring, over the link
 * this node dialled. The answer arrives through sb_ring_done. -1 when that
 * node is not linked now. */
int peering_ask_ring(msnd_server *s, const ns_peer *from, conn *c, msnd_trid trid, uint32_t session_id,
                     const char *cookie, const char *caller, const char *caller_name, const char *callee);

/* A user logged in here from src (failures_source): every peer ends that
 * account's session there and forgets its failures from src. */
void peering_login_out(msnd_server *s, const char *email, const char *src);
/* A failed login here from src (email "-" when none was given): every peer
 * counts it, so a guesser gets the same tries from the cluster as from
 * one node. */
void peering_failure_out(msnd_server *s, const char *email, const char *src);
/* An account found deleted here, its session ended: every peer (version
 * 6) closes its switchboard connections of that account. */
void peering_gone_out(msnd_server *s, const char *email);

/* Someone (by) added or removed contact on FL: tell every peer, which
 * passes ADD/REM RL on if contact is logged in there. */
void peering_rl_out(msnd_server *s, const char *contact, int added, const char *ver, const char *by,
                    const char *by_name);

/* What the peers are told of one of our users: visible (or a new status or
 * name), gone (logged out or hidden), or privacy changed (PRIV, for the
 * watcher `only`, or all of them when NULL). ON may carry the user's
 * allowed watchers (`watchers`, see above; NULL for none). */
typedef enum peering_presence { PEERING_ON, PEERING_OFF, PEERING_PRIV } peering_presence;
void peering_presence_out(msnd_server *s, peering_presence what, const conn *c, const char *only, const char *watchers);

#endif
