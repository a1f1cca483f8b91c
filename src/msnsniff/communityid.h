/* communityid.h - Community ID flow hashing, version 1.
 *
 * The identifier Zeek, Suricata and other network monitors attach to a
 * connection so their logs can be joined: "1:" and the base64 of
 * SHA-1(seed, lower endpoint address, other address, IP protocol, a zero
 * byte, lower endpoint port, other port), every number in network byte
 * order. Both directions of a connection give the same identifier. */
#ifndef SN_COMMUNITYID_H
#define SN_COMMUNITYID_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* "1:" + 28 base64 characters + NUL */
#define SN_COMMUNITY_ID_LEN 31

/* Writes the identifier of the flow into out. The addresses must be of the
 * same family (4 or 6); for ICMP the "ports" are the type and the code
 * as the specification maps them. 0, or -1 (out empty) when the families
 * differ or are unset. */
int sn_community_id(uint16_t seed, const sn_addr *src, uint16_t sport, const sn_addr *dst, uint16_t dport,
                    uint8_t proto, char out[SN_COMMUNITY_ID_LEN]);

#endif
