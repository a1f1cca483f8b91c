/* decode.h - link, network and transport decoding of captured packets.
 *
 * Link types: Ethernet (with 802.1Q / QinQ tags, PPPoE sessions, MPLS
 * label stacks, IEEE 802.3 frames with LLC/SNAP), Linux cooked SLL and
 * SLL2, raw IP, BSD loopback (DLT_NULL / DLT_LOOP), IEEE 802.11 (plain,
 * radiotap, PPI), PPP, PPPoE without Ethernet, Cisco HDLC, pflog, NFLOG. IPv4 and IPv6 with
 * fragments reassembled (or reported with --no-defrag), IPv6 extension
 * headers skipped, TCP and UDP. Everything is bounds-checked against
 * caplen; the decoder never reads past the captured bytes and never
 * allocates except for fragment reassembly (budgeted by the memcap). */
#ifndef SN_DECODE_H
#define SN_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "memcap.h"

#define SN_TCP_FIN 0x01
#define SN_TCP_SYN 0x02
#define SN_TCP_RST 0x04
#define SN_TCP_PSH 0x08
#define SN_TCP_ACK 0x10

typedef struct sn_packet {
    uint64_t ts; /* µs since the epoch */
    sn_addr src, dst;
    uint16_t sport, dport;
    uint8_t proto; /* 6 TCP, 17 UDP */
    uint8_t tcp_flags;
    uint32_t seq, ack;
    const uint8_t *payload; /* L4 payload as captured */
    /* TCP: the header as captured, its 20 fixed bytes at least, its
     * options (as far as captured) up to payload; read only when needed
     * (sn_tcp_window, sn_tcp_wscale), which costs the decoder nothing.
     * sn_tcp_made_up on a segment not decoded from a capture. */
    const uint8_t *tcp;
    size_t len;     /* captured payload bytes */
    size_t missing; /* payload bytes cut off by the snaplen */
    /* Frame length on the wire; for a datagram reassembled from
     * fragments, the sum of the lengths of the frames that brought them. */
    size_t wire_len;
    /* VLAN ids of the first two tags, [0] outer, 0 if none; priority tags
     * (VID 0) are not counted. Part of a flow's key (and a fragment's). */
    uint16_t vlan[2];
} sn_packet;

/* The header of a TCP segment not decoded from a capture (a SYN the
 * engine replays): window 0, options unknown. */
extern const uint8_t sn_tcp_made_up[20];

/* TCP: the window field of p, unscaled. */
static inline uint16_t sn_tcp_window(const sn_packet *p) { return (uint16_t)(p->tcp[14] << 8 | p->tcp[15]); }

/* What sn_tcp_wscale gives for sn_tcp_made_up. */
#define SN_WSCALE_UNKNOWN 16u

/* TCP SYN: the shift of its window scale option plus one (a shift above
 * 14 is taken as 14, as receivers do: RFC 7323 2.3), 0 if it has none,
 * SN_WSCALE_UNKNOWN if p->tcp is sn_tcp_made_up. */
uint8_t sn_tcp_wscale(const sn_packet *p);

/* The two ports are written and read as one 32-bit word (sport first in
 * memory): the flow look-up compares them that way, and a load is served
 * from the store buffer only when one store covers it (sn_addr_set_words
 * says why that matters). */
_Static_assert(offsetof(sn_packet, dport) == offsetof(sn_packet, sport) + 2, "sport and dport adjacent");
/* Here from a TCP or UDP header (w: source then destination port,
 * network order), byte-swapped as one word rather than one at a time. */
static inline void sn_packet_set_wire_ports(sn_packet *p, const uint8_t *w) {
    uint32_t v;
    memcpy(&v, w, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v); /* sport << 16 | dport */
    v = v << 16 | v >> 16;    /* sport first in memory */
#endif
    memcpy((unsigned char *)p + offsetof(sn_packet, sport), &v, sizeof v);
}
static inline uint32_t sn_packet_ports(const sn_packet *p) {
    uint32_t w;
    memcpy(&w, (const unsigned char *)p + offsetof(sn_packet, sport), sizeof w);
    return w;
}

/* The two VLAN ids as one 32-bit word, stored and read like the ports. */
_Static_assert(sizeof(((sn_packet *)0)->vlan) == 4, "two VLAN ids in a word");
static inline void sn_packet_set_vlans(sn_packet *p, uint32_t w) { memcpy(p->vlan, &w, sizeof w); }
static inline uint32_t sn_packet_vlans(const sn_packet *p) {
    uint32_t w;
    memcpy(&w, p->vlan, sizeof w);
    return w;
}

typedef enum sn_decode_status {
    SN_DECODE_OK = 0,        /* *out holds a TCP or UDP packet */
    SN_DECODE_SKIP = 1,      /* fine, but nothing for us (ARP, ICMP, ...) */
    SN_DECODE_HELD = 2,      /* an IPv4 or IPv6 fragment kept for reassembly */
    SN_DECODE_FRAGMENT = 3,  /* an IPv4 or IPv6 fragment left alone (reassembly off) */
    SN_DECODE_MALFORMED = -1 /* see sn_decoder.error */
} sn_decode_status;

typedef struct sn_defrag sn_defrag;

typedef struct sn_decoder {
    sn_memcap *mem;
    sn_defrag *defrag; /* NULL: fragments are reported, not reassembled */
    const char *error; /* static text for the last MALFORMED */
    uint64_t fragments, reassembled, frag_timeouts, frag_dropped;
    /* 802.11 data frames not analysed: encrypted, or damaged in the air
     * (the capture's radio header said the checksum was wrong) */
    uint64_t wifi_protected, wifi_bad_fcs;
    /* Set by sn_decode when a fragment brought bytes the reassembly held
     * already with other contents (the first copy is kept): the detail,
     * how many bytes overlapped and the FNV-1a hash of each copy. The
     * caller reports and clears it. */
    const char *frag_conflict;
    size_t frag_conflict_len;
    uint64_t frag_conflict_first, frag_conflict_second;
} sn_decoder;

/* defrag_timeout_us: incomplete datagrams older than this are dropped. */
int sn_decoder_init(sn_decoder *d, sn_memcap *mem, int reassemble_fragments, uint64_t defrag_timeout_us);
void sn_decoder_free(sn_decoder *d);

/* Decode one frame of the given pcap link type. Views in *out point into
 * data, or into the decoder's reassembly buffer (valid until the next call).
 * *out is whole only with SN_DECODE_OK (tcp with a TCP segment only); with
 * any other status its fields are not to be read. */
sn_decode_status sn_decode(sn_decoder *d, int linktype, const uint8_t *data, size_t caplen, size_t wirelen, uint64_t ts,
                           sn_packet *out);

/* Is this link type supported? */
int sn_decode_linktype_ok(int linktype);

#endif
