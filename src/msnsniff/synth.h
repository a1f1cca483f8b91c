/* synth.h - msnsynth: deterministic capture synthesizer.
 *
 * Writes pcap or pcapng files holding TCP connections (handshake, data cut
 * into segments of any size, reordering, duplicates, overlapping
 * retransmissions, gaps, FIN/RST) and UDP datagrams over IPv4 or IPv6,
 * framed as Ethernet (optionally 802.1Q / QinQ tagged), raw IP, Linux
 * cooked (SLL, SLL2) or BSD loopback. The same inputs always give the same
 * bytes: time advances by a fixed step per packet and the only randomness
 * is a seeded generator. Used by the analyzer's tests and by the
 * benchmark's capture generator.
 *
 * Errors: functions returning int give 0 on success and -1 on failure
 * (bad argument or write error); msnsynth_error() then says why. */
#ifndef MSNSYNTH_H
#define MSNSYNTH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum msnsynth_format {
    MSNSYNTH_PCAP = 0,  /* classic pcap, microsecond timestamps */
    MSNSYNTH_PCAPNG = 1 /* pcapng: SHB + IDB + EPBs */
} msnsynth_format;

typedef enum msnsynth_link {
    MSNSYNTH_LINK_ETHERNET = 0, /* DLT_EN10MB, with opts.vlan tags if any */
    MSNSYNTH_LINK_RAW = 1,      /* DLT_RAW (LINKTYPE_RAW 101) */
    MSNSYNTH_LINK_SLL = 2,      /* LINKTYPE_LINUX_SLL 113 */
    MSNSYNTH_LINK_SLL2 = 3,     /* LINKTYPE_LINUX_SLL2 276 */
    MSNSYNTH_LINK_NULL = 4      /* DLT_NULL, host-order AF_ family word */
} msnsynth_link;

typedef struct msnsynth_opts {
    msnsynth_format format;
    msnsynth_link link;
    uint16_t vlan[2];       /* 802.1Q VLAN ids, outermost first (Ethernet only) */
    unsigned nvlan;         /* 0, 1 or 2 (QinQ: outer tag 0x88a8) */
    uint32_t snaplen;       /* 0: 262144; longer packets are cut (caplen < len) */
    uint64_t start_us;      /* timestamp of the first packet (µs since epoch) */
    uint32_t step_us;       /* clock advance after every packet; 0: 1000 */
    uint16_t ipv4_frag_mtu; /* 0: never; else IPv4 packets above it are fragmented */
    uint16_t ipv6_frag_mtu; /* the same for IPv6 (a fragment header after the
                               hop-by-hop header; 32-bit identification) */
    int ipv6_ext_headers;   /* add hop-by-hop and destination options headers */
} msnsynth_opts;

/* How one msnsynth_tcp_send() call is cut into segments and emitted. */
typedef struct msnsynth_seg_policy {
    size_t mss;          /* payload bytes per segment; 0: 1460 */
    int reorder;         /* swap each pair of adjacent segments */
    int duplicate;       /* send every segment twice */
    int overlap;         /* after each segment, retransmit a segment spanning
                            the end of the previous and start of this one */
    unsigned drop_every; /* 0: none; else drop every Nth segment (the peer
                            still acknowledges it, as after a capture loss) */
    int acks;            /* the peer acknowledges after each send() call, and
                            before the sender would have more than the
                            window (65535, unscaled) unacknowledged */
} msnsynth_seg_policy;

typedef struct msnsynth_endpoint {
    int family;       /* 4 or 6 */
    uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
    uint16_t port;
} msnsynth_endpoint;

typedef struct msnsynth msnsynth;
typedef struct msnsynth_tcp msnsynth_tcp;

/* Parse "1.2.3.4" or "2001:db8::1" into ep. Returns 0 or -1. */
int msnsynth_endpoint_set(msnsynth_endpoint *ep, const char *addr, uint16_t port);

/* Open a writer on a new file, or on an open stream (not closed by
 * msnsynth_close). opts may be NULL for Ethernet pcap defaults. */
msnsynth *msnsynth_open(const char *path, const msnsynth_opts *opts);
msnsynth *msnsynth_open_stream(FILE *fp, const msnsynth_opts *opts);
/* Flush and free; returns -1 if any write failed. */
int msnsynth_close(msnsynth *w);
const char *msnsynth_error(const msnsynth *w);

/* Current timestamp and manual clock control. */
uint64_t msnsynth_now(const msnsynth *w);
void msnsynth_advance(msnsynth *w, uint64_t us);
/* Packets and bytes (captured) written so far. */
uint64_t msnsynth_packets(const msnsynth *w);
uint64_t msnsynth_bytes(const msnsynth *w);

/* Deterministic pseudo-random numbers (xorshift64*), seeded per writer;
 * for generators that want variety without losing reproducibility. */
void msnsynth_seed(msnsynth *w, uint64_t seed);
uint64_t msnsynth_rand(msnsynth *w);

/* TCP. open() writes the three-way handshake when handshake != 0 (else the
 * connection is "already established": a capture started mid-stream).
 * Sequence numbers start from isn_client / isn_server. */
msnsynth_tcp *msnsynth_tcp_open(msnsynth *w, const msnsynth_endpoint *client, const msnsynth_endpoint *server,
                                uint32_t isn_client, uint32_t isn_server, int handshake);
void msnsynth_tcp_policy(msnsynth_tcp *c, const msnsynth_seg_policy *p);
/* Send len bytes in one direction (from_server: 0 client->server). */
int msnsynth_tcp_send(msnsynth_tcp *c, int from_server, const void *data, size_t len);
int msnsynth_tcp_send_str(msnsynth_tcp *c, int from_server, const char *text);
/* Orderly close (FIN from closer, FIN from the other side, last ACK) or
 * reset (RST from closer); both free c. */
int msnsynth_tcp_close(msnsynth_tcp *c, int from_server);
int msnsynth_tcp_reset(msnsynth_tcp *c, int from_server);
/* Forget c without writing anything (connection still open at capture end). */
void msnsynth_tcp_abandon(msnsynth_tcp *c);

/* One UDP datagram. */
int msnsynth_udp(msnsynth *w, const msnsynth_endpoint *src, const msnsynth_endpoint *dst, const void *data, size_t len);

/* One record with exactly these link-layer bytes (len on the wire may be
 * larger than caplen to fake a snaplen cut). For corrupt-input tests. */
int msnsynth_raw(msnsynth *w, const void *frame, size_t caplen, size_t wirelen);

/* Build the link frame of one IP packet into buf (no file I/O), as the
 * writer would; returns its length or 0 if it does not fit. For fuzz seeds
 * and in-memory tests. */
size_t msnsynth_frame_udp(const msnsynth_opts *opts, const msnsynth_endpoint *src, const msnsynth_endpoint *dst,
                          const void *data, size_t len, uint8_t *buf, size_t cap);
size_t msnsynth_frame_tcp(const msnsynth_opts *opts, const msnsynth_endpoint *src, const msnsynth_endpoint *dst,
                          uint32_t seq, uint32_t ack, uint8_t flags, const void *data, size_t len, uint8_t *buf,
                          size_t cap);

/* The pcap link type number a writer with these options uses. */
int msnsynth_linktype(const msnsynth_opts *opts);

#define MSNSYNTH_TCP_FIN 0x01
#define MSNSYNTH_TCP_SYN 0x02
#define MSNSYNTH_TCP_RST 0x04
#define MSNSYNTH_TCP_PSH 0x08
#define MSNSYNTH_TCP_ACK 0x10

#endif
