/* decode.c - L2/L3/L4 decoding. */
#include "decode.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "defrag.h"

#define LT_NULL 0
#define LT_EN10MB 1
#define LT_PPP 9
#define LT_PPP_SERIAL 50 /* PPP in HDLC-like framing, or Cisco HDLC */
#define LT_PPP_ETHER 51  /* PPPoE without its Ethernet header */
#define LT_C_HDLC 104
#define LT_IEEE802_11 105
#define LT_PFLOG 117
#define LT_IEEE802_11_RADIO 127 /* radiotap, then 802.11 */
#define LT_PPI 192
#define LT_NFLOG 239
#define LT_RAW 101
#define LT_RAW_ALT 12 /* DLT_RAW on some BSDs */
#define LT_RAW_ALT2 14
#define LT_LOOP 108
#define LT_SLL 113
#define LT_IPV4 228
#define LT_IPV6 229
#define LT_SLL2 276

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
/* radiotap, PPI and (on the machines that capture) NFLOG are little-endian */
static uint16_t le16(const uint8_t *p) { return (uint16_t)((unsigned)p[1] << 8 | p[0]); }
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int sn_decode_linktype_ok(int lt) {
    switch (lt) {
    case LT_NULL:
    case LT_EN10MB:
    case LT_RAW:
    case LT_RAW_ALT:
    case LT_RAW_ALT2:
    case LT_LOOP:
    case LT_SLL:
    case LT_IPV4:
    case LT_IPV6:
    case LT_SLL2:
    case LT_PPP:
    case LT_PPP_SERIAL:
    case LT_PPP_ETHER:
    case LT_C_HDLC:
    case LT_IEEE802_11:
    case LT_PFLOG:
    case LT_IEEE802_11_RADIO:
    case LT_PPI:
    case LT_NFLOG: return 1;
    default: return 0;
    }
}

int sn_decoder_init(sn_decoder *d, sn_memcap *mem, int reassemble, uint64_t timeout) {
    memset(d, 0, sizeof *d);
    d->mem = mem;
    if (reassemble) {
        d->defrag = sn_defrag_new(mem, timeout);
        if (!d->defrag) return -1;
    }
    return 0;
}

void sn_decoder_free(sn_decoder *d) {
    sn_defrag_free(d->defrag);
    d->defrag = NULL;
}

/* After sn_defrag_add: a fragment that differs from bytes held is told. */
static void note_overlap(sn_decoder *d, const char *what) {
    const sn_defrag_overlap *o = sn_defrag_last_overlap(d->defrag);
    if (!o->differs) return;
    d->frag_conflict = what;
    d->frag_conflict_len = o->len;
    d->frag_conflict_first = o->first_hash;
    d->frag_conflict_second = o->second_hash;
}

static sn_decode_status bad(sn_decoder *d, const char *why) {
    d->error = why;
    return SN_DECODE_MALFORMED;
}

/* Only what that needs is read from the options captured (up to the
 * payload): end of list (0), no-operation (1), window scale (3); any
 * other option is skipped by its length, and a malformed list ends the
 * walk (bounded: each step moves on by at least one byte). */
const uint8_t sn_tcp_made_up[20];

uint8_t sn_tcp_wscale(const sn_packet *pk) {
    if (pk->tcp == sn_tcp_made_up) return SN_WSCALE_UNKNOWN;
    const uint8_t *p = pk->tcp + 20;
    if (!pk->payload || pk->payload < p) return SN_WSCALE_UNKNOWN; /* not where decode_l4 put it */
    size_t n = (size_t)(pk->payload - p);
    size_t i = 0;
    while (i < n) {
        uint8_t kind = p[i];
        if (kind == 0) break;
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= n || p[i + 1] < 2 || p[i + 1] > n - i) break;
        if (kind == 3 && p[i + 1] == 3) return (uint8_t)((p[i + 2] > 14 ? 14 : p[i + 2]) + 1);
        i += p[i + 1];
    }
    return 0;
}

/* L4: p/n is the transport header and payload as captured; l4_len is its
 * length according to the IP header. */
