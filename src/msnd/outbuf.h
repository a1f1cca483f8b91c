/* outbuf.h - a connection's queued output as one contiguous buffer.
 *
 * Outputs up to 64 KiB live in 4 KiB or 64 KiB blocks from process-wide
 * pools and go back to them as soon as everything is written: an idle
 * connection holds no output memory, and a busy one does not pay malloc and
 * free for every write (a libevent buffer frees its chains once drained,
 * and the sizes it grows them to are too large for the allocator's cache;
 * freeing them also made glibc trim and regrow the heap). Larger backlogs
 * grow on the heap and are freed once written. */
#ifndef MSND_OUTBUF_H
#define MSND_OUTBUF_H

#include <stddef.h>
#include <sys/types.h>

typedef struct outbuf {
    char *data; /* NULL while empty */
    size_t off; /* first byte not yet written */
    size_t len; /* end of the queued bytes */
    size_t cap;
} outbuf;

/* Bytes queued and not yet written. */
static inline size_t outbuf_pending(const outbuf *b) { return b->len - b->off; }
/* Queue n bytes; 0, or -1 when out of memory (nothing queued). */
int outbuf_append(outbuf *b, const void *p, size_t n);
/* The free room after the queued bytes, for writing a reply in place
 * instead of formatting it elsewhere and copying it in: its start and
 * *room bytes (NULL and 0 while no memory is held). */
static inline char *outbuf_tail(outbuf *b, size_t *room) {
    *room = b->data ? b->cap - b->len : 0;
    return b->data ? b->data + b->len : NULL;
}
/* Queue the n bytes written at outbuf_tail (n <= its room). */
static inline void outbuf_commit(outbuf *b, size_t n) { b->len += n; }
/* Write what the socket takes now. Returns the bytes written (0 when nothing
 * was queued), or -1 with errno set (EAGAIN included). The buffer is released
 * once empty. */
ssize_t outbuf_write(outbuf *b, int fd);
/* Drop what is queued and release the memory. */
void outbuf_release(outbuf *b);
/* Halve the pooled blocks (down to a few dozen); called periodically so
 * memory taken in a burst is given back within seconds. */
void outbuf_pool_trim(void);
/* Free the pooled blocks (at exit, so leak checkers see a clean heap). */
void outbuf_pool_free(void);

#endif
