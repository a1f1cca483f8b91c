/* synth.c - deterministic pcap/pcapng writer for TCP/UDP test traffic. */
#include "synth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SYNTH_MAX_FRAME 70000u
#define SYNTH_DEFAULT_SNAPLEN 262144u

struct msnsynth {
    FILE *fp;
    int own_fp;
    int failed;
    char err[128];
    msnsynth_opts o;
    uint64_t now;
    uint64_t packets, bytes;
    uint64_t rng;
    uint16_t ip_id;
    uint8_t frame[SYNTH_MAX_FRAME];
    uint8_t l4copy[SYNTH_MAX_FRAME];
};

struct msnsynth_tcp {
    msnsynth *w;
    msnsynth_endpoint ep[2]; /* 0 client, 1 server */
    uint32_t next_seq[2];
    msnsynth_seg_policy pol;
    uint64_t seg_counter;
};

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void fail(msnsynth *w, const char *what) {
    if (!w->failed) {
        w->failed = 1;
        snprintf(w->err, sizeof w->err, "%s%s%s", what, errno ? ": " : "", errno ? strerror(errno) : "");
    }
}

int msnsynth_linktype(const msnsynth_opts *o) {
    switch (o ? o->link : MSNSYNTH_LINK_ETHERNET) {
    case MSNSYNTH_LINK_RAW: return 101;
    case MSNSYNTH_LINK_SLL: return 113;
    case MSNSYNTH_LINK_SLL2: return 276;
    case MSNSYNTH_LINK_NULL: return 0;
    case MSNSYNTH_LINK_ETHERNET:
    default: return 1;
    }
}

int msnsynth_endpoint_set(msnsynth_endpoint *ep, const char *addr, uint16_t port) {
    memset(ep, 0, sizeof *ep);
    ep->port = port;
    if (inet_pton(AF_INET, addr, ep->addr) == 1) {
        ep->family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, addr, ep->addr) == 1) {
        ep->family = 6;
        return 0;
    }
    return -1;
}

/* ---- file formats ------------------------------------------------------ */

static void out(msnsynth *w, const void *p, size_t n) {
    if (w->failed || n == 0) return;
    if (fwrite(p, 1, n, w->fp) != n) fail(w, "write failed");
}

static void out_le32(msnsynth *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    out(w, b, 4);
}

static void out_le16(msnsynth *w, uint16_t v) {
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    out(w, b, 2);
}

static uint32_t snaplen_of(const msnsynth *w) { return w->o.snaplen ? w->o.snaplen : SYNTH_DEFAULT_SNAPLEN; }

static void write_file_header(msnsynth *w) {
    uint32_t lt = (uint32_t)msnsynth_linktype(&w->o);
    if (w->o.format == MSNSYNTH_PCAPNG) {
        out_le32(w, 0x0A0D0D0Au); /* SHB */
        out_le32(w, 28);
        out_le32(w, 0x1A2B3C4Du);
        out_le16(w, 1);
        out_le16(w, 0);
        out_le32(w, 0xFFFFFFFFu); /* section length unknown */
        out_le32(w, 0xFFFFFFFFu);
        out_le32(w, 28);
        out_le32(w, 1); /* IDB, default resolution: microseconds */
        out_le32(w, 20);
        out_le16(w, (uint16_t)lt);
        out_le16(w, 0);
        out_le32(w, snaplen_of(w));
        out_le32(w, 20);
    } else {
        out_le32(w, 0xA1B2C3D4u);
        out_le16(w, 2);
        out_le16(w, 4);
        out_le32(w, 0);
        out_le32(w, 0);
        out_le32(w, snaplen_of(w));
        out_le32(w, lt);
    }
}

