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
#include <stdint.h>

/* Fills buf with n unpredictable bytes; 0, or -1 if the CSPRNG failed. */
int randpool_bytes(void *buf, size_t n);
/* A uniform value in [0, bound); 0, or -1 if the CSPRNG failed. */
int randpool_uniform(uint32_t bound, uint32_t *out);
/* n uniform decimal digits and a terminating NUL (out holds n + 1). */
int randpool_digits(char *out, size_t n);
/* Forget the pooled bytes (after a fork, or to wipe them). */
void randpool_reset(void);

#endif
