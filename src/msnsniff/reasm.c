/* reasm.c - TCP reassembly. See reasm.h for the policy. */
#include "reasm.h"

#include <stdlib.h>
#include <string.h>

/* Segments more than this far ahead of the delivery point are treated as
 * garbage (or another connection reusing the tuple), not as a hole to wait
 * for. */
#define REASM_WINDOW (64u * 1024u * 1024u)
#define REASM_BUF_MIN 4096u
#define REASM_BUF_KEEP 65536u

struct sn_seg {
    sn_seg *next;
    uint32_t seq;
    uint32_t len;
    uint32_t from; /* where the segment these bytes came from starts (enqueue) */
    uint8_t data[];
};

static int32_t seq_diff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }

void sn_reasm_init(sn_reasm *r, sn_memcap *mem, size_t flow_limit, const sn_reasm_ops *ops, void *ctx) {
    memset(r, 0, sizeof *r);
    r->mem = mem;
    r->flow_limit = flow_limit ? flow_limit : 1024u * 1024u;
    r->ops = ops;
    r->ctx = ctx;
}

void sn_stream_init(sn_stream *s) { memset(s, 0, sizeof *s); }

static void free_queue(sn_reasm *r, sn_stream *s) {
    while (s->ooo) {
        sn_seg *g = s->ooo;
        s->ooo = g->next;
        sn_mem_free(r->mem, g, sizeof *g + g->len);
    }
    s->ooo_last = NULL;
    s->ooo_bytes = 0;
    s->ooo_count = 0;
}

void sn_stream_free(sn_reasm *r, sn_stream *s) {
    free_queue(r, s);
    sn_mem_free(r->mem, s->buf, s->cap);
    s->buf = NULL;
    s->len = s->cap = 0;
}

size_t sn_stream_memory(const sn_stream *s) { return s->cap + s->ooo_bytes; }

int sn_stream_used(const sn_stream st[2]) {
    for (int d = 0; d < 2; d++)
        if (st[d].offset || st[d].len || st[d].ooo || st[d].fin || st[d].done) return 1;
    return 0;
}

void sn_stream_ignore(sn_reasm *r, sn_stream *s) {
    sn_stream_free(r, s);
    s->ignore = 1;
}

/* Report a hole of `lost` bytes at the delivery point and move past it. */
static void skip(sn_reasm *r, void *owner, sn_stream *s, int dir, uint32_t lost, sn_gap_why why) {
    size_t pending = s->len;
    s->len = 0;
    s->next_seq += lost;
    s->offset += lost;
    s->gaps++;
    s->gap_bytes += lost;
    r->gaps++;
    if (!s->ignore) r->ops->gap(r->ctx, owner, dir, lost, pending, why);
}

static int grow(sn_reasm *r, sn_stream *s, size_t need) {
    if (need <= s->cap) return 0;
    if (need > r->flow_limit) return -1;
    size_t cap = s->cap ? s->cap : REASM_BUF_MIN;
    while (cap < need) cap *= 2;
    if (cap > r->flow_limit) cap = r->flow_limit;
    uint8_t *b = sn_mem_realloc(r->mem, s->buf, s->cap, cap);
    if (!b) return -1;
    s->buf = b;
    s->cap = cap;
    return 0;
}

/* Bytes the consumer left of a delivery with nothing held before: kept
 * for the next one (or dropped as a gap over the limit). */
static __attribute__((noinline)) void keep_unconsumed(sn_reasm *r, void *owner, sn_stream *s, int dir, const uint8_t *p,
                                                      size_t n) {
    if (grow(r, s, n) != 0) {
        r->memcap_drops++;
        s->gaps++;
        s->gap_bytes += n;
        r->gaps++;
        r->ops->gap(r->ctx, owner, dir, n, 0, SN_GAP_DROPPED);
        return;
    }
    memcpy(s->buf, p, n);
    s->len = n;
}

/* n in-order bytes after bytes the consumer left before: appended to
 * them, and all of it presented again. */