static void write_record(msnsynth *w, const uint8_t *frame, size_t caplen, size_t wirelen) {
    uint32_t snap = snaplen_of(w);
    if (caplen > snap) caplen = snap;
    if (w->o.format == MSNSYNTH_PCAPNG) {
        static const uint8_t pad[4] = {0, 0, 0, 0};
        size_t padded = (caplen + 3u) & ~(size_t)3u;
        uint32_t blen = (uint32_t)(32u + padded);
        out_le32(w, 6);
        out_le32(w, blen);
        out_le32(w, 0);
        out_le32(w, (uint32_t)(w->now >> 32));
        out_le32(w, (uint32_t)w->now);
        out_le32(w, (uint32_t)caplen);
        out_le32(w, (uint32_t)wirelen);
        out(w, frame, caplen);
        out(w, pad, padded - caplen);
        out_le32(w, blen);
    } else {
        out_le32(w, (uint32_t)(w->now / 1000000u));
        out_le32(w, (uint32_t)(w->now % 1000000u));
        out_le32(w, (uint32_t)caplen);
        out_le32(w, (uint32_t)wirelen);
        out(w, frame, caplen);
    }
    w->packets++;
    w->bytes += caplen;
    w->now += w->o.step_us ? w->o.step_us : 1000u;
}

static msnsynth *open_common(FILE *fp, int own, const msnsynth_opts *opts) {
    msnsynth *w = calloc(1, sizeof *w);
    if (!w) {
        if (own) fclose(fp);
        return NULL;
    }
    w->fp = fp;
    w->own_fp = own;
    if (opts) w->o = *opts;
    if (w->o.nvlan > 2) w->o.nvlan = 2;
    w->now = w->o.start_us ? w->o.start_us : 1016955577000000ull; /* March 2002, like the example sessions' cookie */
    w->rng = 0x9E3779B97F4A7C15ull;
    w->ip_id = 1;
    write_file_header(w);
    return w;
}

msnsynth *msnsynth_open(const char *path, const msnsynth_opts *opts) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return NULL;
    return open_common(fp, 1, opts);
}

msnsynth *msnsynth_open_stream(FILE *fp, const msnsynth_opts *opts) { return open_common(fp, 0, opts); }

int msnsynth_close(msnsynth *w) {
    if (!w) return -1;
    if (fflush(w->fp) != 0) fail(w, "flush failed");
    if (w->own_fp && fclose(w->fp) != 0) fail(w, "close failed");
    int rc = w->failed ? -1 : 0;
    free(w);
    return rc;
}

const char *msnsynth_error(const msnsynth *w) { return w && w->failed ? w->err : "no error"; }
uint64_t msnsynth_now(const msnsynth *w) { return w->now; }
void msnsynth_advance(msnsynth *w, uint64_t us) { w->now += us; }
uint64_t msnsynth_packets(const msnsynth *w) { return w->packets; }
uint64_t msnsynth_bytes(const msnsynth *w) { return w->bytes; }
void msnsynth_seed(msnsynth *w, uint64_t seed) { w->rng = seed ? seed : 0x9E3779B97F4A7C15ull; }

uint64_t msnsynth_rand(msnsynth *w) {
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

int msnsynth_raw(msnsynth *w, const void *frame, size_t caplen, size_t wirelen) {
    if (wirelen < caplen) wirelen = caplen;
    write_record(w, frame, caplen, wirelen);
    return w->failed ? -1 : 0;
}

/* ---- frame building ---------------------------------------------------- */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1u) sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xFFFFu) + (sum >> 16);
    return (uint16_t)~sum;
}

static size_t l2_header(const msnsynth_opts *o, int family, uint8_t *b) {
    uint16_t etype = family == 6 ? 0x86DD : 0x0800;
    size_t n = 0;
    switch (o->link) {
    case MSNSYNTH_LINK_RAW: return 0;
    case MSNSYNTH_LINK_NULL: {
        uint32_t af = family == 6 ? 24u : 2u; /* BSD AF_INET6 as most captures carry it */
        memcpy(b, &af, 4);                    /* host byte order, as DLT_NULL defines */
        return 4;
    }
    case MSNSYNTH_LINK_SLL:
        put16(b, 0);     /* packet to us */
        put16(b + 2, 1); /* ARPHRD_ETHER */
        put16(b + 4, 6);
        memcpy(b + 6, "\x02\x00\x00\x00\x00\x01\x00\x00", 8);
        put16(b + 14, etype);
        return 16;
    case MSNSYNTH_LINK_SLL2:
        put16(b, etype);
        put16(b + 2, 0);
        put32(b + 4, 1); /* interface index */
        put16(b + 8, 1);
        b[10] = 0;
        b[11] = 6;
        memcpy(b + 12, "\x02\x00\x00\x00\x00\x01\x00\x00", 8);
        return 20;
    case MSNSYNTH_LINK_ETHERNET:
    default:
        memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
        n = 12;
        for (unsigned i = 0; i < o->nvlan && i < 2; i++) {
            put16(b + n, (o->nvlan == 2 && i == 0) ? 0x88A8 : 0x8100);
            put16(b + n + 2, (uint16_t)(o->vlan[i] & 0x0FFFu));
            n += 4;
        }
        put16(b + n, etype);
        return n + 2;
    }
}

