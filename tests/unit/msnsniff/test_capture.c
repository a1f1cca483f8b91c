/* test_capture.c - the capture file reader (pcapread) against libpcap
 * itself: on the scenario capture and on damaged and converted copies of it
 * (cut at every kind of place, bytes flipped, absurd or oversized record
 * lengths, a small snapshot length, big-endian and nanosecond files),
 * every frame (time, lengths, bytes) and every error message must be the
 * ones libpcap gives, and error offsets must name the damaged record.
 * Files larger than the reader's chunks check records and headers split
 * between two reads, with the reader thread and without it. The same for
 * pcapng copies of the capture: both byte orders, time stamp resolutions
 * and offsets, several interfaces and sections, simple and obsolete
 * packet blocks, blocks to skip, options, and each kind of damage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pcap/pcap.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "pcapread.h"
#include "scenario.h"

static unsigned char *seed;
static size_t seed_len;
static char dir[] = "/tmp/sn_capture_test.XXXXXX";
static char path[512];

static int setup(void **st) {
    (void)st;
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/seed.pcap", dir);
    sn_scenario_opts o;
    char *argv[] = {"mkcapture", path, NULL};
    if (sn_scenario_parse_args(2, argv, &o) != 1 || sn_scenario_write(path, &o) != 0) return -1;
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    seed = malloc(4u << 20);
    seed_len = fread(seed, 1, 4u << 20, fp);
    fclose(fp);
    return seed_len > 24 ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    unlink(path);
    rmdir(dir);
    free(seed);
    return 0;
}

static void write_file(const unsigned char *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

/* Reads path with msnsniff's reader alone: the number of frames, and its
 * error (empty at a clean end). */
static size_t read_alone(char *err, size_t errcap) {
    sn_capture *c = sn_capture_open_file(path, err, errcap);
    assert_non_null(c);
    size_t frames = 0;
    sn_frame fr;
    int rc;
    while ((rc = sn_capture_next(c, &fr, err, errcap)) == 1) frames++; /* bounded: the file */
    if (rc == 0) err[0] = '\0';
    sn_capture_close(c);
    return frames;
}

/* Reads path with both readers; returns the number of frames. The error
 * (if any) must be libpcap's message, prefixed with the file name and
 * "at offset N" where N is want_offset (or anything when it is -1). */
static size_t compare(const char *filter, long long want_offset, int want_fast) {
    char perr[PCAP_ERRBUF_SIZE], err[1024] = "";
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, perr);
    sn_capture *c = sn_capture_open_file(path, err, sizeof err);
    if (!p) {
        assert_null(c);
        return 0;
    }
    assert_non_null(c);
    if (want_fast >= 0) assert_string_equal(sn_capture_reader(c), want_fast ? "pcapread" : "libpcap");
    assert_int_equal(sn_capture_linktype(c), pcap_datalink(p));
    if (filter) {
        struct bpf_program prog;
        assert_int_equal(pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN), 0);
        assert_int_equal(pcap_setfilter(p, &prog), 0);
        pcap_freecode(&prog);
        assert_int_equal(sn_capture_set_filter(c, filter, err, sizeof err), 0);
    }
    size_t frames = 0;
    for (;;) { /* bounded: both readers consume the file */
        struct pcap_pkthdr *h;
        const u_char *d;
        int rc = pcap_next_ex(p, &h, &d);
        sn_frame fr;
        int mine = sn_capture_next(c, &fr, err, sizeof err);
        if (rc == 1) {
            assert_int_equal(mine, 1);
            /* classic pcap seconds are unsigned 32-bit (libpcap widens them
             * as signed in files of the host's byte order) */
            uint64_t sec = (uint64_t)h->ts.tv_sec;
            if (pcap_major_version(p) == 2) sec &= UINT32_MAX;
            assert_int_equal(fr.ts_us, sec * 1000000u + (uint64_t)h->ts.tv_usec);
            assert_int_equal(fr.caplen, h->caplen);
            assert_int_equal(fr.wirelen, h->len < h->caplen ? h->caplen : h->len);
            assert_memory_equal(fr.data, d, h->caplen);
            frames++;
            continue;
        }
        if (rc == PCAP_ERROR_BREAK) {
            assert_int_equal(mine, 0);
            break;
        }
        assert_int_equal(mine, -1);
        char want[1024];
        if (want_offset >= 0) snprintf(want, sizeof want, "%s: at offset %lld: %s", path, want_offset, pcap_geterr(p));
        else snprintf(want, sizeof want, "%s", pcap_geterr(p));
        size_t wl = strlen(want), el = strlen(err);
        assert_true(el >= wl);
        assert_string_equal(err + el - wl, want); /* libpcap's own words, at the right record */
        break;
    }
    pcap_close(p);
    sn_capture_close(c);
    return frames;
}

/* Offsets of the records of the scenario capture. */
static size_t record_offsets(size_t *off, size_t max) {
    size_t n = 0, at = 24;
    while (at + 16 <= seed_len && n < max) {
        off[n++] = at;
        uint32_t cl = (uint32_t)seed[at + 8] | (uint32_t)seed[at + 9] << 8 | (uint32_t)seed[at + 10] << 16 |
            (uint32_t)seed[at + 11] << 24;
        at += 16 + cl;
    }
    return n;
}

