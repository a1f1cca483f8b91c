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
/* Hands what has been written so far to the writer thread now, without
 * waiting for a full buffer (live output: once per packet). Cheap when
 * nothing was written. */
void sn_outq_flush(sn_outq *q);
/* Writes everything queued, stops the thread and frees the queue: 0, or
 * the errno of the first failed write. NULL is accepted. */
int sn_outq_close(sn_outq *q);

#endif
