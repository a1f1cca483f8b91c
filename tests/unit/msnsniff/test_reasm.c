/* test_reasm.c - TCP reassembly policy: order, retransmissions, overlaps
 * (as a Linux receiver keeps them), holes proven by ACKs, limits, flush, wraparound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "reasm.h"

typedef struct sink {
    uint8_t out[8192];
    size_t n;
    size_t hold; /* consume at most this many bytes per call (0: all) */
    int gaps;
    uint64_t lost;
    size_t pending;
    int midstream;
} sink;

static size_t on_data(void *ctx, void *owner, int dir, const uint8_t *p, size_t n) {
    (void)owner;
    (void)dir;
    sink *s = ctx;
    size_t take = s->hold && n > s->hold ? s->hold : n;
    /* a consumer that needs whole lines: only consume up to the last LF */
    if (s->hold == (size_t)-1) {
        take = 0;
        for (size_t i = n; i > 0; i--)
            if (p[i - 1] == '\n') {
                take = i;
                break;
            }
    }
    memcpy(s->out + s->n, p, take);
    s->n += take;
    return take;
}

static void on_gap(void *ctx, void *owner, int dir, uint64_t lost, size_t pending, sn_gap_why why) {
    (void)owner;
    (void)dir;
    (void)why;
    sink *s = ctx;
    if (lost == 0 && pending == 0) {
        s->midstream = 1;
        return;
    }
    s->gaps++;
    s->lost += lost;
    s->pending += pending;
}

static const sn_reasm_ops ops = {on_data, on_gap, NULL};

typedef struct fixture {
    sn_memcap mem;
    sn_reasm r;
    sn_stream st[2];
    sink s;
    uint64_t now;    /* the capture time of the next segment (µs) */
    uint16_t window; /* the window field of the next segments */
    uint8_t wscale;  /* the window scale option of the next SYNs: its shift plus one, 0 none */
} fixture;

static void fx_init(fixture *f, size_t limit) {
    memset(f, 0, sizeof *f);
    sn_memcap_init(&f->mem, 1 << 20);
    sn_reasm_init(&f->r, &f->mem, limit, &ops, &f->s);
    sn_stream_init(&f->st[0]);
    sn_stream_init(&f->st[1]);
}

static void fx_free(fixture *f) {
    sn_stream_free(&f->r, &f->st[0]);
    sn_stream_free(&f->r, &f->st[1]);
    assert_int_equal(f->mem.used, 0);
}

static void seg(fixture *f, int dir, uint32_t seq, uint8_t flags, const char *data, uint32_t ack) {
    sn_packet p;
    memset(&p, 0, sizeof p);
    p.seq = seq;
    p.ack = ack;
    p.tcp_flags = flags;
    p.payload = (const uint8_t *)data;
    p.len = data ? strlen(data) : 0;
    p.ts = f->now;
    /* the header as the decoder leaves it: options up to the payload */
    uint8_t tcp[24 + 64] = {0};
    tcp[14] = (uint8_t)(f->window >> 8);
    tcp[15] = (uint8_t)f->window;
    size_t hl = 20;
    if ((flags & SN_TCP_SYN) && f->wscale) {
        tcp[20] = 1, tcp[21] = 3, tcp[22] = 3, tcp[23] = (uint8_t)(f->wscale - 1);
        hl = 24;
    }
    p.tcp = tcp;
    if (flags & SN_TCP_SYN) {
        assert_true(p.len <= 64);
        if (p.len) memcpy(tcp + hl, data, p.len);
        p.payload = tcp + hl;
    }
    sn_reasm_segment(&f->r, NULL, f->st, dir, &p);
}

#define ACKF SN_TCP_ACK
#define SYN SN_TCP_SYN
#define FIN SN_TCP_FIN

