/* privacy.h - the presence and contact rules of MSNP2-7, as pure functions
 * so they can be tested without a server.
 *
 * The owner decides who may see their presence and invite them:
 *   - anyone on the owner's BL: never;
 *   - anyone on the owner's AL: always;
 *   - anyone else: only if the owner's BLP is AL ("allow all but BL"). */
#ifndef MSND_PRIVACY_H
#define MSND_PRIVACY_H

#include <msnp/msnp.h>

/* May `viewer` see the owner's presence / ring the owner? */
int privacy_may_see(int owner_blp_allow, int viewer_in_owner_al, int viewer_in_owner_bl);

/* Is this status visible to others? HDN and FLN look offline. */
int privacy_status_visible(msnp_status st);

/* The status a watcher should be told: the real one, or FLN if the owner is
 * hidden/offline or the watcher is not allowed. */
msnp_status privacy_status_for(msnp_status owner_status, int allowed);

/* Which statuses a client may set with CHG (FLN is refused with 201). */
int privacy_status_settable(msnp_status st);

#endif
