/* anomaly.c - anomalies counted, rate limited and handed to the observers. */
#include "context.h"

#include <stdio.h>
#include <string.h>

sn_anomaly_info sn_anomaly_make(sn_anomaly kind, uint64_t flow, const char *detail) {
    sn_anomaly_info a;
    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.flow = flow;
    a.detail = detail;
    a.direction = -1;
    return a;
}

int sn_field_fits(sn_ctx *c, uint64_t flow, uint8_t *said, size_t n, size_t cap, const char *what) {
    if (n < cap) return 1;
    if (!*said) {
        *said = 1;
        char detail[160];
        snprintf(detail, sizeof detail, "%s of %zu bytes, above the %zu kept: not used", what, n, cap - 1);
        sn_anomaly_info a = sn_anomaly_make(SN_AN_OVERSIZED_FIELD, flow, detail);
        sn_anomaly_report(c, &a);
    }
    return 0;
}

void sn_anomaly_report(sn_ctx *c, sn_anomaly_info *a) {
    c->st.anomalies++;
    unsigned k = (unsigned)a->kind < SN_AN_KINDS ? (unsigned)a->kind : 0;
    if (c->cfg.anomaly_limit && c->anomaly_count[k] >= c->cfg.anomaly_limit) return;
    c->anomaly_count[k]++;
    a->ts = c->now;
    a->frame = c->frame;
    a->limit_reached = c->cfg.anomaly_limit && c->anomaly_count[k] == c->cfg.anomaly_limit;
    sn_notify_anomaly(&c->obs, a);
}