static void test_whole_file(void **st) {
    (void)st;
    write_file(seed, seed_len);
    size_t all = compare(NULL, -1, 1);
    assert_true(all > 100);
    size_t some = compare("tcp port 1863", -1, 1);
    assert_true(some > 0 && some < all);
    /* the offset after each frame (progress) is the next record's */
    static size_t off[4096];
    size_t n = record_offsets(off, sizeof off / sizeof off[0]);
    assert_true(n == all);
    char err[1024];
    sn_capture *c = sn_capture_open_file(path, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(sn_capture_offset(c), 24);
    sn_frame fr;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sn_capture_next(c, &fr, err, sizeof err), 1);
        assert_int_equal(sn_capture_offset(c), i + 1 < n ? off[i + 1] : seed_len);
    }
    assert_int_equal(sn_capture_next(c, &fr, err, sizeof err), 0);
    sn_capture_close(c);
}

static void test_cut_everywhere(void **st) {
    (void)st;
    static size_t off[100000];
    size_t n = record_offsets(off, 100000);
    /* every byte of the file header and the first records, then a spread
     * of cuts, then cuts around a few record boundaries */
    size_t cuts[2000], nc = 0;
    for (size_t cut = 0; cut < 128; cut++) cuts[nc++] = cut;
    for (size_t cut = 128; cut < seed_len && nc < 1800; cut += 389) cuts[nc++] = cut;
    for (size_t i = 1; i < n && nc + 3 <= 2000; i += n / 40 + 1) {
        cuts[nc++] = off[i] - 1;
        cuts[nc++] = off[i] + 1;
        cuts[nc++] = off[i] + 17;
    }
    for (size_t k = 0; k < nc; k++) {
        size_t cut = cuts[k];
        write_file(seed, cut);
        long long want = -1;
        for (size_t i = 0; i < n; i++)
            if (off[i] < cut && (i + 1 == n ? seed_len : off[i + 1]) > cut) {
                want = (long long)off[i];
                break;
            }
        compare(NULL, cut < 24 ? -1 : want, cut < 24 ? -1 : 1);
        /* skipped records still count for the offset */
        compare("tcp port 6891", cut < 24 ? -1 : want, cut < 24 ? -1 : 1);
    }
}

static void test_flipped_bytes(void **st) {
    (void)st;
    unsigned char *b = malloc(seed_len);
    uint32_t x = 99;
    for (int round = 0; round < 60; round++) {
        memcpy(b, seed, seed_len);
        for (int k = 0; k < 1 + round % 25; k++) {
            x = x * 1103515245u + 12345u;
            size_t pos = 24 + (x >> 8) % (seed_len - 24);
            b[pos] = (unsigned char)(x >> 3);
        }
        write_file(b, seed_len);
        compare(NULL, -1, 1);
    }
    free(b);
}

static void put32(unsigned char *p, uint32_t v, int be) {
    for (int i = 0; i < 4; i++) p[be ? 3 - i : i] = (unsigned char)(v >> (8 * i));
}

static void test_record_lengths(void **st) {
    (void)st;
    static const uint32_t lens[] = {0x7FFFFFFFu, 0xFFFFFFFFu, 262145u, 262144u, 65536u, 65535u, 1u, 0u};
    unsigned char *b = malloc(seed_len);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memcpy(b, seed, seed_len);
        put32(b + 24 + 8, lens[i], 0); /* the first record's caplen */
        write_file(b, seed_len);
        compare(NULL, lens[i] > 262144u ? 24 : -1, 1); /* beyond the maximum: the first record is the damage */
        write_file(b, 5000);
        compare(NULL, -1, 1);
        put32(b + 24 + 12, lens[i], 0); /* its wire length too */
        write_file(b, seed_len);
        compare(NULL, -1, 1);
    }
    /* a snapshot length of 60: longer records are cut to it, and a cut
     * record in the middle is reported against its true offset */
    memcpy(b, seed, seed_len);
    put32(b + 16, 60, 0);
    write_file(b, seed_len);
    compare(NULL, -1, 1);
    static size_t off[100000];
    size_t n = record_offsets(off, 100000);
    write_file(b, off[n / 2] + 16 + 41);
    compare(NULL, (long long)off[n / 2], 1);
    free(b);
}

/* The scenario capture rewritten in the other byte order and/or with nanoseconds. */
static void test_byte_order_and_nanoseconds(void **st) {
    (void)st;
    unsigned char *b = malloc(seed_len);
    for (int v = 1; v < 4; v++) {
        int be = v & 1, ns = v & 2;
        memcpy(b, seed, seed_len);
        put32(b, ns ? 0xA1B23C4Du : 0xA1B2C3D4u, be);
        for (int k = 4; k < 8; k += 2) { /* version numbers, 16-bit */
            unsigned hi = b[k + 1], lo = b[k];
            b[k] = (unsigned char)(be ? hi : lo);
            b[k + 1] = (unsigned char)(be ? lo : hi);
        }
        for (int k = 8; k < 24; k += 4) {
            uint32_t w = (uint32_t)seed[k] | (uint32_t)seed[k + 1] << 8 | (uint32_t)seed[k + 2] << 16 |
                (uint32_t)seed[k + 3] << 24;
            put32(b + k, w, be);
        }
        size_t at = 24;
        while (at + 16 <= seed_len) {
            uint32_t f[4];
            for (size_t k = 0; k < 4; k++)
                f[k] = (uint32_t)seed[at + 4 * k] | (uint32_t)seed[at + 4 * k + 1] << 8 |
                    (uint32_t)seed[at + 4 * k + 2] << 16 | (uint32_t)seed[at + 4 * k + 3] << 24;
            if (ns) f[1] = f[1] * 1000u + 999u;
            for (size_t k = 0; k < 4; k++) put32(b + at + 4 * k, f[k], be);
            at += 16 + f[2];
        }
        write_file(b, seed_len);
        size_t frames = compare(NULL, -1, 1);
        assert_true(frames > 100);
        write_file(b, seed_len - 7);
        compare(NULL, -1, 1);
        /* time fields with the top bit set and a fraction over a second:
         * the seconds are unsigned (from 2038 on); libpcap reads the
         * fraction unsigned in a byte-swapped file, signed in one of the
         * host's order */
        put32(b + 24, 0xFFFFFFF0u, be);
        put32(b + 28, 0xFAFF0007u, be);
        write_file(b, seed_len);
        compare(NULL, -1, 1);
    }
    /* seconds with the top bit set are after 2038, not before 1970; the
     * fraction is read as libpcap reads it */
    memcpy(b, seed, seed_len);
    put32(b + 24, 0xFFFFFFF0u, 0);
    put32(b + 28, 0xFFFFFFFFu, 0);
    write_file(b, seed_len);
    compare(NULL, -1, 1);
    free(b);
}

