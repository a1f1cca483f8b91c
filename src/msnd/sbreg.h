/* sbreg.h - switchboard registry: sessions and their cookies.
 *
 * A cookie ("ticket") is single-use, unpredictable (80 random bits), bound
 * to one e-mail and, for RNG invitations, to one session; an XFR SB cookie
 * ends with the notification session it was issued to. It expires. Presenting
 * a cookie consumes it even when the e-mail or session does not match, so
 * a leaked or guessed cookie cannot be tried twice. */
#ifndef MSND_SBREG_H
#define MSND_SBREG_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

#define SB_COOKIE_MAX 48
/* Session ids are uniform in [MIN, MAX): eight to ten digits, as the real
 * service's were. */
#define SB_SESSION_ID_MIN 10000000u
#define SB_SESSION_ID_MAX 4000000000u

typedef struct sb_ring {
    char email[MSNP_MAX_EMAIL + 1];
    char cookie[SB_COOKIE_MAX];
    /* The callee's notification session that was rung (its conn id), or 0
     * when another node or process rang it: the ring lasts only as long as
     * that session (sbreg_rings_end). */
    uint64_t callee_conn;
    uint64_t expires_ms;
} sb_ring;

struct sbreg;

typedef struct sb_session {
    uint32_t id;
    struct sbreg *reg; /* the registry holding it (its per-user ring counts) */
    conn **members;
    size_t nmembers, capmembers;
    sb_ring *rings; /* invited, not yet joined */
    size_t nrings, caprings;
    /* --log-invitations: the application of the latest INVITEs by cookie,
     * for the ACCEPT, CANCEL and CONTEXT that name only the cookie (a few
     * cover the invitations under way in one chat; the oldest give way) */
    struct {
        uint64_t cookie;
        int kind; /* msnp_app_kind */
    } invites[8];
    unsigned ninvites; /* INVITEs seen: the next slot is ninvites % 8 */
} sb_session;

typedef struct sbreg sbreg;

sbreg *sbreg_new(void);
void sbreg_free(sbreg *r);

/* Issue a cookie for email; session_id 0 = "open a new session" (XFR SB).
 * Returns 0, or -1 when too many cookies are outstanding / out of memory. */
int sbreg_issue(sbreg *r, const char *email, uint32_t session_id, uint64_t expires_ms, char *cookie, size_t cap);
/* Issue an XFR SB cookie to email's notification session owner_conn (its
 * conn id): it is void once that session ends (sbreg_xfr_end). */
int sbreg_issue_xfr(sbreg *r, const char *email, uint64_t owner_conn, uint64_t expires_ms, char *cookie, size_t cap);
/* email's notification session owner_conn ended: the XFR SB cookies issued
 * to it and not yet used are withdrawn, so a user who logged out (or was
 * replaced by another login) cannot open a switchboard and ring people as
 * if online. Cookies of the account's other sessions stay. */
void sbreg_xfr_end(sbreg *r, const char *email, uint64_t owner_conn);
/* Consume a cookie. Returns 0 if it existed, was not expired, belonged to
 * email and to session_id (0 for XFR cookies); SBREG_REFUSED if it existed
 * but one of those did not hold (it is consumed all the same);
 * SBREG_UNKNOWN if this registry never issued it or it is gone. A cluster
 * tells the last two apart: an unknown cookie may be another node's. */
#define SBREG_UNKNOWN (-1)
#define SBREG_REFUSED (-2)
int sbreg_redeem(sbreg *r, const char *cookie, const char *email, uint32_t session_id, uint64_t now_ms);
/* The same, also returning the friendly name recorded with sbreg_set_name
 * ("" when none was). */
int sbreg_redeem_name(sbreg *r, const char *cookie, const char *email, uint32_t session_id, uint64_t now_ms, char *name,
                      size_t namecap);
/* Record the invitee's friendly name with an RNG cookie (the notification
 * server tells it once the ring went out). Returns 0, or -1 if unknown. */
int sbreg_set_name(sbreg *r, const char *cookie, const char *name);
/* Withdraw a cookie that was never handed out (the ring failed). */
void sbreg_cancel(sbreg *r, const char *cookie);
size_t sbreg_cookie_count(const sbreg *r);
/* XFR SB cookies issued to email and not yet used, cancelled or expired. */
long sbreg_xfr_outstanding(const sbreg *r, const char *email);
/* Switchboard connections of email (members of any session): how many,
 * and which (*n of them; valid until one joins or leaves). */
long sbreg_user_switchboards(const sbreg *r, const char *email);
conn *const *sbreg_user_members(const sbreg *r, const char *email, size_t *n);

sb_session *sbreg_session_new(sbreg *r);
sb_session *sbreg_session_find(sbreg *r, uint32_t id);
size_t sbreg_session_count(const sbreg *r);
/* Add a member (c->session is set; c->email must be set). Returns 0 or -1
 * (out of memory). */
int sbreg_join(sbreg *r, sb_session *ss, conn *c);
/* Remove a member; the session is freed when nobody is left. */
void sbreg_leave(sbreg *r, sb_session *ss, conn *c);
/* Pending invitations: 1 if email is being rung (not expired). */
int sbreg_ringing(sb_session *ss, const char *email, uint64_t now_ms);
/* A ring of email with its RNG cookie, not yet bound to a session. */
int sbreg_ring_add(sb_session *ss, const char *email, const char *cookie, uint64_t expires_ms);
/* The ring of email went out to the notification session callee_conn. */
void sbreg_ring_bind(sb_session *ss, const char *email, uint64_t callee_conn);
void sbreg_ring_remove(sb_session *ss, const char *email);
size_t sbreg_ring_count(sb_session *ss, uint64_t now_ms);
/* email's notification session callee_conn ended (0: email went offline on
 * another node): its pending rings, in every session, end and their
 * cookies are withdrawn, so a new CAL rings the next session instead of
 * getting 215 until the cookie expires. */
void sbreg_rings_end(sbreg *r, const char *email, uint64_t callee_conn);
/* The ring of email with this RNG cookie ended (the notification server
 * that rang it says the callee's session did: RINGEND on the link). */
void sbreg_ring_end_cookie(sbreg *r, const char *email, const char *cookie);
/* Rings pending for email, in all sessions (expired ones not yet swept
 * included). */
long sbreg_user_rings(const sbreg *r, const char *email);

/* Drop expired cookies and rings. */
void sbreg_sweep(sbreg *r, uint64_t now_ms);

#endif
