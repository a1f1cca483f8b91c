/* observer.h - typed events of the analysis, and the subscribers that
 * consume them.
 *
 * The stages predict (pure functions in predict.h turn parsed commands
 * and invitations into sn_expect_proto values), the expectation table
 * keeps the predictions, and everything that happens to a prediction is
 * told to the subscribers as a typed event with the sn_expect itself:
 *
 *   added      a new prediction (after the per-user / per-session bounds)
 *   resolved   its host name was answered by DNS in the traffic
 *   hit        the predicted connection was seen
 *   retired    it will not be used: a sibling was hit, or a CANCEL; or
 *              it is replaced (then added again under a new id)
 *   expired    its time ran out, the global bound evicted it, or input ended
 *   dropped    a per-user or per-session bound refused it (never added)
 *
 * and every anomaly is an sn_anomaly_info. The JSON reporter (report.h),
 * the nftables writer (nftout.h) and a live enforcer are subscribers
 * alike: each registers an sn_observer with its own ctx on the engine
 * (sn_engine_observe), in order; callbacks run synchronously on the
 * packet path, in registration order, and must not call back into the
 * engine. Any callback may be NULL. The sn_expect passed is valid only
 * during the call: copy what you keep. */
#ifndef SN_OBSERVER_H
#define SN_OBSERVER_H

#include <stdint.h>

#include "addr.h"

struct sn_expect;
struct sn_expect_proto;
struct sn_ev;

/* What a predicted connection is for; one nftables set per class. */
typedef enum sn_app_class {
    SN_CLASS_OTHER = 0,
    SN_CLASS_FILE_TRANSFER,
    SN_CLASS_VOICE_VIDEO,
    SN_CLASS_WHITEBOARD,
    SN_CLASS_APP_SHARING,
    SN_CLASS_REMOTE_ASSISTANCE,
    SN_CLASS_SWITCHBOARD,
    SN_CLASS_NOTIFICATION,
    SN_CLASS_GAME,
    SN_CLASS_COUNT
} sn_app_class;

/* "file_transfer", "voice_video", "whiteboard", "app_sharing",
 * "remote_assistance", "switchboard", "notification", "game", "other". */
const char *sn_app_class_name(sn_app_class k);

/* sn_expect.flags: how the announced address relates to the announcer
 * (see predict.h, sn_origin_check, and docs/msnsniff.md "Policy"). */
#define SN_XF_FORGED 0x01u     /* a third host: not the announcer (its switchboard or notification connection) */
#define SN_XF_NAT 0x02u        /* a private address of an announcer seen from a public one */
#define SN_XF_UNCHECKED 0x04u  /* the announcer's own connections are not in the traffic */
#define SN_XF_NO_PINHOLE 0x08u /* the announced-address policy says: do not open */

/* Why an expectation left the table without a hit. */
typedef enum sn_expect_end {
    SN_END_EXPIRED = 0, /* its timeout passed */
    SN_END_EVICTED,     /* the global bound made room for a newer one */
    SN_END_INPUT_END,   /* the capture ended (sn_engine_finish) */
    SN_END_SIBLING_HIT, /* retired: another prediction of its group was hit */
    SN_END_CANCELLED,   /* retired: the invitation was cancelled */
    SN_END_REPLACED     /* retired: announced again, with the application its INVITE (captured
                           after the message that announced it) named; the new one's
                           `replaces` is this one's id */
} sn_expect_end;

/* Why a prediction was refused before it entered the table. */
typedef enum sn_expect_drop {
    SN_DROP_USER_BOUND = 0, /* the announcing user has too many outstanding */
    SN_DROP_SESSION_BOUND,  /* the switchboard session has too many outstanding */
    SN_DROP_NO_MEMORY
} sn_expect_drop;

const char *sn_expect_end_name(sn_expect_end why);   /* "expired", "evicted", "capture_end", ... */
const char *sn_expect_drop_name(sn_expect_drop why); /* "user_bound", "session_bound", "no_memory" */

/* The connection that fulfilled an expectation. */
typedef struct sn_expect_hit_info {
    uint64_t ts;             /* µs */
    uint64_t flow;           /* flow id of the new connection */
    uint8_t proto;           /* 6 or 17 */
    uint8_t by_cookie;       /* a switchboard login with the referral's cookie */
    uint8_t address_matches; /* by_cookie: the server is the predicted address */
    const char *matched_by;  /* "syn", "midstream", "udp", "cookie" */
    sn_addr src, dst;        /* as opened: src connects to dst */
    uint16_t sport, dport;
    const char *server; /* by_cookie: "ip:port" of the switchboard */
} sn_expect_hit_info;