static sn_decode_status decode_l4(sn_decoder *d, uint8_t proto, const uint8_t *p, size_t n, size_t l4_len,
                                  sn_packet *out) {
    out->proto = proto;
    if (proto == 6) {
        if (n < 20) return bad(d, "TCP header cut short");
        size_t hl = (size_t)(p[12] >> 2) & 0x3Cu; /* its top four bits, in words of four bytes */
        if (hl < 20 || hl > l4_len) return bad(d, "bad TCP header length");
        sn_packet_set_wire_ports(out, p);
        out->seq = rd32(p + 4);
        out->ack = rd32(p + 8);
        out->tcp_flags = p[13];
        out->tcp = p;
        /* options cut by the snaplen (hl <= l4_len: they were sent): the
         * fixed header is whole, the payload all missing */
        size_t kept = hl > n ? n : hl;
        out->payload = p + kept;
        out->len = n - kept;
        out->missing = l4_len - hl - out->len;
        return SN_DECODE_OK;
    }
    if (proto == 17) {
        if (n < 8) return bad(d, "UDP header cut short");
        size_t ulen = rd16(p + 4);
        if (ulen < 8 || ulen > l4_len) ulen = l4_len; /* trust IP, as many stacks do for jumbo/zero lengths */
        sn_packet_set_wire_ports(out, p);
        out->tcp_flags = 0;
        out->seq = out->ack = 0;
        out->payload = p + 8;
        out->len = (n < ulen ? n : ulen) - 8;
        out->missing = ulen - 8 - out->len;
        return SN_DECODE_OK;
    }
    return SN_DECODE_SKIP;
}

/* An IPv4 fragment (frag: the header's flags and offset word, with an
 * offset or more fragments to come). Out of line: its proto, which the
 * defragmenter may rewrite, would otherwise live on the stack of every
 * packet's decoding. */
static __attribute__((noinline)) sn_decode_status
ipv4_fragment(sn_decoder *d, const uint8_t *p, size_t hl, size_t avail, size_t total, uint16_t frag, sn_packet *out) {
    uint8_t proto = p[9];
    uint32_t offset = (uint32_t)(frag & 0x1FFFu) * 8u;
    int more = (frag & 0x2000u) != 0;
    d->fragments++;
    if (!d->defrag) {
        d->error = "IPv4 fragment not reassembled (--no-defrag)";
        return SN_DECODE_FRAGMENT;
    }
    if (avail < total) {
        d->frag_dropped++;
        return bad(d, "IPv4 fragment cut by the snaplen");
    }
    const uint8_t *whole;
    size_t wlen;
    int r = sn_defrag_add(d->defrag, out, rd16(p + 4), &proto, offset, more, p + hl, total - hl, &whole, &wlen);
    note_overlap(d, "IPv4 fragment sent again with different contents; the first copy is kept, as Linux keeps it");
    if (r == -1) {
        d->frag_dropped++;
        return bad(d, "IPv4 fragment rejected (bad offset or memcap)");
    }
    if (r != 1) return SN_DECODE_HELD; /* or dropped with its datagram, which the engine tells */
    d->reassembled++;
    return decode_l4(d, proto, whole, wlen, wlen, out);
}

static sn_decode_status decode_ipv4(sn_decoder *d, const uint8_t *p, size_t n, sn_packet *out) {
    if (n < 20) return bad(d, "IPv4 header cut short");
    if ((p[0] >> 4) != 4) return bad(d, "not IPv4");
    size_t hl = (size_t)(p[0] & 0x0Fu) * 4u;
    size_t total = rd16(p + 2);
    /* 0: captured on the sending host before large send offload cut the
     * segment up (the stack leaves the length to the card); as Wireshark
     * does, the datagram is the rest of the frame */
    if (total == 0) total = n;
    if (hl < 20 || hl > n) return bad(d, "bad IPv4 header length");
    if (total < hl) return bad(d, "IPv4 total length below header length");
    size_t avail = n < total ? n : total; /* ignore link padding; n < total is a snaplen cut */
    sn_addr_set_ipv4(&out->src, p + 12);
    sn_addr_set_ipv4(&out->dst, p + 16);
    uint16_t frag;
    memcpy(&frag, p + 6, sizeof frag); /* tested as it is stored, in network order */
    if (frag & htons(0x3FFFu))
        return ipv4_fragment(d, p, hl, avail, total, ntohs(frag), out); /* an offset, or more to come */
    return decode_l4(d, p[9], p + hl, avail - hl, total - hl, out);
}

/* An IPv6 fragment (the fragment header at p + off). Returns HELD or an
 * error status, or DECODE_OK with the reassembled fragmentable part in
 * *whole / *wlen and its first header in *nh. */