static void test_in_order_and_partial_consumer(void **state) {
    (void)state;
    fixture f;
    fx_init(&f, 0);
    f.s.hold = (size_t)-1; /* whole lines only */
    seg(&f, 0, 100, SYN, NULL, 0);
    seg(&f, 0, 101, ACKF, "VER 0 MS", 0);
    assert_int_equal(f.s.n, 0);
    seg(&f, 0, 109, ACKF, "NP7\r\nINF", 0);
    assert_int_equal(f.s.n, 13);
    seg(&f, 0, 117, ACKF, " 1\r\n", 0);
    assert_int_equal(f.s.n, 20);
    assert_memory_equal(f.s.out, "VER 0 MSNP7\r\nINF 1\r\n", 20);
    assert_int_equal(f.s.gaps, 0);
    fx_free(&f);
}

static void test_reverse_order(void **state) {
    (void)state;
    fixture f;
    fx_init(&f, 0);
    seg(&f, 0, 0, SYN, NULL, 0);
    seg(&f, 0, 7, ACKF, "ghi", 0);
    seg(&f, 0, 4, ACKF, "def", 0);
    assert_int_equal(f.s.n, 0);
    seg(&f, 0, 1, ACKF, "abc", 0);
    assert_int_equal(f.s.n, 9);
    assert_memory_equal(f.s.out, "abcdefghi", 9);
    assert_int_equal(f.r.out_of_order, 2);
    fx_free(&f);
}

/* Two copies of queued bytes: the one a Linux receiver keeps
 * (tcp_data_queue_ofo). Delivered bytes are never replaced. */
static void test_overlap_as_linux_keeps(void **state) {
    (void)state;
    fixture f;
    fx_init(&f, 0);
    seg(&f, 0, 0, SYN, NULL, 0);
    seg(&f, 0, 5, ACKF, "EFGH", 0);     /* queued: bytes 5..8 */
    seg(&f, 0, 3, ACKF, "xxefghIJ", 0); /* starts before them: it wins */
    assert_int_equal(f.st[0].overlap_conflicts, 1);
    seg(&f, 0, 6, ACKF, "QQQQQQ", 0);               /* starts after a queued one: it loses */
    assert_int_equal(f.st[0].overlap_conflicts, 3); /* told per queued piece */
    seg(&f, 0, 1, ACKF, "ab", 0);
    assert_int_equal(f.s.n, 11);
    assert_memory_equal(f.s.out, "abxxefghIJQ", 11);
    /* at the same byte: the queued copy, unless the later one goes further */
    seg(&f, 0, 14, ACKF, "mno", 0);
    seg(&f, 0, 14, ACKF, "MNO", 0);  /* as long: it loses */
    seg(&f, 0, 14, ACKF, "MN", 0);   /* shorter: it loses */
    seg(&f, 0, 17, ACKF, "pq", 0);   /* queued: bytes 17..18 */
    seg(&f, 0, 17, ACKF, "PQRS", 0); /* further: it wins */
    seg(&f, 0, 12, ACKF, "kl", 0);
    assert_int_equal(f.s.n, 20);
    assert_memory_equal(f.s.out, "abxxefghIJQklmnoPQRS", 20);
    assert_int_equal(f.st[0].overlap_conflicts, 6);
    fx_free(&f);
    /* the segment at the delivery point, the queue behind it: in order,
     * it is taken whole */
    fx_init(&f, 0);
    seg(&f, 0, 0, SYN, NULL, 0);
    seg(&f, 0, 3, ACKF, "XY", 0);
    seg(&f, 0, 1, ACKF, "abcd", 0);
    assert_memory_equal(f.s.out, "abcd", 4);
    assert_int_equal(f.st[0].overlap_conflicts, 1);
    fx_free(&f);
    fx_init(&f, 0);
    seg(&f, 0, 0, SYN, NULL, 0);
    seg(&f, 0, 5, ACKF, "EFGH", 0);
    seg(&f, 0, 3, ACKF, "xxefghIJ", 0);
    seg(&f, 0, 1, ACKF, "ab", 0);
    assert_int_equal(f.s.n, 10);
    /* a retransmission of delivered data with other bytes changes nothing */
    seg(&f, 0, 1, ACKF, "ZZZZ", 0);
    seg(&f, 0, 9, ACKF, "QQkl", 0); /* 9,10 delivered already: only "kl" is new */
    assert_int_equal(f.s.n, 12);
    assert_memory_equal(f.s.out, "abxxefghIJkl", 12);
    fx_free(&f);
}