/* A file of several read chunks: records of assorted sizes, plus a record
 * header split by the first chunk boundary, the largest record across
 * the second and a record ending exactly on the third. */
static size_t put_record(unsigned char *b, size_t at, uint32_t caplen, uint32_t seq) {
    put32(b + at, 1700000000u + seq, 0);
    put32(b + at + 4, seq % 1000000u, 0);
    put32(b + at + 8, caplen, 0);
    put32(b + at + 12, caplen + seq % 3u, 0);
    for (uint32_t k = 0; k < caplen; k++) b[at + 16 + k] = (unsigned char)(seq * 31u + k * 7u);
    return at + 16 + caplen;
}

/* Fills b from at with records until boundary - gap, the last one sized
 * to land there exactly; returns the new offset. */
static size_t fill_to(unsigned char *b, size_t at, size_t boundary, size_t gap, uint32_t *seq) {
    static const uint32_t sizes[] = {60, 1514, 9000, 0, 65535, 1, 4000, 590};
    size_t i = 0;
    for (;;) { /* bounded: every record moves at forward */
        size_t left = boundary - gap - at;
        uint32_t want = sizes[i++ % 8];
        if (left < 16) break; /* callers keep the gap reachable */
        if (16u + want + 16u > left) {
            at = put_record(b, at, (uint32_t)(left - 16), (*seq)++);
            break;
        }
        at = put_record(b, at, want, (*seq)++);
    }
    return at;
}

static void test_records_across_chunks(void **st) {
    (void)st;
    const size_t chunk = SN_PCAPREAD_CHUNK, size = 24 + 4 * chunk + 300000;
    unsigned char *b = calloc(1, size);
    memcpy(b, seed, 24);
    put32(b + 16, 262144u, 0); /* snapshot length */
    put32(b + 20, 1, 0);       /* Ethernet */
    uint32_t seq = 0;
    size_t at = fill_to(b, 24, 24 + chunk, 8, &seq); /* a header split 8 | 8 */
    size_t split_header = at;
    at = put_record(b, at, 100, seq++);
    at = fill_to(b, at, 24 + 2 * chunk, 100000, &seq);
    at = put_record(b, at, 262144u, seq++);       /* the largest record, across the second boundary */
    at = fill_to(b, at, 24 + 3 * chunk, 0, &seq); /* ends on the third */
    size_t on_boundary = at;
    while (at + 16 + 9000 < size) {
        uint32_t len = seq % 5u ? 1514u : 9000u;
        at = put_record(b, at, len, seq++);
    }
    for (int thread = 1; thread >= 0; thread--) {
        sn_pcapread_read_ahead = thread;
        write_file(b, at);
        assert_int_equal(compare(NULL, -1, 1), seq);
        write_file(b, on_boundary); /* the file ends where a read ends */
        compare(NULL, -1, 1);
        write_file(b, split_header + 8); /* cut inside the split header */
        compare(NULL, (long long)split_header, 1);
        write_file(b, 24 + 2 * chunk + 5); /* cut inside the largest record */
        compare(NULL, -1, 1);
        write_file(b, at);
        compare("len > 5000", -1, 1);
        /* closing early stops the reader wherever it is */
        char err[512];
        sn_capture *c = sn_capture_open_file(path, err, sizeof err);
        assert_non_null(c);
        sn_frame fr;
        for (int k = 0; k < 3; k++) assert_int_equal(sn_capture_next(c, &fr, err, sizeof err), 1);
        sn_capture_close(c);
    }
    sn_pcapread_read_ahead = 1;
    free(b);
}

/* Formats pcapread does not take stay with libpcap. */
static void test_other_formats_stay_with_libpcap(void **st) {
    (void)st;
    unsigned char *b = malloc(seed_len);
    memcpy(b, seed, seed_len);
    b[6] = 3; /* version 2.3 */
    write_file(b, seed_len);
    compare(NULL, -1, 0);
    memcpy(b, seed, seed_len);
    put32(b + 20, 147, 0); /* a link type the decoder does not know */
    write_file(b, seed_len);
    compare(NULL, -1, 0);
    free(b);
}

/* ---- pcapng copies of the scenario capture ---- */

typedef struct ngfile {
    unsigned char *p;
    size_t n, cap;
    int be;
} ngfile;

