/* presence.h - who is online, and the presence fan-out.
 *
 * The router indexes logged-in NS connections by e-mail (one per account:
 * a second login replaces the first). Fan-out asks the store for the
 * relevant peers in one query and applies privacy.h to each; messages are
 * sent only to peers that are logged in here. */
#ifndef MSND_PRESENCE_H
#define MSND_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "peering.h"
#include "server.h"

typedef struct presence presence;

presence *presence_new(void);
void presence_free(presence *p);
/* The logged-in connection of an account, or NULL. */
conn *presence_find(presence *p, const char *email);
/* Register c under c->email; returns the connection it replaced (or NULL). */
conn *presence_add(presence *p, conn *c);
/* Unregister c (only if it is the registered connection). */
void presence_remove(presence *p, conn *c);
size_t presence_count(const presence *p);

/* Drop the watcher rows kept with c (when it is freed). */
void presence_forget(conn *c);
/* Tell c's watchers about a change from status `before` to c->status (or a
 * new friendly name when they are equal): NLN while visible, FLN when c
 * becomes hidden/offline. When the watchers cannot be read (the database
 * away), c's status as it is then is told once they can be (tried every
 * second); a change of another node's user likewise. */
void presence_announce(msnd_server *s, conn *c, msnp_status before);
/* ILN (with trid) for every visible contact of c that allows c. */
void presence_initial(msnd_server *s, conn *c, msnd_trid trid);
/* ILN for one contact just added to FL, if it is visible to c. */
void presence_initial_one(msnd_server *s, conn *c, int64_t contact_id, const char *contact_email, msnd_trid trid);
/* May `viewer_id` see owner? (owner's AL/BL/BLP.) -1 on store error. */
int presence_allowed(msnd_server *s, int64_t owner_id, int owner_blp_allow, int64_t viewer_id);
/* After c's AL/BL/BLP changed: re-tell affected watchers. For one
 * contact, pass its id and whether it was allowed before; for a BLP change
 * pass contact_id 0 and the old BLP. */
void presence_reevaluate_one(msnd_server *s, conn *c, int64_t contact_id, const char *contact_email,
                             int allowed_before);
void presence_reevaluate_all(msnd_server *s, conn *c, int old_blp_allow);

/* by added (added = 1) or removed contact on FL, which makes the contact's
 * RL version contact_ver: ADD/REM RL for the contact where it is logged in,
 * here or on another node. */
void presence_tell_rl(msnd_server *s, const conn *by, const char *contact, int added, uint32_t contact_ver);
/* The same for a contact logged in here (the version as text, by's name
 * only for ADD). */
void presence_rl_local(msnd_server *s, const char *contact, int added, const char *ver, const char *by,
                       const char *by_name);
/* RL told by another node: contact's watchers changed there. Drops what
 * this node keeps of them, then presence_rl_local. */
void presence_rl_remote(msnd_server *s, const char *contact, int added, const char *ver, const char *by,
                        const char *by_name);

/* Users of the other notification servers of a cluster (--ns-peers, see
 * peering.h). Each peer tells this node which of its users are visible, with
 * status and name; this node tells its own watchers of them (the same
 * privacy rules, from the shared store) and includes them in ILN. `from`
 * identifies the peer's link: its users go offline here when it drops. */
void presence_remote_on(msnd_server *s, const ns_peer *from, const char *email, msnp_status st, const char *name);
/* The same with the user's watchers as that node knows them (the e-mails
 * its AL/BL/BLP allows, lower case, joined by commas, "-" for none), which
 * the peer line may carry (peering.h): this node keeps them as the user's
 * watcher rows instead of reading them from the store. */
void presence_remote_on_with(msnd_server *s, const ns_peer *from, const char *email, msnp_status st, const char *name,
                             const char *watchers);
void presence_remote_off(msnd_server *s, const ns_peer *from, const char *email);
/* The user's privacy changed: re-tell its watchers here (only `only`, if
 * not NULL) what they may see now. */
void presence_remote_recheck(msnd_server *s, const ns_peer *from, const char *email, msnp_status st, const char *name,
                             const char *only);
void presence_remote_drop(msnd_server *s, const ns_peer *from);
size_t presence_remote_count(const presence *p);
/* 1 while fan-outs to other nodes' users' watchers are reading the store
 * or waiting to (the server does not exit before they are done). */
int presence_busy(const presence *p);
/* The peer that told us email is online elsewhere, or NULL. */
const ns_peer *presence_remote_from(const presence *p, const char *email);
/* Every local user that is logged in and visible (for a peer's snapshot). */
void presence_each_visible(presence *p, void (*fn)(conn *c, void *ctx), void *ctx);
/* Every local user that is logged in, hidden or not yet visible included. */
void presence_each_session(presence *p, void (*fn)(conn *c, void *ctx), void *ctx);
/* c's allowed watchers as a peer line carries them (peering.h), from rows
 * that are current or c's cached login snapshot; -1 when they are not at
 * hand without a read or do not fit in cap. */
long presence_peer_list(msnd_server *s, conn *c, char *buf, size_t cap);

#endif
