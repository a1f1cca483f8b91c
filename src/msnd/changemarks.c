/* changemarks.c - per-account change generations (changemarks.h): open
 * addressing with linear probing on the account id. Marks are only added
 * or raised, never removed one by one, so no tombstones are needed; the
 * whole table goes at a reset. */
#include "changemarks.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(const changemarks *m, int64_t uid) {
    uint64_t h = (uint64_t)uid * 0x9E3779B97F4A7C15u;
    return (size_t)(h >> 32) & (m->cap - 1);
}

void changemarks_reset(changemarks *m, uint64_t gen) {
    if (gen > m->floor) m->floor = gen;
    if (m->n) {
        memset(m->ids, 0, m->cap * sizeof *m->ids);
        m->n = 0;
    }
}

static int grow(changemarks *m) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    int64_t *ids = calloc(cap, sizeof *ids);
    uint64_t *at = malloc(cap * sizeof *at);
    if (!ids || !at) {
        free(ids);
        free(at);
        return -1;
    }
    changemarks old = *m;
    m->ids = ids;
    m->at = at;
    m->cap = cap;
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.ids[i]) continue;
        size_t k = slot_of(m, old.ids[i]);
        while (m->ids[k]) k = (k + 1) & (m->cap - 1);
        m->ids[k] = old.ids[i];
        m->at[k] = old.at[i];
        m->n++;
    }
    free(old.ids);
    free(old.at);
    return 0;
}

void changemarks_mark(changemarks *m, int64_t uid, uint64_t gen) {
    if (uid < 1) {
        changemarks_reset(m, gen);
        return;
    }
    if (m->cap) {
        for (size_t k = slot_of(m, uid); m->ids[k]; k = (k + 1) & (m->cap - 1))
            if (m->ids[k] == uid) {
                if (gen > m->at[k]) m->at[k] = gen;
                return;
            }
    }
    /* A new account: keep the table at most half full. */
    if (m->n + 1 > CHANGEMARKS_MAX || ((m->n + 1) * 2 > m->cap && grow(m) != 0)) {
        changemarks_reset(m, gen);
        return;
    }
    size_t k = slot_of(m, uid);
    while (m->ids[k]) k = (k + 1) & (m->cap - 1);
    m->ids[k] = uid;
    m->at[k] = gen;
    m->n++;
}

uint64_t changemarks_all(changemarks *m) {
    changemarks_reset(m, ++m->now);
    return m->now;
}

uint64_t changemarks_ids(changemarks *m, int64_t a, int64_t b) {
    ++m->now;
    if (a > 0) changemarks_mark(m, a, m->now);
    if (b > 0) changemarks_mark(m, b, m->now);
    return m->now;
}

uint64_t changemarks_of(const changemarks *m, int64_t uid) {
    if (!m->n || uid < 1) return m->floor;
    for (size_t k = slot_of(m, uid); m->ids[k]; k = (k + 1) & (m->cap - 1))
        if (m->ids[k] == uid) return m->at[k] > m->floor ? m->at[k] : m->floor;
    return m->floor;
}

void changemarks_free(changemarks *m) {
    free(m->ids);
    free(m->at);
    memset(m, 0, sizeof *m);
}