static sn_decode_status ipv6_fragment(sn_decoder *d, const uint8_t *p, size_t off, size_t avail, size_t end,
                                      sn_packet *out, const uint8_t **whole, size_t *wlen, uint8_t *nh) {
    d->fragments++;
    if (!d->defrag) {
        d->error = "IPv6 fragment not reassembled (--no-defrag)";
        return SN_DECODE_FRAGMENT;
    }
    if (avail < end) {
        d->frag_dropped++;
        return bad(d, "IPv6 fragment cut by the snaplen");
    }
    uint16_t offlg = rd16(p + off + 2);
    uint32_t offset = offlg & 0xFFF8u; /* 13 bits of 8-byte units, already shifted */
    int more = offlg & 1u;
    *nh = p[off];
    int r = sn_defrag_add(d->defrag, out, rd32(p + off + 4), nh, offset, more, p + off + 8, end - off - 8, whole, wlen);
    note_overlap(d, "IPv6 fragment sent again with different contents; the first copy is kept, as Linux keeps it");
    if (r == -1) {
        d->frag_dropped++;
        return bad(d, "IPv6 fragment rejected (bad offset or memcap)");
    }
    if (r != 1) return SN_DECODE_HELD; /* or dropped with its datagram, which the engine tells */
    d->reassembled++;
    return SN_DECODE_OK;
}

static sn_decode_status decode_ipv6(sn_decoder *d, const uint8_t *p, size_t n, sn_packet *out) {
    if (n < 40) return bad(d, "IPv6 header cut short");
    if ((p[0] >> 4) != 6) return bad(d, "not IPv6");
    /* 0: a jumbogram (its length is in a hop-by-hop option) or a segment
     * captured before large send offload: the rest of the frame */
    size_t plen = rd16(p + 4) ? rd16(p + 4) : n - 40;
    sn_addr_set_ipv6(&out->src, p + 8);
    sn_addr_set_ipv6(&out->dst, p + 24);
    uint8_t next = p[6];
    size_t off = 40, end = 40 + plen;
    size_t avail = n < end ? n : end;
    int reassembled = 0;
    /* walk extension headers; bounded by the packet length (each is >= 8
     * bytes) and the hop count. After a reassembly the walk goes on in the
     * reassembled bytes, which start with the fragment header's next header. */
    for (int hops = 0; hops < 16; hops++) {
        switch (next) {
        case 0:   /* hop-by-hop */
        case 43:  /* routing */
        case 60:  /* destination options */
        case 135: /* mobility */
            if (off + 8 > avail) return bad(d, "IPv6 extension header cut short");
            next = p[off];
            off += ((size_t)p[off + 1] + 1u) * 8u;
            continue;
        case 51: /* AH: length in 4-byte units minus 2 */
            if (off + 8 > avail) return bad(d, "IPv6 AH header cut short");
            next = p[off];
            off += ((size_t)p[off + 1] + 2u) * 4u;
            continue;
        case 44: { /* fragment */
            if (off + 8 > avail) return bad(d, "IPv6 fragment header cut short");
            if ((rd16(p + off + 2) & 0xFFF9u) == 0) { /* offset 0, no more: an atomic fragment (RFC 6946) */
                next = p[off];
                off += 8;
                continue;
            }
            if (reassembled) return bad(d, "IPv6 fragment header inside a reassembled datagram");
            const uint8_t *whole;
            size_t wlen;
            uint8_t nh; /* the offset-zero fragment's, whichever completed the datagram */
            sn_decode_status st = ipv6_fragment(d, p, off, avail, end, out, &whole, &wlen, &nh);
            if (st != SN_DECODE_OK) return st;
            reassembled = 1;
            next = nh;
            p = whole;
            off = 0;
            avail = end = wlen;
            continue;
        }
        default:
            if (off > avail) return bad(d, "IPv6 extension headers beyond the packet");
            return decode_l4(d, next, p + off, avail - off, end > off ? end - off : 0, out);
        }
    }
    return bad(d, "too many IPv6 extension headers");
}

static sn_decode_status decode_ip(sn_decoder *d, const uint8_t *p, size_t n, sn_packet *out) {
    if (n < 1) return bad(d, "empty IP packet");
    switch (p[0] >> 4) {
    case 4: return decode_ipv4(d, p, n, out);
    case 6: return decode_ipv6(d, p, n, out);
    default: return bad(d, "IP version neither 4 nor 6");
    }
}

/* Labels a stack may have before its bottom: real networks use a few
 * (transport, VPN, entropy); more is a damaged or hostile frame. */
#define MPLS_MAX_LABELS 16

