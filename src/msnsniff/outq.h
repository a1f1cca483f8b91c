/* outq.h - event output written by a thread of its own.
 *
 * Reading a capture file, the analyzer writes events by the hundred
 * thousand. Each write(2) of a full buffer costs the kernel's copy and,
 * on a tmpfs or a pipe, page allocation; done in line that was a tenth of
 * the analysis. The queue hands full buffers to a writer thread and goes
 * on filling the next one, so the bytes go out in the same order with no
 * extra copy. A failed write (disk full, closed pipe) is kept and
 * reported by sn_outq_close; later data is dropped, not retried. */
#ifndef SN_OUTQ_H
#define SN_OUTQ_H

#include <stddef.h>

typedef struct sn_outq sn_outq;

/* A queue writing to fd (not closed by the queue); NULL when out of
 * memory or when no thread can be started (write in line then). */
sn_outq *sn_outq_new(int fd);
void sn_outq_write(sn_outq *q, const void *p, size_t n);
/* Formatting on the writer thread: each buffer is turned into the bytes
 * written by format (which appends them to out) - the analysis hands over
 * compact records and the writer thread makes the text. Writers then keep
 * each record in one buffer with sn_outq_keep_whole. */
struct sn_jbuf;
typedef void (*sn_outq_format_fn)(const void *in, size_t n, struct sn_jbuf *out);
sn_outq *sn_outq_new_formatted(int fd, sn_outq_format_fn format);
/* The next n bytes written (n <= SN_OUTQ_WHOLE_MAX) go into one buffer:
 * hands the current one over first if they would not fit. */
#define SN_OUTQ_WHOLE_MAX (1u << 20)
void sn_outq_keep_whole(sn_outq *q, size_t n);
/* Room to build bytes in place, in the buffer being filled: its free
 * space (*room bytes, at least min <= SN_OUTQ_WHOLE_MAX: the buffer is
 * handed over first when it has less). What is built there is written by
 * sn_outq_commit(q, n), n <= *room; nothing else may be written to q
 * before, as it would go to the same place. The copy that writing the
 * bytes from elsewhere would make is not made. */
void *sn_outq_room(sn_outq *q, size_t min, size_t *room);
void sn_outq_commit(sn_outq *q, size_t n);
/* Hands what has been written so far to the writer thread now, without
 * waiting for a full buffer (live output: once per packet). Cheap when
 * nothing was written. */
void sn_outq_flush(sn_outq *q);
/* The errno of the first failed write so far, 0 when none (NULL: 0): what
 * is written after it is dropped. */
int sn_outq_error(sn_outq *q);
/* Writes everything queued, stops the thread and frees the queue: 0, or
 * the errno of the first failed write. NULL is accepted. */
int sn_outq_close(sn_outq *q);

#endif
