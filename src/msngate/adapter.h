/* adapter.h - the analyzer's typed expectation events (observer.h) as
 * calls into pinholes.h: added/resolved open, hit closes (after a grace),
 * retired (a cancel, a sibling's hit) and evicted close at once. */
#ifndef GATE_ADAPTER_H
#define GATE_ADAPTER_H

#include <stdint.h>

#include "engine.h"
#include "pinholes.h"

typedef struct gate_adapter {
    pinholes *holes;
    gate_stats *st;
    uint64_t arrival_us; /* arrival of the packet being analysed */
    int ingress;         /* ifindex it came in by (0: not known, or sent by the gateway) */
} gate_adapter;

/* Subscribes the adapter to the engine. 0 or -1. */
int gate_adapter_attach(gate_adapter *a, sn_engine *e);

#endif
