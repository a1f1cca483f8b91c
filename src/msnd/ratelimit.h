/* ratelimit.h - the two throttles msnd uses.
 *   - token bucket: commands per second of one connection;
 *   - failure window: failed logins per account and per source address
 *     (fixed window; a key is blocked once it reaches the limit inside the
 *     window). Time is passed in, so both are testable without a clock. */
#ifndef MSND_RATELIMIT_H
#define MSND_RATELIMIT_H

#include <stdint.h>

typedef struct token_bucket {
    double tokens;
    uint64_t at_ms;
} token_bucket;

/* rate 0 = unlimited. Returns 1 if the event is allowed (and takes a token). */
int bucket_take(token_bucket *b, uint64_t now_ms, double rate, double burst);

typedef struct failure_window failure_window;

failure_window *failures_new(long limit, long window_seconds);
void failures_free(failure_window *w);
/* 1 if the key has used up its failures in the current window. */
int failures_blocked(failure_window *w, const char *key, uint64_t now_ms);
void failures_record(failure_window *w, const char *key, uint64_t now_ms);
/* Drop expired entries (bounded memory); returns entries left. */
unsigned long failures_sweep(failure_window *w, uint64_t now_ms);

#endif
