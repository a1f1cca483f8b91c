/* engine.h - the msnsniff pipeline behind one call per captured frame.
 *
 *   decode -> flow table -> TCP reassembly -> detection -> MSNP parser ->
 *   session tracker -> invitation correlator -> expectation table -> sinks
 *
 * The program (main.c), the tests, the fuzz target and a live enforcer
 * all drive the same engine, as a library (msnsniff_core): no globals,
 * any number of engines per process, one thread per engine.
 *
 *   sn_engine *e = sn_engine_new(&cfg);          // cfg from sn_config_defaults
 *   sn_engine_observe(e, &my_observer);          // typed events (observer.h)
 *   sn_engine_packet(e, linktype, ts_us, ...);   // for every frame
 *   sn_engine_tick(e, now_us);                   // when idle: expiries
 *   sn_engine_finish(e); sn_engine_free(e);
 *
 * JSON records go to sinks attached through sn_engine_events(); with no
 * sink attached none are built. */
#ifndef SN_ENGINE_H
#define SN_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "context.h"
#include "events.h"
#include "expect.h"
#include "observer.h"

typedef struct sn_engine sn_engine;

sn_engine *sn_engine_new(const sn_config *cfg);
void sn_engine_free(sn_engine *e);
sn_events *sn_engine_events(sn_engine *e);
/* Subscribe to the typed events (after the engine's own counters and the
 * JSON reporter); 0, or -1 when SN_MAX_OBSERVERS are registered. */
int sn_engine_observe(sn_engine *e, const sn_observer *o);
/* The expectation table, read-only (counts, bounds, peak). */
const sn_expect_table *sn_engine_expectations(const sn_engine *e);
const sn_stats *sn_engine_stats(const sn_engine *e);
const sn_memcap *sn_engine_memcap(const sn_engine *e);

/* One captured frame of the given pcap link type. */
void sn_engine_packet(sn_engine *e, int linktype, uint64_t ts_us, const uint8_t *data, size_t caplen, size_t wirelen);
/* No packet, but time passed (a live capture that is idle): flows and
 * expectations due by now_us expire. Time never goes back. */
void sn_engine_tick(sn_engine *e, uint64_t now_us);
/* The engine's time (µs): the latest packet's or tick's, never going back;
 * 0 before the first. The pointer stays valid, and the value current, for
 * the engine's life: an observer reads it for the time of the event it is
 * told about (sn_nft_out.clock). */
const uint64_t *sn_engine_clock(const sn_engine *e);
/* The lifetime of predictions (sn_config.expect_timeout_us) while running. */
void sn_engine_set_expect_timeout(sn_engine *e, uint64_t timeout_us);
/* End of input: close every flow, expire every expectation. */
void sn_engine_finish(sn_engine *e);
/* Human summary (users, sessions, messages, invitations, predictions). */
void sn_engine_summary(const sn_engine *e, FILE *fp);
/* The run id in the flows' uid: sn_config.run_id, or the random one drawn
 * when that was 0. */
uint64_t sn_engine_run_id(const sn_engine *e);

#endif
