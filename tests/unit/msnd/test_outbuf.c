/* Connection output buffers (outbuf.h) over a real socket pair: order kept
 * across partial writes, growth past the pooled block size, memory
 * released once written. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "outbuf.h"

static unsigned char pattern(size_t i) { return (unsigned char)((i * 7 + i / 251) & 0xff); }

static void pair(int sv[2]) {
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
}

static void test_small_writes(void **state) {
    (void)state;
    int sv[2];
    pair(sv);
    outbuf b = {0};
    assert_int_equal(outbuf_write(&b, sv[0]), 0); /* nothing queued */
    assert_int_equal(outbuf_append(&b, "VER 1 MSNP7\r\n", 13), 0);
    assert_int_equal(outbuf_append(&b, "", 0), 0);
    assert_int_equal(outbuf_append(&b, "CVR 2 x\r\n", 9), 0);
    assert_int_equal(outbuf_pending(&b), 22);
    assert_int_equal(outbuf_write(&b, sv[0]), 22);
    assert_null(b.data); /* released once written */
    assert_int_equal(outbuf_pending(&b), 0);
    char got[64];
    assert_int_equal(read(sv[1], got, sizeof got), 22);
    assert_memory_equal(got, "VER 1 MSNP7\r\nCVR 2 x\r\n", 22);
    /* released without writing */
    assert_int_equal(outbuf_append(&b, "x", 1), 0);
    outbuf_release(&b);
    assert_null(b.data);
    assert_int_equal(outbuf_pending(&b), 0);
    close(sv[0]);
    close(sv[1]);
}

static void test_backlog_in_order(void **state) {
    (void)state;
    int sv[2];
    pair(sv);
    assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0); /* a test must never block */
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    enum { TOTAL = 1 << 20 };
    static unsigned char src[TOTAL], dst[TOTAL];
    for (size_t i = 0; i < TOTAL; i++) src[i] = pattern(i);
    outbuf b = {0};
    size_t queued = 0, received = 0;
    size_t sizes[] = {1, 13, 4096, 4095, 700, 9000, 3, 65536};
    size_t k = 0;
    int blocked = 0;
    /* Bounded: every turn queues or receives bytes until all have arrived. */
    for (int turn = 0; turn < 100000 && received < TOTAL; turn++) {
        if (queued < TOTAL) {
            size_t n = sizes[k++ % (sizeof sizes / sizeof sizes[0])];
            if (n > TOTAL - queued) n = TOTAL - queued;
            assert_int_equal(outbuf_append(&b, src + queued, n), 0);
            queued += n;
        }
        ssize_t w = outbuf_write(&b, sv[0]);
        if (w < 0) {
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
            blocked = 1;
        }
        assert_true(outbuf_pending(&b) + received <= TOTAL);
        ssize_t r = read(sv[1], dst + received, (turn % 3 == 0) ? 1000 : TOTAL - received);
        if (r > 0) received += (size_t)r;
        else assert_true(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    }
    assert_int_equal(received, TOTAL);
    assert_memory_equal(src, dst, TOTAL);
    assert_true(blocked); /* the partial-write path was taken */
    assert_null(b.data);
    close(sv[0]);
    close(sv[1]);
    outbuf_pool_free();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_writes),
        cmocka_unit_test(test_backlog_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
