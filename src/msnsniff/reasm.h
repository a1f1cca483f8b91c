/* reasm.h - TCP stream reassembly, one stream per direction.
 *
 * Policy (fixed, documented in docs/msnsniff.md):
 *   - bytes are delivered in sequence order exactly once;
 *   - overlaps: bytes delivered are never replaced; a later copy of bytes
 *     delivered but still held for the consumer with different contents
 *     is counted and reported through ops->overlap with the 64-bit
 *     FNV-1a hash of each copy, then ignored (bytes it consumed are not
 *     kept, so a retransmission of those is only counted as such). Of
 *     two copies of queued (out-of-order) bytes, the one a Linux
 *     receiver keeps is kept (enqueue): the queued one, unless the later
 *     segment starts before it, or at the same byte and ends after it; a
 *     difference is reported the same way;
 *   - a connection seen mid-stream starts at the first data segment seen
 *     and the consumer is told (gap of unknown size, lost = 0);
 *   - once both SYNs were seen, data and acknowledgements past the
 *     receiver's window (sn_stream.rwnd_win) are taken as those past the
 *     reassembly window are: not queued, proving no hole;
 *   - a hole is declared lost (a gap) when the peer acknowledges data we
 *     never saw, when the queued out-of-order bytes exceed the per-flow
 *     limit or the memcap, or when the flow ends; delivery then resumes at
 *     the next queued byte and the consumer resynchronises;
 *   - the consumer sees contiguous bytes and returns how many it consumed;
 *     the rest is kept (copied) and presented again with the next bytes.
 *     In-order segments are handed over straight from the packet when
 *     nothing is pending, so the common case copies nothing. */
#ifndef SN_REASM_H
#define SN_REASM_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "memcap.h"

typedef struct sn_seg sn_seg;

typedef struct sn_stream {
    uint32_t next_seq; /* next byte to deliver */
    uint32_t fin_seq;  /* sequence number the FIN occupies */
    uint32_t peer_ack; /* highest acknowledgement the peer sent */
    /* Beyond the reassembly window: the furthest acknowledgement the peer
     * sent, and the last segment this side sent. Either alone may be a
     * forged or garbage number; when both sides agree, the bytes before
     * them were lost from the capture (sn_reasm_segment). */
    uint32_t far_ack, far_seq;
    uint32_t isn; /* the initial sequence number of its SYN, if has_isn */
    unsigned started : 1, fin : 1, peer_ack_set : 1, ignore : 1, done : 1, far_ack_set : 1, far_seq_set : 1,
        has_isn : 1, far_agreed : 1, rwnd_on : 1,
        wscale : 5; /* the window scale option of its SYN, if has_isn (sn_tcp_wscale) */
    /* When far_ack and far_seq first agreed (capture time in ms, modulo
     * 2^32; it fills the padding before buf): the hole is taken only
     * once they still agree SN_REASM_FAR_WAIT_MS later with nothing at
     * the old position in between (far_hole_confirmed). */
    uint32_t far_since;
    uint8_t *buf; /* delivered to the consumer but not consumed */
    size_t len, cap;
    sn_seg *ooo;      /* queued out-of-order segments, sorted, disjoint */
    sn_seg *ooo_last; /* the last of them: data after a hole is added here at once */
    size_t ooo_bytes;
    uint32_t ooo_count; /* how many (SN_REASM_WALK_MAX bounds an insertion's walk) */
    /* The peer's receive window, followed (rwnd_on) once both SYNs were
     * seen: the window field of the peer's last acknowledgement (or, to
     * the SYN-ACK, of its SYN), scaled by rwnd_shift (the peer's window
     * scale, if both SYNs offered one). The receiver has acknowledged no
     * more than the stream's delivery point, or peer_ack if that is
     * further: past that plus its window (and SN_REASM_RWND_SLACK) it
     * drops data and cannot have acknowledged any, and such numbers are
     * far ones (beyond_window). In the padding after ooo_count: the
     * stream stays 128 bytes, which indexing st[dir] is cheaper for. */
    uint16_t rwnd_win;
    uint8_t rwnd_shift;
    uint64_t offset; /* stream offset of the next byte to deliver */
    uint64_t gaps, gap_bytes, retrans, overlap_conflicts;
} sn_stream;
_Static_assert(sizeof(void *) != 8 || sizeof(sn_stream) == 128, "sn_stream fills two cache lines, no more");