static void test_hole_proven_by_ack(void **state) {
    (void)state;
    fixture f;
    fx_init(&f, 0);
    f.s.hold = (size_t)-1;
    seg(&f, 0, 0, SYN, NULL, 0);
    seg(&f, 1, 500, SYN | ACKF, NULL, 1);
    seg(&f, 0, 1, ACKF, "USR 1 a", 501); /* incomplete line stays pending */
    /* bytes 8..13 never captured */
    seg(&f, 0, 14, ACKF, "CAL 2 b\r\n", 501);
    assert_int_equal(f.s.gaps, 0);   /* could still be retransmitted */
    seg(&f, 1, 501, ACKF, NULL, 23); /* the peer got everything */
    assert_int_equal(f.s.gaps, 1);
    assert_int_equal(f.s.lost, 6);
    assert_int_equal(f.s.pending, 7);
    assert_memory_equal(f.s.out, "CAL 2 b\r\n", 9);
    fx_free(&f);
}

static void test_flush_reports_holes(void **state) {
    (void)state;
    fixture f;
    fx_init(&f, 0);
    seg(&f, 0, 0, SYN, NULL, 0);
    seg(&f, 0, 1, ACKF, "ab", 0);
    seg(&f, 0, 10, ACKF, "xy", 0);
    seg(&f, 0, 20, ACKF | FIN, "z", 0);
    sn_reasm_flush(&f.r, NULL, &f.st[0], 0);
    assert_int_equal(f.s.gaps, 2);
    assert_int_equal(f.s.lost, 7 + 8);
    assert_memory_equal(f.s.out, "abxyz", 5);
    fx_free(&f);
}

static void test_midstream_and_wraparound(void **state) {
    (void)state;
    fixture f;
    fx_init(&f, 0);
    uint32_t near = 0xFFFFFFFCu;
    seg(&f, 0, near + 4, ACKF, "5678", 0); /* queued? no: first segment starts the stream */
    assert_int_equal(f.s.midstream, 1);
    seg(&f, 0, near + 8, ACKF, "9", 0);
    assert_memory_equal(f.s.out, "56789", 5);
    fixture g;
    fx_init(&g, 0);
    seg(&g, 0, near - 1, SYN, NULL, 0);
    seg(&g, 0, near + 2, ACKF, "cd", 0); /* crosses 2^32 */
    seg(&g, 0, near, ACKF, "ab", 0);
    seg(&g, 0, near + 4, ACKF, "ef", 0);
    assert_int_equal(g.s.n, 6);
    assert_memory_equal(g.s.out, "abcdef", 6);
    fx_free(&f);
    fx_free(&g);
}

static void test_limit_forces_progress(void **state) {
    (void)state;
    fixture f;
    fx_init(&f, 256);
    seg(&f, 0, 0, SYN, NULL, 0);
    char block[41];
    memset(block, 'q', 40);
    block[40] = '\0';
    /* byte 1 never arrives; queue far more than the limit */
    for (uint32_t i = 0; i < 40; i++) seg(&f, 0, 2 + i * 40, ACKF, block, 0);
    assert_true(f.s.gaps >= 1);
    assert_true(sn_stream_memory(&f.st[0]) <= 256);
    assert_true(f.s.n > 0);
    fx_free(&f);
}

static size_t count_data(void *ctx, void *owner, int dir, const uint8_t *p, size_t n) {
    (void)owner;
    (void)dir;
    (void)p;
    *(size_t *)ctx += n;
    return n;
}