/* MPLS (RFC 3032): labels up to the one with the bottom-of-stack bit,
 * then the payload, which says nothing of its type: IPv4 or IPv6 by its
 * version nibble, as routers and Wireshark tell them apart. Anything else
 * (a pseudowire) is not for us. */
static sn_decode_status decode_mpls(sn_decoder *d, const uint8_t *p, size_t n, sn_packet *out) {
    for (int labels = 0;; labels++) {
        if (labels >= MPLS_MAX_LABELS) return bad(d, "too many MPLS labels");
        if (n < 4) return bad(d, "MPLS label cut short");
        int bottom = (p[2] & 0x01u) != 0;
        p += 4;
        n -= 4;
        if (bottom) break;
    }
    if (n < 1) return bad(d, "MPLS payload cut short");
    switch (p[0] >> 4) {
    case 4: return decode_ipv4(d, p, n, out);
    case 6: return decode_ipv6(d, p, n, out);
    default: return SN_DECODE_SKIP;
    }
}

/* PPP's protocol field (RFC 1661) and what it carries: IPv4 (0x0021) or
 * IPv6 (0x0057); control protocols are not for us. The field may be
 * compressed to one byte (PFC), which RFC 2516 advises against for PPPoE
 * but peers may still negotiate: a first byte that is odd is the whole
 * field. */
static sn_decode_status decode_ppp_protocol(sn_decoder *d, const uint8_t *p, size_t n, sn_packet *out) {
    if (n < 1) return bad(d, "PPP protocol cut short");
    uint16_t proto;
    if (p[0] & 0x01u) {
        proto = p[0];
        p += 1;
        n -= 1;
    } else {
        if (n < 2) return bad(d, "PPP protocol cut short");
        proto = rd16(p);
        p += 2;
        n -= 2;
    }
    switch (proto) {
    case 0x0021: return decode_ipv4(d, p, n, out);
    case 0x0057: return decode_ipv6(d, p, n, out);
    default: return SN_DECODE_SKIP;
    }
}

/* A PPPoE session frame (RFC 2516): version and type 1, code 0, the
 * session id, the length of the PPP frame, then PPP's protocol field:
 * IPv4 (0x0021) or IPv6 (0x0057); control protocols are not for us. */
static sn_decode_status decode_pppoe(sn_decoder *d, const uint8_t *p, size_t n, sn_packet *out) {
    if (n < 6) return bad(d, "PPPoE header cut short");
    if (p[0] != 0x11) return bad(d, "PPPoE version or type not 1");
    if (p[1] != 0) return bad(d, "PPPoE session frame with a code other than 0");
    size_t len = rd16(p + 4);
    p += 6;
    n -= 6;
    if (len == 0) return bad(d, "PPPoE length 0: no PPP protocol field");
    if (len < n) n = len; /* Ethernet padding after the PPP frame; len > n is a snaplen cut */
    return decode_ppp_protocol(d, p, n, out);
}

static sn_decode_status decode_ethertype_from(sn_decoder *d, uint16_t et, const uint8_t *p, size_t n, sn_packet *out,
                                              int tags, int after_llc);

/* An 802.2 LLC header and what it carries. p/n: the bytes captured from
 * the header on; len: the LLC frame's length by the 802.3 length field
 * (SIZE_MAX when the link gives none). DSAP and SSAP 0xAA with an
 * unnumbered-information control byte is SNAP, and SNAP with OUI 0 (RFC
 * 1042) carries an Ethertype; other SAPs (spanning tree, NetBIOS, IPX)
 * and OUIs (CDP, ...) are not for us. */
static sn_decode_status decode_llc(sn_decoder *d, const uint8_t *p, size_t n, size_t len, sn_packet *out, int tags) {
    if (len < n) n = len; /* Ethernet padding after the frame; a length above n is a snaplen cut */
    if (len < 3) return bad(d, "802.3 length shorter than an LLC header");
    if (n < 3) return bad(d, "802.2 LLC header cut short");
    if (p[0] != 0xAA || p[1] != 0xAA || p[2] != 0x03) return SN_DECODE_SKIP;
    if (len < 8) return bad(d, "802.3 length shorter than an LLC/SNAP header");
    if (n < 8) return bad(d, "SNAP header cut short");
    if (p[3] != 0 || p[4] != 0 || p[5] != 0) return SN_DECODE_SKIP;
    return decode_ethertype_from(d, rd16(p + 6), p + 8, n - 8, out, tags, 1);
}

