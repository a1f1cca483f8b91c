/* context.h - state shared by the analysis stages of one engine run:
 * configuration, event sinks, memory budget, the expectation table, the
 * switchboard cookie table, invitations, DNS names and counters. The
 * stages (session tracker, invitation correlator, MSNFTP tracker, DNS)
 * receive it explicitly; nothing here is global. */
#ifndef SN_CONTEXT_H
#define SN_CONTEXT_H

#include <stdint.h>

#include "events.h"
#include "expect.h"
#include "memcap.h"
#include "observer.h"
#include "strmap.h"

/* Which predictions from announced addresses may become pinholes
 * (predict.h, sn_origin_check; docs/msnsniff.md "Policy"). */
typedef enum sn_announce_policy {
    SN_ANNOUNCE_NAT = 0, /* default: all but forged ones */
    SN_ANNOUNCE_STRICT,  /* only addresses verified as the announcer's own */
    SN_ANNOUNCE_ANY      /* all, forged ones included (still flagged) */
} sn_announce_policy;

typedef struct sn_config {
    uint64_t memcap;               /* bytes; 0 = unlimited */
    size_t flow_limit;             /* reassembly bytes per flow direction */
    size_t max_flows;              /* 0 = unlimited (the memcap still applies) */
    uint64_t flow_timeout_us;      /* idle flows are evicted after this */
    uint64_t expect_timeout_us;    /* predicted connections expire after this */
    int defrag;                    /* reassemble IPv4 fragments */
    int all_flows;                 /* flow events for non-MSN flows too */
    const char *extract_dir;       /* carve MSNFTP files here (NULL: off) */
    unsigned anomaly_limit;        /* anomaly events per kind before only counting */
    size_t max_expectations;       /* global bound on the expectation table (0: SN_EXPECT_MAX) */
    size_t max_expect_per_user;    /* outstanding per announcing user (0: unbounded) */
    size_t max_expect_per_session; /* outstanding per switchboard session (0: unbounded) */
    sn_announce_policy announce_policy;
    uint64_t run_id; /* names this run in flow uids; 0: a random one (sn_engine_new) */
} sn_config;

void sn_config_defaults(sn_config *c);

enum { SN_APP_KINDS = 10 };

/* Bounds of the tables kept outside the memcap (see docs/msnsniff.md, "Memory"). */
#define SN_USERS_MAX 65536u  /* users online at once */
#define SN_SBREFS_MAX 65536u /* switchboard referrals waiting for their login */
#define SN_SUMMARY_USERS 50u /* users listed by the summary */

typedef struct sn_stats {
    uint64_t packets, bytes, decode_errors, non_ip, fragments_held;
    uint64_t tcp_packets, udp_packets;
    uint64_t flows, flows_msnp, flows_msnftp, flows_expected, flows_other, flows_evicted;
    uint64_t role_ds, role_ns, role_sb;
    uint64_t logins, login_failures, presence, sessions, messages, typing, joins;
    uint64_t sb_refused, messages_refused; /* switchboard logins, MSGs the server answered with an error */
    uint64_t invitations, invitations_by_app[SN_APP_KINDS];
    uint64_t expectations, hits, misses;
    uint64_t files, file_bytes;
    uint64_t files_not_carved; /* --extract: not created, not written whole or over the bound (extract anomalies) */
    uint64_t gaps, gap_bytes, parse_errors, anomalies, dns_answers;
    uint64_t packets_not_admitted; /* of new flows the memcap could not admit: not analyzed */
    uint64_t flows_evicted_bound;  /* of flows_evicted: closed before their idle timeout to admit a new
                                    * flow (memcap or max_flows reached), not for being idle */
    uint64_t packets_truncated;    /* kept shorter than sent (the capture's snapshot length) */
    uint64_t truncated_caplen;     /* the most bytes such a packet kept: the snapshot length */
    /* tables outside the memcap: most held at once (sampled every second
     * of capture time) and what their bounds dropped */
    uint64_t peak_expectations, peak_invitations, peak_sbrefs, peak_users, peak_dns, peak_conversations;
    uint64_t expectations_evicted, invitations_dropped, sbrefs_dropped, users_untracked, dns_dropped;
    uint64_t expectations_dropped_user, expectations_dropped_session; /* refused by the per-user / per-session bounds */
    uint64_t announced_forged, announced_nat, pinholes_refused;
    uint64_t overlap_conflicts, invitations_in_header;
} sn_stats;

typedef struct sn_ctx {
    sn_config cfg;
    sn_events ev;     /* JSON records and the sinks that write them */
    sn_observers obs; /* subscribers of the typed events (observer.h) */
    sn_memcap mem;
    sn_expect_table expect;
    sn_strmap cookies;            /* switchboard cookie -> sn_sbref (from XFR SB / RNG) */
    struct sn_sbref *sbref_spare; /* released referrals kept for the next (sn_sbref_new) */
    unsigned sbref_nspare;
    sn_strmap invitations;       /* Invitation-Cookie -> sn_invitation chain */
    struct inv_lists *inv_lists; /* invitation.c's queues of open and finished ones */
    sn_strmap dns;               /* lower-case host name -> dns.c's entry (an sn_addr first) */
    uint64_t dns_responses;      /* DNS responses read: names the entries' answer */
    sn_strmap dns_rev;           /* sn_addr bytes -> host name */
    sn_strmap users;             /* user -> sn_online, while logged in on an open connection */
    sn_strmap conversations;     /* "server|sessid" -> switchboard session seen from several connections */
    uint64_t now;                /* time of the packet being processed (µs) */
    uint64_t frame;              /* its number, from 1 */
    uint64_t next_session, next_invitation, next_conversation;
    unsigned anomaly_count[SN_AN_KINDS];
    unsigned carving; /* files being carved (ftp.c), each holding a descriptor */
    sn_stats st;
    unsigned nsummary_users;
    struct {
        char user[130];
        char version[12];
    } summary_users[SN_SUMMARY_USERS]; /* the first users to log in, for the summary */
} sn_ctx;

/* A switchboard referral learned on a notification connection. */
typedef struct sn_sbref {
    uint64_t ns_flow;
    uint64_t learned;
    uint64_t expect_id;
    char user[130];   /* the NS user who will use it */
    char caller[130]; /* RNG: who called */
    char server[128]; /* ip:port as written */
    int ring;         /* 1: from RNG, 0: from XFR */
    struct sn_sbref *next_spare;
} sn_sbref;

/* An anomaly with no optional parts (direction -1); flow 0 = none. */
sn_anomaly_info sn_anomaly_make(sn_anomaly kind, uint64_t flow, const char *detail);
/* Count it and, below the per-kind limit, stamp it (time, frame,
 * limit_reached) and tell the observers. */
void sn_anomaly_report(sn_ctx *c, sn_anomaly_info *a);
/* Whether a protocol field of n bytes fits a buffer of cap (NUL included).
 * One that does not is refused, never cut (a cut address or session id
 * would be another's): an oversized_field anomaly on flow, said once per
 * holder (*said set), and 0. */
int sn_field_fits(sn_ctx *c, uint64_t flow, uint8_t *said, size_t n, size_t cap, const char *what);

#endif
