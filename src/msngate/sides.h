/* sides.h - which side of the gateway an address is on: the interface
 * the gateway's routing table sends it out of. Two addresses routed out
 * of one interface, neither by a default route, are on the same side,
 * whether that interface's network holds them directly or another router
 * behind it does, and whatever their families. */
#ifndef MSNGATE_SIDES_H
#define MSNGATE_SIDES_H

#include "addr.h"

typedef struct gate_sides gate_sides;

/* A routing-table reader (one netlink socket, opened at the first
 * question); NULL when out of memory. */
gate_sides *gate_sides_new(void);
void gate_sides_free(gate_sides *s);
/* The interface a is routed out of, by a route more specific than a
 * default route (the gateway's own, broadcast and anycast addresses: the
 * interface holding them); 0 when reached by a default route only, not
 * routed, or not known. A default route says nothing about which side a
 * host is on (a gateway with one interface sends everything out of it).
 * Addresses of either family: an IPv4 and an IPv6 address are on one side
 * when they go out of one interface; an IPv4-mapped IPv6 address is its
 * IPv4 address. */
int gate_sides_of(gate_sides *s, const sn_addr *a);
/* The reverse-path check of a packet from src that arrived on interface
 * ifindex, as strict rp_filter makes it: 1 when the gateway routes src
 * back out of that interface (a default route counts; a multipath route
 * is not judged; a link-local IPv6 source passes), 0 when it does not
 * (another interface, no route, the gateway's own address from outside),
 * -1 when the routing table cannot be read. ifindex 0 (not known): 1.
 * Answers are kept for a second. */
int gate_sides_reverse_ok(gate_sides *s, const sn_addr *src, int ifindex);

#endif
