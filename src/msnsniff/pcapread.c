/* pcapread.c - classic pcap records and pcapng blocks read in large
 * chunks, a few chunks ahead of the analysis. */
#include "pcapread.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pcap/dlt.h>

#define HUGE (2u << 20)

/* How far ahead of the record being handed out the consumer asks for
 * the chunk's bytes (measured: 4-32 KiB all do; nothing is 20 % slower) */
#define SN_PCAPREAD_PREFETCH (8u << 10)
/* It asks in bursts of this much, when less than SN_PCAPREAD_PREFETCH
 * less one burst is asked for: the test for a burst is then all that
 * most records cost. */
#define SN_PCAPREAD_BURST 1024u

#define HOST_BIG_ENDIAN (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)

int sn_pcapread_read_ahead = 1;

/* Reads the next chunk of the file into s (whole chunks: a shorter one
 * means the file ended or a read failed). Runs on the reader thread, or
 * in line when there is none; either way s is not being consumed. */
static void read_chunk(sn_pcapread *r, sn_pcapslot *s) {
    size_t got = 0;
    s->eof = 0;
    s->err = 0;
    if (r->head_off < r->head_len) { /* the bytes read before the reader took over come first */
        got = r->head_len - r->head_off < SN_PCAPREAD_CHUNK ? r->head_len - r->head_off : SN_PCAPREAD_CHUNK;
        memcpy(s->mem + r->carry, r->head + r->head_off, got);
        r->head_off += got;
        if (r->stream) {
            s->len = got;
            return;
        }
    }
    while (got < SN_PCAPREAD_CHUNK) {
        ssize_t n = read(r->fd, s->mem + r->carry + got, SN_PCAPREAD_CHUNK - got);
        if (n < 0) {
            if (errno == EINTR && r->interrupted && *r->interrupted) {
                s->eof = 1;
                break;
            }
            if (errno == EINTR) continue;
            s->err = errno;
            break;
        }
        if (n == 0) {
            s->eof = 1;
            break;
        }
        got += (size_t)n;
        /* a pipe: what it holds now is analysed now, not once the writer
         * has sent a whole chunk (tcpdump -U -w - | msnsniff -r -) */
        if (r->stream) break;
    }
    s->len = got;
}

static void *reader_main(void *arg) {
    sn_pcapread *r = arg;
    for (unsigned i = 0;; i++) { /* bounded: every turn reads a chunk or stops at the file's end */
        sn_pcapslot *s = &r->slot[i % SN_PCAPREAD_SLOTS];
        pthread_mutex_lock(&r->lock);
        while (s->full && !r->stop) {
            r->reader_sleeps = 1;
            pthread_cond_wait(&r->room, &r->lock);
        }
        int stop = r->stop;
        pthread_mutex_unlock(&r->lock);
        if (stop) break;
        read_chunk(r, s);
        pthread_mutex_lock(&r->lock);
        s->full = 1;
        r->nfree--;
        if (r->consumer_sleeps) {
            r->consumer_sleeps = 0;
            pthread_cond_signal(&r->more);
        }
        pthread_mutex_unlock(&r->lock);
        if (s->eof || s->err) break;
    }
    return NULL;
}

static void start_thread(sn_pcapread *r) {
    /* a read from a pipe may wait for ever: a thread blocked in one could
     * not be stopped when the analysis ends first (-c, a signal) */
    if (!sn_pcapread_read_ahead || r->stream) return;
    if (pthread_mutex_init(&r->lock, NULL) != 0) return;
    if (pthread_cond_init(&r->room, NULL) != 0) {
        pthread_mutex_destroy(&r->lock);
        return;
    }
    if (pthread_cond_init(&r->more, NULL) != 0) {
        pthread_cond_destroy(&r->room);
        pthread_mutex_destroy(&r->lock);
        return;
    }
    r->nfree = SN_PCAPREAD_SLOTS;
    /* signals stay with the thread that handles them */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&r->thread, NULL, reader_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&r->more);
        pthread_cond_destroy(&r->room);
        pthread_mutex_destroy(&r->lock);
        return;
    }
    r->threaded = 1;
}

