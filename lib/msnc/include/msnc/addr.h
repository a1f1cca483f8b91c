/* msnc/addr.h - which IPv4 addresses msnc connects to or advertises. */
#ifndef MSNC_ADDR_H
#define MSNC_ADDR_H

/* 1 if ip is a dotted-quad IPv4 literal (no leading zeros, nothing after
 * it) naming a unicast host: not 0.0.0.0/8 (on Linux 0.0.0.0 quietly means
 * this host), not multicast 224/4, not reserved/broadcast 240/4. Loopback
 * and private addresses are fine. Peers' IP-Address values and our own
 * --bind-ip (advertised to peers) must pass. */
int msnc_ipv4_unicast(const char *ip);

#endif
