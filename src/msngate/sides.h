/* sides.h - which side of the gateway an address is on: the interface
 * the gateway's routing table sends it out of. Two addresses routed out
 * of one interface, neither by a default route, are on the same side,
 * whether that interface's network holds them directly or another router
 * behind it does. */
#ifndef MSNGATE_SIDES_H
#define MSNGATE_SIDES_H

#include "addr.h"

typedef struct gate_sides gate_sides;

/* A routing-table reader (one netlink socket, opened at the first
 * question); NULL when out of memory. */
gate_sides *gate_sides_new(void);
void gate_sides_free(gate_sides *s);
/* 1 when a and b are on the same side of the gateway; 0 when not, when
 * either is reached only through a default route (a default route says
 * nothing about which side a host is on: a gateway with one interface
 * sends everything out of it), or when the table cannot be read. */
int gate_sides_same(gate_sides *s, const sn_addr *a, const sn_addr *b);

#endif