/* What follows an Ethertype field, or an IEEE 802.3 length field (a value
 * up to 1500) with its LLC header. VLAN tags (802.1Q, 802.1ad, old QinQ
 * 0x9100) come first, up to 4 in all, and again after the Ethertype of an
 * LLC/SNAP header; PPPoE and MPLS after either. tags: how many were
 * stripped already; after_llc: et is an LLC/SNAP header's (one more
 * length there means nothing), which bounds the recursion at one level. */
static sn_decode_status decode_ethertype_from(sn_decoder *d, uint16_t et, const uint8_t *p, size_t n, sn_packet *out,
                                              int tags, int after_llc) {
    for (; et == 0x8100 || et == 0x88A8 || et == 0x9100; tags++) {
        if (tags >= 4) return bad(d, "too many VLAN tags");
        if (n < 4) return bad(d, "VLAN tag cut short");
        /* the first two VLAN ids, outer first; a priority tag (VID 0)
         * names no VLAN */
        uint16_t vid = (uint16_t)(rd16(p) & 0x0FFFu);
        if (vid && !out->vlan[1]) out->vlan[out->vlan[0] ? 1 : 0] = vid;
        et = rd16(p + 2);
        p += 4;
        n -= 4;
    }
    switch (et) {
    case 0x0800: return decode_ipv4(d, p, n, out);
    case 0x86DD: return decode_ipv6(d, p, n, out);
    case 0x8864: return decode_pppoe(d, p, n, out);
    case 0x8847:
    case 0x8848: return decode_mpls(d, p, n, out);
    default:
        /* 1501-1535 are neither lengths nor Ethertypes */
        if (et <= 1500 && !after_llc) return decode_llc(d, p, n, et, out, tags);
        return SN_DECODE_SKIP;
    }
}

static sn_decode_status decode_ethertype(sn_decoder *d, uint16_t et, const uint8_t *p, size_t n, sn_packet *out) {
    /* IPv4 and IPv6 straight behind the link header, nearly every frame:
     * kept apart from the general walk so that it stays small enough to
     * be folded into the caller (the walk cost 15 instructions a packet) */
    if (et == 0x0800) return decode_ipv4(d, p, n, out);
    if (et == 0x86DD) return decode_ipv6(d, p, n, out);
    return decode_ethertype_from(d, et, p, n, out, 0, 0);
}

/* An Ethernet frame: addresses, then the Ethertype. */
static inline sn_decode_status decode_ethernet(sn_decoder *d, const uint8_t *p, size_t n, sn_packet *out) {
    if (n < 14) return bad(d, "Ethernet header cut short");
    return decode_ethertype(d, rd16(p + 12), p + 14, n - 14, out);
}

/* The protocol field of a Linux cooked header: an Ethertype, or below
 * 1536 one of Linux's own values, of which 0x0004 (ETH_P_802_2) says an
 * LLC header follows (the 802.3 length is not kept). */
static sn_decode_status decode_sll_protocol(sn_decoder *d, uint16_t proto, const uint8_t *p, size_t n, sn_packet *out) {
    if (proto >= 1536) return decode_ethertype(d, proto, p, n, out);
    if (proto == 0x0004) return decode_llc(d, p, n, SIZE_MAX, out, 0);
    return SN_DECODE_SKIP;
}

/* PPP with its HDLC-like framing (RFC 1662): address 0xFF and control
 * 0x03 before the protocol field, or left out (ACFC: no protocol begins
 * with 0xFF). */
static sn_decode_status decode_ppp(sn_decoder *d, const uint8_t *p, size_t n, sn_packet *out) {
    if (n >= 1 && p[0] == 0xFF) {
        if (n < 2) return bad(d, "PPP header cut short");
        if (p[1] != 0x03) return bad(d, "PPP address 0xFF without control 0x03");
        p += 2;
        n -= 2;
    }
    return decode_ppp_protocol(d, p, n, out);
}

/* Cisco HDLC: address 0x0F (unicast) or 0x8F (broadcast), control 0, then
 * an Ethertype (SLARP keepalives and CDP are not for us). */
static int chdlc_address(uint8_t a) { return a == 0x0F || a == 0x8F; }

static sn_decode_status decode_chdlc(sn_decoder *d, const uint8_t *p, size_t n, sn_packet *out) {
    if (n < 4) return bad(d, "Cisco HDLC header cut short");
    return decode_ethertype(d, rd16(p + 2), p + 4, n - 4, out);
}