static void count_gap(void *ctx, void *owner, int dir, uint64_t lost, size_t pending, sn_gap_why why) {
    (void)why;
    (void)ctx;
    (void)owner;
    (void)dir;
    (void)lost;
    (void)pending;
}

/* A connection whose data bytes *got counts (256 MiB of room), opened by
 * a SYN of sequence number 0; *p is then a one-byte data segment, its
 * sequence number for the caller to set. */
static void one_byte_stream(sn_memcap *mem, sn_reasm *r, sn_stream st[2], size_t *got, sn_packet *p) {
    static const sn_reasm_ops counting = {count_data, count_gap, NULL};
    sn_memcap_init(mem, 256u << 20);
    sn_reasm_init(r, mem, 256u << 20, &counting, got);
    sn_stream_init(&st[0]);
    sn_stream_init(&st[1]);
    memset(p, 0, sizeof *p);
    p->tcp = sn_tcp_made_up; /* window 0, options unknown */
    p->tcp_flags = SYN;
    sn_reasm_segment(r, NULL, st, 0, p);
    p->tcp_flags = ACKF;
    p->payload = (const uint8_t *)"x";
    p->len = 1;
}

/* After a hole, a stream of small segments is queued one after another:
 * each is added after the last at once. Walking the queue for each made
 * the work grow as its square (200 000 segments: minutes, not
 * milliseconds); the alarm ends a test that takes that long. */
static void test_long_queue_after_a_hole(void **state) {
    (void)state;
    const uint32_t n = 200000;
    sn_memcap mem;
    sn_reasm r;
    sn_stream st[2];
    size_t got = 0;
    sn_packet p;
    one_byte_stream(&mem, &r, st, &got, &p);
    alarm(20);
    for (uint32_t i = 0; i < n; i++) { /* byte 1 is missing */
        p.seq = 2 + i;
        sn_reasm_segment(&r, NULL, st, 0, &p);
    }
    assert_int_equal(got, 0);
    assert_int_equal(r.out_of_order, n);
    p.seq = 1;
    sn_reasm_segment(&r, NULL, st, 0, &p);
    alarm(0);
    assert_int_equal(got, n + 1);
    assert_null(st[0].ooo);
    sn_stream_free(&r, &st[0]);
    sn_stream_free(&r, &st[1]);
    assert_int_equal(mem.used, 0);
}

/* Segments queued around holes, then one that must go among them deeper
 * than SN_REASM_WALK_MAX segments in: its insertion does not walk that
 * far; as over the memory limit, the oldest hole is given up instead. One
 * that fills the first hole is inserted as always. */
static void test_insertion_walk_is_bounded(void **state) {
    (void)state;
    sn_memcap mem;
    sn_reasm r;
    sn_stream st[2];
    size_t got = 0;
    sn_packet p;
    one_byte_stream(&mem, &r, st, &got, &p);
    const uint32_t n = SN_REASM_WALK_MAX + 100;
    for (uint32_t i = 0; i < n; i++) { /* bytes 2, 4, 6, ...: a hole before each */
        p.seq = 2 + 2 * i;
        sn_reasm_segment(&r, NULL, st, 0, &p);
    }
    assert_int_equal(st[0].ooo_count, n);
    assert_int_equal(r.memcap_drops, 0);
    p.seq = 3; /* the second hole: a short walk */
    sn_reasm_segment(&r, NULL, st, 0, &p);
    assert_int_equal(st[0].ooo_count, n + 1);
    assert_int_equal(r.memcap_drops, 0);
    p.seq = 2 + 2 * (n - 50) + 1; /* a hole deep in the queue */
    sn_reasm_segment(&r, NULL, st, 0, &p);
    assert_true(r.memcap_drops >= 1);
    /* the first hole given up: bytes 2-4 (the second hole filled) out */
    assert_int_equal(got, 3);
    assert_true(st[0].ooo_count < n);
    sn_stream_free(&r, &st[0]);
    sn_stream_free(&r, &st[1]);
    assert_int_equal(mem.used, 0);
}

