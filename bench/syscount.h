/* syscount.h - counting another process's system calls.
 *
 * The kernel counts them: one perf counter on the raw_syscalls:sys_enter
 * tracepoint per thread of the process (perf_event_open(2)), the same
 * figure `perf stat -e raw_syscalls:sys_enter -p PID` gives, without the
 * perf tool. While such a counter exists every system call on the machine
 * takes the tracepoint's slower path (a few percent of a server's CPU per
 * login on loopback), so a benchmark counts in a window of its own, not in
 * the one whose CPU time it reports. */
#ifndef BENCH_SYSCOUNT_H
#define BENCH_SYSCOUNT_H

#include <stddef.h>
#include <stdint.h>

#define SYSCOUNT_MAX_THREADS 64

typedef struct syscount {
    int fd[SYSCOUNT_MAX_THREADS];
    int n; /* counters open; 0 when not counting */
} syscount;

/* Starts counting the system calls of every thread of pid (and of threads
 * they start later). 0, or -1 with why it cannot (what to do about it) in
 * err. */
int syscount_open(syscount *c, long pid, char *err, size_t errlen);
/* System calls counted since syscount_open; -1 when not counting. */
int64_t syscount_read(const syscount *c);
/* Stops counting (the machine's system calls are fast again). */
void syscount_close(syscount *c);

#endif