/* Anomaly kinds (also indexes for rate limiting). */
typedef enum sn_anomaly {
    SN_AN_MALFORMED_PACKET = 0,
    SN_AN_GAP,
    SN_AN_PARSE_ERROR,
    SN_AN_MIDSTREAM,
    SN_AN_MEMCAP,
    SN_AN_BAD_MIME,
    SN_AN_BAD_INVITATION,
    SN_AN_ORPHAN_INVITATION,
    SN_AN_SIZE_MISMATCH,
    SN_AN_UNKNOWN_COOKIE,
    SN_AN_EXTRACT,
    SN_AN_MSNFTP,
    SN_AN_FRAGMENT,
    SN_AN_OVERLAP_CONFLICT,     /* two copies of the same TCP bytes differ */
    SN_AN_INVITATION_IN_HEADER, /* invitation fields in the MIME header block */
    SN_AN_ANNOUNCED_ADDRESS,    /* an announced address failed the origin check */
    SN_AN_IGNORED_RST,          /* a RST out of window, which its receiver ignores */
    SN_AN_DATA_AFTER_FIN,       /* data past its sender's FIN, which its receiver drops */
    SN_AN_OVERSIZED_FIELD,      /* a protocol field longer than msnsniff keeps: refused, not cut */
    SN_AN_RST_WITH_DATA,        /* data on a RST, which its receiver never delivers */
    SN_AN_SYN_WITH_DATA,        /* data on a SYN, which a receiver without TCP Fast Open drops */
    SN_AN_KINDS
} sn_anomaly;

const char *sn_anomaly_name(sn_anomaly a);

/* One anomaly. Optional parts are present when their has_ flag is set. */
typedef struct sn_anomaly_info {
    sn_anomaly kind;
    uint64_t ts, frame;
    uint64_t flow; /* 0: none */
    const char *detail;
    uint8_t limit_reached; /* the last one of its kind reported in full */
    int8_t direction;      /* -1 none; 0 client; 1 server */
    uint8_t has_offset, has_lost, has_caplen, has_overlap;
    uint64_t offset; /* stream offset (of the first differing byte for overlaps) */
    uint64_t lost, dropped_pending;
    uint64_t caplen;
    const char *cookie; /* NULL: none */
    /* overlap_conflict: the two copies of bytes [offset, offset + overlap_len) */
    uint64_t overlap_len;
    uint64_t first_hash, second_hash; /* 64-bit FNV-1a of each copy */
} sn_anomaly_info;

/* One invitation message (INVITE, ACCEPT, CANCEL, CONTEXT) as the
 * correlator saw it. The same message is often seen twice, leaving the
 * sender's connection and reaching the recipient's: the second copy has
 * echo set. */
typedef struct sn_invitation_info {
    uint64_t ts, flow, session, invitation; /* session 0: unknown */
    const char *cookie, *command, *app;     /* command: "INVITE", ...; app: "file_transfer", ... */
    const char *from;                       /* the message's sender ("" if unknown) */
    const char *inviter;                    /* "" if unknown */
    uint8_t sent;                           /* seen going from a client to the server */
    uint8_t echo;                           /* another copy of a message already reported */
} sn_invitation_info;

/* Subscribers should initialise this with designated initialisers
 * (.expect_added = ..., .ctx = ...): callbacks may be added. */
typedef struct sn_observer {
    void (*expect_added)(void *ctx, const struct sn_expect *x);
    void (*expect_resolved)(void *ctx, const struct sn_expect *x);
    void (*expect_hit)(void *ctx, const struct sn_expect *x, const sn_expect_hit_info *h);
    void (*expect_retired)(void *ctx, const struct sn_expect *x, sn_expect_end why);
    void (*expect_expired)(void *ctx, const struct sn_expect *x, sn_expect_end why);
    void (*expect_dropped)(void *ctx, const struct sn_expect_proto *p, sn_expect_drop why);
    void (*anomaly)(void *ctx, const sn_anomaly_info *a);
    void (*invitation)(void *ctx, const sn_invitation_info *i);
    void *ctx;
} sn_observer;

#define SN_MAX_OBSERVERS 8

/* The subscribers of one engine, in registration order. */
typedef struct sn_observers {
    sn_observer o[SN_MAX_OBSERVERS];
    int n;
    int invitations; /* how many take invitation messages (sn_observers_add counts them) */
} sn_observers;

/* 0, or -1 when SN_MAX_OBSERVERS are registered already. */
int sn_observers_add(sn_observers *s, const sn_observer *o);

void sn_notify_added(const sn_observers *s, const struct sn_expect *x);
void sn_notify_resolved(const sn_observers *s, const struct sn_expect *x);
void sn_notify_hit(const sn_observers *s, const struct sn_expect *x, const sn_expect_hit_info *h);
void sn_notify_retired(const sn_observers *s, const struct sn_expect *x, sn_expect_end why);
void sn_notify_expired(const sn_observers *s, const struct sn_expect *x, sn_expect_end why);
void sn_notify_dropped(const sn_observers *s, const struct sn_expect_proto *p, sn_expect_drop why);
void sn_notify_anomaly(const sn_observers *s, const sn_anomaly_info *a);
void sn_notify_invitation(const sn_observers *s, const sn_invitation_info *i);
/* Whether any subscriber takes invitation messages: the message's
 * sn_invitation_info is built only for one. */
static inline int sn_observers_want_invitations(const sn_observers *s) { return s->invitations > 0; }

#endif
