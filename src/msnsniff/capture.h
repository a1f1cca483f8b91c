/* capture.h - packet input through libpcap: pcap and pcapng files, "-"
 * for standard input, live interfaces, BPF filters. Errors name the file
 * and, for files, the byte offset of the record that could not be read. */
#ifndef SN_CAPTURE_H
#define SN_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sn_capture sn_capture;

/* libpcap's largest accepted record for the link types the decoder knows */
#define SN_CAPTURE_MAX_CAPLEN 262144u

typedef struct sn_frame {
    uint64_t ts_us;
    const uint8_t *data;
    size_t caplen, wirelen;
    /* the frame's link type: the capture's, or in a pcapng file of several
     * interfaces its interface's (sn_capture_linktype: the first one) */
    int linktype;
} sn_frame;

sn_capture *sn_capture_open_file(const char *path, char *err, size_t errcap);
/* Do a file's first bytes say it is compressed (gzip, xz, zstd, bzip2)?
 * sn_capture_open_file reads such a file through its decompressor. */
int sn_capture_is_compressed(const void *head, size_t n);
/* promisc: put the interface in promiscuous mode (tcpdump's default; -p
 * turns it off). monitor: put a Wi-Fi interface in monitor mode (-I).
 * buffer_bytes: the kernel buffer (SN_CAPTURE_BUFFER by default; -B). */
sn_capture *sn_capture_open_live(const char *iface, int promisc, int monitor, size_t buffer_bytes, char *err,
                                 size_t errcap);
/* Is iface one of libpcap's netfilter devices (nflog[:G,...],
 * nfqueue[:Q,...]), a netlink socket rather than a packet socket? */
int sn_capture_netfilter_device(const char *iface);
/* The kernel buffer of a live capture: 256 blocks of libpcap's 256 KiB. A
 * block is handed over when full or 10 ms after its first packet, so a
 * trickle of packets takes a block every 10 ms: 256 blocks hold 2.5 s of
 * it while msnsniff is held up (16 MiB held 0.64 s). */
#define SN_CAPTURE_BUFFER ((size_t)64 << 20)
#define SN_CAPTURE_BUFFER_MIN ((size_t)1 << 20)
#define SN_CAPTURE_BUFFER_MAX ((size_t)1 << 30)
/* The interfaces libpcap can capture on, one per line as "N.name
 * (description) [flags]" (-D). 0, or -1 with err set. */
int sn_capture_list_interfaces(FILE *out, char *err, size_t errcap);
int sn_capture_set_filter(sn_capture *c, const char *expr, char *err, size_t errcap);
int sn_capture_linktype(const sn_capture *c);
/* libpcap's name of a link type, "EN10MB", with its description when
 * describe is set, "EN10MB (Ethernet)"; "DLT 147" for a value libpcap has
 * no name for. */
const char *sn_capture_linktype_name(int linktype, int describe, char *buf, size_t cap);
/* Writes every frame sn_capture_next returns (after the filter) to a pcap
 * file with the capture's link type ("-" = standard output); frames of
 * another link type (a pcapng interface of its own) cannot be in it and
 * are counted instead (sn_capture_dump_skipped). 0, or -1 with err set
 * ("PATH: why") and errno that of the failed open. */
int sn_capture_dump_open(sn_capture *c, const char *path, uint32_t snaplen, char *err, size_t errcap);
/* snaplen: 0 writes the capture's snapshot length in the file header; a
 * larger one is written instead (several files read as one: a later file
 * may keep longer frames). */
/* Several files read as one (-r more than once): the next file's capture
 * takes over the dump file of the one before; the frames it writes must
 * be of the first file's link type. */
void sn_capture_dump_pass(sn_capture *from, sn_capture *to);
/* Writes out what the dump file buffers (-U, an idle live capture): a
 * reader of the file or of the pipe sees the packets as they come. A
 * failure is kept for sn_capture_dump_error. */
void sn_capture_dump_flush(sn_capture *c);
/* Flushes and closes the dump file: 0, or -1 with err naming the file and
 * the cause (a full disk shows here). Nothing to do without one. */
int sn_capture_dump_close(sn_capture *c, char *err, size_t errcap);
/* The errno of the first failed write to the dump file, 0 when none. */
int sn_capture_dump_error(const sn_capture *c);
/* Frames -w left out for their link type. */
uint64_t sn_capture_dump_skipped(const sn_capture *c);
/* Live capture counters from the kernel (pcap_stats): packets received,
 * dropped for lack of buffer space, dropped by the interface; and lost:
 * packets the kernel counted as put in the buffer (received, not dropped)
 * that msnsniff never read, when that can be known (lost_known: not on a
 * loopback interface or "any"). 0, or -1 when there are none (files). */
typedef struct sn_capture_stats {
    uint64_t received, dropped, if_dropped, lost;
    int lost_known;
} sn_capture_stats;
int sn_capture_stats_get(sn_capture *c, sn_capture_stats *st);
/* 1: *fr holds a frame; 0: end of input; -1: error (err says what and
 * where); 2: nothing yet (live capture timeout, or interrupted). */
int sn_capture_next(sn_capture *c, sn_frame *fr, char *err, size_t errcap);
/* File offset read so far and file size (0 when unknown: stdin, live). */
uint64_t sn_capture_offset(const sn_capture *c);
uint64_t sn_capture_size(const sn_capture *c);
/* Live capture: stop waiting; later calls return what the kernel already
 * buffered, then 0. Lets a stopped capture keep every packet sent before
 * the stop. */
void sn_capture_drain(sn_capture *c);
/* Live capture stopped before its end (-c): the packets the kernel has
 * already buffered are read and let go (not written with -w), so that the
 * lost count is only what the kernel never handed over. */
void sn_capture_skip_rest(sn_capture *c);
int sn_capture_is_live(const sn_capture *c);
/* "pcapread" when the records or blocks of a file are read by pcapread.h,
 * else "libpcap". */
const char *sn_capture_reader(const sn_capture *c);
/* Safe from a signal handler: make sn_capture_next return soon. */
void sn_capture_break(sn_capture *c);
void sn_capture_close(sn_capture *c);

#endif
