/* report.h - the JSON reporter: a subscriber (observer.h) that turns the
 * typed expectation and anomaly events into JSON records (events.h) for
 * the record sinks (JSON lines, transcript). docs/msnsniff.md has the
 * schema. */
#ifndef SN_REPORT_H
#define SN_REPORT_H

#include "events.h"
#include "observer.h"

typedef struct sn_reporter {
    sn_events *ev;         /* where the records go */
    const uint64_t *clock; /* time of the packet being handled (µs) */
} sn_reporter;

/* The observer for r (r must outlive the engine's use of it). */
sn_observer sn_reporter_observer(sn_reporter *r);

#endif
