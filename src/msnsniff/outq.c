/* outq.c - buffers filled by the analysis, written by a writer thread. */
#include "outq.h"
#include "jsonw.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BUFSZ (1u << 20)
#define NBUF 4

struct sn_outq {
    int fd;
    sn_outq_format_fn format; /* NULL: buffers are written as they are */
    sn_jbuf text;             /* the writer thread's formatted bytes */
    unsigned char *buf[NBUF];
    size_t len[NBUF];
    unsigned head; /* buffers handed to the writer so far */
    unsigned done; /* buffers the writer has finished */
    size_t fill;   /* bytes in buf[head % NBUF], the one being filled */
    int stop, err;
    int writer_sleeps, filler_sleeps;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work, room;
};

static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *writer_main(void *arg) {
    sn_outq *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) { /* bounded: every turn writes a buffer or ends on stop */
        while (q->done == q->head && !q->stop) {
            q->writer_sleeps = 1;
            pthread_cond_wait(&q->work, &q->lock);
        }
        if (q->done == q->head) break; /* stopped with nothing left */
        unsigned i = q->done % NBUF;
        int failed = q->err;
        pthread_mutex_unlock(&q->lock);
        int e = 0;
        if (failed) {
            /* the data after a failed write is dropped */
        } else if (q->format) {
            q->text.n = 0;
            q->format(q->buf[i], q->len[i], &q->text);
            e = q->text.failed ? ENOMEM : write_all(q->fd, (const unsigned char *)q->text.p, q->text.n);
        } else {
            e = write_all(q->fd, q->buf[i], q->len[i]);
        }
        pthread_mutex_lock(&q->lock);
        if (e && !q->err) q->err = e;
        q->done++;
        if (q->filler_sleeps) {
            q->filler_sleeps = 0;
            pthread_cond_signal(&q->room);
        }
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

sn_outq *sn_outq_new(int fd) { return sn_outq_new_formatted(fd, NULL); }

sn_outq *sn_outq_new_formatted(int fd, sn_outq_format_fn format) {
    sn_outq *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->fd = fd;
    q->format = format;
    /* one region in huge pages where the system gives them (fewer TLB
     * misses for the copies in and out) */
    void *base = NULL;
    if (posix_memalign(&base, 2u << 20, (size_t)NBUF * BUFSZ) != 0) goto fail;
    madvise(base, (size_t)NBUF * BUFSZ, MADV_HUGEPAGE); /* a hint; fine if refused */
    for (int i = 0; i < NBUF; i++) q->buf[i] = (unsigned char *)base + (size_t)i * BUFSZ;
    if (pthread_mutex_init(&q->lock, NULL) != 0) goto fail;
    if (pthread_cond_init(&q->work, NULL) != 0) goto fail_lock;
    if (pthread_cond_init(&q->room, NULL) != 0) goto fail_work;
    /* SIGPIPE stays deliverable here: a closed pipe ends the program as it
     * would without the thread; the signals the program handles do not */
    sigset_t set, old;
    sigfillset(&set);
    sigdelset(&set, SIGPIPE);
    pthread_sigmask(SIG_SETMASK, &set, &old);
    int rc = pthread_create(&q->thread, NULL, writer_main, q);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) return q;
    pthread_cond_destroy(&q->room);
fail_work:
    pthread_cond_destroy(&q->work);
fail_lock:
    pthread_mutex_destroy(&q->lock);
fail:
    free(q->buf[0]);
    free(q);
    return NULL;
}

/* Hands the buffer being filled to the writer and waits for a free one. */
static void submit(sn_outq *q) {
    pthread_mutex_lock(&q->lock);
    q->len[q->head % NBUF] = q->fill;
    q->head++;
    if (q->writer_sleeps) {
        q->writer_sleeps = 0;
        pthread_cond_signal(&q->work);
    }
    while (q->head - q->done >= NBUF) {
        q->filler_sleeps = 1;
        pthread_cond_wait(&q->room, &q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    q->fill = 0;
}

void sn_outq_write(sn_outq *q, const void *p, size_t n) {
    const unsigned char *s = p;
    while (n) { /* bounded: every turn copies bytes or submits a full buffer */
        size_t room = BUFSZ - q->fill;
        if (room == 0) {
            submit(q);
            continue;
        }
        size_t k = n < room ? n : room;
        memcpy(q->buf[q->head % NBUF] + q->fill, s, k);
        q->fill += k;
        s += k;
        n -= k;
    }
}

void *sn_outq_room(sn_outq *q, size_t min, size_t *room) {
    if (q->fill && min > BUFSZ - q->fill) submit(q);
    *room = BUFSZ - q->fill;
    return q->buf[q->head % NBUF] + q->fill;
}

void sn_outq_commit(sn_outq *q, size_t n) { q->fill += n; }

void sn_outq_keep_whole(sn_outq *q, size_t n) {
    if (q->fill && n > BUFSZ - q->fill) submit(q);
}

void sn_outq_flush(sn_outq *q) {
    if (q && q->fill) submit(q);
}

int sn_outq_error(sn_outq *q) {
    if (!q) return 0;
    pthread_mutex_lock(&q->lock);
    int err = q->err;
    pthread_mutex_unlock(&q->lock);
    return err;
}

int sn_outq_close(sn_outq *q) {
    if (!q) return 0;
    if (q->fill) submit(q);
    pthread_mutex_lock(&q->lock);
    q->stop = 1;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    int err = q->err;
    pthread_cond_destroy(&q->room);
    pthread_cond_destroy(&q->work);
    pthread_mutex_destroy(&q->lock);
    free(q->buf[0]); /* the region */
    sn_jb_free(&q->text);
    free(q);
    return err;
}