/* The slots, each with carry bytes of room in front of its chunk. */
static int make_slots(sn_pcapread *r, size_t carry) {
    r->carry = carry;
    /* One region for all slots, in huge pages where the system gives
     * them: both the kernel's copy and the analysis walk it end to end,
     * and with 4 KiB pages that was a TLB miss every few packets. */
    size_t each = (r->carry + SN_PCAPREAD_CHUNK + 63) & ~(size_t)63;
    size_t total = (each * SN_PCAPREAD_SLOTS + HUGE - 1) & ~(size_t)(HUGE - 1);
    void *base = NULL;
    if (posix_memalign(&base, HUGE, total) != 0) return -1;
    madvise(base, total, MADV_HUGEPAGE); /* a hint; fine if refused */
    r->region = base;
    for (int i = 0; i < SN_PCAPREAD_SLOTS; i++) r->slot[i].mem = (unsigned char *)base + (size_t)i * each;
    return 0;
}

/* Where reading starts: at offset `at` of a file (fd seeks there), or of
 * a stream whose first head_len bytes were read already (head). */
static int start_at(sn_pcapread *r, int fd, const unsigned char *head, size_t head_len, size_t at) {
    if (!head) return lseek(fd, (off_t)at, SEEK_SET) == (off_t)at ? 0 : -1;
    if (head_len < at) return -1;
    r->head = head;
    r->head_len = head_len;
    r->head_off = at;
    r->stream = 1;
    return 0;
}

static int init_classic(sn_pcapread *r, int fd, const unsigned char *head, size_t head_len, int big_endian, int nsec,
                        uint32_t snapshot, uint32_t max_caplen) {
    memset(r, 0, sizeof *r);
    if ((size_t)max_caplen + 16 > SN_PCAPREAD_CHUNK || snapshot == 0) return -1;
    if (start_at(r, fd, head, head_len, 24) != 0) return -1;
    /* an unread tail is less than one record */
    if (make_slots(r, (size_t)max_caplen + 16) != 0) return -1;
    r->fd = fd;
    r->big_endian = big_endian;
    r->nsec = nsec;
    r->native = big_endian == HOST_BIG_ENDIAN && !nsec;
    r->snapshot = snapshot;
    r->max_caplen = max_caplen;
    r->offset = 24;
    start_thread(r);
    return 0;
}

int sn_pcapread_init(sn_pcapread *r, int fd, int big_endian, int nsec, uint32_t snapshot, uint32_t max_caplen) {
    return init_classic(r, fd, NULL, 0, big_endian, nsec, snapshot, max_caplen);
}

int sn_pcapread_init_stream(sn_pcapread *r, int fd, const unsigned char *head, size_t head_len, int big_endian,
                            int nsec, uint32_t snapshot, uint32_t max_caplen) {
    if (!head) return -1;
    return init_classic(r, fd, head, head_len, big_endian, nsec, snapshot, max_caplen);
}

void sn_pcapread_free(sn_pcapread *r) {
    if (r->threaded) {
        pthread_mutex_lock(&r->lock);
        r->stop = 1;
        pthread_cond_signal(&r->room);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
        pthread_cond_destroy(&r->more);
        pthread_cond_destroy(&r->room);
        pthread_mutex_destroy(&r->lock);
        r->threaded = 0;
    }
    for (int i = 0; i < SN_PCAPREAD_SLOTS; i++) r->slot[i].mem = NULL;
    free(r->ifs);
    r->ifs = NULL;
    free(r->big);
    r->big = NULL;
    r->bigcap = 0;
    r->nifs = r->ifcap = 0;
    free(r->region);
    r->region = NULL;
    r->buf = NULL;
}

/* Waits for the next chunk, moves the unread tail of the current one in
 * front of it and hands the current slot back to the reader. */
