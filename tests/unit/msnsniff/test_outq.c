/* test_outq.c - the event writer thread: bytes out in order and complete
 * whatever the write sizes, through a file and through a pipe read slowly;
 * a failed write (disk full) reported by close, without a hang, however
 * much is written after it. Events handed over as field records and
 * formatted on the writer thread come out byte for byte as the lines the
 * analysis formats itself: every kind of field, odd bytes, nesting too
 * deep, events larger than a buffer, many buffers in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "outq.h"

#define TOTAL (9u << 20) /* more than all the queue's buffers together */

static unsigned char *pattern(void) {
    unsigned char *p = malloc(TOTAL);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < TOTAL; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

/* Writes all of p in pieces of changing sizes (1 byte to over 1 MiB). */
static void write_pieces(sn_outq *q, const unsigned char *p) {
    static const size_t sizes[] = {1, 300, 4096, 17, (1u << 20) + 7, 65535, 2, (1u << 20), 999};
    size_t at = 0, i = 0;
    while (at < TOTAL) {
        size_t n = sizes[i++ % (sizeof sizes / sizeof sizes[0])];
        if (n > TOTAL - at) n = TOTAL - at;
        sn_outq_write(q, p + at, n);
        at += n;
    }
}

static void test_file_gets_every_byte_in_order(void **st) {
    (void)st;
    char path[] = "/tmp/sn_outq_test.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unsigned char *p = pattern();
    sn_outq *q = sn_outq_new(fd);
    assert_non_null(q);
    write_pieces(q, p);
    assert_int_equal(sn_outq_close(q), 0);
    unsigned char *got = malloc(TOTAL + 1);
    assert_int_equal(pread(fd, got, TOTAL + 1, 0), TOTAL);
    assert_memory_equal(got, p, TOTAL);
    /* nothing written: nothing out, and a clean close */
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(sn_outq_close(sn_outq_new(fd)), 0);
    assert_int_equal(pread(fd, got, 1, 0), 0);
    close(fd);
    unlink(path);
    free(got);
    free(p);
}

struct drain {
    int fd;
    unsigned char *got;
    size_t n;
};

static void *slow_reader(void *arg) {
    struct drain *d = arg;
    for (;;) {                                        /* bounded: ends when the writing side is closed */
        ssize_t r = read(d->fd, d->got + d->n, 3000); /* small reads: the queue fills up */
        if (r <= 0) break;
        d->n += (size_t)r;
        if (d->n > TOTAL) break;
    }
    return NULL;
}

static void test_pipe_read_slowly(void **st) {
    (void)st;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct drain d = {fds[0], malloc(TOTAL + 3000), 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_reader, &d), 0);
    unsigned char *p = pattern();
    sn_outq *q = sn_outq_new(fds[1]);
    assert_non_null(q);
    write_pieces(q, p);
    assert_int_equal(sn_outq_close(q), 0);
    close(fds[1]);
    pthread_join(t, NULL);
    assert_int_equal(d.n, TOTAL);
    assert_memory_equal(d.got, p, TOTAL);
    close(fds[0]);
    free(d.got);
    free(p);
}

static void test_disk_full_reported(void **st) {
    (void)st;
    int fd = open("/dev/full", O_WRONLY);
    if (fd < 0) skip();
    unsigned char *p = pattern();
    sn_outq *q = sn_outq_new(fd);
    assert_non_null(q);
    write_pieces(q, p); /* far more than the buffers after the first failure */
    assert_int_equal(sn_outq_close(q), ENOSPC);
    close(fd);
    /* a descriptor that cannot be written at all */
    q = sn_outq_new(-1);
    assert_non_null(q);
    sn_outq_write(q, p, 10);
    assert_int_equal(sn_outq_close(q), EBADF);
    assert_int_equal(sn_outq_close(NULL), 0);
    free(p);
}

/* ---- field records formatted on the writer thread ----------------------- */

