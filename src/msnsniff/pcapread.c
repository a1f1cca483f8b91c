/* pcapread.c - classic pcap records read in large blocks. */
#include "pcapread.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The buffer holds any record (the largest caplen accepted is 256 KiB
 * plus its header); it is filled in chunks small enough that the bytes
 * are still in the CPU cache when the packets are analysed, yet large
 * enough for few read(2) calls. */
#define BLOCK (1u << 20)
#ifndef SN_PCAPREAD_CHUNK
#define SN_PCAPREAD_CHUNK (256u << 10)
#endif

int sn_pcapread_init(sn_pcapread *r, int fd, int big_endian, int nsec, uint32_t snapshot, uint32_t max_caplen) {
    memset(r, 0, sizeof *r);
    if (max_caplen > BLOCK / 2 || snapshot == 0)
        return -1;
    if (lseek(fd, 24, SEEK_SET) != 24)
        return -1;
    r->buf = malloc(BLOCK);
    if (!r->buf)
        return -1;
    r->fd = fd;
    r->big_endian = big_endian;
    r->nsec = nsec;
    r->snapshot = snapshot;
    r->max_caplen = max_caplen;
    r->cap = BLOCK;
    r->offset = 24;
    return 0;
}

void sn_pcapread_free(sn_pcapread *r) {
    free(r->buf);
    r->buf = NULL;
}

/* At least n unread bytes in the buffer unless the file ends first;
 * returns how many there are, or -1 on a read error (errno set). */
static long long fill(sn_pcapread *r, size_t n) {
    while (r->end - r->start < n && !r->eof) {
        if (r->cap - r->start < n) {
            /* the record does not fit after start: move the tail down */
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        size_t room = r->cap - r->end;
        if (room > SN_PCAPREAD_CHUNK && r->end - r->start + SN_PCAPREAD_CHUNK >= n)
            room = SN_PCAPREAD_CHUNK;
        ssize_t got = read(r->fd, r->buf + r->end, room);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (got == 0)
            r->eof = 1;
        r->end += (size_t)got;
    }
    return (long long)(r->end - r->start);
}

static uint32_t u32(const unsigned char *p, int big_endian) {
    if (big_endian)
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void consume(sn_pcapread *r, size_t n) {
    r->start += n;
    r->offset += n;
}

int sn_pcapread_next(sn_pcapread *r, sn_pcaprec *rec, char *err, size_t errcap, uint64_t *at) {
    *at = r->offset;
    long long have = fill(r, 16);
    if (have < 0) {
        snprintf(err, errcap, "error reading dump file: %s", strerror(errno));
        return -1;
    }
    if (have == 0)
        return 0;
    if (have < 16) {
        snprintf(err, errcap, "truncated dump file; tried to read 16 header bytes, only got %lld", have);
        return -1;
    }
    const unsigned char *h = r->buf + r->start;
    int be = r->big_endian;
    uint32_t sec = u32(h, be), frac = u32(h + 4, be), caplen = u32(h + 8, be), len = u32(h + 12, be);
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
        else
            snprintf(err, errcap, "truncated dump file; tried to read %u captured bytes, only got %llu", caplen, got);
        return -1;
    }
    h = r->buf + r->start; /* fill may have moved the record */
    /* libpcap reads both time fields as signed 32-bit numbers */
    int64_t secs = (int32_t)sec, fr = (int32_t)frac;
    if (r->nsec)
        fr /= 1000;
    rec->ts_us = (uint64_t)secs * 1000000u + (uint64_t)fr;
    rec->data = h + 16;
    rec->caplen = keep;
    rec->len = len;
    consume(r, 16 + (size_t)caplen);
    return 1;
}