/* L4 header + payload into l4 (already holds payload at l4 + hlen). */
static uint16_t l4_checksum(const msnsynth_endpoint *src, const msnsynth_endpoint *dst, uint8_t proto,
                            const uint8_t *l4, size_t l4len) {
    uint32_t sum = 0;
    size_t alen = src->family == 6 ? 16 : 4;
    sum = csum_add(sum, src->addr, alen);
    sum = csum_add(sum, dst->addr, alen);
    sum += proto;
    sum += (uint32_t)(l4len & 0xFFFFu) + (uint32_t)(l4len >> 16);
    sum = csum_add(sum, l4, l4len);
    return csum_fold(sum);
}

/* IP header(s) in front of an L4 segment. Returns header length. */
static size_t ip_header(const msnsynth_opts *o, const msnsynth_endpoint *src, const msnsynth_endpoint *dst,
                        uint8_t proto, size_t l4len, uint16_t id, uint16_t frag_field, uint8_t *b) {
    if (src->family == 6) {
        size_t ext = o->ipv6_ext_headers ? 16u : 0u;
        b[0] = 0x60;
        b[1] = b[2] = b[3] = 0;
        put16(b + 4, (uint16_t)(l4len + ext));
        b[6] = o->ipv6_ext_headers ? 0 : proto; /* 0 = hop-by-hop */
        b[7] = 64;
        memcpy(b + 8, src->addr, 16);
        memcpy(b + 24, dst->addr, 16);
        if (ext) {
            /* hop-by-hop (PadN) then destination options (PadN) */
            uint8_t *h = b + 40;
            h[0] = 60;
            h[1] = 0;
            h[2] = 1;
            h[3] = 4;
            memset(h + 4, 0, 4);
            h[8] = proto;
            h[9] = 0;
            h[10] = 1;
            h[11] = 4;
            memset(h + 12, 0, 4);
        }
        return 40 + ext;
    }
    b[0] = 0x45;
    b[1] = 0;
    put16(b + 2, (uint16_t)(20 + l4len));
    put16(b + 4, id);
    put16(b + 6, frag_field);
    b[8] = 64;
    b[9] = proto;
    b[10] = b[11] = 0;
    memcpy(b + 12, src->addr, 4);
    memcpy(b + 16, dst->addr, 4);
    put16(b + 10, csum_fold(csum_add(0, b, 20)));
    return 20;
}

/* The window every segment advertises (no window scale option): a sender
 * has at most this much unacknowledged (msnsynth_tcp_send). */
#define SYNTH_WINDOW 65535u

static size_t build_l4(uint8_t proto, const msnsynth_endpoint *src, const msnsynth_endpoint *dst, uint32_t seq,
                       uint32_t ack, uint8_t flags, const void *data, size_t len, uint8_t *l4, size_t cap) {
    size_t hl = proto == 6 ? 20u : 8u;
    if (hl + len > cap || hl + len > 65000u) return 0;
    memset(l4, 0, hl);
    put16(l4, src->port);
    put16(l4 + 2, dst->port);
    if (proto == 6) {
        put32(l4 + 4, seq);
        put32(l4 + 8, ack);
        l4[12] = 5u << 4;
        l4[13] = flags;
        put16(l4 + 14, SYNTH_WINDOW);
    } else {
        put16(l4 + 4, (uint16_t)(8 + len));
    }
    if (len) memcpy(l4 + hl, data, len);
    uint16_t ck = l4_checksum(src, dst, proto, l4, hl + len);
    put16(l4 + (proto == 6 ? 16 : 6), ck);
    return hl + len;
}