/* pf's log header (OpenBSD, FreeBSD, macOS): its length in the first byte,
 * padded to four bytes, and the address family in the second (AF_INET6
 * is 24, 28 or 30 by system). The shortest header any of them wrote has
 * 45 bytes. */
static sn_decode_status decode_pflog(sn_decoder *d, const uint8_t *p, size_t n, sn_packet *out) {
    if (n < 2) return bad(d, "pflog header cut short");
    size_t hl = ((size_t)p[0] + 3u) & ~(size_t)3u;
    if (p[0] < 45) return bad(d, "pflog header length below 45");
    if (n < hl) return bad(d, "pflog header cut short");
    uint8_t af = p[1];
    if (af == 2) return decode_ipv4(d, p + hl, n - hl, out);
    if (af == 24 || af == 28 || af == 30) return decode_ipv6(d, p + hl, n - hl, out);
    return SN_DECODE_SKIP;
}

/* Linux NFLOG (an iptables/nftables "log group" captured as nflog:N): the
 * family, a version, the group, then attributes, each a length (its
 * header included) and a type, padded to four bytes; the packet is the
 * payload attribute (type 9), an IP packet. The lengths and types are in
 * the byte order of the machine that logged: little-endian nearly
 * always, so that is tried first, big-endian when the attributes do not
 * fit that way. */
#define NFULA_PAYLOAD 9

/* 1: the payload found; 0: none; -1: a length that does not fit (the
 * other byte order, or damage); -2: cut inside an attribute header. */
static int nflog_walk(const uint8_t *p, size_t n, int big, const uint8_t **payload, size_t *plen) {
    size_t off = 4;
    while (off + 4 <= n) { /* bounded: every turn moves off by 4 or more */
        size_t len = big ? rd16(p + off) : le16(p + off);
        unsigned type = (big ? rd16(p + off + 2) : le16(p + off + 2)) & 0x3FFFu; /* less netlink's flag bits */
        if (len < 4 || len > n - off) {
            /* the payload attribute may be cut by the snaplen: the rest
             * of the frame is its start */
            if (len >= 4 && type == NFULA_PAYLOAD) break;
            return -1;
        }
        if (type == NFULA_PAYLOAD) {
            *payload = p + off + 4;
            *plen = len - 4;
            return 1;
        }
        off += (len + 3u) & ~(size_t)3u;
    }
    if (off + 4 <= n) { /* a payload cut short by the snaplen */
        *payload = p + off + 4;
        *plen = n - off - 4;
        return 1;
    }
    /* no packet logged (a log of the header only), or the frame cut
     * inside an attribute's header */
    return off < n ? -2 : 0;
}

static sn_decode_status decode_nflog(sn_decoder *d, const uint8_t *p, size_t n, sn_packet *out) {
    if (n < 4) return bad(d, "NFLOG header cut short");
    if (p[1] != 0) return bad(d, "NFLOG version not 0");
    const uint8_t *ip = NULL;
    size_t iplen = 0;
    int rc = nflog_walk(p, n, 0, &ip, &iplen);
    if (rc != 1) {
        /* a big-endian log whose lengths happened to fit either way finds
         * no payload the little-endian way */
        int big = nflog_walk(p, n, 1, &ip, &iplen);
        if (big == 1 || rc == -1) rc = big;
    }
    if (rc == -1) return bad(d, "NFLOG attribute length beyond the frame");
    if (rc == -2) return bad(d, "NFLOG attribute header cut short");
    if (rc == 0) return SN_DECODE_SKIP;
    if (p[0] == 2) return decode_ipv4(d, ip, iplen, out);
    if (p[0] == 10) return decode_ipv6(d, ip, iplen, out);
    /* another family (a bridge's, ARP): IP only by its version */
    if (iplen >= 1 && (ip[0] >> 4 == 4 || ip[0] >> 4 == 6)) return decode_ip(d, ip, iplen, out);
    return SN_DECODE_SKIP;
}

/* An IEEE 802.11 frame. Data frames carry LLC/SNAP after a header of 24
 * bytes, 30 with the fourth address (a wireless bridge: to and from the
 * distribution system), plus QoS control (2) and, with QoS and the order
 * bit, HT control (4). Management and control frames, data frames
 * without a body (null function), encrypted ones (their contents cannot
 * be read; counted), fragments of a frame and A-MSDU aggregates are not
 * decoded. radio: what the radio header says of the frame. */