static void ng_raw(ngfile *g, const void *d, size_t n) {
    if (g->n + n > g->cap) {
        g->cap = (g->n + n) * 2 + 4096;
        g->p = realloc(g->p, g->cap);
        assert_non_null(g->p);
    }
    if (n) memcpy(g->p + g->n, d, n);
    g->n += n;
}
static void ng_u32(ngfile *g, uint32_t v) {
    unsigned char b[4];
    put32(b, v, g->be);
    ng_raw(g, b, 4);
}
static void ng_u16(ngfile *g, unsigned v) {
    unsigned char b[2] = {(unsigned char)(g->be ? v >> 8 : v), (unsigned char)(g->be ? v : v >> 8)};
    ng_raw(g, b, 2);
}
static void ng_pad(ngfile *g) {
    static const unsigned char zero[4];
    ng_raw(g, zero, (4 - g->n % 4) % 4);
}
/* A block is begun, filled and ended: ending writes its length twice. */
static size_t ng_begin(ngfile *g, uint32_t type) {
    size_t at = g->n;
    ng_u32(g, type);
    ng_u32(g, 0);
    return at;
}
static void ng_end(ngfile *g, size_t at) {
    ng_pad(g);
    uint32_t len = (uint32_t)(g->n - at + 4);
    put32(g->p + at + 4, len, g->be);
    ng_u32(g, len);
}
static void ng_opt(ngfile *g, unsigned code, const void *v, unsigned len) {
    ng_u16(g, code);
    ng_u16(g, len);
    ng_raw(g, v, len);
    ng_pad(g);
}
static size_t ng_shb(ngfile *g, unsigned major) {
    size_t at = ng_begin(g, 0x0A0D0D0Au);
    ng_u32(g, 0x1A2B3C4Du);
    ng_u16(g, major);
    ng_u16(g, 0);
    ng_u32(g, 0xFFFFFFFFu); /* section length unknown */
    ng_u32(g, 0xFFFFFFFFu);
    ng_opt(g, 4, "msnkit test", 11); /* shb_userappl */
    ng_opt(g, 0, NULL, 0);
    ng_end(g, at);
    return at;
}
/* tsresol < 0: no if_tsresol option (microseconds) */
static size_t ng_idb(ngfile *g, unsigned linktype, uint32_t snaplen, int tsresol, int64_t tsoffset) {
    size_t at = ng_begin(g, 1);
    ng_u16(g, linktype);
    ng_u16(g, 0);
    ng_u32(g, snaplen);
    ng_opt(g, 2, "eth0", 4); /* if_name */
    if (tsresol >= 0) {
        unsigned char r = (unsigned char)tsresol;
        ng_opt(g, 9, &r, 1);
    }
    if (tsoffset) {
        unsigned char o[8];
        uint64_t u = (uint64_t)tsoffset;
        put32(o + (g->be ? 4 : 0), (uint32_t)u, g->be);
        put32(o + (g->be ? 0 : 4), (uint32_t)(u >> 32), g->be);
        ng_opt(g, 14, o, 8);
    }
    ng_opt(g, 0, NULL, 0);
    ng_end(g, at);
    return at;
}
/* The scenario's seconds and microseconds in ticks of tsresol. */
static uint64_t ng_ticks(uint32_t sec, uint32_t usec, int tsresol) {
    if (tsresol < 0) tsresol = 6;
    if (tsresol & 0x80) {
        unsigned s = (unsigned)tsresol & 0x7f;
        return ((uint64_t)sec << s) + (((uint64_t)usec << s) / 1000000u);
    }
    uint64_t p = 1;
    for (int k = 0; k < tsresol; k++) p *= 10;
    return (uint64_t)sec * p + (p >= 1000000u ? (uint64_t)usec * (p / 1000000u) : (uint64_t)usec / (1000000u / p));
}
static size_t ng_epb(ngfile *g, uint32_t type, uint32_t ifid, uint64_t t, const unsigned char *d, uint32_t caplen,
                     uint32_t len, int comment) {
    size_t at = ng_begin(g, type);
    if (type == 3) { /* simple: the wire length, the bytes */
        ng_u32(g, len);
    } else {
        if (type == 2) { /* obsolete: a 16-bit interface and drop count */
            ng_u16(g, ifid);
            ng_u16(g, 0);
        } else ng_u32(g, ifid);
        ng_u32(g, (uint32_t)(t >> 32));
        ng_u32(g, (uint32_t)t);
        ng_u32(g, caplen);
        ng_u32(g, len);
    }
    ng_raw(g, d, caplen);
    ng_pad(g);
    if (comment && type != 3) {
        ng_opt(g, 1, "a comment", 9);
        ng_opt(g, 0, NULL, 0);
    }
    ng_end(g, at);
    return at;
}
static void ng_other(ngfile *g, uint32_t type, size_t n) {
    size_t at = ng_begin(g, type);
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)(k * 13u);
        ng_raw(g, &c, 1);
    }
    ng_end(g, at);
}

typedef struct ngopts {
    int be, tsresol, mixed, sections;
    int64_t tsoffset;
    uint32_t snaplen;
} ngopts;

/* The scenario capture as pcapng: with mixed set, blocks to skip, a
 * second interface, simple and obsolete packet blocks and comments among
 * the packets; with sections set, a new section half-way. Offsets of the
 * packet blocks go to off (NULL: not kept); returns the packets. */
