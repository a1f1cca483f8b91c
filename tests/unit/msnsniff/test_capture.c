/* test_capture.c - the classic pcap reader (pcapread) against libpcap
 * itself: on the scenario capture and on damaged and converted copies of it
 * (cut at every kind of place, bytes flipped, absurd or oversized record
 * lengths, a small snapshot length, big-endian and nanosecond files),
 * every frame (time, lengths, bytes) and every error message must be the
 * ones libpcap gives, and error offsets must name the damaged record.
 * Files larger than the reader's chunks check records and headers split
 * between two reads, with the reader thread and without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pcap/pcap.h>
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
            assert_int_equal(fr.ts_us, (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec);
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
         * libpcap reads them unsigned in a byte-swapped file, signed in
         * one of the host's order */
        put32(b + 24, 0xFFFFFFF0u, be);
        put32(b + 28, 0xFAFF0007u, be);
        write_file(b, seed_len);
        compare(NULL, -1, 1);
    }
    /* a negative time stamp is read as libpcap reads it */
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_file),
        cmocka_unit_test(test_cut_everywhere),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_record_lengths),
        cmocka_unit_test(test_byte_order_and_nanoseconds),
        cmocka_unit_test(test_other_formats_stay_with_libpcap),
        cmocka_unit_test(test_records_across_chunks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
