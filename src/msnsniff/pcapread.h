/* pcapread.h - a reader for the records of classic pcap files.
 *
 * libpcap reads a savefile with two fread() calls and a copy per packet;
 * on a large capture that was most of the cost of getting packets. This
 * reader takes over after libpcap has opened the file and validated its
 * header (so link type, snapshot length and byte order are libpcap's):
 * it reads the file in large chunks and hands out packets in place. It
 * applies libpcap's rules to each record - lengths above the link type's
 * maximum are errors, lengths above the snapshot length are cut to it, a
 * record cut short by the end of the file is an error - with the same
 * messages. Only version 2.4 files with the microsecond or nanosecond
 * magic number are taken; anything else stays with libpcap.
 *
 * The read(2) calls run on a thread of their own, a few chunks ahead of
 * the analysis: copying the file out of the page cache was a fifth of
 * the analyzer's time, and on a machine with a second core it overlaps
 * with the analysis instead of adding to it. When the thread cannot be
 * started the same chunks are read in line. */
#ifndef SN_PCAPREAD_H
#define SN_PCAPREAD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Chunks are read in this size (a record never exceeds it), into slots
 * that leave room in front of the chunk for the unread tail of the
 * previous one, so that a record split between two reads is made whole
 * with one small copy. */
#ifndef SN_PCAPREAD_CHUNK
#define SN_PCAPREAD_CHUNK (512u << 10)
#endif
#define SN_PCAPREAD_SLOTS 8

typedef struct sn_pcapslot {
    unsigned char *mem; /* carry room, then the chunk */
    size_t len;         /* bytes of the chunk read */
    int eof;            /* the file ended in (or right after) this chunk */
    int err;            /* errno of a failed read, 0 if none */
    int full;           /* read and not yet consumed */
} sn_pcapslot;

typedef struct sn_pcapread {
    int fd;
    int big_endian;        /* the file's byte order */
    int nsec;              /* time stamps in nanoseconds */
    uint32_t snapshot;     /* libpcap's snapshot length for the file */
    uint32_t max_caplen;   /* larger records are damage */
    unsigned char *region; /* the slots' memory */
    unsigned char *buf;    /* the slot being consumed (NULL before the first) */
    size_t start, end;     /* unread bytes are buf[start..end) */
    size_t ahead;          /* bytes before it have been prefetched */
    int eof;
    int failed;      /* errno of the read that ended the data, or 0 */
    uint64_t offset; /* file offset of buf[start] */
    /* the slots, filled in turn by the reader thread (or in line) */
    sn_pcapslot slot[SN_PCAPREAD_SLOTS];
    size_t carry;   /* bytes of room before each chunk */
    unsigned taken; /* slots consumed so far; the current is taken-1 */
    int threaded, stop;
    /* Waking a thread is a system call, dear on a virtual machine: the
     * reader, finding every slot full, sleeps until all but two are
     * free again, and each side wakes the other only if it sleeps. */
    unsigned nfree; /* slots neither full nor being consumed */
    int reader_sleeps, consumer_sleeps;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t room; /* all but two slots are free, or stop was set */
    pthread_cond_t more; /* the slot the consumer waits for is full */
} sn_pcapread;

typedef struct sn_pcaprec {
    uint64_t ts_us;
    const unsigned char *data; /* valid until the next call */
    uint32_t caplen, len;
} sn_pcaprec;

/* Reads fd (positioned anywhere) from file offset 24. 0, or -1 when the
 * reader cannot be used (the caller keeps libpcap). fd stays the
 * caller's; close it only after sn_pcapread_free. */
int sn_pcapread_init(sn_pcapread *r, int fd, int big_endian, int nsec, uint32_t snapshot, uint32_t max_caplen);
/* 1: *rec holds a packet; 0: end of file; -1: damage or read error, err
 * says what (without the file name or offset: *at is the record's offset). */
int sn_pcapread_next(sn_pcapread *r, sn_pcaprec *rec, char *err, size_t errcap, uint64_t *at);
/* Stops the reader thread and frees the slots. */
void sn_pcapread_free(sn_pcapread *r);
/* 1 (the default): readers opened from now on read on a thread of their
 * own; 0: in line (the tests run both). */
extern int sn_pcapread_read_ahead;

#endif