static void test_out_of_window_ignored(void **state) {
    (void)state;
    fixture f;
    fx_init(&f, 0);
    seg(&f, 0, 0, SYN, NULL, 0);
    seg(&f, 0, 1, ACKF, "ok", 0);
    seg(&f, 0, 0x80000000u, ACKF, "junk", 0);
    assert_int_equal(f.r.out_of_window, 1);
    assert_int_equal(f.st[0].ooo_bytes, 0);
    fx_free(&f);
}

/* A hole wider than the window: a gap once the receiver's acknowledgement
 * and the sender's data agree, and still do a second later, never on one
 * far number alone. */
static void test_acked_hole_beyond_window(void **state) {
    (void)state;
    const uint32_t far = 5u + 70u * 1024u * 1024u; /* 70 MiB after "ok\r\n" */
    fixture f;
    /* the acknowledgement first, then the data after the hole */
    fx_init(&f, 0);
    seg(&f, 0, 0, SYN, NULL, 0);
    seg(&f, 1, 500, SYN | ACKF, NULL, 1);
    seg(&f, 0, 1, ACKF, "ok\r\n", 501);
    seg(&f, 1, 501, ACKF, NULL, far);
    assert_int_equal(f.s.gaps, 0); /* one side's word */
    seg(&f, 0, far, ACKF, "BYE\r\n", 501);
    assert_int_equal(f.s.gaps, 0); /* both, but not yet for long */
    f.now += 999999u;
    seg(&f, 0, far + 5u, ACKF, "NO\r\n", 501);
    assert_int_equal(f.s.gaps, 0);
    f.now += 1u;
    seg(&f, 0, far + 9u, ACKF, "YES\r\n", 501);
    assert_int_equal(f.s.gaps, 1); /* up to the acknowledgement */
    assert_int_equal(f.s.lost, far - 5u);
    assert_int_equal(f.r.out_of_window, 2);
    seg(&f, 1, 501, ACKF, NULL, far + 14u); /* then what it acknowledges */
    assert_int_equal(f.s.gaps, 2);
    assert_int_equal(f.s.lost, far + 9u - 5u);
    assert_memory_equal(f.s.out, "ok\r\nYES\r\n", 9);
    seg(&f, 0, far + 14u, FIN | ACKF, NULL, 501);
    assert_true(f.st[0].done);
    fx_free(&f);
    /* the data first (dropped), then the acknowledgement past it */
    fx_init(&f, 0);
    seg(&f, 0, 0, SYN, NULL, 0);
    seg(&f, 1, 500, SYN | ACKF, NULL, 1);
    seg(&f, 0, 1, ACKF, "ok\r\n", 501);
    seg(&f, 0, far, ACKF, "BYE\r\n", 501);
    assert_int_equal(f.r.out_of_window, 1);
    assert_int_equal(f.s.gaps, 0);
    seg(&f, 1, 501, ACKF, NULL, far + 5u);
    assert_int_equal(f.s.gaps, 0);
    f.now += 1000000u;
    seg(&f, 1, 501, ACKF, NULL, far + 10u); /* acknowledged further on */
    assert_int_equal(f.s.gaps, 1);
    assert_int_equal(f.s.lost, far + 10u - 5u);
    seg(&f, 0, far + 10u, ACKF, "OUT\r\n", 501);
    assert_memory_equal(f.s.out, "ok\r\nOUT\r\n", 9);
    fx_free(&f);
    /* far numbers that do not agree: garbage, dropped, no gap */
    fx_init(&f, 0);
    seg(&f, 0, 0, SYN, NULL, 0);
    seg(&f, 1, 500, SYN | ACKF, NULL, 1);
    seg(&f, 0, 1, ACKF, "ok\r\n", 501);
    seg(&f, 1, 501, ACKF, NULL, far);
    seg(&f, 0, far + 0x10000000u, ACKF, "junk", 501);
    seg(&f, 1, 501, ACKF, NULL, far + 0x20000000u);
    assert_int_equal(f.s.gaps, 0);
    assert_int_equal(f.r.out_of_window, 1);
    seg(&f, 0, 5, ACKF, "more\r\n", 501); /* the stream goes on where it was */
    assert_memory_equal(f.s.out, "ok\r\nmore\r\n", 10);
    fx_free(&f);
}

