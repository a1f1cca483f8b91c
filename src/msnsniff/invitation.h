/* invitation.h - the invitation correlator.
 *
 * Groups INVITE / ACCEPT / CANCEL / CONTEXT messages by Invitation-Cookie
 * and the two users involved, which also joins the two switchboards of a
 * voice or video call. The application is classified once, from the
 * INVITE (GUID, then Application-Name in English or localised, then
 * headers), and every address the messages reveal becomes an expectation:
 * the sender of an address listens there; the other user connects. An
 * INVITE captured after other messages of its invitation (an orphan so
 * far) classifies it then, and the pending predictions are announced
 * again with its application and transport; an orphan's INVITE captured
 * after one of its connections opened still completes it (its cookie was
 * never offered, so could not be reused). An INVITE is another copy of
 * an invitation's (`repeat`) only while that invitation is open and when
 * it offers the same (inviter, application, file, session); otherwise a
 * reused cookie starts a new invitation. While several share a cookie,
 * a message goes to the one seen on its own switchboard session, else to
 * the newest. */
#ifndef SN_INVITATION_H
#define SN_INVITATION_H

#include <stddef.h>
#include <stdint.h>

#include <msnp/msnp.h>

#include "context.h"
#include "predict.h"

#define SN_INV_USER_MAX 130
/* Invitation-Cookie: msnp_invite_parse accepts only a number (20 digits at
 * most), so it always fits. */
#define SN_INV_COOKIE_MAX 32
/* AuthCookie of a file transfer's ACCEPT (digits with Microsoft's clients);
 * a longer one is not kept, and the transfer is then told apart by its
 * expectation alone. */
#define SN_INV_AUTH_MAX 128

typedef struct sn_invitation {
    struct sn_invitation *same_cookie; /* chain of invitations sharing a cookie */
    struct sn_invitation *older, *newer;
    uint64_t id;
    char cookie[SN_INV_COOKIE_MAX];
    msnp_app_kind app;
    msnp_classified_by by;
    char inviter[SN_INV_USER_MAX], invitee[SN_INV_USER_MAX];
    char auth[SN_INV_AUTH_MAX]; /* AuthCookie of its ACCEPT, "" if none */
    uint64_t file_size;
    int has_file_size;
    uint64_t last_ts; /* last message, or when it finished */
    uint64_t sessions[2];
    uint64_t offer; /* hash of what its INVITE offers (invited only): tells a copy from a new offer */
    unsigned accepted : 1, cancelled : 1, orphan : 1, finished : 1;
    unsigned invited : 1; /* its INVITE was seen */
    unsigned late : 1;    /* its INVITE was seen only after one of its connections opened */
    uint8_t reported;     /* messages reported: one bit per command and sender (inviter or not) */
    char file[];          /* Application-File of the INVITE, at its real length ("" if none) */
} sn_invitation;

/* Where a message was seen. */
typedef struct sn_invite_origin {
    uint64_t flow;
    uint64_t session;
    const char *sender;
    const char *const *recipients;
    size_t nrecipients;
    int sent;                /* 1: seen going from a client to the server */
    const sn_addr *receiver; /* seen arriving: the client end of the connection it arrived on */
    sn_origin known;         /* the sender's switchboard client end, for the origin check (its
                                notification connection is looked up when needed) */
} sn_invite_origin;

/* Invitations are kept while they may still see messages: an open one
 * until it has been idle for the expectation timeout, a finished one
 * (cancelled, or one of its predicted connections opened) for
 * SN_EXPECT_LINGER_US (or the expectation timeout, if shorter) after it
 * finished, and never more than SN_INVITATIONS_MAX at once (the oldest
 * finished one, else the least recently active one, makes room). Dropped
 * ones are counted in sn_stats.invitations_dropped. */
#define SN_INVITATIONS_MAX 65536u
/* Invitations kept under one cookie: every message of the cookie walks
 * them. Cookies are random, so a legitimate reuse is rare; a client that
 * offers over and over under one cookie (each offer a new invitation)
 * makes the oldest of them be forgotten (and counted as dropped). */
#define SN_INV_SAME_COOKIE_MAX 16u

int sn_invitations_init(sn_ctx *c);
void sn_invitations_free(sn_ctx *c);
/* Drop the invitations whose time is up (capture time `now`). */
void sn_invitations_expire(sn_ctx *c, uint64_t now);
/* One of its predicted connections was opened. */
void sn_invitation_finish(sn_ctx *c, const char *cookie, uint64_t id);
size_t sn_invitations_live(sn_ctx *c);

/* One invitation message. Emits invitation and expectation events.
 * Returns the invitation's id (0: none, the message was not followed),
 * whose predictions a refusal of the message by the server retires. */
uint64_t sn_invitation_observe(sn_ctx *c, const sn_invite_origin *o, const msnp_invite *inv);

/* The origin check of an announced host name that a DNS answer resolved
 * (sn_expect_table.check_resolved, ctx the sn_ctx): its flags as for an
 * address announced, counted, and an announced_address anomaly when it
 * names a third host. */
void sn_invitation_check_resolved(void *ctx, sn_expect *e);

/* The invitation with this cookie and id, or NULL. */
sn_invitation *sn_invitation_find(sn_ctx *c, const char *cookie, uint64_t id);
/* The most recent invitation whose ACCEPT gave this AuthCookie, or NULL:
 * an MSNFTP connection's `USR email AuthCookie` names its invitation when
 * several wait on one address and port. Walks the kept invitations: for
 * a connection whose expectation named another. */
sn_invitation *sn_invitation_by_auth(sn_ctx *c, const char *auth);

#endif