static __attribute__((noinline)) void deliver_after_held(sn_reasm *r, void *owner, sn_stream *s, int dir,
                                                         const uint8_t *p, size_t n) {
    if (grow(r, s, s->len + n) != 0) {
        /* the consumer cannot make progress within the limit: drop what is
         * pending plus these bytes and let it resynchronise */
        r->memcap_drops++;
        size_t pending = s->len;
        s->len = 0;
        s->gaps++;
        s->gap_bytes += n;
        r->gaps++;
        r->ops->gap(r->ctx, owner, dir, n, pending, SN_GAP_DROPPED);
        return;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    size_t used = r->ops->data(r->ctx, owner, dir, s->buf, s->len);
    if (s->ignore) return;
    if (used >= s->len) {
        s->len = 0;
        if (s->cap > REASM_BUF_KEEP) {
            sn_mem_free(r->mem, s->buf, s->cap);
            s->buf = NULL;
            s->cap = 0;
        }
    } else if (used) {
        memmove(s->buf, s->buf + used, s->len - used);
        s->len -= used;
    }
}

/* Hand n in-order bytes to the consumer. Small, for the packet path
 * (plain_segment): the common case, nothing held and everything
 * consumed, is the consumer's call alone. */
static inline void deliver(sn_reasm *r, void *owner, sn_stream *s, int dir, const uint8_t *p, size_t n) {
    s->next_seq += (uint32_t)n;
    s->offset += n;
    if (s->ignore || n == 0) return;
    if (s->len) {
        deliver_after_held(r, owner, s, dir, p, n);
        return;
    }
    size_t used = r->ops->data(r->ctx, owner, dir, p, n);
    if (!s->ignore && used < n) keep_unconsumed(r, owner, s, dir, p + used, n - used);
}

/* Deliver queued segments that have become contiguous. */
static void drain(sn_reasm *r, void *owner, sn_stream *s, int dir) {
    while (s->ooo && s->ooo->seq == s->next_seq) {
        sn_seg *g = s->ooo;
        s->ooo = g->next;
        if (!s->ooo) s->ooo_last = NULL;
        s->ooo_bytes -= sizeof *g + g->len;
        s->ooo_count--;
        deliver(r, owner, s, dir, g->data, g->len);
        sn_mem_free(r->mem, g, sizeof *g + g->len);
    }
}

static int queue_piece(sn_reasm *r, sn_stream *s, sn_seg **link, uint32_t seq, const uint8_t *p, uint32_t n,
                       uint32_t from) {
    size_t sz = sizeof(sn_seg) + n;
    if (s->ooo_bytes + s->cap + sz > r->flow_limit) return -1;
    sn_seg *g = sn_mem_alloc(r->mem, sz);
    if (!g) return -1;
    g->seq = seq;
    g->len = n;
    g->from = from;
    memcpy(g->data, p, n);
    g->next = *link;
    *link = g;
    if (!g->next) s->ooo_last = g;
    s->ooo_bytes += sz;
    s->ooo_count++;
    return 0;
}

uint64_t sn_fnv1a64(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Insert [seq, seq+n): bytes no queued segment holds yet are queued;
 * bytes one holds are kept as a Linux receiver keeps them
 * (tcp_data_queue_ofo): the queued copy, unless the new segment starts
 * before the queued one (so does one at the delivery point: in order,
 * tcp_data_queue takes it whole and tcp_ofo_queue trims the queue behind
 * it), or at the same byte and ends after it (rb_replace_node); the
 * start of a queued piece is that of the segment it came from (from).
 * Then the new bytes are written over the queued ones. A difference is
 * told either way. */
static int enqueue(sn_reasm *r, void *owner, sn_stream *s, int dir, uint32_t seq, const uint8_t *p, uint32_t n) {
    sn_seg **link = &s->ooo;
    uint32_t start = seq, end = seq + n;
    /* after everything queued (the stream goes on after a hole): no walk,
     * which made a long queue of small segments cost its square */
    if (s->ooo_last && seq_diff(seq, s->ooo_last->seq + s->ooo_last->len) >= 0)
        return queue_piece(r, s, &s->ooo_last->next, seq, p, n, seq);
    uint32_t steps = 0;
    while (seq_diff(end, seq) > 0) {
        if (++steps > SN_REASM_WALK_MAX) return -1; /* as over the memory limit */
        sn_seg *x = *link;
        if (!x) return queue_piece(r, s, link, seq, p, (uint32_t)(end - seq), start);
        uint32_t xend = x->seq + x->len;
        if (seq_diff(end, x->seq) <= 0) return queue_piece(r, s, link, seq, p, (uint32_t)(end - seq), start);
        if (seq_diff(seq, x->seq) < 0) {
            uint32_t take = x->seq - seq;
            if (queue_piece(r, s, link, seq, p, take, start) != 0) return -1;
            link = &(*link)->next; /* now points at x */
            p += take;
            seq += take;
        }
        /* [seq, ...) starts inside or after x */
        if (seq_diff(seq, xend) < 0) {
            uint32_t covered = (seq_diff(end, xend) < 0 ? end : xend) - seq;
            uint8_t *held = x->data + (seq - x->seq);
            int replace = seq_diff(start, x->from) < 0 || (start == x->from && seq_diff(end, xend) > 0);
            if (memcmp(p, held, covered) != 0) {
                s->overlap_conflicts++;
                if (r->ops->overlap && !s->ignore)
                    r->ops->overlap(r->ctx, owner, dir, s->offset + (uint32_t)(seq - s->next_seq), covered,
                                    sn_fnv1a64(held, covered), sn_fnv1a64(p, covered), replace);
                if (replace) memcpy(held, p, covered);
            }
            /* the new segment took x's place, as the receiver drops a
             * segment the new one covers; x only partly covered keeps
             * its start, though its first bytes are now the new one's */
            if (replace && covered == x->len) x->from = start;
            p += covered;
            seq += covered;
        }
        link = &x->next;
    }
    return 0;
}

/* A retransmission of bytes delivered but still held for the consumer
 * (an incomplete line or payload): the held copy is kept, and one that
 * differs is told as for queued bytes. */
static void compare_held(sn_reasm *r, void *owner, sn_stream *s, int dir, uint32_t seq, const uint8_t *p, size_t n) {
    uint32_t held = s->next_seq - (uint32_t)s->len; /* sequence number of buf[0] */
    uint32_t from = seq_diff(seq, held) > 0 ? seq : held;
    uint32_t to = seq_diff(seq + (uint32_t)n, s->next_seq) < 0 ? seq + (uint32_t)n : s->next_seq;
    if (seq_diff(to, from) <= 0) return;
    uint32_t len = to - from;
    const uint8_t *kept = s->buf + (from - held), *again = p + (from - seq);
    if (memcmp(kept, again, len) == 0) return;
    s->overlap_conflicts++;
    if (r->ops->overlap)
        r->ops->overlap(r->ctx, owner, dir, s->offset - (uint32_t)(s->next_seq - from), len, sn_fnv1a64(kept, len),
                        sn_fnv1a64(again, len), 0);
}

/* Holes the peer has acknowledged will never be retransmitted. */
/* Each one the acknowledgement passes is declared lost at once, up to the
 * data queued after it or the FIN: the acknowledgement is the evidence
 * when a later segment or the FIN was seen. Bytes acknowledged past
 * everything seen are not (yet) a gap: the capture may show the segment
 * after the acknowledgement of it. */
static void check_acked_holes(sn_reasm *r, void *owner, sn_stream *s, int dir) {
    if (!s->peer_ack_set || (!s->ooo && !s->fin)) return;
    uint32_t ack = s->peer_ack;
    if (s->fin && seq_diff(ack, s->fin_seq) > 0) ack = s->fin_seq;
    /* bounded: each round skips a hole and delivers the segments queued
     * after it, or ends */
    while (seq_diff(ack, s->next_seq) > 0) {
        uint32_t target;
        if (s->ooo) target = seq_diff(ack, s->ooo->seq) < 0 ? ack : s->ooo->seq;
        else if (s->fin && ack == s->fin_seq) target = ack; /* lost before the FIN */
        else break;
        if (seq_diff(target, s->next_seq) <= 0) break; /* nothing lost before it */
        skip(r, owner, s, dir, target - s->next_seq, SN_GAP_MISSING);
        drain(r, owner, s, dir);
    }
    if (s->fin && s->next_seq == s->fin_seq) s->done = 1;
}

/* Past the right edge of the receiver's window (with slack), where the
 * receiver drops data and cannot have acknowledged any: its last
 * acknowledgement is at most the delivery point, or peer_ack if further. */
static int past_rwnd(const sn_stream *s, uint32_t seq) {
    if (!s->rwnd_on) return 0;
    uint32_t acked = s->peer_ack_set && seq_diff(s->peer_ack, s->next_seq) > 0 ? s->peer_ack : s->next_seq;
    return seq_diff(seq, acked) > (int32_t)(((uint32_t)s->rwnd_win << s->rwnd_shift) + SN_REASM_RWND_SLACK);
}

/* Far beyond the window (but not behind): too far for a hole to be
 * queued, or past the receiver's. */
static int beyond_window(const sn_stream *s, uint32_t seq) {
    int32_t d = seq_diff(seq, s->next_seq);
    return d > 0 && ((uint32_t)d > REASM_WINDOW || past_rwnd(s, seq));
}

/* A SYN-ACK that both SYNs were seen before (s its sender's stream, peer
 * the other): the receivers' windows are followed from now on, each
 * scaled as its SYN said if both offered the option (RFC 7323 2.2). The
 * windows of the SYNs themselves never are: they are kept divided by the
 * shift (rounded down, by less than the slack). A SYN the engine made up
 * (sn_tcp_made_up) leaves the windows unknown. */
__attribute__((noinline, cold)) static void rwnd_handshake(sn_stream *s, sn_stream *peer, const sn_packet *pkt) {
    if (s->rwnd_on || !s->has_isn || s->isn != pkt->seq || !peer->has_isn || pkt->ack != peer->next_seq ||
        s->wscale > 15u || peer->wscale > 15u)
        return;
    unsigned mine = s->wscale, theirs = peer->wscale;
    if (!mine || !theirs) mine = theirs = 1; /* not scaled */
    peer->rwnd_shift = (uint8_t)(mine - 1u);
    peer->rwnd_win = (uint16_t)(sn_tcp_window(pkt) >> peer->rwnd_shift);
    s->rwnd_shift = (uint8_t)(theirs - 1u);
    s->rwnd_win = (uint16_t)(s->rwnd_win >> s->rwnd_shift);
    s->rwnd_on = peer->rwnd_on = 1;
}

/* The stream starts after its SYN (or SYN-ACK): its initial sequence
 * number, its window scale option, and with the SYN-ACK the windows. */
static void syn_taken(sn_stream *s, sn_stream *peer, const sn_packet *pkt) {
    s->next_seq = pkt->seq + 1;
    s->isn = pkt->seq;
    s->has_isn = 1;
    s->wscale = sn_tcp_wscale(pkt) & 31u;
    if (pkt->tcp_flags & SN_TCP_ACK) rwnd_handshake(s, peer, pkt);
}

/* A packet of either end at the stream's own position: the connection
 * goes on there, and far numbers seen so far were not its own (forged,
 * or garbage), whatever they agreed on. */
static void far_refuted(sn_stream *s) { s->far_ack_set = s->far_seq_set = s->far_agreed = 0; }

/* A hole larger than the window is a gap only when both ends vouch for
 * it: the peer acknowledged bytes up to far_ack and this side sent data
 * near there (far_seq); a single far sequence or acknowledgement number
 * may be garbage. Two agreeing numbers may be forged as well, a segment
 * and its acknowledgement, which neither endpoint takes: their answers
 * at the old position (far_refuted) come within a round trip, so the
 * numbers must still agree SN_REASM_FAR_WAIT_MS after they first did,
 * at this packet (time ts). Then what is queued is delivered, the bytes
 * up to `target` are declared lost, and 1 is returned. */
static int far_hole_confirmed(sn_reasm *r, void *owner, sn_stream *s, int dir, uint32_t target, uint64_t ts) {
    if (!s->far_ack_set || !s->far_seq_set || !beyond_window(s, s->far_ack) || !beyond_window(s, s->far_seq)) return 0;
    int32_t apart = seq_diff(s->far_seq, s->far_ack);
    if ((apart < 0 ? -(int64_t)apart : (int64_t)apart) > (int64_t)REASM_WINDOW) return 0;
    uint32_t now = (uint32_t)(ts / 1000u);
    if (!s->far_agreed) {
        s->far_agreed = 1;
        s->far_since = now;
        return 0;
    }
    if ((int32_t)(now - s->far_since) < SN_REASM_FAR_WAIT_MS) return 0; /* (or time went back) */
    far_refuted(s);
    /* bounded: each round delivers or frees at least one queued segment */
    while (s->ooo) {
        if (seq_diff(s->ooo->seq, s->next_seq) > 0) skip(r, owner, s, dir, s->ooo->seq - s->next_seq, SN_GAP_MISSING);
        drain(r, owner, s, dir);
    }
    if (seq_diff(target, s->next_seq) > 0) skip(r, owner, s, dir, target - s->next_seq, SN_GAP_MISSING);
    s->peer_ack = s->far_ack;
    s->peer_ack_set = 1;
    return 1;
}

/* An acknowledgement the peer's stream takes as its new peer_ack: ahead
 * of its delivery point within the reassembly window, and at it or
 * within the receiver's window. */
static int ack_takes(const sn_stream *peer, uint32_t ack) {
    int32_t ahead = seq_diff(ack, peer->next_seq);
    return (uint32_t)ahead < REASM_WINDOW && (ahead == 0 || !past_rwnd(peer, ack));
}

/* A segment with no SYN, FIN or RST and nothing cut by the snaplen,
 * whose acknowledgement is old or taken by a peer stream started without
 * far numbers, queued segments or a FIN, and which is an acknowledgement
 * and nothing else or carries data at the delivery point of its own
 * stream, also started without far numbers, queued segments or a FIN
 * (nearly every segment of a connection): all segment_rest would do is
 * take the acknowledgement as peer_ack and hand the data over, done here
 * without its call and saved registers. 0, having changed nothing, for
 * any other segment. */
static inline int plain_segment(sn_reasm *r, void *owner, sn_stream st[2], int dir, const sn_packet *pkt) {
    sn_stream *peer = &st[!dir];
    if ((pkt->tcp_flags & (SN_TCP_SYN | SN_TCP_FIN | SN_TCP_RST | SN_TCP_ACK)) != SN_TCP_ACK || pkt->missing ||
        !peer->started || peer->fin || peer->far_ack_set || peer->far_seq_set || peer->ooo)
        return 0;
    sn_stream *s = &st[dir];
    size_t n = pkt->len;
    if (n && (!s->started || pkt->seq != s->next_seq || s->fin || s->far_ack_set || s->far_seq_set || s->ooo)) return 0;
    if (!peer->peer_ack_set || seq_diff(pkt->ack, peer->peer_ack) > 0) {
        if (!ack_takes(peer, pkt->ack)) return 0;
        peer->peer_ack = pkt->ack;
        peer->peer_ack_set = 1;
    }
    /* (segment_rest's holes proven by the acknowledgement need a queue or
     * a FIN; a stream that ignores its bytes only counts them: deliver) */
    if (n) deliver(r, owner, s, dir, pkt->payload, n);
    return 1;
}

static __attribute__((noinline)) void segment_rest(sn_reasm *r, void *owner, sn_stream st[2], int dir,
                                                   const sn_packet *pkt);

void sn_reasm_segment(sn_reasm *r, void *owner, sn_stream st[2], int dir, const sn_packet *pkt) {
    r->segments++;
    /* the window of the receiver of the peer's data, now (scaled when
     * read: past_rwnd); a SYN's until the SYN-ACK (rwnd_handshake) */
    st[!dir].rwnd_win = sn_tcp_window(pkt);
    if (!plain_segment(r, owner, st, dir, pkt)) segment_rest(r, owner, st, dir, pkt);
}

/* sn_reasm_segment after the window: everything else. */
static void segment_rest(sn_reasm *r, void *owner, sn_stream st[2], int dir, const sn_packet *pkt) {
    sn_stream *s = &st[dir];
    sn_stream *peer = &st[!dir];
    uint8_t fl = pkt->tcp_flags;

    if (fl & SN_TCP_SYN) {
        if (!s->started) {
            s->started = 1;
            syn_taken(s, peer, pkt);
        } else if (!sn_stream_used(st) && !s->peer_ack_set && s->next_seq != pkt->seq + 1) {
            /* sent again with another initial sequence number before
             * anything else: the connection starts from this one. Not
             * once the peer acknowledged the first: the connection is
             * established from that one, and its receiver ignores another
             * SYN (or SYN-ACK), as must we, or a forged one would make
             * every later byte look like a retransmission. */
            syn_taken(s, peer, pkt);
            s->peer_ack_set = 0;
            far_refuted(s);
        }
    }
    /* the acknowledgement tells us what the peer's stream must contain */
    if ((fl & SN_TCP_ACK) && peer->started) {
        /* the receiver acknowledges (again) what it has where the stream
         * is: it never took the far bytes */
        if ((peer->far_ack_set || peer->far_seq_set) && !beyond_window(peer, pkt->ack)) far_refuted(peer);
        if (!peer->peer_ack_set || seq_diff(pkt->ack, peer->peer_ack) > 0) {
            if (ack_takes(peer, pkt->ack)) {
                peer->peer_ack = pkt->ack;
                peer->peer_ack_set = 1;
            } else if (beyond_window(peer, pkt->ack) && (!peer->far_ack_set || seq_diff(pkt->ack, peer->far_ack) > 0)) {
                /* the data it acknowledges was dropped as out of window
                 * (if seen at all): lost up to the acknowledgement */
                peer->far_ack = pkt->ack;
                peer->far_ack_set = 1;
                far_hole_confirmed(r, owner, peer, !dir, pkt->ack, pkt->ts);
            }
        }
        check_acked_holes(r, owner, peer, !dir);
    }
    uint32_t seq = (fl & SN_TCP_SYN) ? pkt->seq + 1 : pkt->seq;
    size_t n = pkt->len;
    const uint8_t *p = pkt->payload;
    if (fl & SN_TCP_FIN) {
        uint32_t at = seq + (uint32_t)(n + pkt->missing);
        /* a FIN before bytes already delivered is not its sender's last
         * word but a stale or forged one, which its receiver ignores (out
         * of window): taken, it would make every later byte data after a
         * FIN */
        if (!s->started || seq_diff(at, s->next_seq) >= 0) {
            s->fin = 1;
            s->fin_seq = at;
        }
    }
    /* the bytes after the captured ones, cut by the snaplen, are lost */
    uint32_t cut_at = seq + (uint32_t)n;
    if (n == 0 && !(fl & SN_TCP_FIN) && !pkt->missing) return;
    if (!s->started) {
        /* picked up mid-stream. One byte with neither PSH nor FIN is a
         * keep-alive probe (a byte sent before, at the sequence number
         * before the next) or a zero-window probe (sent again later): it
         * would put a byte that is not the stream's in front of it, and
         * the stream starts with the next data instead. */
        if (n == 1 && !(fl & (SN_TCP_PSH | SN_TCP_FIN))) {
            s->retrans++;
            return;
        }
        s->started = 1;
        s->next_seq = seq;
        if (!s->ignore) r->ops->gap(r->ctx, owner, dir, 0, 0, SN_GAP_MISSING);
    }
    if (n) {
        int32_t rel = seq_diff(seq, s->next_seq);
        /* the sender goes on where the stream is (or sends again what it
         * had sent): far numbers were not its own */
        if ((s->far_ack_set || s->far_seq_set) && !beyond_window(s, seq)) far_refuted(s);
        if (rel < 0) {
            if (s->len && !s->ignore) compare_held(r, owner, s, dir, seq, p, n);
            if ((size_t)(-(int64_t)rel) >= n) {
                s->retrans++;
                n = 0;
            } else {
                /* delivered bytes are never replaced: trim them; the rest
                 * starts at the delivery point, before anything queued */
                p += (uint32_t)(-rel);
                n -= (uint32_t)(-rel);
                seq = s->next_seq;
                s->retrans++;
            }
        } else if (rel > 0 && ((uint32_t)rel > REASM_WINDOW || past_rwnd(s, seq))) {
            s->far_seq = seq;
            s->far_seq_set = 1;
            /* lost up to this segment, or to the acknowledgement if that is
             * short of it; this segment is then taken as any other */
            uint32_t target = s->far_ack_set && seq_diff(s->far_ack, seq) < 0 ? s->far_ack : seq;
            if (!far_hole_confirmed(r, owner, s, dir, target, pkt->ts)) {
                r->out_of_window++;
                n = 0;
            }
        }
    }
    if (n) {
        if (s->ignore) {
            if (seq == s->next_seq) {
                s->next_seq += (uint32_t)n;
                s->offset += n;
            }
        } else if (seq == s->next_seq && !s->ooo) {
            deliver(r, owner, s, dir, p, n);
        } else {
            r->out_of_order += seq != s->next_seq;
            if (enqueue(r, owner, s, dir, seq, p, (uint32_t)n) != 0) {
                /* over the limit: give up on the oldest hole and retry once */
                r->memcap_drops++;
                if (s->ooo && seq_diff(s->ooo->seq, s->next_seq) > 0)
                    skip(r, owner, s, dir, s->ooo->seq - s->next_seq, SN_GAP_GIVEN_UP);
                drain(r, owner, s, dir);
                if (seq_diff(seq, s->next_seq) <= 0) {
                    int32_t back = seq_diff(s->next_seq, seq);
                    if ((size_t)back < n) deliver(r, owner, s, dir, p + back, n - (size_t)back);
                } else if (enqueue(r, owner, s, dir, seq, p, (uint32_t)n) != 0) {
                    r->memcap_drops++;
                }
            }
            drain(r, owner, s, dir);
            check_acked_holes(r, owner, s, dir);
        }
    }
    /* known lost at once: nothing to wait for, and the FIN after them
     * ends the direction */
    if (pkt->missing && s->next_seq == cut_at && !s->ooo)
        skip(r, owner, s, dir, (uint32_t)pkt->missing, SN_GAP_MISSING);
    if (s->fin && s->next_seq == s->fin_seq) s->done = 1;
}

void sn_reasm_flush(sn_reasm *r, void *owner, sn_stream *s, int dir) {
    /* bounded: each round removes at least one queued segment */
    while (s->ooo) {
        if (seq_diff(s->ooo->seq, s->next_seq) > 0) skip(r, owner, s, dir, s->ooo->seq - s->next_seq, SN_GAP_MISSING);
        drain(r, owner, s, dir);
        if (s->ooo && seq_diff(s->ooo->seq, s->next_seq) < 0) {
            sn_seg *g = s->ooo; /* cannot happen with disjoint queues; stay safe */
            s->ooo = g->next;
            if (!s->ooo) s->ooo_last = NULL;
            s->ooo_bytes -= sizeof *g + g->len;
            s->ooo_count--;
            sn_mem_free(r->mem, g, sizeof *g + g->len);
        }
    }
    uint32_t end = s->fin ? s->fin_seq : (s->peer_ack_set ? s->peer_ack : s->next_seq);
    if (s->started && seq_diff(end, s->next_seq) > 0 && seq_diff(end, s->next_seq) < (int32_t)REASM_WINDOW)
        skip(r, owner, s, dir, end - s->next_seq, SN_GAP_MISSING);
}