static size_t frame_one(const msnsynth_opts *o, uint8_t proto, const msnsynth_endpoint *src,
                        const msnsynth_endpoint *dst, uint32_t seq, uint32_t ack, uint8_t flags, const void *data,
                        size_t len, uint16_t id, uint8_t *buf, size_t cap) {
    if (cap < 128 || src->family != dst->family) return 0;
    size_t l2 = l2_header(o, src->family, buf);
    size_t iph = src->family == 6 ? (o->ipv6_ext_headers ? 56u : 40u) : 20u;
    size_t l4len = build_l4(proto, src, dst, seq, ack, flags, data, len, buf + l2 + iph, cap - l2 - iph);
    if (!l4len) return 0;
    ip_header(o, src, dst, proto, l4len, id, 0x4000 /* DF */, buf + l2);
    return l2 + iph + l4len;
}

size_t msnsynth_frame_udp(const msnsynth_opts *opts, const msnsynth_endpoint *src, const msnsynth_endpoint *dst,
                          const void *data, size_t len, uint8_t *buf, size_t cap) {
    msnsynth_opts d = {0};
    return frame_one(opts ? opts : &d, 17, src, dst, 0, 0, 0, data, len, 1, buf, cap);
}

size_t msnsynth_frame_tcp(const msnsynth_opts *opts, const msnsynth_endpoint *src, const msnsynth_endpoint *dst,
                          uint32_t seq, uint32_t ack, uint8_t flags, const void *data, size_t len, uint8_t *buf,
                          size_t cap) {
    msnsynth_opts d = {0};
    return frame_one(opts ? opts : &d, 6, src, dst, seq, ack, flags, data, len, 1, buf, cap);
}

/* w->frame holds one IPv6 packet after l2 bytes of link header: write it
 * as fragments instead. The unfragmentable part is the fixed header and,
 * with ipv6_ext_headers, the hop-by-hop header; the destination options
 * header and the L4 segment are fragmented. */
static int emit_ipv6_fragments(msnsynth *w, size_t l2, size_t total_ip, uint16_t id16) {
    uint8_t *l4copy = w->l4copy;
    uint8_t fixed[48];
    size_t unfrag = w->o.ipv6_ext_headers ? 48u : 40u;
    memcpy(fixed, w->frame + l2, unfrag);
    uint8_t nh = unfrag == 48 ? fixed[40] : fixed[6]; /* first header of the fragmentable part */
    if (unfrag == 48) fixed[40] = 44;
    else fixed[6] = 44;
    size_t fraglen = total_ip - unfrag;
    memcpy(l4copy, w->frame + l2 + unfrag, fraglen);
    size_t piece = ((size_t)w->o.ipv6_frag_mtu - unfrag - 8u) & ~(size_t)7u;
    if (w->o.ipv6_frag_mtu < unfrag + 16u) piece = 8;
    uint32_t id = 0x6a000000u | id16; /* uses the upper bits too */
    for (size_t off = 0; off < fraglen; off += piece) {
        size_t take = fraglen - off < piece ? fraglen - off : piece;
        int more = off + take < fraglen;
        uint8_t *f = w->frame;
        size_t h2 = l2_header(&w->o, 6, f);
        memcpy(f + h2, fixed, unfrag);
        put16(f + h2 + 4, (uint16_t)(unfrag - 40u + 8u + take));
        uint8_t *fh = f + h2 + unfrag;
        fh[0] = nh;
        fh[1] = 0;
        put16(fh + 2, (uint16_t)(off | (more ? 1u : 0u)));
        put32(fh + 4, id);
        memcpy(fh + 8, l4copy + off, take);
        write_record(w, f, h2 + unfrag + 8 + take, h2 + unfrag + 8 + take);
    }
    return w->failed ? -1 : 0;
}

