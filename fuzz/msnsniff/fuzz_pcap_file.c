/* fuzz_pcap_file - capture files: msnsniff's reader against libpcap's.
 *
 * The input is a whole capture file (classic pcap of either byte order or
 * time-stamp precision, pcapng, or anything else). It is read twice, by
 * sn_capture (pcapread, with its reader thread or in line, for classic
 * pcap and pcapng files; libpcap otherwise) and by libpcap alone: both must hand out the
 * same frames - time, lengths, bytes - and stop at the same record, with
 * an error or at the end alike (but for pcapng interfaces of different
 * link types or snapshot lengths, which msnsniff reads and libpcap
 * refuses). Every frame also goes through the engine.
 * A difference aborts, so the fuzzer reports it. A compressed file, which
 * msnsniff reads through its decompressor and libpcap refuses, is read by
 * msnsniff alone. */
#define _GNU_SOURCE
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capture.h"
#include "engine.h"
#include "pcapread.h"
#include "../fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("capture", 0);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64], err[512] = "", perr[PCAP_ERRBUF_SIZE];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    sn_pcapread_read_ahead = (int)(size & 1); /* both ways of reading */
    sn_capture *c = sn_capture_open_file(path, err, sizeof err);
    if (sn_capture_is_compressed(data, size)) {
        sn_frame fr;
        if (c) {
            while (sn_capture_next(c, &fr, err, sizeof err) == 1) /* bounded: the file */
                ;
            sn_capture_close(c);
        }
        sn_pcapread_read_ahead = 1;
        close(fd);
        return 0;
    }
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, perr);
    CHECK((c == NULL) == (p == NULL)); /* the file is opened by libpcap in both */
    if (c) {
        sn_config cfg;
        sn_config_defaults(&cfg);
        cfg.memcap = 4u * 1024 * 1024;
        sn_engine *e = sn_engine_new(&cfg);
        int lt = sn_capture_linktype(c);
        CHECK(lt == pcap_datalink(p));
        for (;;) { /* bounded: both readers consume the file */
            struct pcap_pkthdr *h;
            const u_char *d;
            int rc = pcap_next_ex(p, &h, &d);
            sn_frame fr;
            int mine = sn_capture_next(c, &fr, err, sizeof err);
            if (rc == 1) {
                CHECK(mine == 1);
                /* classic pcap seconds are unsigned 32-bit (libpcap widens
                 * them as signed in files of the host's byte order) */
                uint64_t sec = (uint64_t)h->ts.tv_sec;
                if (pcap_major_version(p) == 2) sec &= UINT32_MAX;
                CHECK(fr.ts_us == sec * 1000000u + (uint64_t)h->ts.tv_usec);
                CHECK(fr.caplen == h->caplen);
                CHECK(fr.wirelen == (h->len < h->caplen ? h->caplen : h->len));
                CHECK(memcmp(fr.data, d, h->caplen) == 0);
                if (e) sn_engine_packet(e, lt, fr.ts_us, fr.data, fr.caplen, fr.wirelen);
                continue;
            }
            if (rc == PCAP_ERROR &&
                (strstr(pcap_geterr(p), "different from the type of the first interface") ||
                 strstr(pcap_geterr(p), "different from the snapshot length of the first"))) {
                /* pcapng interfaces of other link types or snapshot
                 * lengths: libpcap stops, msnsniff reads on, each frame
                 * with its interface's link type (or refuses a length it
                 * cannot hold); the rest goes through the engine */
                for (int k = mine; k == 1; k = sn_capture_next(c, &fr, err, sizeof err)) /* bounded: the file */
                    if (e) sn_engine_packet(e, fr.linktype, fr.ts_us, fr.data, fr.caplen, fr.wirelen);
                break;
            }
            CHECK(mine == (rc == PCAP_ERROR_BREAK ? 0 : -1));
            if (mine < 0) CHECK(strstr(err, pcap_geterr(p)) != NULL); /* libpcap's own words */
            break;
        }
        if (e) {
            sn_engine_finish(e);
            sn_engine_free(e);
        }
        sn_capture_close(c);
        pcap_close(p);
    }
    sn_pcapread_read_ahead = 1;
    close(fd);
    return 0;
}