/* How far into the sorted queue of out-of-order segments an insertion
 * walks: further in, as over the flow's memory limit, the oldest hole is
 * given up. Appending after the last segment needs no walk, filling the
 * first holes a short one; a real stream has a few hundred segments in
 * its window at most, while a hostile one of tiny segments in random
 * order would make every packet walk tens of thousands. */
#define SN_REASM_WALK_MAX 4096u

/* How long (capture time) a hole beyond the window waits for the two
 * ends' far numbers to be contradicted before it is taken. A forger can
 * send a far segment and its acknowledgement together; it cannot stop
 * the endpoints from answering within a round trip at the old position
 * (the receiver acknowledges what it really expects, the sender goes on
 * sending there), and any such packet clears the far numbers. */
#define SN_REASM_FAR_WAIT_MS 1000

/* How far past the right edge of the receiver's window data and
 * acknowledgements are still taken: the capture may show a window update
 * after the data it let through (directions captured apart), and one
 * more unscaled window covers such skew. */
#define SN_REASM_RWND_SLACK 65536u

/* Why bytes of a stream are lost (sn_reasm_ops.gap). */
typedef enum sn_gap_why {
    SN_GAP_MISSING = 0, /* never seen: acknowledged, cut by the snaplen, or the flow ended */
    SN_GAP_GIVEN_UP,    /* never seen, given up as the data queued after it outgrew the memory limit */
    SN_GAP_DROPPED      /* seen, but the consumer's unconsumed bytes outgrew the memory limit */
} sn_gap_why;

typedef struct sn_reasm_ops {
    /* p/n: contiguous bytes; returns how many were consumed (<= n). */
    size_t (*data)(void *ctx, void *owner, int dir, const uint8_t *p, size_t n);
    /* lost bytes were never seen (0: stream picked up mid-way, size
     * unknown); pending bytes the consumer had not consumed were dropped;
     * why: how they were lost. */
    void (*gap)(void *ctx, void *owner, int dir, uint64_t lost, size_t pending, sn_gap_why why);
    /* Two copies of the len bytes at stream offset `offset` differ: the
     * one that came first hashes to first_hash, the later one to
     * second_hash (64-bit FNV-1a); second_kept: the later one is kept.
     * May be NULL. */
    void (*overlap)(void *ctx, void *owner, int dir, uint64_t offset, uint64_t len, uint64_t first_hash,
                    uint64_t second_hash, int second_kept);
} sn_reasm_ops;

typedef struct sn_reasm {
    sn_memcap *mem;
    size_t flow_limit; /* bytes buffered + queued per direction */
    const sn_reasm_ops *ops;
    void *ctx;
    uint64_t segments, out_of_order, gaps, memcap_drops, out_of_window;
} sn_reasm;

void sn_reasm_init(sn_reasm *r, sn_memcap *mem, size_t flow_limit, const sn_reasm_ops *ops, void *ctx);
/* A stream all zero, which is what this makes (sn_flow_create zeroes
 * its flow's streams with the flow). */
void sn_stream_init(sn_stream *s);
void sn_stream_free(sn_reasm *r, sn_stream *s);

/* One TCP segment sent in direction dir; st[dir] is its stream, st[!dir]
 * the reverse stream (whose holes this segment's ACK may prove lost). */
void sn_reasm_segment(sn_reasm *r, void *owner, sn_stream st[2], int dir, const sn_packet *pkt);
/* Deliver everything still queued in one direction, declaring holes lost. */
void sn_reasm_flush(sn_reasm *r, void *owner, sn_stream *s, int dir);
/* Has the connection carried anything yet: data or a FIN in either
 * direction? (A SYN with a new initial sequence number then starts
 * another connection on the same addresses and ports.) */
int sn_stream_used(const sn_stream st[2]);
/* Bytes this stream holds (buffer capacity + queued segments). */
size_t sn_stream_memory(const sn_stream *s);
/* 64-bit FNV-1a of p[0..n). */
uint64_t sn_fnv1a64(const uint8_t *p, size_t n);
/* Stop buffering this direction (not MSN traffic); frees its memory. */
void sn_stream_ignore(sn_reasm *r, sn_stream *s);

#endif
