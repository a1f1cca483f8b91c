/* pcapread.h - a reader for the records of classic pcap files.
 *
 * libpcap reads a savefile with two fread() calls and a copy per packet;
 * on a large capture that was most of the cost of getting packets. This
 * reader takes over after libpcap has opened the file and validated its
 * header (so link type, snapshot length and byte order are libpcap's):
 * it reads the file in large blocks and hands out packets in place. It
 * applies libpcap's rules to each record - lengths above the link type's
 * maximum are errors, lengths above the snapshot length are cut to it, a
 * record cut short by the end of the file is an error - with the same
 * messages. Only version 2.4 files with the microsecond or nanosecond
 * magic number are taken; anything else stays with libpcap. */
#ifndef SN_PCAPREAD_H
#define SN_PCAPREAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct sn_pcapread {
    int fd;
    int big_endian;       /* the file's byte order */
    int nsec;             /* time stamps in nanoseconds */
    uint32_t snapshot;    /* libpcap's snapshot length for the file */
    uint32_t max_caplen;  /* larger records are damage */
    unsigned char *buf;
    size_t cap, start, end; /* unread bytes are buf[start..end) */
    int eof;
    uint64_t offset;      /* file offset of buf[start] */
} sn_pcapread;

typedef struct sn_pcaprec {
    uint64_t ts_us;
    const unsigned char *data; /* valid until the next call */
    uint32_t caplen, len;
} sn_pcaprec;

/* Reads fd (positioned anywhere) from file offset 24. 0, or -1 when the
 * reader cannot be used (the caller keeps libpcap). */
int sn_pcapread_init(sn_pcapread *r, int fd, int big_endian, int nsec, uint32_t snapshot, uint32_t max_caplen);
/* 1: *rec holds a packet; 0: end of file; -1: damage or read error, err
 * says what (without the file name or offset: *at is the record's offset). */
int sn_pcapread_next(sn_pcapread *r, sn_pcaprec *rec, char *err, size_t errcap, uint64_t *at);
void sn_pcapread_free(sn_pcapread *r);

#endif