static uint32_t rnd_next(uint32_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* A string of n bytes drawn from plain text, escapes and odd UTF-8. */
static char *odd_string(uint32_t *x, size_t n) {
    static const char *const bits[] = {"a",
                                       "Zz",
                                       " ",
                                       "\"",
                                       "\\",
                                       "\n",
                                       "\x01",
                                       "\x7f",
                                       "\xc3\xa9",
                                       "\xe2\x82\xac",
                                       "\xf0\x9f\x98\x80",
                                       "\x80",
                                       "\xc0\xaf",
                                       "\xed\xa0\x80",
                                       "\xf4\x90\x80\x80",
                                       "\xe2\x82",
                                       "\xff",
                                       "0123456789abcdef"};
    char *s = malloc(n + 1);
    size_t at = 0;
    while (at < n) {
        const char *b = bits[rnd_next(x) % (sizeof bits / sizeof bits[0])];
        size_t k = strlen(b);
        if (k > n - at) k = n - at;
        memcpy(s + at, b, k);
        at += k;
    }
    s[n] = '\0';
    return s;
}

/* the last one longer than the line starts the writer keeps */
static const char *const types[] = {"login",   "message", "flow",
                                    "anomaly", "stats",   "a_type_of_more_than_thirty_characters"};

/* An address of that family (4: the unused bytes zero, as decoded). */
static sn_addr random_addr(uint32_t *x, unsigned family) {
    sn_addr a;
    memset(&a, 0, sizeof a);
    a.family = (uint8_t)family;
    for (size_t i = 0; i < (family == 6 ? 16u : 4u); i++) a.b[i] = (uint8_t)rnd_next(x);
    return a;
}

/* One event from the generator state x: fields of every kind, nested
 * values (sometimes deeper than allowed, sometimes left open), now and
 * then a string of hundreds of KiB or several MiB, and sometimes another
 * event emitted while it is being made (records are built in the queue's
 * buffer: the one open there moves out first). */
static void make_event(sn_events *evs, uint32_t *x, uint64_t *ts) {
    *ts += rnd_next(x) % 3000000u;
    sn_ev *ev = sn_ev_new(evs, types[rnd_next(x) % 6], *ts);
    assert_non_null(ev);
    unsigned nfields = rnd_next(x) % 16;
    for (unsigned f = 0; f < nfields; f++) {
        uint32_t r = rnd_next(x);
        size_t n = r % 50 == 0 ? (r % 7 == 0 ? (1200u << 10) + r % 1000 : (260u << 10) + r % 1000) : r % 80;
        char *s = odd_string(x, n);
        switch (f) {                                     /* keys are literals, one per field of an event */
        case 0: sn_ev_set_strn(ev, "text", s, n); break; /* holds NUL bytes sometimes */
        case 1: sn_ev_set_int(ev, "flow", r % 3 == 0 ? INT64_MIN : r % 3 == 1 ? INT64_MAX : (int64_t)r - 100000); break;
        case 2: sn_ev_set_str(ev, "user", r % 4 == 0 ? NULL : s); break;
        case 3: sn_ev_set_bool(ev, "echo", r & 1); break;
        case 4: sn_ev_set_null(ev, "expectation"); break;
        case 5: {
            unsigned depth = r % 10; /* beyond the writer's limit now and then: the event is dropped */
            sn_ev_open_array(ev, "list");
            for (unsigned d = 0; d < depth; d++) {
                sn_ev_array_str(ev, d % 3 == 2 ? NULL : s);
                if (d % 2) sn_ev_open_object(ev, "inner");
                else sn_ev_open_array(ev, "items");
            }
            sn_ev_array_str(ev, "end");
            for (unsigned d = 0; d < r % 12; d++) sn_ev_close(ev); /* too many closes are ignored */
            break;
        }
        case 6: sn_ev_set_int(ev, "packets_c2s", r); break;
        case 7: sn_ev_set_str(ev, "server", s); break;
        case 8:
            sn_ev_open_object(ev, "left_open");
            sn_ev_set_int(ev, "inside", r);
            break;
        case 9: { /* an address: IPv4, IPv6, or none */
            sn_addr a = random_addr(x, r % 3 == 0 ? 6 : r % 3 == 1 ? 4 : 0);
            sn_ev_set_addr(ev, "src", &a);
            break;
        }
        case 10: { /* a Community ID: sometimes of two families (then none) */
            sn_addr a = random_addr(x, r & 1 ? 6 : 4), b = random_addr(x, r % 5 == 0 ? 10 - a.family : a.family);
            sn_ev_set_community_id(ev, "community_id", &a, (uint16_t)r, &b, (uint16_t)(r >> 16), r & 2 ? 6 : 17);
            break;
        }
        case 11: sn_ev_set_ts(ev, "expires", *ts + r); break;
        case 12: {
            sn_addr a = random_addr(x, r % 3 == 0 ? 6 : 4);
            sn_ev_set_endpoint(ev, "server", &a, (uint16_t)r);
            break;
        }
        case 13: { /* another event made and emitted while this one is open */
            sn_ev *in = sn_ev_new(evs, types[r % 5], *ts);
            assert_non_null(in);
            sn_ev_set_int(in, "flow", r);
            if (r & 1) sn_ev_set_strn(in, "text", s, n);
            sn_ev_emit(evs, in);
            break;
        }
        case 14: /* empty values: one closed, one left open (later fields go inside) */
            sn_ev_open_array(ev, "none");
            sn_ev_close(ev);
            if (r & 1) {
                sn_ev_open_object(ev, "empty");
                sn_ev_close(ev);
            } else {
                sn_ev_open_object(ev, "empty_open");
            }
            break;
        default: sn_ev_set_strn(ev, "tail", s, n); break;
        }
        free(s);
    }
    sn_ev_emit(evs, ev);
}

/* Writes the events of seed through the JSON sink to fd: formatted in
 * line, or handed over as records. Returns the close status. */
static int write_events(int fd, int records, uint32_t seed, unsigned count, uint64_t *emitted) {
    sn_events evs;
    sn_events_init(&evs);
    sn_json_sink js = {NULL, NULL, 0};
    js.q = records ? sn_outq_new_formatted(fd, sn_ev_format_records) : sn_outq_new(fd);
    assert_non_null(js.q);
    evs.records = records;
    assert_int_equal(sn_events_add_line_sink(&evs, sn_sink_json, &js), 0);
    uint32_t x = seed;
    uint64_t ts = 1016955577000000u;
    for (unsigned i = 0; i < count; i++) make_event(&evs, &x, &ts);
    *emitted = evs.emitted;
    sn_events_release(&evs);
    return sn_outq_close(js.q);
}

static unsigned char *slurp(int fd, size_t *n) {
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size >= 0);
    unsigned char *p = malloc((size_t)size + 1);
    assert_int_equal(pread(fd, p, (size_t)size, 0), size);
    *n = (size_t)size;
    return p;
}

