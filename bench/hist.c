/* hist.c - see hist.h. */
#include "hist.h"

#include <string.h>

void hist_init(hist *h) {
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static unsigned bucket_of(uint64_t v) {
    if (v < 64) return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* e >= 6 */
    unsigned shift = e - HIST_SUB_BITS;              /* v >> shift in [32, 64) */
    unsigned idx = 64u + (shift - 1u) * (1u << HIST_SUB_BITS) + (unsigned)((v >> shift) - (1u << HIST_SUB_BITS));
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* Largest value that falls into bucket idx. */
static uint64_t bucket_top(unsigned idx) {
    if (idx < 64) return idx;
    unsigned k = idx - 64u;
    unsigned shift = k / (1u << HIST_SUB_BITS) + 1u;
    uint64_t sub = (uint64_t)(k % (1u << HIST_SUB_BITS)) + (1u << HIST_SUB_BITS);
    return ((sub + 1u) << shift) - 1u;
}

void hist_record(hist *h, uint64_t ns) {
    h->b[bucket_of(ns)]++;
    h->count++;
    h->sum += (double)ns;
    if (ns > h->max) h->max = ns;
    if (ns < h->min) h->min = ns;
}

void hist_merge(hist *into, const hist *from) {
    for (unsigned i = 0; i < HIST_BUCKETS; i++) into->b[i] += from->b[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->max > into->max) into->max = from->max;
    if (from->min < into->min) into->min = from->min;
}

uint64_t hist_quantile(const hist *h, double q) {
    if (!h->count) return 0;
    if (q <= 0) return h->min;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1) rank = 1;
    if (rank > h->count) rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t top = bucket_top(i);
            return top > h->max ? h->max : top;
        }
    }
    return h->max;
}

double hist_mean(const hist *h) { return h->count ? h->sum / (double)h->count : 0.0; }
