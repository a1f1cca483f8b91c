/* capture.h - packet input through libpcap: pcap and pcapng files, "-"
 * for standard input, live interfaces, BPF filters. Errors name the file
 * and, for files, the byte offset of the record that could not be read. */
#ifndef SN_CAPTURE_H
#define SN_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

typedef struct sn_capture sn_capture;

typedef struct sn_frame {
    uint64_t ts_us;
    const uint8_t *data;
    size_t caplen, wirelen;
} sn_frame;

sn_capture *sn_capture_open_file(const char *path, char *err, size_t errcap);
sn_capture *sn_capture_open_live(const char *iface, char *err, size_t errcap);
int sn_capture_set_filter(sn_capture *c, const char *expr, char *err, size_t errcap);
int sn_capture_linktype(const sn_capture *c);
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
int sn_capture_is_live(const sn_capture *c);
/* "pcapread" when classic pcap records are read by pcapread.h, else "libpcap". */
const char *sn_capture_reader(const sn_capture *c);
/* Safe from a signal handler: make sn_capture_next return soon. */
void sn_capture_break(sn_capture *c);
void sn_capture_close(sn_capture *c);

#endif