#define WIFI_FCS 0x1u /* its last four bytes are its checksum */
#define WIFI_PAD 0x2u /* padding after the header to four bytes (some drivers) */
static sn_decode_status decode_80211(sn_decoder *d, const uint8_t *p, size_t n, size_t wirelen, unsigned radio,
                                     sn_packet *out) {
    if (wirelen < n) wirelen = n;
    if (radio & WIFI_FCS) {
        /* the checksum is the last 4 bytes on the wire: those of them captured go */
        size_t from = wirelen >= 4 ? wirelen - 4 : 0;
        if (n > from) n = from;
    }
    if (n < 2) return bad(d, "802.11 header cut short");
    unsigned fc0 = p[0], fc1 = p[1];
    if ((fc0 & 0x03u) != 0 || ((fc0 >> 2) & 0x03u) != 2) return SN_DECODE_SKIP; /* not a data frame (version 0) */
    unsigned subtype = fc0 >> 4;
    if (subtype & 0x04u) return SN_DECODE_SKIP; /* no body (null function, CF-Ack, CF-Poll) */
    int qos = (subtype & 0x08u) != 0;
    size_t hl = (fc1 & 0x03u) == 0x03u ? 30 : 24;
    size_t qos_at = hl;
    if (qos) hl += (fc1 & 0x80u) ? 6 : 2;
    size_t body = radio & WIFI_PAD ? (hl + 3u) & ~(size_t)3u : hl;
    if (n < body) return bad(d, "802.11 header cut short");
    if (fc1 & 0x40u) {
        d->wifi_protected++;
        return SN_DECODE_SKIP;
    }
    if ((fc1 & 0x04u) || (le16(p + 22) & 0x000Fu)) return SN_DECODE_SKIP; /* a fragment */
    if (qos && (p[qos_at] & 0x80u)) return SN_DECODE_SKIP;                /* A-MSDU */
    return decode_llc(d, p + body, n - body, SIZE_MAX, out, 0);
}

/* radiotap: version 0, its length, presence words (bit 31: another
 * follows), then the fields they announce, each aligned to its size from
 * the header's start. Of them only the flags matter here, the second
 * field after the 8-byte TSFT: the frame ends with its FCS (0x10), the
 * header is padded to four bytes (0x20), and the FCS was wrong (0x40): a
 * frame damaged in the air is not analysed (its bytes could be taken
 * over the stream's real copy). */
static sn_decode_status decode_radiotap(sn_decoder *d, const uint8_t *p, size_t n, size_t wirelen, sn_packet *out) {
    if (n < 8) return bad(d, "radiotap header cut short");
    if (p[0] != 0) return bad(d, "radiotap version not 0");
    size_t len = le16(p + 2);
    if (len < 8) return bad(d, "radiotap length shorter than its header");
    if (n < len) return bad(d, "radiotap header cut short");
    uint32_t present = le32(p + 4);
    size_t off = 8;
    for (uint32_t w = present; w & 0x80000000u; off += 4) { /* bounded by len */
        if (off + 4 > len) return bad(d, "radiotap presence words beyond its length");
        w = le32(p + off);
    }
    unsigned flags = 0;
    if (present & 0x01u) off = ((off + 7u) & ~(size_t)7u) + 8u; /* TSFT */
    if (present & 0x02u) {
        if (off >= len) return bad(d, "radiotap fields beyond its length");
        flags = p[off];
    }
    if (flags & 0x40u) {
        d->wifi_bad_fcs++;
        return SN_DECODE_SKIP;
    }
    unsigned radio = (flags & 0x10u ? WIFI_FCS : 0u) | (flags & 0x20u ? WIFI_PAD : 0u);
    return decode_80211(d, p + len, n - len, wirelen > len ? wirelen - len : 0, radio, out);
}

/* PPI (the header Kismet and AirPcap wrote): version 0, flags, its length
 * and the link type after it; fields of a type and a length each, of
 * which 802.11-Common (type 2) has flags at byte 8: FCS present (0x1) and
 * FCS wrong (0x4). */