static size_t ng_from_seed(ngfile *g, const ngopts *o, size_t *off, size_t max) {
    memset(g, 0, sizeof *g);
    g->be = o->be;
    ng_shb(g, 1);
    if (o->mixed) ng_other(g, 4, 40); /* names */
    ng_idb(g, 1, o->snaplen, o->tsresol, o->tsoffset);
    if (o->mixed) ng_idb(g, 1, o->snaplen, 9, 0);
    size_t recs[100000];
    size_t n = record_offsets(recs, 100000), packets = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *h = seed + recs[i];
        uint32_t sec = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        uint32_t usec = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24;
        uint32_t cl = (uint32_t)h[8] | (uint32_t)h[9] << 8 | (uint32_t)h[10] << 16 | (uint32_t)h[11] << 24;
        uint32_t len = (uint32_t)h[12] | (uint32_t)h[13] << 8 | (uint32_t)h[14] << 16 | (uint32_t)h[15] << 24;
        if (o->sections && i == n / 2) {
            ng_shb(g, 1);
            ng_idb(g, 1, o->snaplen, o->tsresol, o->tsoffset);
        }
        if (o->mixed && i % 17 == 5) ng_other(g, i % 2 ? 5 : 0x40000BADu, i % 50); /* statistics, custom */
        uint32_t type = 6, ifid = 0;
        if (o->mixed && i % 11 == 3) type = 3;
        if (o->mixed && i % 13 == 4) type = 2;
        if (o->mixed && i % 3 == 1 && type != 3 && !(o->sections && i >= n / 2)) ifid = 1;
        int res = ifid ? 9 : o->tsresol;
        uint32_t keep = o->snaplen && cl > o->snaplen ? o->snaplen : cl;
        size_t at = ng_epb(g, type, ifid, ng_ticks(sec, usec, res), h + 16, keep, len, o->mixed && i % 7 == 2);
        if (off && packets < max) off[packets] = at;
        packets++;
    }
    return packets;
}

static void test_pcapng_variants(void **st) {
    (void)st;
    static const int resol[] = {-1, 6, 9, 3, 0, 0x80 | 20, 0x80 | 10, 0x80 | 40};
    for (int be = 0; be < 2; be++)
        for (size_t r = 0; r < sizeof resol / sizeof resol[0]; r++)
            for (int v = 0; v < 3; v++) {
                ngopts o = {be, resol[r], v >= 1, v == 2, v == 2 ? -86400 * 3 : v == 1 ? 1000 : 0, 0};
                ngfile g;
                size_t packets = ng_from_seed(&g, &o, NULL, 0);
                write_file(g.p, g.n);
                assert_int_equal(compare(NULL, -1, 1), packets);
                if (v == 1) compare("tcp port 1863", -1, 1);
                free(g.p);
            }
    /* a snapshot length of 100: packets kept to it, simple blocks cut to it */
    ngopts o = {0, -1, 1, 0, 0, 100};
    ngfile g;
    size_t packets = ng_from_seed(&g, &o, NULL, 0);
    write_file(g.p, g.n);
    assert_int_equal(compare(NULL, -1, 1), packets);
    free(g.p);
}

static void test_pcapng_cut_everywhere(void **st) {
    (void)st;
    ngopts o = {1, 9, 1, 1, 0, 0};
    ngfile g;
    static size_t off[100000];
    size_t n = ng_from_seed(&g, &o, off, 100000);
    assert_true(n > 100);
    size_t cuts[1500], nc = 0;
    for (size_t cut = 0; cut < 200; cut++) cuts[nc++] = cut;
    for (size_t cut = 200; cut < g.n && nc < 1300; cut += 397) cuts[nc++] = cut;
    for (size_t i = 1; i < n && nc + 3 <= 1500; i += n / 60 + 1) {
        cuts[nc++] = off[i] - 1;
        cuts[nc++] = off[i] + 3;
        cuts[nc++] = off[i] + 30;
    }
    for (size_t k = 0; k < nc; k++) {
        write_file(g.p, cuts[k]);
        /* the block the cut falls in, where it is a packet block after the
         * first interface (anything earlier libpcap reads when opening) */
        long long want = -1;
        for (size_t i = 0; i + 1 < n; i++)
            if (off[i] < cuts[k] && off[i + 1] > cuts[k] && cuts[k] - off[i] < 64) want = (long long)off[i];
        compare(NULL, want, -1);
    }
    free(g.p);
}

static void test_pcapng_flipped_bytes(void **st) {
    (void)st;
    ngopts o = {0, -1, 1, 1, 0, 0};
    ngfile g;
    ng_from_seed(&g, &o, NULL, 0);
    unsigned char *b = malloc(g.n);
    uint32_t x = 7;
    for (int round = 0; round < 80; round++) {
        memcpy(b, g.p, g.n);
        for (int k = 0; k < 1 + round % 20; k++) {
            x = x * 1103515245u + 12345u;
            size_t pos = (x >> 8) % g.n;
            b[pos] = (unsigned char)(x >> 3);
        }
        write_file(b, g.n);
        compare(NULL, -1, -1);
    }
    free(b);
    free(g.p);
}

/* One kind of damage in the block at the given place of a small file:
 * both readers stop there with libpcap's message. */
typedef void (*ng_damage)(ngfile *g, size_t at);