/* Write one L4 segment as one packet, or as IPv4 or IPv6 fragments. */
static int emit(msnsynth *w, uint8_t proto, const msnsynth_endpoint *src, const msnsynth_endpoint *dst, uint32_t seq,
                uint32_t ack, uint8_t flags, const void *data, size_t len) {
    uint16_t id = w->ip_id++;
    size_t n = frame_one(&w->o, proto, src, dst, seq, ack, flags, data, len, id, w->frame, sizeof w->frame);
    if (!n) {
        errno = 0;
        fail(w, "packet too large or address families differ");
        return -1;
    }
    size_t l2 = l2_header(&w->o, src->family, w->frame);
    size_t total_ip = n - l2;
    if (src->family == 6 && w->o.ipv6_frag_mtu && total_ip > w->o.ipv6_frag_mtu)
        return emit_ipv6_fragments(w, l2, total_ip, id);
    if (src->family != 4 || !w->o.ipv4_frag_mtu || total_ip <= w->o.ipv4_frag_mtu) {
        write_record(w, w->frame, n, n);
        return w->failed ? -1 : 0;
    }
    /* Fragment the L4 bytes (header included) into 8-byte-aligned pieces. */
    uint8_t *l4copy = w->l4copy;
    size_t l4len = total_ip - 20;
    memcpy(l4copy, w->frame + l2 + 20, l4len);
    size_t piece = ((size_t)w->o.ipv4_frag_mtu - 20u) & ~(size_t)7u;
    if (piece < 8) piece = 8;
    for (size_t off = 0; off < l4len; off += piece) {
        size_t take = l4len - off < piece ? l4len - off : piece;
        int more = off + take < l4len;
        uint8_t *f = w->frame;
        size_t h2 = l2_header(&w->o, 4, f);
        ip_header(&w->o, src, dst, proto, take, id, (uint16_t)((more ? 0x2000u : 0u) | (off / 8u)), f + h2);
        memcpy(f + h2 + 20, l4copy + off, take);
        write_record(w, f, h2 + 20 + take, h2 + 20 + take);
    }
    return w->failed ? -1 : 0;
}

int msnsynth_udp(msnsynth *w, const msnsynth_endpoint *src, const msnsynth_endpoint *dst, const void *data,
                 size_t len) {
    return emit(w, 17, src, dst, 0, 0, 0, data, len);
}

/* ---- TCP --------------------------------------------------------------- */

msnsynth_tcp *msnsynth_tcp_open(msnsynth *w, const msnsynth_endpoint *client, const msnsynth_endpoint *server,
                                uint32_t isn_client, uint32_t isn_server, int handshake) {
    msnsynth_tcp *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->w = w;
    c->ep[0] = *client;
    c->ep[1] = *server;
    c->next_seq[0] = isn_client;
    c->next_seq[1] = isn_server;
    c->pol.mss = 1460;
    c->pol.acks = 1;
    if (handshake) {
        emit(w, 6, client, server, isn_client, 0, MSNSYNTH_TCP_SYN, NULL, 0);
        emit(w, 6, server, client, isn_server, isn_client + 1, MSNSYNTH_TCP_SYN | MSNSYNTH_TCP_ACK, NULL, 0);
        emit(w, 6, client, server, isn_client + 1, isn_server + 1, MSNSYNTH_TCP_ACK, NULL, 0);
        c->next_seq[0]++;
        c->next_seq[1]++;
    }
    return c;
}

void msnsynth_tcp_policy(msnsynth_tcp *c, const msnsynth_seg_policy *p) {
    c->pol = *p;
    if (!c->pol.mss) c->pol.mss = 1460;
}

typedef struct emission {
    size_t off, len;
    size_t low; /* the lowest off of this emission and those after it */
} emission;

