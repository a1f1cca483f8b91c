/* decode.c - L2/L3/L4 decoding. */
#include "decode.h"

#include <stdint.h>
#include <string.h>

#include "defrag.h"

#define LT_NULL 0
#define LT_EN10MB 1
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
    case LT_SLL2: return 1;
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

/* L4: p/n is the transport header and payload as captured; l4_len is its
 * length according to the IP header. */
static sn_decode_status decode_l4(sn_decoder *d, uint8_t proto, const uint8_t *p, size_t n, size_t l4_len,
                                  sn_packet *out) {
    out->proto = proto;
    if (proto == 6) {
        if (n < 20) return bad(d, "TCP header cut short");
        size_t hl = (size_t)(p[12] >> 4) * 4u;
        if (hl < 20 || hl > l4_len) return bad(d, "bad TCP header length");
        sn_packet_set_ports(out, rd16(p), rd16(p + 2));
        out->seq = rd32(p + 4);
        out->ack = rd32(p + 8);
        out->tcp_flags = p[13];
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
        sn_packet_set_ports(out, rd16(p), rd16(p + 2));
        out->payload = p + 8;
        out->len = (n < ulen ? n : ulen) - 8;
        out->missing = ulen - 8 - out->len;
        return SN_DECODE_OK;
    }
    return SN_DECODE_SKIP;
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
    uint8_t proto = p[9];
    uint16_t frag = rd16(p + 6);
    uint32_t offset = (uint32_t)(frag & 0x1FFFu) * 8u;
    int more = (frag & 0x2000u) != 0;
    if (offset || more) {
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
        int r = sn_defrag_add(d->defrag, &out->src, &out->dst, rd16(p + 4), proto, offset, more, p + hl, total - hl,
                              out->ts, &whole, &wlen);
        note_overlap(d, "overlapping IPv4 fragments with different contents; the first copy is kept");
        if (r < 0) {
            d->frag_dropped++;
            return bad(d, "IPv4 fragment rejected (bad offset or memcap)");
        }
        if (r == 0) return SN_DECODE_HELD;
        d->reassembled++;
        return decode_l4(d, proto, whole, wlen, wlen, out);
    }
    return decode_l4(d, proto, p + hl, avail - hl, total - hl, out);
}

/* An IPv6 fragment (the fragment header at p + off). Returns HELD or an
 * error status, or DECODE_OK with the reassembled fragmentable part in
 * *whole / *wlen. */
static sn_decode_status ipv6_fragment(sn_decoder *d, const uint8_t *p, size_t off, size_t avail, size_t end,
                                      sn_packet *out, const uint8_t **whole, size_t *wlen) {
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
    int r = sn_defrag_add(d->defrag, &out->src, &out->dst, rd32(p + off + 4), p[off], offset, more, p + off + 8,
                          end - off - 8, out->ts, whole, wlen);
    note_overlap(d, "overlapping IPv6 fragments with different contents; the first copy is kept");
    if (r < 0) {
        d->frag_dropped++;
        return bad(d, "IPv6 fragment rejected (bad offset or memcap)");
    }
    if (r == 0) return SN_DECODE_HELD;
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
            uint8_t nh = p[off];
            sn_decode_status st = ipv6_fragment(d, p, off, avail, end, out, &whole, &wlen);
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
    if (n < 1) return bad(d, "PPP protocol cut short");
    /* the protocol field compressed to one byte (RFC 1661 PFC), which RFC
     * 2516 advises against but peers may still negotiate: a first byte
     * that is odd is the whole field */
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
        out->vlan = (uint16_t)(rd16(p) & 0x0FFFu);
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

/* The protocol field of a Linux cooked header: an Ethertype, or below
 * 1536 one of Linux's own values, of which 0x0004 (ETH_P_802_2) says an
 * LLC header follows (the 802.3 length is not kept). */
static sn_decode_status decode_sll_protocol(sn_decoder *d, uint16_t proto, const uint8_t *p, size_t n, sn_packet *out) {
    if (proto >= 1536) return decode_ethertype(d, proto, p, n, out);
    if (proto == 0x0004) return decode_llc(d, p, n, SIZE_MAX, out, 0);
    return SN_DECODE_SKIP;
}

sn_decode_status sn_decode(sn_decoder *d, int lt, const uint8_t *data, size_t caplen, size_t wirelen, uint64_t ts,
                           sn_packet *out) {
    /* field by field rather than memset: see sn_addr_set_words */
    out->ts = ts;
    sn_addr_set_words(&out->src, 0, 0, 0);
    sn_addr_set_words(&out->dst, 0, 0, 0);
    sn_packet_set_ports(out, 0, 0);
    out->proto = out->tcp_flags = 0;
    out->seq = out->ack = 0;
    out->payload = NULL;
    out->len = out->missing = 0;
    out->wire_len = wirelen;
    out->vlan = 0;
    switch (lt) {
    case LT_EN10MB:
        if (caplen < 14) return bad(d, "Ethernet header cut short");
        return decode_ethertype(d, rd16(data + 12), data + 14, caplen - 14, out);
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
    default: return bad(d, "unsupported link type");
    }
}
