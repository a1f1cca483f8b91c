/* pcapread.c - classic pcap records read in large chunks, a few chunks
 * ahead of the analysis. */
#include "pcapread.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE (2u << 20)

/* How far ahead of the record being handed out the consumer asks for
 * the chunk's bytes (measured: 4-32 KiB all do; nothing is 20 % slower) */
#define SN_PCAPREAD_PREFETCH (8u << 10)

int sn_pcapread_read_ahead = 1;

/* Reads the next chunk of the file into s (whole chunks: a shorter one
 * means the file ended or a read failed). Runs on the reader thread, or
 * in line when there is none; either way s is not being consumed. */
static void read_chunk(sn_pcapread *r, sn_pcapslot *s) {
    size_t got = 0;
    s->eof = 0;
    s->err = 0;
    while (got < SN_PCAPREAD_CHUNK) {
        ssize_t n = read(r->fd, s->mem + r->carry + got, SN_PCAPREAD_CHUNK - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            s->err = errno;
            break;
        }
        if (n == 0) {
            s->eof = 1;
            break;
        }
        got += (size_t)n;
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
    if (!sn_pcapread_read_ahead) return;
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

int sn_pcapread_init(sn_pcapread *r, int fd, int big_endian, int nsec, uint32_t snapshot, uint32_t max_caplen) {
    memset(r, 0, sizeof *r);
    if ((size_t)max_caplen + 16 > SN_PCAPREAD_CHUNK || snapshot == 0) return -1;
    if (lseek(fd, 24, SEEK_SET) != 24) return -1;
    r->carry = (size_t)max_caplen + 16; /* an unread tail is less than one record */
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
    r->fd = fd;
    r->big_endian = big_endian;
    r->nsec = nsec;
    r->snapshot = snapshot;
    r->max_caplen = max_caplen;
    r->offset = 24;
    start_thread(r);
    return 0;
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

static void consume(sn_pcapread *r, size_t n) {
    r->start += n;
    r->offset += n;
    /* the chunk was written by the reader thread's core: ask for the
     * bytes a little ahead, so the analysis does not wait on each line */
    size_t want = r->start + SN_PCAPREAD_PREFETCH;
    if (want > r->end) want = r->end;
    while (r->ahead < want) {
        __builtin_prefetch(r->buf + r->ahead);
        r->ahead += 64;
    }
}
/* Hands out the record whose whole header and data are at r->start. */
static inline void take(sn_pcapread *r, uint32_t caplen, sn_pcaprec *rec) {
    const unsigned char *h = r->buf + r->start;
    int be = r->big_endian;
    uint32_t sec = u32(h, be), frac = u32(h + 4, be);
    /* libpcap reads both time fields as signed 32-bit numbers in files of
     * the host's byte order, but its byte swap of the other order works on
     * the widened value and so yields them unsigned; times outside the
     * usual range (a fraction of a second over a million, dates before
     * 1970) come out as tcpdump shows them either way. */
    int swapped = be != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
    int64_t secs = swapped ? (int64_t)sec : (int32_t)sec;
    int64_t fr = swapped ? (int64_t)frac : (int32_t)frac;
    if (r->nsec) fr /= 1000;
    rec->ts_us = (uint64_t)secs * 1000000u + (uint64_t)fr;
    rec->data = h + 16;
    rec->caplen = caplen > r->snapshot ? r->snapshot : caplen; /* longer records are cut, as libpcap does */
    rec->len = u32(h + 12, be);
    consume(r, 16 + (size_t)caplen);
}

int sn_pcapread_next(sn_pcapread *r, sn_pcaprec *rec, char *err, size_t errcap, uint64_t *at) {
    *at = r->offset;
    /* the common record: all of it already in the chunk, and valid */
    if (r->end - r->start >= 16) {
        uint32_t caplen = u32(r->buf + r->start + 8, r->big_endian);
        if (caplen <= r->max_caplen && r->end - r->start - 16 >= caplen) {
            take(r, caplen, rec);
            return 1;
        }
    }
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
    take(r, caplen, rec);
    return 1;
}