static void next_chunk(sn_pcapread *r) {
    sn_pcapslot *s = &r->slot[r->taken % SN_PCAPREAD_SLOTS];
    if (r->threaded) {
        pthread_mutex_lock(&r->lock);
        while (!s->full) {
            r->consumer_sleeps = 1;
            pthread_cond_wait(&r->more, &r->lock);
        }
        pthread_mutex_unlock(&r->lock);
    } else {
        read_chunk(r, s);
        s->full = 1;
    }
    size_t tail = r->end - r->start;
    if (tail) memcpy(s->mem + r->carry - tail, r->buf + r->start, tail);
    if (r->buf) {
        sn_pcapslot *old = &r->slot[(r->taken - 1) % SN_PCAPREAD_SLOTS];
        if (r->threaded) {
            pthread_mutex_lock(&r->lock);
            old->full = 0;
            r->nfree++;
            if (r->reader_sleeps && r->nfree >= SN_PCAPREAD_SLOTS - 2) {
                r->reader_sleeps = 0;
                pthread_cond_signal(&r->room);
            }
            pthread_mutex_unlock(&r->lock);
        } else {
            old->full = 0;
        }
    }
    r->taken++;
    r->buf = s->mem;
    r->start = r->carry - tail;
    r->end = r->carry + s->len;
    r->ahead = r->start;
    /* the reader stops after a chunk that ended the file or failed */
    if (s->eof || s->err) r->eof = 1;
    r->failed = s->err;
}

/* At least n unread bytes (n is at most one record) unless the file ends
 * first; returns how many there are, or -1 on a read error (errno set). */
static long long fill(sn_pcapread *r, size_t n) {
    while (r->end - r->start < n) {
        if (r->failed) {
            errno = r->failed;
            return -1;
        }
        if (r->eof) break;
        next_chunk(r);
    }
    return (long long)(r->end - r->start);
}