static void test_records_same_bytes(void **st) {
    (void)st;
    char pa[] = "/tmp/sn_outq_lines.XXXXXX", pb[] = "/tmp/sn_outq_records.XXXXXX";
    int a = mkstemp(pa), b = mkstemp(pb);
    assert_true(a >= 0 && b >= 0);
    for (uint32_t seed = 1; seed <= 1; seed++) {
        assert_int_equal(ftruncate(a, 0), 0);
        assert_int_equal(ftruncate(b, 0), 0);
        uint64_t ea = 0, eb = 0;
        assert_int_equal(write_events(a, 0, seed * 2654435761u, 1500, &ea), 0);
        assert_int_equal(write_events(b, 1, seed * 2654435761u, 1500, &eb), 0);
        assert_int_equal(ea, eb);
        assert_true(ea > 500 && ea < 1500); /* some were dropped (nested too deep) */
        size_t na, nb;
        unsigned char *la = slurp(a, &na), *lb = slurp(b, &nb);
        assert_true(na > (4u << 20)); /* more than the queue's buffers, with events above a buffer */
        assert_int_equal(na, nb);
        assert_memory_equal(la, lb, na);
        free(la);
        free(lb);
    }
    close(a);
    close(b);
    unlink(pa);
    unlink(pb);
}

static void test_records_disk_full(void **st) {
    (void)st;
    int fd = open("/dev/full", O_WRONLY);
    if (fd < 0) skip();
    uint64_t emitted = 0;
    assert_int_equal(write_events(fd, 1, 99, 600, &emitted), ENOSPC);
    close(fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_gets_every_byte_in_order),
        cmocka_unit_test(test_pipe_read_slowly),
        cmocka_unit_test(test_disk_full_reported),
        cmocka_unit_test(test_records_same_bytes),
        cmocka_unit_test(test_records_disk_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