/* A forged segment far ahead and a forged acknowledgement of it, which
 * neither endpoint takes: their answers at the old position (the
 * receiver's acknowledgement of what it expects, the sender's next data)
 * clear the far numbers, and the stream goes on where it was, however
 * long the forger goes on agreeing with itself afterwards. */
static void test_forged_far_hole_refuted(void **state) {
    (void)state;
    const uint32_t far = 5u + 70u * 1024u * 1024u;
    for (int answer = 0; answer < 2; answer++) {
        fixture f;
        fx_init(&f, 0);
        seg(&f, 0, 0, SYN, NULL, 0);
        seg(&f, 1, 500, SYN | ACKF, NULL, 1);
        seg(&f, 0, 1, ACKF, "ok\r\n", 501);
        seg(&f, 0, far, ACKF, "EVIL\r\n", 501);
        seg(&f, 1, 501, ACKF, NULL, far + 6u);
        f.now += 1000u;
        if (answer == 0) seg(&f, 1, 501, ACKF, NULL, 5); /* the receiver: still at 5 */
        else seg(&f, 0, 5, ACKF, "more\r\n", 501);       /* the sender goes on */
        f.now += 2000000u;
        seg(&f, 0, far + 6u, ACKF, "EVIL\r\n", 501); /* agreeing again, later */
        seg(&f, 1, 501, ACKF, NULL, far + 12u);
        assert_int_equal(f.s.gaps, 0);
        seg(&f, 0, answer ? 11 : 5, ACKF, "last\r\n", 501);
        assert_int_equal(f.s.gaps, 0);
        assert_int_equal(f.s.n, answer ? 16u : 10u);
        assert_memory_equal(f.s.out, answer ? "ok\r\nmore\r\nlast\r\n" : "ok\r\nlast\r\n", f.s.n);
        fx_free(&f);
    }
}

/* A forged segment a megabyte ahead, within the reassembly window but far
 * past the receiver's (64 KB: 512 scaled by 2^7, as both SYNs said), and
 * a forged acknowledgement of it: the receiver drops such data and never
 * acknowledges it, and so the stream takes neither, in either order, and
 * the real data that follows is delivered. What the receiver's own
 * acknowledgements open is taken as before. */
static void test_forged_hole_beyond_receive_window(void **state) {
    (void)state;
    const uint32_t far = 5u + 1024u * 1024u;
    for (int ack_first = 0; ack_first < 2; ack_first++) {
        fixture f;
        fx_init(&f, 0);
        f.window = 512;
        f.wscale = 7 + 1;
        seg(&f, 0, 0, SYN, NULL, 0);
        seg(&f, 1, 500, SYN | ACKF, NULL, 1);
        seg(&f, 0, 1, ACKF, "ok\r\n", 501);
        if (ack_first) seg(&f, 1, 501, ACKF, NULL, far + 6u);
        seg(&f, 0, far, ACKF, "EVIL\r\n", 501);
        if (!ack_first) seg(&f, 1, 501, ACKF, NULL, far + 6u);
        assert_int_equal(f.r.out_of_window, 1);
        assert_int_equal(f.s.gaps, 0);
        seg(&f, 0, 5, ACKF, "more\r\n", 501);
        seg(&f, 1, 501, ACKF, NULL, 11);                  /* the receiver's own */
        seg(&f, 0, 11 + 60000u, ACKF, "queued\r\n", 501); /* within its window: a hole to wait for */
        assert_int_equal(f.r.out_of_window, 1);
        assert_int_equal(f.r.out_of_order, 1);
        seg(&f, 0, 11, ACKF, "last\r\n", 501);
        assert_int_equal(f.s.gaps, 0);
        assert_int_equal(f.s.n, 16u);
        assert_memory_equal(f.s.out, "ok\r\nmore\r\nlast\r\n", 16);
        fx_free(&f);
    }
    /* the handshake not seen: the receiver's window is unknown and the
     * data is queued as before (the acknowledgement then proves the hole) */
    fixture f;
    fx_init(&f, 0);
    f.window = 512;
    seg(&f, 0, 1, ACKF, "ok\r\n", 501);
    seg(&f, 1, 501, ACKF, NULL, 5);
    seg(&f, 0, far, ACKF, "EVIL\r\n", 501);
    assert_int_equal(f.r.out_of_window, 0);
    fx_free(&f);
}

