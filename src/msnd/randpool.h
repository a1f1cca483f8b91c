/* randpool.h - random bytes for challenges and profile tokens, drawn from
 * the CSPRNG (msnp_random_bytes) a few kilobytes at a time.
 *
 * OpenSSL checks for a fork (a getpid system call) on every request; a
 * login asks three times. The pool makes that once per ~100 logins. Bytes
 * handed out are wiped from the pool. msnd does not fork after start-up; a
 * process that did would have to call randpool_reset in the child. */
#ifndef MSND_RANDPOOL_H
#define MSND_RANDPOOL_H

#include <stddef.h>

/* Fills buf with n unpredictable bytes; 0, or -1 if the CSPRNG failed. */
int randpool_bytes(void *buf, size_t n);
/* Forget the pooled bytes (after a fork, or to wipe them). */
void randpool_reset(void);

#endif
