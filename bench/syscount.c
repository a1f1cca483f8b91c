/* syscount.c - counting another process's system calls (syscount.h). */
#include "syscount.h"

#include <dirent.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The tracepoint's id, from tracefs (mounted at /sys/kernel/tracing, or
 * under debugfs on older systems); -1 if neither has it. */
static long tracepoint_id(void) {
    static const char *const paths[] = {"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
                                        "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        FILE *f = fopen(paths[i], "r");
        if (!f) continue;
        long id = -1;
        if (fscanf(f, "%ld", &id) != 1) id = -1;
        fclose(f);
        if (id >= 0) return id;
    }
    return -1;
}

static int open_one(long id, long tid) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.type = PERF_TYPE_TRACEPOINT;
    a.size = sizeof a;
    a.config = (uint64_t)id;
    a.inherit = 1; /* threads this one starts later count too */
    return (int)syscall(SYS_perf_event_open, &a, (pid_t)tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

int syscount_open(syscount *c, long pid, char *err, size_t errlen) {
    c->n = 0;
    long id = tracepoint_id();
    if (id < 0) {
        snprintf(err, errlen,
                 "no raw_syscalls:sys_enter tracepoint: tracefs is not mounted (mount -t tracefs nodev "
                 "/sys/kernel/tracing) or the kernel was built without syscall tracepoints");
        return -1;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    DIR *d = opendir(path);
    if (!d) {
        snprintf(err, errlen, "%s: %s (is process %ld running?)", path, strerror(errno), pid);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long tid = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end) continue; /* "." and ".." */
        if (c->n == SYSCOUNT_MAX_THREADS) {
            snprintf(err, errlen, "process %ld has more than %d threads", pid, SYSCOUNT_MAX_THREADS);
            goto fail;
        }
        int fd = open_one(id, tid);
        if (fd < 0) {
            if (errno == ESRCH) continue; /* the thread ended meanwhile */
            int why = errno;
            snprintf(err, errlen, "perf_event_open on thread %ld: %s%s", tid, strerror(why),
                     why == EACCES || why == EPERM
                         ? " (counting another process's system calls needs root, or kernel.perf_event_paranoid "
                           "set to -1)"
                         : "");
            goto fail;
        }
        c->fd[c->n++] = fd;
    }
    closedir(d);
    if (c->n == 0) {
        snprintf(err, errlen, "process %ld has no threads left to count", pid);
        return -1;
    }
    return 0;
fail:
    closedir(d);
    syscount_close(c);
    return -1;
}

int64_t syscount_read(const syscount *c) {
    if (c->n == 0) return -1;
    int64_t sum = 0;
    for (int i = 0; i < c->n; i++) {
        uint64_t v;
        if (read(c->fd[i], &v, sizeof v) != (ssize_t)sizeof v) return -1;
        sum += (int64_t)v;
    }
    return sum;
}

void syscount_close(syscount *c) {
    for (int i = 0; i < c->n; i++) close(c->fd[i]);
    c->n = 0;
}