/* Acknowledgements alone: a new one within the windows is taken, an old
 * one (or one behind the delivery point) changes nothing, one past the
 * receiver's window is a far number, and every one sets the window of
 * the data it acknowledges. */
static void test_bare_acknowledgements(void **state) {
    (void)state;
    fixture f;
    fx_init(&f, 0);
    f.window = 1000;
    seg(&f, 0, 0, SYN, NULL, 0);
    seg(&f, 1, 500, SYN | ACKF, NULL, 1);
    seg(&f, 0, 1, ACKF, "USR 1\r\n", 501);
    assert_int_equal(f.st[0].peer_ack, 1);
    f.window = 2000;
    seg(&f, 1, 501, ACKF, NULL, 4); /* behind the delivery point */
    assert_int_equal(f.st[0].peer_ack, 1);
    assert_int_equal(f.st[0].rwnd_win, 2000);
    seg(&f, 1, 501, ACKF, NULL, 8); /* all of it */
    assert_int_equal(f.st[0].peer_ack, 8);
    f.window = 3000;
    seg(&f, 1, 501, ACKF | SN_TCP_PSH, NULL, 8); /* the same again; PSH without data changes nothing */
    assert_int_equal(f.st[0].peer_ack, 8);
    assert_int_equal(f.st[0].rwnd_win, 3000);
    seg(&f, 1, 501, ACKF, NULL, 5); /* an old one */
    assert_int_equal(f.st[0].peer_ack, 8);
    seg(&f, 1, 501, ACKF, NULL, 8 + 3000 + SN_REASM_RWND_SLACK + 1); /* past the receiver's window */
    assert_int_equal(f.st[0].peer_ack, 8);
    assert_true(f.st[0].far_ack_set);
    seg(&f, 1, 501, ACKF, NULL, 9); /* at the stream's own position: refutes the far one */
    assert_false(f.st[0].far_ack_set);
    assert_int_equal(f.st[0].peer_ack, 9);
    seg(&f, 0, 8, ACKF, "X", 501);
    assert_int_equal(f.s.gaps, 0);
    assert_int_equal(f.s.n, 8);
    seg(&f, 1, 501, ACKF, NULL, 1u + (64u << 20)); /* past the windows */
    assert_int_equal(f.st[0].peer_ack, 9);
    assert_true(f.st[0].far_ack_set);
    /* ahead of all the data seen, within the window: taken, no gap yet */
    seg(&f, 0, 9, ACKF, NULL, 600);
    assert_int_equal(f.st[1].peer_ack, 600);
    assert_int_equal(f.st[1].rwnd_win, 3000);
    assert_int_equal(f.s.gaps, 0);
    assert_int_equal(f.r.segments, 12);
    fx_free(&f);
}

/* Data at the delivery point that acknowledges the peer's data, on an
 * established connection (most segments): the acknowledgement is taken
 * or kept apart as a far number, a hole it proves is lost, bytes the
 * consumer leaves are presented again, a copy sent again is counted, and
 * a stream that ignores its bytes still counts them. */
