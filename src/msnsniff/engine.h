/* engine.h - the msnsniff pipeline behind one call per captured frame.
 *
 *   decode -> flow table -> TCP reassembly -> detection -> MSNP parser ->
 *   session tracker -> invitation correlator -> expectation table -> sinks
 *
 * The program (main.c), the tests and the fuzz target all drive the same
 * engine; sinks are attached through sn_engine_events(). */
#ifndef SN_ENGINE_H
#define SN_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "context.h"
#include "events.h"

typedef struct sn_engine sn_engine;

sn_engine *sn_engine_new(const sn_config *cfg);
void sn_engine_free(sn_engine *e);
sn_events *sn_engine_events(sn_engine *e);
const sn_stats *sn_engine_stats(const sn_engine *e);
const sn_memcap *sn_engine_memcap(const sn_engine *e);

/* One captured frame of the given pcap link type. */
void sn_engine_packet(sn_engine *e, int linktype, uint64_t ts_us, const uint8_t *data, size_t caplen, size_t wirelen);
/* End of input: close every flow, expire every expectation. */
void sn_engine_finish(sn_engine *e);
/* Human summary (users, sessions, messages, invitations, predictions). */
void sn_engine_summary(const sn_engine *e, FILE *fp);

#endif
