/* fuzz_net.h - a blocking loopback connect for the fuzz targets that talk
 * to a real listener. libFuzzer's timeout alarm (SIGALRM, first about 6 s
 * into a run) can interrupt connect(2) with EINTR while the connection
 * goes on in the kernel: wait for it (up to 5 s) instead of taking the
 * interruption for a refusal. 0, or -1 with errno set. */
#ifndef MSNKIT_FUZZ_NET_H
#define MSNKIT_FUZZ_NET_H

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

static inline int fuzz_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    if (connect(fd, addr, len) == 0) return 0;
    if (errno != EINTR) return -1;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n, soerr = 0;
    socklen_t sl = sizeof soerr;
    while ((n = poll(&p, 1, 5000)) < 0 && errno == EINTR) {
    }
    if (n == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) return 0;
    errno = soerr ? soerr : ETIMEDOUT;
    return -1;
}

#endif