static void dmg_len_small(ngfile *g, size_t at) { put32(g->p + at + 4, 8, g->be); }
static void dmg_len_odd(ngfile *g, size_t at) { put32(g->p + at + 4, 1001, g->be); }
static void dmg_len_huge(ngfile *g, size_t at) { put32(g->p + at + 4, 8 + 20 + 262144 + 131072 + 8, g->be); }
static void dmg_len_max(ngfile *g, size_t at) { put32(g->p + at + 4, 0xFFFFFFFCu, g->be); }
static void dmg_trailer(ngfile *g, size_t at) {
    uint32_t len = (uint32_t)g->p[at + 4] | (uint32_t)g->p[at + 5] << 8 | (uint32_t)g->p[at + 6] << 16 |
        (uint32_t)g->p[at + 7] << 24;
    if (g->be) len = __builtin_bswap32(len);
    put32(g->p + at + len - 4, len + 4, g->be);
}
static void dmg_caplen(ngfile *g, size_t at) { put32(g->p + at + 20, 5000, g->be); } /* beyond the block */
static void dmg_snaplen(ngfile *g, size_t at) { put32(g->p + at + 20, 262145, g->be); }
static void dmg_ifid(ngfile *g, size_t at) { put32(g->p + at + 8, 7, g->be); }

static size_t ng_small(ngfile *g, int be, size_t *blocks, size_t max) {
    ngopts o = {be, -1, 0, 0, 0, 0};
    ng_from_seed(g, &o, blocks, max);
    return g->n;
}

static void test_pcapng_damage(void **st) {
    (void)st;
    static const ng_damage dmg[] = {dmg_len_small, dmg_len_odd, dmg_len_huge, dmg_len_max,
                                    dmg_trailer,   dmg_caplen,  dmg_snaplen,  dmg_ifid};
    for (int be = 0; be < 2; be++)
        for (size_t k = 0; k < sizeof dmg / sizeof dmg[0]; k++) {
            ngfile g;
            size_t blocks[40];
            ng_small(&g, be, blocks, 40);
            dmg[k](&g, blocks[30]);
            write_file(g.p, g.n);
            assert_int_equal(compare(NULL, (long long)blocks[30], 1), 30);
            free(g.p);
        }
    /* a packet block too short for its fixed part */
    for (uint32_t type = 2; type <= 6; type += 1) {
        if (type == 4 || type == 5) continue;
        ngfile g;
        size_t blocks[4];
        ng_small(&g, 0, blocks, 4);
        g.n = blocks[3];
        size_t at = ng_begin(&g, type);
        if (type != 3) ng_u16(&g, 0); /* a simple block needs 4 bytes, the others 20 */
        ng_end(&g, at);
        write_file(g.p, g.n);
        assert_int_equal(compare(NULL, (long long)at, 1), 3);
        free(g.p);
    }
    /* interfaces and sections that libpcap refuses */
    for (int v = 0; v < 18; v++) {
        ngfile g;
        size_t blocks[4];
        ng_small(&g, v & 1, blocks, 4);
        g.n = blocks[3];
        size_t at = g.n;
        unsigned char r1 = 6, r2 = 0x80 | 64, r3 = 20, r4 = 0x80 | 63;
        switch (v) {
        case 0: ng_idb(&g, 113, 0, -1, 0); break;          /* another link type */
        case 1: ng_idb(&g, 1, 1000, -1, 0); break;         /* another snapshot length */
        case 15: ng_idb(&g, 1, 620756992u, -1, 0); break;  /* above the maximum, below INT_MAX: another */
        case 16: ng_idb(&g, 1, 0x90000000u, -1, 0); break; /* above INT_MAX: the maximum, as 0 is */
        case 17: ng_idb(&g, 1, 262144u, -1, 0); break;     /* the maximum itself */
        case 2:
        case 3:
            at = ng_shb(&g, 1);
            put32(g.p + at + 8, v == 2 ? 0x4D3C2B1Au : 0x12345678u, g.be); /* other byte order; no magic */
            break;
        case 4: at = ng_shb(&g, 2); break; /* major version 2 */
        default: {                         /* options */
            at = ng_begin(&g, 1);
            ng_u16(&g, 1);
            ng_u16(&g, 0);
            ng_u32(&g, 0);
            unsigned char o8[256] = {6}; /* option values: a resolution of 10^-6, then zeros */
            if (v == 5) ng_opt(&g, 9, o8, 2);
            if (v == 6) {
                ng_opt(&g, 9, &r1, 1);
                ng_opt(&g, 9, &r1, 1);
            }
            if (v == 7) ng_opt(&g, 9, &r2, 1);
            if (v == 8) ng_opt(&g, 9, &r3, 1);
            if (v == 9) ng_opt(&g, 14, o8, 4);
            if (v == 10) {
                ng_opt(&g, 14, o8, 8);
                ng_opt(&g, 14, o8, 8);
            }
            if (v == 11) ng_opt(&g, 0, o8, 4);
            if (v == 12) ng_opt(&g, 2, o8, 200);    /* an option longer than the block */
            if (v == 13) ng_opt(&g, 0x7fff, o8, 3); /* an unknown option of odd length: skipped */
            if (v == 14) ng_opt(&g, 9, &r4, 1);     /* the finest binary resolution: fine */
            ng_end(&g, at);
            if (v == 12) put32(g.p + at + 4 + 12 + 2, 2000, g.be);
        }
        }
        ng_epb(&g, 6, 0, 1, seed + 24 + 16, 60, 60, 0);
        write_file(g.p, g.n);
        if (v == 0 || v == 1 || v == 15) {
            /* libpcap refuses an interface of another link type or snapshot
             * length; msnsniff reads on (Wireshark writes such files), up
             * to the snapshot length it can hold */
            char err[1024] = "", want[256];
            size_t got = read_alone(err, sizeof err);
            snprintf(want, sizeof want, "at offset %zu: an interface has a snapshot length 620756992, above", at);
            if (v == 15 && (got != 3 || !strstr(err, want))) fail_msg("case 15: %zu frames, '%s'", got, err);
            if (v != 15 && (got != 4 || err[0])) fail_msg("case %d: %zu frames, '%s'", v, got, err);
            free(g.p);
            continue;
        }
        int fine = v >= 13 && v != 15;
        size_t got = compare(NULL, fine ? -1 : (long long)at, 1);
        if (got != (fine ? 4u : 3u)) fail_msg("case %d: %zu frames", v, got);
        free(g.p);
    }
}

