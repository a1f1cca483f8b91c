/* test_outq.c - the event writer thread: bytes out in order and complete
 * whatever the write sizes, through a file and through a pipe read slowly;
 * a failed write (disk full) reported by close, without a hang, however
 * much is written after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outq.h"

#define TOTAL (9u << 20) /* more than all the queue's buffers together */

static unsigned char *pattern(void) {
    unsigned char *p = malloc(TOTAL);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < TOTAL; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

/* Writes all of p in pieces of changing sizes (1 byte to over 1 MiB). */
static void write_pieces(sn_outq *q, const unsigned char *p) {
    static const size_t sizes[] = {1, 300, 4096, 17, (1u << 20) + 7, 65535, 2, (1u << 20), 999};
    size_t at = 0, i = 0;
    while (at < TOTAL) {
        size_t n = sizes[i++ % (sizeof sizes / sizeof sizes[0])];
        if (n > TOTAL - at) n = TOTAL - at;
        sn_outq_write(q, p + at, n);
        at += n;
    }
}

static void test_file_gets_every_byte_in_order(void **st) {
    (void)st;
    char path[] = "/tmp/sn_outq_test.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unsigned char *p = pattern();
    sn_outq *q = sn_outq_new(fd);
    assert_non_null(q);
    write_pieces(q, p);
    assert_int_equal(sn_outq_close(q), 0);
    unsigned char *got = malloc(TOTAL + 1);
    assert_int_equal(pread(fd, got, TOTAL + 1, 0), TOTAL);
    assert_memory_equal(got, p, TOTAL);
    /* nothing written: nothing out, and a clean close */
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(sn_outq_close(sn_outq_new(fd)), 0);
    assert_int_equal(pread(fd, got, 1, 0), 0);
    close(fd);
    unlink(path);
    free(got);
    free(p);
}

struct drain {
    int fd;
    unsigned char *got;
    size_t n;
};

static void *slow_reader(void *arg) {
    struct drain *d = arg;
    for (;;) {                                        /* bounded: ends when the writing side is closed */
        ssize_t r = read(d->fd, d->got + d->n, 3000); /* small reads: the queue fills up */
        if (r <= 0) break;
        d->n += (size_t)r;
        if (d->n > TOTAL) break;
    }
    return NULL;
}

static void test_pipe_read_slowly(void **st) {
    (void)st;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct drain d = {fds[0], malloc(TOTAL + 3000), 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_reader, &d), 0);
    unsigned char *p = pattern();
    sn_outq *q = sn_outq_new(fds[1]);
    assert_non_null(q);
    write_pieces(q, p);
    assert_int_equal(sn_outq_close(q), 0);
    close(fds[1]);
    pthread_join(t, NULL);
    assert_int_equal(d.n, TOTAL);
    assert_memory_equal(d.got, p, TOTAL);
    close(fds[0]);
    free(d.got);
    free(p);
}

static void test_disk_full_reported(void **st) {
    (void)st;
    int fd = open("/dev/full", O_WRONLY);
    if (fd < 0) skip();
    unsigned char *p = pattern();
    sn_outq *q = sn_outq_new(fd);
    assert_non_null(q);
    write_pieces(q, p); /* far more than the buffers after the first failure */
    assert_int_equal(sn_outq_close(q), ENOSPC);
    close(fd);
    /* a descriptor that cannot be written at all */
    q = sn_outq_new(-1);
    assert_non_null(q);
    sn_outq_write(q, p, 10);
    assert_int_equal(sn_outq_close(q), EBADF);
    assert_int_equal(sn_outq_close(NULL), 0);
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_gets_every_byte_in_order),
        cmocka_unit_test(test_pipe_read_slowly),
        cmocka_unit_test(test_disk_full_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