static void test_data_with_acknowledgements(void **state) {
    (void)state;
    fixture f;
    fx_init(&f, 0);
    f.window = 1000;
    f.s.hold = (size_t)-1; /* whole lines only */
    seg(&f, 0, 0, SYN, NULL, 0);
    seg(&f, 1, 500, SYN | ACKF, NULL, 1);
    seg(&f, 0, 1, ACKF, "VER 1 MS", 501);
    assert_int_equal(f.s.n, 0);
    assert_int_equal(f.st[0].len, 8); /* left by the consumer */
    seg(&f, 1, 501, ACKF | SN_TCP_PSH, "VER 1\r\n", 9);
    assert_int_equal(f.st[0].peer_ack, 9);
    assert_int_equal(f.s.n, 7);
    seg(&f, 0, 9, ACKF, "NP8\r\n", 508);
    assert_int_equal(f.st[1].peer_ack, 508);
    assert_int_equal(f.st[0].len, 0);
    assert_int_equal(f.s.n, 20);
    assert_memory_equal(f.s.out, "VER 1\r\nVER 1 MSNP8\r\n", 20);
    /* an acknowledgement past the windows: a far number, the data is read */
    seg(&f, 1, 508, ACKF, "CVR 2\r\n", 14u + (64u << 20));
    assert_int_equal(f.st[0].peer_ack, 9);
    assert_true(f.st[0].far_ack_set);
    assert_int_equal(f.s.n, 27);
    /* data at the delivery point refutes it */
    seg(&f, 0, 14, ACKF, "CVR 2\r\n", 515);
    assert_false(f.st[0].far_ack_set);
    assert_int_equal(f.s.n, 34);
    /* the server's next segment lost, the one after it queued: the
     * client's acknowledgement of both proves the hole */
    seg(&f, 1, 522, ACKF, "USR 3\r\n", 21);
    assert_int_equal(f.s.n, 34);
    assert_non_null(f.st[1].ooo);
    seg(&f, 0, 21, ACKF, "USR 4\r\n", 529);
    assert_int_equal(f.s.gaps, 1);
    assert_int_equal(f.s.lost, 7);
    assert_null(f.st[1].ooo);
    assert_int_equal(f.s.n, 48);
    assert_memory_equal(f.s.out + 34, "USR 3\r\nUSR 4\r\n", 14); /* the hole first, with what it held up */
    /* a copy of delivered bytes: counted, not read again */
    seg(&f, 0, 21, ACKF, "USR 4\r\n", 529);
    assert_int_equal(f.st[0].retrans, 1);
    assert_int_equal(f.s.n, 48);
    /* not read any more: the bytes are only counted */
    sn_stream_ignore(&f.r, &f.st[0]);
    seg(&f, 0, 28, ACKF, "OUT\r\n", 529);
    assert_int_equal(f.st[0].next_seq, 33);
    assert_int_equal(f.st[0].offset, 32);
    assert_int_equal(f.s.n, 48);
    fx_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_and_partial_consumer),
        cmocka_unit_test(test_reverse_order),
        cmocka_unit_test(test_overlap_as_linux_keeps),
        cmocka_unit_test(test_hole_proven_by_ack),
        cmocka_unit_test(test_flush_reports_holes),
        cmocka_unit_test(test_midstream_and_wraparound),
        cmocka_unit_test(test_limit_forces_progress),
        cmocka_unit_test(test_out_of_window_ignored),
        cmocka_unit_test(test_long_queue_after_a_hole),
        cmocka_unit_test(test_insertion_walk_is_bounded),
        cmocka_unit_test(test_acked_hole_beyond_window),
        cmocka_unit_test(test_forged_far_hole_refuted),
        cmocka_unit_test(test_forged_hole_beyond_receive_window),
        cmocka_unit_test(test_bare_acknowledgements),
        cmocka_unit_test(test_data_with_acknowledgements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