/* libpcap reads the first section header when it opens the file, by rules
 * of its own (its trailer is not checked), and the reader starts after
 * it; a later section header is checked as any block. */
static void test_pcapng_first_section_header(void **st) {
    (void)st;
    for (int v = 0; v < 2; v++) {
        ngfile g;
        memset(&g, 0, sizeof g);
        ng_shb(&g, 1);
        if (v) put32(g.p + g.n - 4, 2856, 0); /* its trailer */
        ng_idb(&g, 1, 0, -1, 0);
        ng_epb(&g, 6, 0, 1, seed + 24 + 16, 60, 60, 0);
        size_t second = ng_shb(&g, 1);
        put32(g.p + g.n - 4, 2856, 0);
        write_file(g.p, g.n);
        assert_int_equal(compare(NULL, (long long)second, 1), 1);
        free(g.p);
    }
}

/* Blocks larger than the reader's room for one (an enhanced packet
 * block of the largest packet with 128 KiB of options), which libpcap
 * takes up to 16 MiB: names before the first interface and after it, a
 * packet block with large options, one cut short; and one over 16 MiB. */
static void test_pcapng_large_blocks(void **st) {
    (void)st;
    unsigned char *big = calloc(1, 262144);
    for (int v = 0; v < 5; v++) {
        ngfile g;
        memset(&g, 0, sizeof g);
        ng_shb(&g, 1);
        if (v == 0) ng_other(&g, 4, 500000);
        ng_idb(&g, 1, 0, -1, 0);
        ng_epb(&g, 6, 0, 1, seed + 24 + 16, 60, 60, 0);
        size_t at = g.n;
        if (v == 1 || v == 3) ng_other(&g, 4, 3u << 20);
        if (v == 2) { /* the largest packet, with 600 KiB of comments */
            at = ng_begin(&g, 6);
            ng_u32(&g, 0);
            ng_u32(&g, 0);
            ng_u32(&g, 7);
            ng_u32(&g, 262144);
            ng_u32(&g, 262144);
            for (size_t k = 0; k < 262144; k++) big[k] = (unsigned char)(k * 11u);
            ng_raw(&g, big, 262144);
            for (int o = 0; o < 10; o++) ng_opt(&g, 1, big, 61440);
            ng_opt(&g, 0, NULL, 0);
            ng_end(&g, at);
        }
        if (v == 4) { /* a block header over 16 MiB */
            at = ng_begin(&g, 4);
            ng_end(&g, at);
            put32(g.p + at + 4, (16u << 20) + 4, g.be);
        }
        ng_epb(&g, 6, 0, 2, seed + 24 + 16, 60, 60, 0);
        size_t n = v == 3 ? at + (2u << 20) : g.n; /* 3: cut inside the large block */
        write_file(g.p, n);
        size_t got = compare(NULL, v >= 3 ? (long long)at : -1, 1);
        if (got != (v >= 3 ? 1u : v == 2 ? 3u : 2u)) fail_msg("case %d: %zu frames", v, got);
        free(g.p);
    }
    free(big);
}

/* A file of several read chunks, read with the reader thread and without. */
static void test_pcapng_across_chunks(void **st) {
    (void)st;
    ngfile g;
    memset(&g, 0, sizeof g);
    ng_shb(&g, 1);
    ng_idb(&g, 1, 0, 9, 0);
    unsigned char *d = malloc(262144);
    for (size_t k = 0; k < 262144; k++) d[k] = (unsigned char)(k * 7u);
    static const uint32_t sizes[] = {60, 1514, 9000, 0, 65535, 1, 4000, 262144, 590, 3};
    uint32_t seq = 0;
    size_t cuts[64], nc = 0;
    while (g.n < 4 * SN_PCAPREAD_CHUNK + 200000) {
        uint32_t cl = sizes[seq % 10], type = seq % 5 == 4 ? 3 : 6;
        /* a simple block's bytes are all of the packet (up to the snapshot length) */
        uint32_t wire = type == 3 ? cl : cl + seq % 3;
        size_t at = ng_epb(&g, type, 0, 1700000000000000000ull + seq * 1000003ull, d, cl, wire, seq % 4 == 1);
        if (nc < 64 && at / SN_PCAPREAD_CHUNK != g.n / SN_PCAPREAD_CHUNK) cuts[nc++] = at + 8;
        seq++;
    }
    free(d);
    for (int thread = 1; thread >= 0; thread--) {
        sn_pcapread_read_ahead = thread;
        write_file(g.p, g.n);
        assert_int_equal(compare(NULL, -1, 1), seq);
        for (size_t k = 0; k < nc; k++) {
            write_file(g.p, cuts[k]); /* cut inside a block across a read */
            compare(NULL, (long long)cuts[k] - 8, 1);
        }
    }
    sn_pcapread_read_ahead = 1;
    free(g.p);
}

