/* nftout.h - nftables commands for the predicted connections: a
 * subscriber (observer.h) of the typed expectation events.
 *
 * The output is a script for `nft -f`: one table with an address set per
 * family (with and without a port), rules accepting new connections to
 * their elements, and one element per prediction that times out with
 * the prediction, deleted again when the prediction is withdrawn (a
 * CANCEL, a sibling's hit, a refused invitation, eviction) unless another
 * prediction still holds the same element. nft reads a whole script
 * before it commits anything, so this is a batch (offline) output; a
 * gateway that must open a pinhole before the peer connects subscribes to
 * the same events and talks netlink itself. */
#ifndef SN_NFTOUT_H
#define SN_NFTOUT_H

#include <stdio.h>

#include "observer.h"
#include "outq.h"
#include "strmap.h"

typedef struct sn_nft_out {
    FILE *fp;
    sn_outq *q;                 /* when set, text goes through it instead of fp */
    const char *family, *table; /* "inet", "msnsniff" */
    const uint64_t *clock;      /* time of the packet being handled (µs) */
    int header_done;
    int flush_each; /* flush fp after every element (live output) */
    int err;        /* the first failed write to fp's errno (a full disk), 0 if none */
    /* how many pending predictions hold each element (key: its set and
     * value as printed): two invitations from one host to port 6891 share
     * one, and the first one's CANCEL must not delete it. Set up on first
     * use; sn_nft_out_free releases it. */
    sn_strmap held;
    int held_ready;
} sn_nft_out;

sn_observer sn_nft_observer(sn_nft_out *n);
void sn_nft_out_free(sn_nft_out *n);

#endif
