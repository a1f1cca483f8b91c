/* ratelimit.h - the two throttles msnd uses.
 *   - token bucket: commands per second of one connection;
 *   - failure window: failed logins per key (msnd keys them by account and
 *     source address, and by source address). A key that reaches the limit
 *     is blocked for a first delay, and each further failure doubles the
 *     block, up to a maximum; the count is forgotten a window after the latest
 *     failure or block. Time is passed in, so both are testable without a
 *     clock. */
#ifndef MSND_RATELIMIT_H
#define MSND_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include <msnp/util.h>

typedef struct token_bucket {
    double tokens;
    uint64_t at_ms;
} token_bucket;

/* rate 0 = unlimited. Returns 1 if the event is allowed (and takes a token). */
int bucket_take(token_bucket *b, uint64_t now_ms, double rate, double burst);

typedef struct failure_window failure_window;

/* limit 0 = never blocks. */
failure_window *failures_new(long limit, long window_seconds, long first_delay_seconds, long max_delay_seconds);
void failures_free(failure_window *w);
/* Milliseconds the key stays blocked, 0 if it is not. */
uint64_t failures_blocked(failure_window *w, const char *key, uint64_t now_ms);
/* Count a failure; returns the block it starts (ms), 0 for none. */
uint64_t failures_record(failure_window *w, const char *key, uint64_t now_ms);
/* A success: forget the key. */
void failures_clear(failure_window *w, const char *key);
/* Drop expired entries (bounded memory); returns entries left. */
unsigned long failures_sweep(failure_window *w, uint64_t now_ms);

/* The source a failed login is counted against: an IPv4 address as it
 * is, an IPv6 address by its /64 (one host usually holds a whole /64, so
 * counting single addresses would not slow it down). out holds 48 bytes;
 * FAILURES_SRC_MAX bounds a source, also one told by another node. */
#define FAILURES_SRC_MAX 64
void failures_source(const char *ip, char *out, size_t cap);
/* The key an account's failures from one source are counted under
 * ("email source"), the same on every node of a cluster; -1 if it does
 * not fit in cap. FAILURES_KEY_MAX holds any address and source. */
#define FAILURES_KEY_MAX (MSNP_MAX_EMAIL + FAILURES_SRC_MAX + 8)
int failures_account_key(char *out, size_t cap, const char *email, const char *src);

#endif
