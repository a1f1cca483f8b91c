/* pinholes.h - predicted connections as set elements.
 *
 * Each prediction the analyzer makes becomes one element (two for a
 * prediction of either transport) of the set of its application class and
 * address family, with the prediction's timeout, so the kernel forgets it
 * by itself even if msngate dies. The table here remembers which elements
 * msngate added, to delete them when the connection is seen or the
 * invitation is withdrawn; it is bounded (max entries, and entries leave
 * at their timeout). Changes are queued and go to the kernel in one
 * transaction with pinholes_commit(). */
#ifndef GATE_PINHOLES_H
#define GATE_PINHOLES_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "nftset.h"
#include "stats.h"

/* A prediction, as the analyzer reports it. */
typedef struct gate_prediction {
    uint64_t id;         /* the analyzer's expectation id */
    uint64_t invitation; /* 0: none (switchboard referrals) */
    const char *app;     /* "file_transfer", "voice", ..., "switchboard" */
    sn_addr addr;        /* family 0: not resolved (nothing to open yet) */
    uint16_t port;       /* 0: any port */
    uint8_t transport;   /* 6, 17, or 0 for either */
    uint64_t timeout_ms;
    int forged, nat;  /* the announced address failed the origin check */
    int unchecked;    /* the analyzer could not check it: the announcer is not seen here */
    sn_addr receiver; /* the user the announcement was seen reaching (family 0: seen leaving) */
    int referral;     /* a switchboard referral (XFR SB, RNG): a server names the address */
    int ingress;      /* ifindex the packet that carried it came in by (0: not known) */
} gate_prediction;

typedef struct pinholes pinholes;

pinholes *pinholes_new(nftset *set, gate_stats *st, const gate_config *cfg);
void pinholes_free(pinholes *p);
/* Settings that a reload may change (policies, bound, timeout). */
void pinholes_configure(pinholes *p, const gate_config *cfg);

/* A new prediction (arrival: CLOCK_REALTIME µs when the packet that
 * carried it arrived, for the latency figures). */
void pinholes_predicted(pinholes *p, const gate_prediction *pr, uint64_t arrival_us);
/* The connection of prediction id was seen: its invitation's elements go
 * hit_grace seconds later (conntrack carries the connection from there;
 * until the peer answers, a retransmitted SYN or datagram is still "new"
 * and needs the element). */
void pinholes_hit(pinholes *p, uint64_t id, uint64_t invitation);
/* Prediction id will not be used (a sibling's hit, a cancel, eviction). */
void pinholes_withdrawn(pinholes *p, uint64_t id);
/* Prediction id reached its timeout in the analyzer: its elements went
 * with the same timeout in the kernel (pinholes_expire forgets them);
 * one still waiting for its host name waits no more. */
void pinholes_prediction_expired(pinholes *p, uint64_t id);
/* Every prediction of an invitation is withdrawn (CANCEL). */
void pinholes_cancelled(pinholes *p, uint64_t invitation);

/* Sends queued adds (then deletes) to the kernel and waits for the ACKs.
 * deletes_too = 0 keeps deletes for a later call (inline mode deletes
 * after the verdict, so the packet that hit still finds its element). */
int pinholes_commit(pinholes *p, int deletes_too);
/* Forget entries past their timeout (the kernel dropped them already). */
void pinholes_expire(pinholes *p, uint64_t now_us);
size_t pinholes_count(const pinholes *p);
/* The sets were re-created empty: every open element goes in again. */
int pinholes_readd(pinholes *p);
/* Re-create sets after "flush ruleset" removed them: called by commit on
 * ENOENT through this hook (set by main). */
void pinholes_on_missing_sets(pinholes *p, int (*fn)(void *ctx), void *ctx);

#endif
