/* signal_in_recv.c - an LD_PRELOAD library for test_live_netns: it raises
 * SIGINT in the thread that called recv(2), once, right after a recv that
 * returned the bytes of MSNSNIFF_TEST_SIGNAL_AT. The stop then lands at
 * the one moment no timing of a test can hit on purpose: between the
 * kernel handing a message over and msnsniff (libpcap, for a netfilter
 * log group) handling it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef ssize_t (*recv_fn)(int, void *, size_t, int);

ssize_t recv(int fd, void *buf, size_t len, int flags) {
    static recv_fn real;
    static int fired;
    if (!real) {
        void *sym = dlsym(RTLD_NEXT, "recv");
        memcpy(&real, &sym, sizeof real); /* object to function pointer, as POSIX allows */
        if (!real) {
            errno = ENOSYS;
            return -1;
        }
    }
    ssize_t n = real(fd, buf, len, flags);
    const char *at = getenv("MSNSNIFF_TEST_SIGNAL_AT");
    if (n > 0 && !fired && at && *at && memmem(buf, (size_t)n, at, strlen(at))) {
        int saved = errno;
        fired = 1;
        raise(SIGINT); /* the handler runs in this thread before raise returns */
        errno = saved;
    }
    return n;
}
