/* adapter.h - the analyzer's findings as calls into pinholes.h.
 *
 * Subscribes to the engine's expectation events (added, hit, miss) and
 * invitation CANCELs, and turns them into predictions, hits and
 * withdrawals. */
#ifndef GATE_ADAPTER_H
#define GATE_ADAPTER_H

#include <stdint.h>

#include "engine.h"
#include "pinholes.h"

typedef struct gate_adapter {
    pinholes *holes;
    uint64_t arrival_us; /* arrival of the packet being analysed */
} gate_adapter;

/* Registers the adapter on the engine. 0 or -1. */
int gate_adapter_attach(gate_adapter *a, sn_engine *e);

#endif
