/* pcap-loop - the bare libpcap read loop: open a capture, read every packet,
 * touch nothing but the header. The floor any analyzer is measured against.
 * Prints packets, bytes, seconds and MB/s (JSON with --json). */
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int json = argc > 2 && strcmp(argv[2], "--json") == 0;
    if (argc < 2 || (argc > 2 && !json)) {
        fprintf(stderr, "usage: pcap-loop FILE [--json]\n");
        return 2;
    }
    char err[PCAP_ERRBUF_SIZE];
    double t0 = now_s();
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "pcap-loop: %s\n", err);
        return 1;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    uint64_t packets = 0, bytes = 0, sum = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        packets++;
        bytes += h->caplen;
        sum += data[0]; /* one byte read, so the data really is touched */
    }
    if (rc == PCAP_ERROR) fprintf(stderr, "pcap-loop: %s\n", pcap_geterr(p));
    pcap_close(p);
    double secs = now_s() - t0;
    if (json)
        printf("{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"seconds\":%.3f,\"mb_per_s\":%.1f,\"sum\":%" PRIu64
               "}\n",
               packets, bytes, secs, (double)bytes / secs / 1e6, sum);
    else
        printf("%" PRIu64 " packets, %" PRIu64 " bytes in %.3f s = %.1f MB/s\n", packets, bytes, secs,
               (double)bytes / secs / 1e6);
    return rc == PCAP_ERROR ? 1 : 0;
}