static sn_decode_status decode_ppi(sn_decoder *d, const uint8_t *p, size_t n, size_t wirelen, sn_packet *out) {
    if (n < 8) return bad(d, "PPI header cut short");
    if (p[0] != 0) return bad(d, "PPI version not 0");
    size_t len = le16(p + 2);
    uint32_t dlt = le32(p + 4);
    if (len < 8) return bad(d, "PPI length shorter than its header");
    if (n < len) return bad(d, "PPI header cut short");
    int fcs = 0;
    for (size_t off = 8; off + 4 <= len;) { /* bounded: every turn moves off by 4 or more */
        unsigned type = le16(p + off);
        size_t flen = le16(p + off + 2);
        if (flen > len - off - 4) return bad(d, "PPI field beyond its header");
        if (type == 2 && flen >= 10) {
            unsigned fl = le16(p + off + 4 + 8);
            if (fl & 0x4u) {
                d->wifi_bad_fcs++;
                return SN_DECODE_SKIP;
            }
            fcs = (fl & 0x1u) != 0;
        }
        off += 4 + flen;
    }
    switch (dlt) {
    case LT_IEEE802_11:
        return decode_80211(d, p + len, n - len, wirelen > len ? wirelen - len : 0, fcs ? WIFI_FCS : 0u, out);
    case LT_EN10MB: return decode_ethernet(d, p + len, n - len, out);
    default: return SN_DECODE_SKIP;
    }
}

/* The link types of Wi-Fi, serial lines and firewall logs, out of line:
 * folded into sn_decode they made it too large to be folded into the
 * packet loop, which cost every Ethernet packet 40 instructions. */
static __attribute__((noinline)) sn_decode_status decode_other_link(sn_decoder *d, int lt, const uint8_t *data,
                                                                    size_t caplen, size_t wirelen, sn_packet *out) {
    switch (lt) {
    case LT_PPP: return decode_ppp(d, data, caplen, out);
    case LT_PPP_SERIAL:
        if (caplen >= 1 && chdlc_address(data[0])) return decode_chdlc(d, data, caplen, out);
        return decode_ppp(d, data, caplen, out);
    case LT_PPP_ETHER: return decode_pppoe(d, data, caplen, out);
    case LT_C_HDLC: return decode_chdlc(d, data, caplen, out);
    case LT_PFLOG: return decode_pflog(d, data, caplen, out);
    case LT_NFLOG: return decode_nflog(d, data, caplen, out);
    case LT_IEEE802_11: return decode_80211(d, data, caplen, wirelen, 0, out);
    case LT_IEEE802_11_RADIO: return decode_radiotap(d, data, caplen, wirelen, out);
    case LT_PPI: return decode_ppi(d, data, caplen, wirelen, out);
    default: return bad(d, "unsupported link type");
    }
}

sn_decode_status sn_decode(sn_decoder *d, int lt, const uint8_t *data, size_t caplen, size_t wirelen, uint64_t ts,
                           sn_packet *out) {
    /* Field by field rather than memset (see sn_addr_set_words), and
     * only what is read before it is written: the addresses are set by
     * decode_ipv4 and decode_ipv6 before anything reads them (the
     * defragmenter included), the rest by decode_l4 on the way to
     * SN_DECODE_OK, the only status with which *out is used. */
    out->ts = ts;
    out->wire_len = wirelen;
    sn_packet_set_vlans(out, 0);
    switch (lt) {
    case LT_EN10MB: return decode_ethernet(d, data, caplen, out);
    case LT_SLL:
        if (caplen < 16) return bad(d, "Linux cooked header cut short");
        return decode_sll_protocol(d, rd16(data + 14), data + 16, caplen - 16, out);
    case LT_SLL2:
        if (caplen < 20) return bad(d, "Linux cooked v2 header cut short");
        return decode_sll_protocol(d, rd16(data), data + 20, caplen - 20, out);
    case LT_NULL:
    case LT_LOOP: {
        if (caplen < 4) return bad(d, "loopback header cut short");
        /* the family word is host order for NULL, network order for LOOP;
         * accept both byte orders and every AF_INET6 value in the wild */
        uint32_t le = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
        uint32_t be = rd32(data);
        uint32_t af = (le & 0xFFFF0000u) == 0 ? le : be;
        if (af == 2) return decode_ipv4(d, data + 4, caplen - 4, out);
        if (af == 10 || af == 24 || af == 28 || af == 30) return decode_ipv6(d, data + 4, caplen - 4, out);
        return SN_DECODE_SKIP;
    }
    case LT_RAW:
    case LT_RAW_ALT:
    case LT_RAW_ALT2: return decode_ip(d, data, caplen, out);
    case LT_IPV4: return decode_ipv4(d, data, caplen, out);
    case LT_IPV6: return decode_ipv6(d, data, caplen, out);
    default: return decode_other_link(d, lt, data, caplen, wirelen, out);
    }
}
