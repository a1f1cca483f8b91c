/* filemap.c - a capture file mapped and read front to back, with a
 * guard against the file shrinking under the mapping. */
#include "filemap.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Page tables are filled this far ahead in one call; pages a window
 * behind the reader are unmapped. */
#define WINDOW (8u << 20)
/* Files mapped at once (a capture is read by one reader; the tests and
 * the fuzzer open a few) */
#define GUARDS 8

static struct guard {
    atomic_uintptr_t start; /* 0: slot free */
    size_t span;            /* mapped bytes, whole pages */
    volatile sig_atomic_t shrunk;
} guards[GUARDS];

static struct sigaction previous;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t page;

static void on_sigbus(int sig, siginfo_t *si, void *uc) {
    uintptr_t a = (uintptr_t)si->si_addr;
    for (int i = 0; i < GUARDS; i++) {
        uintptr_t s = atomic_load(&guards[i].start);
        if (!s || a < s || a - s >= guards[i].span) continue;
        /* the file ends before this page now: zeros from here to the
         * mapping's end, so the access is repeated without a fault */
        uintptr_t from = a & ~(uintptr_t)(page - 1);
        void *z =
            mmap((void *)from, s + guards[i].span - from, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (z == MAP_FAILED) break; /* cannot go on: the default action */
        guards[i].shrunk = 1;
        return;
    }
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
        previous.sa_sigaction(sig, si, uc);
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
    } else {
        /* the access is repeated on return and ends the process as a
         * SIGBUS would have without this handler */
        signal(SIGBUS, SIG_DFL);
    }
}

/* Puts the handler in place unless it is there: checked at every map,
 * as a program (or a test harness) may have set its own since. 0 or -1. */
static int install(void) {
    pthread_mutex_lock(&install_lock);
    if (!page) {
        long ps = sysconf(_SC_PAGESIZE);
        page = ps > 0 ? (size_t)ps : 4096u;
    }
    struct sigaction now;
    int rc = sigaction(SIGBUS, NULL, &now);
    if (rc == 0 && !((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_sigbus)) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        rc = sigaction(SIGBUS, &sa, &previous);
    }
    pthread_mutex_unlock(&install_lock);
    return rc;
}

int sn_filemap_open(sn_filemap *m, int fd) {
    memset(m, 0, sizeof *m);
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 || (uint64_t)sb.st_size > SIZE_MAX / 2)
        return -1;
    if (install() != 0) return -1;
    size_t len = (size_t)sb.st_size, span = (len + page - 1) & ~(page - 1);
    int slot = -1;
    for (int i = 0; i < GUARDS && slot < 0; i++) {
        uintptr_t none = 0;
        /* claimed with a placeholder until the address is known */
        if (atomic_compare_exchange_strong(&guards[i].start, &none, (uintptr_t)1)) slot = i;
    }
    if (slot < 0) return -1;
    void *p = mmap(NULL, span, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        atomic_store(&guards[slot].start, 0);
        return -1;
    }
    madvise(p, span, MADV_SEQUENTIAL); /* read-ahead for a file not in the page cache; a hint */
    guards[slot].span = span;
    guards[slot].shrunk = 0;
    atomic_store(&guards[slot].start, (uintptr_t)p);
    m->p = p;
    m->len = len;
    m->guard = slot;
    m->shrunk = &guards[slot].shrunk;
#ifdef MADV_POPULATE_READ
    m->populate = 1;
#endif
    return 0;
}

void sn_filemap_close(sn_filemap *m) {
    if (!m->p) return;
    struct guard *g = &guards[m->guard];
    munmap((void *)m->p, g->span);
    atomic_store(&g->start, 0);
    m->p = NULL;
}

int sn_filemap_step_(sn_filemap *m, size_t pos) {
    if (*m->shrunk) return -1;
    size_t span = guards[m->guard].span;
    size_t here = pos & ~(page - 1);
    if (here > m->dropped + WINDOW) { /* the pages behind are not read again */
        madvise((void *)(m->p + m->dropped), here - m->dropped, MADV_DONTNEED);
        m->dropped = here;
    }
    if (m->ready < here) m->ready = here;
    size_t to = m->ready + WINDOW < span ? m->ready + WINDOW : span;
#ifdef MADV_POPULATE_READ
    if (m->populate && to > m->ready && madvise((void *)(m->p + m->ready), to - m->ready, MADV_POPULATE_READ) != 0) {
        if (errno == EFAULT) { /* past the file's end: it got shorter */
            *m->shrunk = 1;
            return -1;
        }
        m->populate = 0; /* not in this kernel: pages are faulted in one by one */
    }
#endif
    m->ready = to;
    /* the next step when half the window is read */
    m->next = to >= span ? SIZE_MAX : to - WINDOW / 2;
    return *m->shrunk ? -1 : 0;
}
