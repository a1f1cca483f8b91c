/* changemarks.h - a change counter (a store's generation) and the value it
 * had when each account's stored rows last changed, so that a cache of one
 * account's rows (login snapshots, watchers) survives changes to other
 * accounts.
 *
 * Marks are values of the counter `now`; an account never marked reads as
 * the floor, the counter's value at the
 * last change that may have touched every account. What an account reads
 * only grows: a reset raises the floor to at least every mark it drops, so
 * a cache labelled with an earlier value never matches again. The table is
 * bounded (CHANGEMARKS_MAX accounts); marking more resets it. */
#ifndef MSND_CHANGEMARKS_H
#define MSND_CHANGEMARKS_H

#include <stddef.h>
#include <stdint.h>

#define CHANGEMARKS_MAX 65536u

typedef struct changemarks {
    int64_t *ids; /* 0: an empty slot (account ids start at 1) */
    uint64_t *at;
    size_t cap, n; /* cap: a power of two, or 0 */
    uint64_t floor;
    uint64_t now; /* the counter: moved by changemarks_all and changemarks_ids */
} changemarks;

/* A change that may have touched every account: the counter moves and
 * every account reads its new value. Returns it. */
uint64_t changemarks_all(changemarks *m);
/* A change of accounts a and b only (an id below 1: none): the counter
 * moves and those two read its new value. Returns it. */
uint64_t changemarks_ids(changemarks *m, int64_t a, int64_t b);

/* uid changed at generation gen (not below any earlier mark or floor). An
 * id below 1, or no memory for the table, resets it to gen instead. */
void changemarks_mark(changemarks *m, int64_t uid, uint64_t gen);
/* Every account changed at gen: the floor rises, the marks go. */
void changemarks_reset(changemarks *m, uint64_t gen);
/* The generation of uid's last change: its mark or the floor. */
uint64_t changemarks_of(const changemarks *m, int64_t uid);
void changemarks_free(changemarks *m);

#endif
