/* localnets.h - the networks the gateway is directly connected to (its
 * interfaces' addresses and prefixes), to tell whether two addresses are
 * on the same side of it. */
#ifndef MSNGATE_LOCALNETS_H
#define MSNGATE_LOCALNETS_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

typedef struct localnet {
    sn_addr net; /* the interface's address, host bits cleared */
    uint8_t prefix;
} localnet;

typedef struct localnets {
    localnet *v;
    size_t n;
    uint64_t loaded_us; /* monotonic; 0: never */
} localnets;

/* Reads the interfaces' networks again when the last read is older than
 * max_age_us (addresses change rarely; a read is one getifaddrs call).
 * Keeps the previous list when the read fails. */
void localnets_refresh(localnets *l, uint64_t now_us, uint64_t max_age_us);
/* 1 when a and b are in one of the networks (the same link of the
 * gateway), else 0. Loopback and link-local networks do not count. */
int localnets_same(const localnets *l, const sn_addr *a, const sn_addr *b);
void localnets_free(localnets *l);

#endif
