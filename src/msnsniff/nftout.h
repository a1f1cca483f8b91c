/* nftout.h - nftables commands for the predicted connections: a
 * subscriber (observer.h) of the typed expectation events.
 *
 * The output is a script for `nft -f`: one table with an address set per
 * family (with and without a port), rules accepting new connections to
 * their elements, and one element per prediction that times out with
 * the prediction. nft reads a whole script before it commits anything,
 * so this is a batch (offline) output; a gateway that must open a
 * pinhole before the peer connects subscribes to the same events and
 * talks netlink itself. */
#ifndef SN_NFTOUT_H
#define SN_NFTOUT_H

#include <stdio.h>

#include "observer.h"
#include "outq.h"

typedef struct sn_nft_out {
    FILE *fp;
    sn_outq *q;                 /* when set, text goes through it instead of fp */
    const char *family, *table; /* "inet", "msnsniff" */
    const uint64_t *clock;      /* time of the packet being handled (µs) */
    int header_done;
    int flush_each; /* flush fp after every element (live output) */
} sn_nft_out;

sn_observer sn_nft_observer(sn_nft_out *n);

#endif
