/* pcapread.h - a reader for the records of classic pcap files and the
 * blocks of pcapng files.
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
 * pcapng files are read the same way, block by block, with libpcap's
 * rules and messages for them: enhanced, simple and obsolete packet
 * blocks; interface descriptions with their time stamp resolution and
 * offset, all of one link type and snapshot length; more sections of the
 * same byte order; other blocks skipped; a block larger than libpcap's
 * 16 MiB is damage. Blocks up to an enhanced packet block of the largest
 * packet with 128 KiB of options are handed out in place, larger ones
 * from a copy of their own. The first section header, which libpcap
 * reads when it opens the file by rules of its own, is left to it. On
 * the dense benchmark capture saved as pcapng, msnsniff took 0.62-0.72 s
 * reading through libpcap and takes 0.43-0.46 s reading through this,
 * as long as on the classic file (BENCHMARKS.md, "pcapng read in
 * place").
 *
 * The read(2) calls run on a thread of their own, a few chunks ahead of
 * the analysis: copying the file out of the page cache was a fifth of
 * the analyzer's time, and on a machine with a second core it overlaps
 * with the analysis instead of adding to it. When the thread cannot be
 * started the same chunks are read in line. */
#ifndef SN_PCAPREAD_H
#define SN_PCAPREAD_H

#include <pthread.h>
#include <signal.h>
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

/* How a pcapng interface's fraction of a second becomes microseconds,
 * as libpcap makes it. */
typedef enum sn_pcapng_scale {
    SN_NG_MICRO, /* already microseconds */
    SN_NG_DIV,   /* a finer power of ten: divided by factor */
    SN_NG_MUL,   /* a coarser power of ten: multiplied by factor */
    SN_NG_BINARY /* a power of two: times a million over tsresol */
} sn_pcapng_scale;

/* A pcapng interface of the current section: its time stamps are
 * ticks of 1/tsresol second from tsoffset seconds. */
typedef struct sn_pcapng_if {
    uint64_t tsresol, factor;
    int64_t tsoffset;
    sn_pcapng_scale scale;
    int linktype;      /* interfaces of one file may differ (Wireshark writes such files) */
    uint32_t snapshot; /* libpcap's adjustment applied */
} sn_pcapng_if;

typedef struct sn_pcapread {
    int fd;
    /* A stream (standard input, a pipe): it cannot seek, so the bytes read
     * from it before the reader took over (libpcap's check of the file
     * header) are handed out first, from head_off; each read returns what
     * the pipe holds rather than waiting for a whole chunk, and is made
     * in line, never on the reader thread. */
    int stream;
    const unsigned char *head;
    size_t head_len, head_off;
    /* A stream: when a signal interrupts a read while this is set, the
     * input ends there, as at the end of the file (a pipe's writer may
     * stay silent for ever; SIGINT must still end the run). */
    const volatile sig_atomic_t *interrupted;
    int ng;               /* pcapng blocks, not classic records */
    int ng_idb_seen;      /* pcapng: the file's first interface was read */
    sn_pcapng_if *ifs;    /* pcapng: the interfaces of this section */
    uint32_t nifs, ifcap; /* how many, and room for */
    unsigned char *big;   /* pcapng: a block larger than a slot's carry room */
    size_t bigcap;
    int big_endian;        /* the file's byte order (pcapng: the section's) */
    int linktype;          /* pcapng: every interface's */
    int nsec;              /* time stamps in nanoseconds */
    int native;            /* classic: the host's byte order, microseconds (sn_pcapread_next_whole) */
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
    /* 64-bit, as the caller's frame: two 32-bit stores read back as one
     * 64-bit load miss the store buffer, which perf showed costing 2.6 %
     * of a dense capture's run on every record */
    uint64_t caplen, len;
    int linktype; /* pcapng: the packet's interface's, as a DLT_ value (libpcap's numbering; classic files: not set) */
} sn_pcaprec;

/* Reads fd (positioned anywhere) from file offset 24. 0, or -1 when the
 * reader cannot be used (the caller keeps libpcap). fd stays the
 * caller's; close it only after sn_pcapread_free. */
int sn_pcapread_init(sn_pcapread *r, int fd, int big_endian, int nsec, uint32_t snapshot, uint32_t max_caplen);
/* pcapng: reads fd from offset 0. linktype and snapshot are libpcap's
 * (the first interface's); every interface must have them. 0, or -1
 * when the reader cannot be used: then libpcap reads the file. */
int sn_pcapread_init_ng(sn_pcapread *r, int fd, int linktype, uint32_t snapshot, uint32_t max_caplen);
/* The same for a stream that cannot seek (standard input): head holds
 * its first head_len bytes, already read from fd (at least the file
 * header, or the first section header), and stays the caller's until
 * sn_pcapread_free. */
int sn_pcapread_init_stream(sn_pcapread *r, int fd, const unsigned char *head, size_t head_len, int big_endian,
                            int nsec, uint32_t snapshot, uint32_t max_caplen);
int sn_pcapread_init_ng_stream(sn_pcapread *r, int fd, const unsigned char *head, size_t head_len, int linktype,
                               uint32_t snapshot, uint32_t max_caplen);
/* 1: *rec holds a packet; 0: end of file; -1: damage or read error, err
 * says what (without the file name or offset: *at is the record's or
 * block's offset). */
int sn_pcapread_next(sn_pcapread *r, sn_pcaprec *rec, char *err, size_t errcap, uint64_t *at);
/* A classic file's (not pcapng) next record when all of it is in the
 * chunk already and valid, with nothing else to do: 1 with *rec set as
 * sn_pcapread_next sets it, or 0 when sn_pcapread_next is to be asked (it
 * reads on, refuses the record, or tells the end). Only for a file in the
 * host's byte order with microseconds (native), the common case. */
int sn_pcapread_next_whole(sn_pcapread *r, sn_pcaprec *rec);
/* Stops the reader thread and frees the slots. */
void sn_pcapread_free(sn_pcapread *r);
/* 1 (the default): readers opened from now on read on a thread of their
 * own; 0: in line (the tests run both). */
extern int sn_pcapread_read_ahead;

#endif