int msnsynth_tcp_send(msnsynth_tcp *c, int from_server, const void *data, size_t len) {
    int d = from_server ? 1 : 0;
    const uint8_t *bytes = data;
    size_t mss = c->pol.mss ? c->pol.mss : 1460;
    if (len == 0) return 0;
    size_t nseg = (len + mss - 1) / mss;
    /* worst case per segment: itself, its duplicate, one overlap retransmission */
    emission *em = calloc(nseg * 3 + 1, sizeof *em);
    if (!em) return -1;
    size_t ne = 0;
    int prev_dropped = 0;
    for (size_t i = 0; i < nseg; i++) {
        size_t off = i * mss;
        size_t n = len - off < mss ? len - off : mss;
        c->seg_counter++;
        int dropped = c->pol.drop_every && c->seg_counter % c->pol.drop_every == 0;
        if (!dropped) {
            em[ne++] = (emission){off, n, 0};
            if (c->pol.duplicate) em[ne++] = (emission){off, n, 0};
        }
        if (c->pol.overlap && i > 0 && !dropped && !prev_dropped) {
            size_t prev_len = mss;
            size_t start = off - prev_len / 2;
            size_t end = off + (n + 1) / 2;
            if (end > start) em[ne++] = (emission){start, end - start, 0};
        }
        prev_dropped = dropped;
    }
    if (c->pol.reorder)
        for (size_t i = 0; i + 1 < ne; i += 2) {
            emission t = em[i];
            em[i] = em[i + 1];
            em[i + 1] = t;
        }
    /* The peer acknowledges as a receiver does when the sender would go
     * past its window: what came before the lowest byte still to be sent
     * (dropped segments were received, only the capture lost them). */
    for (size_t i = ne; i-- > 0;) em[i].low = i + 1 < ne && em[i + 1].low < em[i].off ? em[i + 1].low : em[i].off;
    size_t acked = 0;
    int rc = 0;
    for (size_t i = 0; i < ne && rc == 0; i++) {
        if (c->pol.acks && em[i].off + em[i].len - acked > SYNTH_WINDOW && em[i].low > acked) {
            acked = em[i].low;
            rc = emit(c->w, 6, &c->ep[!d], &c->ep[d], c->next_seq[!d], c->next_seq[d] + (uint32_t)acked,
                      MSNSYNTH_TCP_ACK, NULL, 0);
            if (rc) break;
        }
        rc = emit(c->w, 6, &c->ep[d], &c->ep[!d], c->next_seq[d] + (uint32_t)em[i].off, c->next_seq[!d],
                  MSNSYNTH_TCP_ACK | MSNSYNTH_TCP_PSH, bytes + em[i].off, em[i].len);
    }
    free(em);
    c->next_seq[d] += (uint32_t)len;
    if (rc == 0 && c->pol.acks)
        rc = emit(c->w, 6, &c->ep[!d], &c->ep[d], c->next_seq[!d], c->next_seq[d], MSNSYNTH_TCP_ACK, NULL, 0);
    return rc;
}

int msnsynth_tcp_send_str(msnsynth_tcp *c, int from_server, const char *text) {
    return msnsynth_tcp_send(c, from_server, text, strlen(text));
}

int msnsynth_tcp_close(msnsynth_tcp *c, int from_server) {
    int d = from_server ? 1 : 0;
    msnsynth *w = c->w;
    int rc = emit(w, 6, &c->ep[d], &c->ep[!d], c->next_seq[d], c->next_seq[!d], MSNSYNTH_TCP_FIN | MSNSYNTH_TCP_ACK,
                  NULL, 0);
    c->next_seq[d]++;
    if (rc == 0)
        rc = emit(w, 6, &c->ep[!d], &c->ep[d], c->next_seq[!d], c->next_seq[d], MSNSYNTH_TCP_FIN | MSNSYNTH_TCP_ACK,
                  NULL, 0);
    c->next_seq[!d]++;
    if (rc == 0) rc = emit(w, 6, &c->ep[d], &c->ep[!d], c->next_seq[d], c->next_seq[!d], MSNSYNTH_TCP_ACK, NULL, 0);
    free(c);
    return rc;
}

int msnsynth_tcp_reset(msnsynth_tcp *c, int from_server) {
    int d = from_server ? 1 : 0;
    int rc = emit(c->w, 6, &c->ep[d], &c->ep[!d], c->next_seq[d], c->next_seq[!d], MSNSYNTH_TCP_RST | MSNSYNTH_TCP_ACK,
                  NULL, 0);
    free(c);
    return rc;
}

void msnsynth_tcp_abandon(msnsynth_tcp *c) { free(c); }
