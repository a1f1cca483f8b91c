/* defrag.h - IPv4 and IPv6 fragment reassembly.
 *
 * A small fixed table of datagrams under reassembly (oldest evicted when
 * full, anything older than the timeout dropped). Overlapping fragments
 * are taken as Linux takes them (inet_frag_queue_insert, for IPv4 since
 * 4.19 and for IPv6 by RFC 5722), as the receivers watched would: a
 * fragment inside a run of fragments held (each starting where the one
 * before ended) is a copy sent again and ignored, the first copy kept
 * whatever the second says (a copy that differs is told,
 * sn_defrag_last_overlap); any other overlap drops the whole datagram,
 * so that bytes the receiver never reassembled are never analysed.
 * Buffers come from the memcap. */
#ifndef SN_DEFRAG_H
#define SN_DEFRAG_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "decode.h"
#include "memcap.h"

typedef struct sn_defrag sn_defrag;

sn_defrag *sn_defrag_new(sn_memcap *mem, uint64_t timeout_us);
void sn_defrag_free(sn_defrag *f);

/* Add one fragment: the bytes after the IPv4 header, or after the IPv6
 * fragment header (id: the IPv4 16-bit or IPv6 32-bit identification;
 * *proto: the protocol, or the fragment header's next header). The
 * datagram is the one of pk's addresses and VLAN ids with that id, and
 * for IPv4 that protocol (an IPv6 datagram's fragments may name different
 * next headers: only the offset-zero fragment's counts, RFC 8200 4.5);
 * pk's time dates it and pk's wire_len is the frame's length.
 * Returns 1 when the datagram is complete (*out and *outlen: the whole
 * reassembled payload, valid until the next call; *proto: its protocol;
 * pk->wire_len: the sum of the lengths of every frame added to it, copies
 * included), 0 when held, -1 when dropped (bad offsets, memcap; an
 * empty fragment, a last one that ends before bytes held or elsewhere
 * than another last one, a fragment past the end: the datagram with it,
 * as in Linux), -2 when the fragment overlapped bytes held and the
 * datagram was dropped with it (counted by sn_defrag_counts). */
int sn_defrag_add(sn_defrag *f, sn_packet *pk, uint32_t id, uint8_t *proto, uint32_t offset, int more, const uint8_t *p,
                  size_t n, const uint8_t **out, size_t *outlen);

/* Incomplete datagrams dropped so far: held past the timeout, evicted
 * (the oldest) to make room for another, or for overlapping fragments;
 * and how many are held now. */
void sn_defrag_counts(const sn_defrag *f, uint64_t *timeouts, uint64_t *evicted, uint64_t *overlaps, unsigned *held);
#define SN_DEFRAG_SLOTS 32

/* What the last sn_defrag_add found of bytes already held: how many it
 * brought again (len, 0 if none) and whether a copy differed, with the
 * 64-bit FNV-1a hash of the kept and of the ignored copy of those bytes. */
typedef struct sn_defrag_overlap {
    size_t len;
    int differs;
    uint64_t first_hash, second_hash;
} sn_defrag_overlap;
const sn_defrag_overlap *sn_defrag_last_overlap(const sn_defrag *f);

#endif
