/* adapter.c - engine events -> pinholes. */
#include "adapter.h"

#include <stdlib.h>
#include <string.h>

#include "events.h"

static uint64_t get_u64(const sn_ev *ev, const char *key) {
    int64_t v = 0;
    return sn_ev_get_int(ev, key, &v) && v > 0 ? (uint64_t)v : 0;
}

static void on_event(void *ctx, sn_ev *ev) {
    gate_adapter *a = ctx;
    const char *type = sn_ev_type(ev);
    if (strcmp(type, "expectation") == 0) {
        gate_prediction pr;
        memset(&pr, 0, sizeof pr);
        pr.id = get_u64(ev, "id");
        pr.invitation = get_u64(ev, "invitation");
        pr.port = (uint16_t)get_u64(ev, "port");
        pr.timeout_ms = get_u64(ev, "timeout_s") * 1000u;
        char app[32] = "";
        const char *s = sn_ev_get_str(ev, "app");
        if (s && strlen(s) < sizeof app)
            memcpy(app, s, strlen(s) + 1);
        pr.app = app;
        s = sn_ev_get_str(ev, "transport");
        pr.transport = s && !strcmp(s, "tcp") ? 6 : s && !strcmp(s, "udp") ? 17 : 0;
        s = sn_ev_get_str(ev, "resolved");
        if (s && sn_addr_parse(s, strlen(s), &pr.addr) != 0)
            memset(&pr.addr, 0, sizeof pr.addr);
        pr.forged = sn_ev_get_true(ev, "forged");
        pr.nat = sn_ev_get_true(ev, "nat");
        pinholes_predicted(a->holes, &pr, a->arrival_us);
    } else if (strcmp(type, "expectation_hit") == 0) {
        pinholes_hit(a->holes, get_u64(ev, "id"), get_u64(ev, "invitation"));
    } else if (strcmp(type, "expectation_miss") == 0) {
        pinholes_withdrawn(a->holes, get_u64(ev, "id"));
    } else if (strcmp(type, "invitation") == 0) {
        const char *cmd = sn_ev_get_str(ev, "command");
        if (cmd && strcmp(cmd, "CANCEL") == 0)
            pinholes_cancelled(a->holes, get_u64(ev, "invitation"));
    }
}

int gate_adapter_attach(gate_adapter *a, sn_engine *e) {
    return sn_events_add_sink(sn_engine_events(e), on_event, a) < 0 ? -1 : 0;
}