static uint32_t u32(const unsigned char *p, int big_endian) {
    if (big_endian) return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void prefetch_ahead(sn_pcapread *r) {
    size_t want = r->start + SN_PCAPREAD_PREFETCH;
    if (want > r->end) want = r->end;
    while (r->ahead < want) { /* two lines a turn: at most one past want, as later anyway */
        __builtin_prefetch(r->buf + r->ahead);
        __builtin_prefetch(r->buf + r->ahead + 64);
        r->ahead += 128;
    }
}

static void consume(sn_pcapread *r, size_t n) {
    r->start += n;
    r->offset += n;
    /* the chunk was written by the reader thread's core: ask for the
     * bytes a little ahead, so the analysis does not wait on each line */
    if (r->ahead < r->start + (SN_PCAPREAD_PREFETCH - SN_PCAPREAD_BURST)) prefetch_ahead(r);
}
/* Hands out the record whose whole header and data are at r->start; be
 * and nsec are r->big_endian and r->nsec (constants where the caller
 * knows them). */
static inline void take(sn_pcapread *r, uint32_t caplen, sn_pcaprec *rec, int be, int nsec) {
    const unsigned char *h = r->buf + r->start;
    uint32_t sec = u32(h, be), frac = u32(h + 4, be);
    /* The seconds are unsigned 32-bit, as the format defines them: that
     * covers 1970 to 2106, and captures made from 2038 on. (libpcap reads
     * them signed in files of the host's byte order, and so puts such
     * captures before 1970.) The fraction is read as libpcap reads it:
     * signed 32-bit in files of the host's byte order, unsigned in the
     * other, where its byte swap works on the widened value; a fraction of
     * a second over a million comes out as tcpdump shows it. */
    int swapped = be != HOST_BIG_ENDIAN;
    uint64_t secs = sec;
    int64_t fr = swapped ? (int64_t)frac : (int32_t)frac;
    if (nsec) fr /= 1000;
    rec->ts_us = secs * 1000000u + (uint64_t)fr;
    rec->data = h + 16;
    rec->caplen = caplen > r->snapshot ? r->snapshot : caplen; /* longer records are cut, as libpcap does */
    rec->len = u32(h + 12, be);
    consume(r, 16 + (size_t)caplen);
}

static int ng_next(sn_pcapread *r, sn_pcaprec *rec, char *err, size_t errcap, uint64_t *at);

/* The common record: all of it already in the chunk, and valid. */
static inline int whole_record(sn_pcapread *r, sn_pcaprec *rec, int be, int nsec) {
    if (r->end - r->start < 16) return 0;
    uint32_t caplen = u32(r->buf + r->start + 8, be);
    if (caplen > r->max_caplen || r->end - r->start - 16 < caplen) return 0;
    take(r, caplen, rec, be, nsec);
    return 1;
}

int sn_pcapread_next_whole(sn_pcapread *r, sn_pcaprec *rec) {
    /* the file's byte order and time unit known (r->native: the caller's
     * to check, once) */
    return whole_record(r, rec, HOST_BIG_ENDIAN, 0);
}

int sn_pcapread_next(sn_pcapread *r, sn_pcaprec *rec, char *err, size_t errcap, uint64_t *at) {
    if (r->ng) return ng_next(r, rec, err, errcap, at);
    *at = r->offset;
    if (whole_record(r, rec, r->big_endian, r->nsec)) return 1;
    long long have = fill(r, 16);
    if (have < 0) {
        snprintf(err, errcap, "error reading dump file: %s", strerror(errno));
        return -1;
    }
    if (have == 0) return 0;
    if (have < 16) {
        snprintf(err, errcap, "truncated dump file; tried to read 16 header bytes, only got %lld", have);
        return -1;
    }
    uint32_t caplen = u32(r->buf + r->start + 8, r->big_endian);
    if (caplen > r->max_caplen) {
        if (caplen > r->snapshot)
            snprintf(err, errcap, "invalid packet capture length %u, bigger than snaplen of %u", caplen, r->snapshot);
        else
            snprintf(err, errcap, "invalid packet capture length %u, bigger than maximum of %u", caplen, r->max_caplen);
        return -1;
    }
    have = fill(r, 16 + (size_t)caplen);
    if (have < 0) {
        snprintf(err, errcap, "error reading dump file: %s", strerror(errno));
        return -1;
    }
    uint32_t keep = caplen > r->snapshot ? r->snapshot : caplen; /* longer records are cut, as libpcap does */
    if ((unsigned long long)have < 16ull + caplen) {
        unsigned long long got = (unsigned long long)have - 16;
        if (caplen > r->snapshot && got < keep)
            snprintf(err, errcap, "truncated dump file; tried to read %u captured bytes, only got %llu", keep, got);
        else snprintf(err, errcap, "truncated dump file; tried to read %u captured bytes, only got %llu", caplen, got);
        return -1;
    }
    take(r, caplen, rec, r->big_endian, r->nsec);
    return 1;
}

/* ---- pcapng ----
 *
 * The rules and messages are libpcap's (sf-pcapng.c), so that a file
 * reads the same whichever of the two reads it: test_capture and
 * fuzz_pcap_file compare them frame for frame and message for message. */

#define NG_SHB 0x0A0D0D0Au /* the same bytes in either byte order */
#define NG_IDB 1u
#define NG_PB 2u /* obsolete packet block */
#define NG_SPB 3u
#define NG_EPB 6u
#define NG_BYTE_ORDER 0x1A2B3C4Du
#define NG_MAX_BLOCK (16u << 20) /* libpcap's limit for the link types the decoder knows */

static uint16_t u16(const unsigned char *p, int big_endian) {
    unsigned v = big_endian ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
    return (uint16_t)v;
}

static uint64_t u64(const unsigned char *p, int big_endian) {
    uint64_t a = u32(p, big_endian), b = u32(p + 4, big_endian);
    return big_endian ? a << 32 | b : b << 32 | a;
}

static int init_ng(sn_pcapread *r, int fd, const unsigned char *head, size_t head_len, int linktype, uint32_t snapshot,
                   uint32_t max_caplen) {
    memset(r, 0, sizeof *r);
    if (snapshot == 0 || snapshot > max_caplen) return -1;
    /* The first section header libpcap read when opening the file, with
     * rules of its own (no check of its trailer): reading starts after
     * it, in the byte order of its magic number. */
    unsigned char h[12];
    if (head && head_len >= sizeof h) memcpy(h, head, sizeof h);
    else if (head || pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h) return -1;
    int be;
    if (u32(h + 8, 0) == NG_BYTE_ORDER) be = 0;
    else if (u32(h + 8, 1) == NG_BYTE_ORDER) be = 1;
    else return -1;
    uint32_t shb = u32(h + 4, be);
    if (shb < 12 || start_at(r, fd, head, head_len, shb) != 0) return -1;
    /* Blocks up to an enhanced packet block of the largest packet with
     * 128 KiB of options are read in place; larger ones (libpcap takes
     * any up to 16 MiB) are copied whole into a buffer of their own. */
    if (make_slots(r, 8 + 20 + (size_t)max_caplen + 131072 + 4) != 0) return -1;
    r->fd = fd;
    r->ng = 1;
    r->big_endian = be;
    r->linktype = linktype;
    r->snapshot = snapshot;
    r->max_caplen = max_caplen;
    r->offset = shb;
    start_thread(r);
    return 0;
}

int sn_pcapread_init_ng(sn_pcapread *r, int fd, int linktype, uint32_t snapshot, uint32_t max_caplen) {
    return init_ng(r, fd, NULL, 0, linktype, snapshot, max_caplen);
}

int sn_pcapread_init_ng_stream(sn_pcapread *r, int fd, const unsigned char *head, size_t head_len, int linktype,
                               uint32_t snapshot, uint32_t max_caplen) {
    if (!head) return -1;
    return init_ng(r, fd, head, head_len, linktype, snapshot, max_caplen);
}

static int too_short(uint32_t type, char *err, size_t errcap) {
    snprintf(err, errcap, "block of type %u in pcapng dump file is too short", type);
    return -1;
}

/* An interface description's option that may come once, with a value of
 * want bytes. */
static int option_once(const char *name, unsigned len, unsigned want, int *saw, char *err, size_t errcap) {
    if (len != want) {
        snprintf(err, errcap, "Interface Description Block has %s option with length %u != %u", name, len, want);
        return -1;
    }
    if (*saw) {
        snprintf(err, errcap, "Interface Description Block has more than one %s option", name);
        return -1;
    }
    *saw = 1;
    return 0;
}

/* An interface description's options: the time stamp resolution
 * (if_tsresol) and offset (if_tsoffset), into *i. */
static int ng_idb_options(const sn_pcapread *r, const unsigned char *p, size_t n, sn_pcapng_if *i, char *err,
                          size_t errcap) {
    uint64_t tsresol = 1000000; /* microseconds unless said */
    int64_t tsoffset = 0;
    int binary = 0, saw_tsresol = 0, saw_tsoffset = 0;
    while (n) { /* bounded: every turn consumes an option */
        if (n < 4) return too_short(NG_IDB, err, errcap);
        unsigned code = u16(p, r->big_endian), len = u16(p + 2, r->big_endian);
        size_t padded = ((size_t)len + 3) / 4 * 4;
        if (n - 4 < padded) return too_short(NG_IDB, err, errcap);
        const unsigned char *v = p + 4;
        p += 4 + padded;
        n -= 4 + padded;
        if (code == 0) { /* opt_endofopt */
            if (len != 0) {
                snprintf(err, errcap, "Interface Description Block has opt_endofopt option with length %u != 0", len);
                return -1;
            }
            break;
        }
        if (code == 9) { /* if_tsresol */
            if (option_once("if_tsresol", len, 1, &saw_tsresol, err, errcap) != 0) return -1;
            if (v[0] & 0x80) { /* a negative power of 2 */
                unsigned shift = v[0] & 0x7f;
                if (shift > 63) {
                    snprintf(err, errcap, "Interface Description Block if_tsresol option resolution 2^-%u is too high",
                             shift);
                    return -1;
                }
                binary = 1;
                tsresol = (uint64_t)1 << shift;
            } else { /* a negative power of 10 */
                if (v[0] > 19) {
                    snprintf(err, errcap, "Interface Description Block if_tsresol option resolution 10^-%u is too high",
                             v[0]);
                    return -1;
                }
                binary = 0;
                tsresol = 1;
                for (unsigned k = 0; k < v[0]; k++) tsresol *= 10;
            }
        } else if (code == 14) { /* if_tsoffset */
            if (option_once("if_tsoffset", len, 8, &saw_tsoffset, err, errcap) != 0) return -1;
            tsoffset = (int64_t)u64(v, r->big_endian);
        }
    }
    i->tsresol = tsresol;
    i->tsoffset = tsoffset;
    i->factor = 1;
    if (tsresol == 1000000) i->scale = SN_NG_MICRO;
    else if (binary) i->scale = SN_NG_BINARY;
    else if (tsresol > 1000000) {
        i->scale = SN_NG_DIV;
        i->factor = tsresol / 1000000;
    } else {
        i->scale = SN_NG_MUL;
        i->factor = 1000000 / tsresol;
    }
    return 0;
}

/* An interface description block's data: one more interface of the
 * section. Its link type and snapshot length may differ from the first
 * interface's (Wireshark and dumpcap write such files when capturing on
 * several interfaces; libpcap refuses them): each packet goes with its
 * interface's. */

/* A file's LINKTYPE_ value as the DLT_ value libpcap gives for it (the
 * link type of a pcap_t, of a filter compiled for it, of a pcap file it
 * writes). Most are the same number; those of a few link types, whose DLT_
 * numbers differ between systems, are not. */
static int dlt_of(unsigned linktype) {
    switch (linktype) {
    case 100: return DLT_ATM_RFC1483;
    case 101: return DLT_RAW;
    case 102: return DLT_SLIP_BSDOS;
    case 103: return DLT_PPP_BSDOS;
    case 106: return DLT_ATM_CLIP;
    default: return (int)linktype;
    }
}

static int ng_idb(sn_pcapread *r, const unsigned char *d, size_t n, char *err, size_t errcap) {
    if (n < 8) return too_short(NG_IDB, err, errcap);
    unsigned linktype = u16(d, r->big_endian);
    uint32_t snaplen = u32(d + 4, r->big_endian);
    /* libpcap's adjustment: only a length of 0 or above INT_MAX becomes
     * the link type's maximum */
    uint32_t adjusted = snaplen == 0 || snaplen > INT32_MAX ? r->max_caplen : snaplen;
    if (adjusted > r->max_caplen) {
        snprintf(err, errcap, "an interface has a snapshot length %u, above the %u bytes a packet may have here",
                 snaplen, r->max_caplen);
        return -1;
    }
    if (r->nifs == r->ifcap) {
        uint32_t cap = r->ifcap ? r->ifcap * 2 : 4;
        sn_pcapng_if *g = cap > r->ifcap ? realloc(r->ifs, (size_t)cap * sizeof *g) : NULL;
        if (!g) {
            snprintf(err, errcap, "out of memory for per-interface information (%u interfaces)", r->nifs + 1);
            return -1;
        }
        r->ifs = g;
        r->ifcap = cap;
    }
    if (ng_idb_options(r, d + 8, n - 8, &r->ifs[r->nifs], err, errcap) != 0) return -1;
    r->ifs[r->nifs].linktype = dlt_of(linktype);
    r->ifs[r->nifs].snapshot = adjusted;
    r->nifs++;
    return 0;
}

/* A section header block's data: a new section, with interfaces of its
 * own, in the byte order of the ones before. */
static int ng_shb(sn_pcapread *r, const unsigned char *d, size_t n, char *err, size_t errcap) {
    if (n < 16) return too_short(NG_SHB, err, errcap);
    uint32_t magic = u32(d, r->big_endian);
    if (magic != NG_BYTE_ORDER) {
        if (magic == 0x4D3C2B1Au) /* NG_BYTE_ORDER's bytes reversed */
            snprintf(err, errcap, "the file has sections with different byte orders");
        else snprintf(err, errcap, "the file has a section with a bad byte order magic field");
        return -1;
    }
    unsigned major = u16(d + 4, r->big_endian);
    if (major != 1) {
        snprintf(err, errcap, "unknown pcapng savefile major version number %u", major);
        return -1;
    }
    r->nifs = 0;
    return 0;
}

static long long read_failed(char *err, size_t errcap) {
    snprintf(err, errcap, "error reading dump file: %s", strerror(errno));
    return -1;
}

/* A block larger than the slots' room, copied whole into r->big (and
 * consumed). Its length, or -1 with err set. */
static long long ng_big_block(sn_pcapread *r, uint32_t len, char *err, size_t errcap) {
    if (r->bigcap < len) {
        unsigned char *g = realloc(r->big, len);
        if (!g) {
            snprintf(err, errcap, "out of memory");
            return -1;
        }
        r->big = g;
        r->bigcap = len;
    }
    size_t got = 0;
    while (got < len) { /* bounded: every turn copies bytes or ends */
        size_t want = len - got < r->carry ? len - got : r->carry;
        long long have = fill(r, want);
        if (have < 0) return read_failed(err, errcap);
        size_t k = (size_t)have < want ? (size_t)have : want;
        memcpy(r->big + got, r->buf + r->start, k);
        consume(r, k);
        got += k;
        if (k < want) {
            snprintf(err, errcap, "truncated pcapng dump file; tried to read %u bytes, only got %zu", len - 8, got - 8);
            return -1;
        }
    }
    return len;
}

/* The next block, whole: *blk points at it, in the chunk (not yet
 * consumed) or in r->big (consumed). Its length; 0 at the end of the
 * file; -1 on damage or a failed read. */
static long long ng_block(sn_pcapread *r, const unsigned char **blk, char *err, size_t errcap) {
    long long have = (long long)(r->end - r->start);
    if (have < 8) {
        have = fill(r, 8);
        if (have < 0) return read_failed(err, errcap);
        if (have == 0) return 0;
        if (have < 8) {
            snprintf(err, errcap, "truncated pcapng dump file; tried to read 8 bytes, only got %lld", have);
            return -1;
        }
    }
    uint32_t len = u32(r->buf + r->start + 4, r->big_endian);
    if (len < 12) {
        snprintf(err, errcap, "block in pcapng dump file has a length of %u < 12", len);
        return -1;
    }
    if (len % 4) {
        snprintf(err, errcap, "block in pcapng dump file has a length of %u that is not a multiple of 4", len);
        return -1;
    }
    /* checked in libpcap's order, and said in its words first */
    if (u32(r->buf + r->start, 0) == NG_SHB && len > NG_MAX_BLOCK) {
        /* a section of the other byte order: its length reads as nonsense
         * in this one; its byte order magic says what is wrong */
        if (have < 12) have = fill(r, 12);
        if (have < 0) return read_failed(err, errcap);
        if (have >= 12 && u32(r->buf + r->start + 8, r->big_endian) == 0x4D3C2B1Au) {
            /* libpcap's words first, then what they mean */
            snprintf(err, errcap,
                     "pcapng block size %u > maximum %u: a section header of the other byte order (the file has "
                     "sections with different byte orders)",
                     len, NG_MAX_BLOCK);
            return -1;
        }
    }
    if (len > NG_MAX_BLOCK) {
        snprintf(err, errcap, "pcapng block size %u > maximum %u", len, NG_MAX_BLOCK);
        return -1;
    }
    if (len > r->carry) {
        if (ng_big_block(r, len, err, errcap) < 0) return -1;
        *blk = r->big;
    } else {
        if (have < (long long)len) {
            have = fill(r, len);
            if (have < 0) return read_failed(err, errcap);
            if (have < (long long)len) {
                snprintf(err, errcap, "truncated pcapng dump file; tried to read %u bytes, only got %lld", len - 8,
                         have - 8);
                return -1;
            }
        }
        *blk = r->buf + r->start;
    }
    if (u32(*blk + len - 4, r->big_endian) != len) {
        snprintf(err, errcap, "block total length in header and trailer don't match");
        return -1;
    }
    return len;
}

/* A time stamp of interface i in microseconds, as libpcap makes it
 * (seconds and the fraction apart; an unsigned 64-bit product for a
 * power of two, the fraction then an int). */
static inline uint64_t ng_time_us(const sn_pcapng_if *i, uint64_t t) {
    if (i->scale == SN_NG_MICRO) return t + (uint64_t)i->tsoffset * 1000000u;
    uint64_t sec = t / i->tsresol + (uint64_t)i->tsoffset;
    uint64_t frac = t % i->tsresol;
    if (i->scale == SN_NG_DIV) frac /= i->factor;
    else if (i->scale == SN_NG_MUL) frac *= i->factor;
    else {
        frac *= 1000000u;
        frac /= i->tsresol;
    }
    return sec * 1000000u + (uint64_t)(int64_t)(int32_t)(uint32_t)frac;
}

static int ng_next(sn_pcapread *r, sn_pcaprec *rec, char *err, size_t errcap, uint64_t *at) {
    for (;;) { /* bounded: every turn consumes a block of the file */
        *at = r->offset;
        const unsigned char *b = NULL;
        long long len = ng_block(r, &b, err, errcap);
        if (len <= 0) return (int)len;
        size_t left = b == r->big ? 0 : (size_t)len; /* to consume when done */
        int be = r->big_endian;
        uint32_t type = u32(b, be);
        const unsigned char *d = b + 8; /* the block's data, without its trailer */
        size_t n = (size_t)len - 12;
        uint32_t ifid, caplen, wire;
        uint64_t t;
        if (type == NG_EPB || type == NG_PB) {
            if (n < 20) return too_short(type, err, errcap);
            ifid = type == NG_EPB ? u32(d, be) : u16(d, be);
            t = (uint64_t)u32(d + 4, be) << 32 | u32(d + 8, be);
            caplen = u32(d + 12, be);
            wire = u32(d + 16, be);
            d += 20;
            n -= 20;
        } else if (type == NG_SPB) {
            if (n < 4) return too_short(type, err, errcap);
            ifid = 0; /* the first interface's */
            wire = u32(d, be);
            caplen = 0; /* what the block holds: below, once the interface is known */
            t = 0;      /* none */
            d += 4;
            n -= 4;
        } else {
            if (type == NG_IDB && ng_idb(r, d, n, err, errcap) != 0) return -1;
            if (type == NG_IDB) r->ng_idb_seen = 1;
            /* up to the file's first interface, libpcap's open skips every
             * other block, a section header too: so does this reader */
            if (type == NG_SHB && r->ng_idb_seen && ng_shb(r, d, n, err, errcap) != 0) return -1;
            consume(r, left); /* other blocks: names, statistics, ... */
            continue;
        }
        if (ifid >= r->nifs) {
            snprintf(err, errcap,
                     "a packet arrived on interface %u, but there's no Interface Description Block for that interface",
                     ifid);
            return -1;
        }
        const sn_pcapng_if *i = &r->ifs[ifid];
        if (type == NG_SPB) caplen = wire > i->snapshot ? i->snapshot : wire;
        if (caplen > i->snapshot) {
            snprintf(err, errcap, "invalid packet capture length %u, bigger than snaplen of %u", caplen, i->snapshot);
            return -1;
        }
        if (n < caplen) return too_short(type, err, errcap);
        rec->ts_us = ng_time_us(i, t);
        rec->data = d;
        rec->caplen = caplen;
        rec->len = wire;
        rec->linktype = i->linktype;
        consume(r, left);
        return 1;
    }
}