/* ---- a stream (standard input, a pipe) ---- */

typedef struct feeder {
    int fd;
    const unsigned char *p;
    size_t n;
} feeder;

/* Writes the bytes in pieces of odd sizes, as a pipe from another program
 * delivers them, then closes the pipe. */
static void *feed(void *arg) {
    feeder *f = arg;
    static const size_t sizes[] = {1, 7, 4096, 65536, 100003, 16, 3};
    size_t at = 0;
    for (unsigned k = 0; at < f->n; k++) { /* bounded: every turn writes or gives up */
        size_t want = sizes[k % 7] < f->n - at ? sizes[k % 7] : f->n - at;
        ssize_t w = write(f->fd, f->p + at, want);
        if (w <= 0) break; /* the reader stopped (an error in the file) */
        at += (size_t)w;
    }
    close(f->fd);
    return NULL;
}

/* data read by pcapread from the file, and from a pipe whose first head
 * bytes were read already (as libpcap's check of the header reads them):
 * the same records and the same end, or the same error at the same
 * offset. Returns the records. */
static size_t compare_stream(const unsigned char *data, size_t n, size_t head, int ng, uint32_t snapshot) {
    write_file(data, n);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    sn_pcapread a, b;
    if (ng) {
        assert_int_equal(sn_pcapread_init_ng(&a, fileno(fp), 1, snapshot, 262144), 0);
        assert_int_equal(sn_pcapread_init_ng_stream(&b, pfd[0], data, head, 1, snapshot, 262144), 0);
    } else {
        assert_int_equal(sn_pcapread_init(&a, fileno(fp), 0, 0, snapshot, 262144), 0);
        assert_int_equal(sn_pcapread_init_stream(&b, pfd[0], data, head, 0, 0, snapshot, 262144), 0);
    }
    feeder f = {pfd[1], data + head, n - head};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, feed, &f), 0);
    size_t records = 0;
    for (;;) { /* bounded: both readers consume the file */
        sn_pcaprec ra, rb;
        char ea[512] = "", eb[512] = "";
        uint64_t ata = 0, atb = 0;
        int rca = sn_pcapread_next(&a, &ra, ea, sizeof ea, &ata);
        int rcb = sn_pcapread_next(&b, &rb, eb, sizeof eb, &atb);
        assert_int_equal(rcb, rca);
        if (rca == 1) {
            assert_int_equal(rb.ts_us, ra.ts_us);
            assert_int_equal(rb.caplen, ra.caplen);
            assert_int_equal(rb.len, ra.len);
            if (ng) assert_int_equal(rb.linktype, ra.linktype);
            assert_memory_equal(rb.data, ra.data, ra.caplen);
            records++;
            continue;
        }
        if (rca < 0) {
            assert_string_equal(eb, ea);
            assert_int_equal(atb, ata);
        }
        break;
    }
    sn_pcapread_free(&b);
    close(pfd[0]); /* a feeder still writing gets EPIPE and ends */
    pthread_join(t, NULL);
    sn_pcapread_free(&a);
    fclose(fp);
    return records;
}

static void test_stream(void **st) {
    (void)st;
    signal(SIGPIPE, SIG_IGN);
    static size_t off[100000];
    size_t n = record_offsets(off, 100000);
    assert_true(n > 100);
    /* what libpcap read of the header: the header alone, into a record,
     * the whole file */
    const size_t heads[] = {24, off[3] + 5, seed_len};
    for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++)
        assert_int_equal(compare_stream(seed, seed_len, heads[h], 0, 262144), n);
    /* cut inside a record: the same error at the same offset */
    assert_int_equal(compare_stream(seed, off[n / 2] + 20, 24, 0, 262144), n / 2);
    /* pcapng: interfaces, sections, blocks to skip, simple and obsolete
     * packet blocks, both byte orders, and a cut inside a block */
    for (int be = 0; be < 2; be++) {
        ngopts o = {be, 9, 1, 1, 0, 0};
        ngfile g;
        size_t pk[100000];
        size_t packets = ng_from_seed(&g, &o, pk, 100000);
        size_t first = (size_t)(g.p[4] | g.p[5] << 8);
        if (be) first = (size_t)(g.p[6] << 8 | g.p[7]);
        assert_int_equal(compare_stream(g.p, g.n, first, 1, 262144), packets);
        assert_int_equal(compare_stream(g.p, g.n, pk[2] + 3, 1, 262144), packets);
        assert_int_equal(compare_stream(g.p, pk[packets / 3] + 30, first, 1, 262144), packets / 3);
        free(g.p);
    }
    /* less than the header read already: not taken */
    sn_pcapread r;
    assert_int_equal(sn_pcapread_init_stream(&r, 0, seed, 20, 0, 0, 262144, 262144), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_file),
        cmocka_unit_test(test_cut_everywhere),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_record_lengths),
        cmocka_unit_test(test_byte_order_and_nanoseconds),
        cmocka_unit_test(test_other_formats_stay_with_libpcap),
        cmocka_unit_test(test_records_across_chunks),
        cmocka_unit_test(test_pcapng_variants),
        cmocka_unit_test(test_pcapng_cut_everywhere),
        cmocka_unit_test(test_pcapng_flipped_bytes),
        cmocka_unit_test(test_pcapng_damage),
        cmocka_unit_test(test_pcapng_first_section_header),
        cmocka_unit_test(test_pcapng_large_blocks),
        cmocka_unit_test(test_pcapng_across_chunks),
        cmocka_unit_test(test_stream),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
