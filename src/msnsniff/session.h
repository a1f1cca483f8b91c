/* session.h - the session tracker: MSNP connections as DS, NS and SB
 * sessions, users, protocol versions, switchboard referrals (XFR SB /
 * RNG cookies) tied to the notification session that asked for them,
 * presence, participants and chat messages. MSNFTP flows are handed to
 * the MSNFTP tracker. Input is reassembled stream bytes per direction. */
#ifndef SN_SESSION_H
#define SN_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "flow.h"
#include "expect.h"
#include "reasm.h"

typedef enum sn_role { SN_ROLE_UNKNOWN = 0, SN_ROLE_DS, SN_ROLE_NS, SN_ROLE_SB, SN_ROLE_MSNFTP } sn_role;

/* Bytes of one direction, in order; returns how many were consumed. */
size_t sn_session_data(sn_ctx *c, sn_reasm *r, sn_flow *f, int dir, const uint8_t *p, size_t n);
/* lost bytes never seen (0: picked up mid-stream), pending bytes dropped. */
void sn_session_gap(sn_ctx *c, sn_flow *f, int dir, uint64_t lost, size_t pending, sn_gap_why why);
/* Two different copies of the same stream bytes (reasm.h): an anomaly. */
void sn_session_overlap(sn_ctx *c, sn_flow *f, int dir, uint64_t offset, uint64_t len, uint64_t first_hash,
                        uint64_t second_hash, int second_kept);
/* The flow is over: final events, state released. why: the flow event's
 * end_reason ("fin", "rst", "capture_end", "idle", ...; NULL: none). */
void sn_session_close(sn_ctx *c, sn_flow *f, const char *why);

/* A switchboard referral's record: one released before, else malloc'd
 * (NULL when memory ran out); its fields are the caller's to set. */
sn_sbref *sn_sbref_new(sn_ctx *c);
/* Released (NULL: nothing): kept for the next, up to a few, else freed. */
void sn_sbref_release(sn_ctx *c, sn_sbref *r);
/* The kept ones freed, at the end. */
void sn_sbref_spares_free(sn_ctx *c);

sn_role sn_session_role(const sn_flow *f);
const char *sn_role_name(sn_role r);
/* Client address of the user's latest notification connection still
 * open in the traffic, or NULL. */
const sn_addr *sn_session_user_client(sn_ctx *c, const char *user);
/* Logged-in (NS) or switchboard user of the flow, or NULL. */
const char *sn_session_user(const sn_flow *f);

#endif
