/* observer.c - subscriber lists and the names of the typed events. */
#include "observer.h"

const char *sn_app_class_name(sn_app_class k) {
    static const char *const names[SN_CLASS_COUNT] = {"other",       "file_transfer", "voice_video",
                                                      "whiteboard",  "app_sharing",   "remote_assistance",
                                                      "switchboard", "notification",  "game"};
    return (unsigned)k < SN_CLASS_COUNT ? names[k] : "other";
}

const char *sn_expect_end_name(sn_expect_end why) {
    switch (why) {
    case SN_END_EXPIRED: return "expired";
    case SN_END_EVICTED: return "evicted";
    case SN_END_INPUT_END: return "capture_end";
    case SN_END_SIBLING_HIT: return "sibling_hit";
    case SN_END_CANCELLED: return "cancelled";
    case SN_END_REPLACED: return "replaced";
    }
    return "expired";
}

const char *sn_expect_drop_name(sn_expect_drop why) {
    switch (why) {
    case SN_DROP_USER_BOUND: return "user_bound";
    case SN_DROP_SESSION_BOUND: return "session_bound";
    case SN_DROP_NO_MEMORY: return "no_memory";
    }
    return "no_memory";
}

const char *sn_anomaly_name(sn_anomaly a) {
    static const char *const names[SN_AN_KINDS] = {"malformed_packet",
                                                   "gap",
                                                   "parse_error",
                                                   "midstream",
                                                   "memcap",
                                                   "bad_mime",
                                                   "bad_invitation",
                                                   "orphan_invitation",
                                                   "size_mismatch",
                                                   "unknown_cookie",
                                                   "extract",
                                                   "msnftp",
                                                   "fragment",
                                                   "overlap_conflict",
                                                   "invitation_in_header",
                                                   "announced_address",
                                                   "ignored_rst",
                                                   "data_after_fin",
                                                   "oversized_field",
                                                   "rst_with_data",
                                                   "syn_with_data"};
    return (unsigned)a < SN_AN_KINDS ? names[a] : "unknown";
}

int sn_observers_add(sn_observers *s, const sn_observer *o) {
    if (s->n >= SN_MAX_OBSERVERS) return -1;
    s->o[s->n++] = *o;
    if (o->invitation) s->invitations++;
    return 0;
}

/* Each dispatcher walks the list in registration order. */
void sn_notify_added(const sn_observers *s, const struct sn_expect *x) {
    for (int i = 0; i < s->n; i++)
        if (s->o[i].expect_added) s->o[i].expect_added(s->o[i].ctx, x);
}

void sn_notify_resolved(const sn_observers *s, const struct sn_expect *x) {
    for (int i = 0; i < s->n; i++)
        if (s->o[i].expect_resolved) s->o[i].expect_resolved(s->o[i].ctx, x);
}

void sn_notify_hit(const sn_observers *s, const struct sn_expect *x, const sn_expect_hit_info *h) {
    for (int i = 0; i < s->n; i++)
        if (s->o[i].expect_hit) s->o[i].expect_hit(s->o[i].ctx, x, h);
}

void sn_notify_retired(const sn_observers *s, const struct sn_expect *x, sn_expect_end why) {
    for (int i = 0; i < s->n; i++)
        if (s->o[i].expect_retired) s->o[i].expect_retired(s->o[i].ctx, x, why);
}

void sn_notify_expired(const sn_observers *s, const struct sn_expect *x, sn_expect_end why) {
    for (int i = 0; i < s->n; i++)
        if (s->o[i].expect_expired) s->o[i].expect_expired(s->o[i].ctx, x, why);
}

void sn_notify_dropped(const sn_observers *s, const struct sn_expect_proto *p, sn_expect_drop why) {
    for (int i = 0; i < s->n; i++)
        if (s->o[i].expect_dropped) s->o[i].expect_dropped(s->o[i].ctx, p, why);
}

void sn_notify_anomaly(const sn_observers *s, const sn_anomaly_info *a) {
    for (int i = 0; i < s->n; i++)
        if (s->o[i].anomaly) s->o[i].anomaly(s->o[i].ctx, a);
}

void sn_notify_invitation(const sn_observers *s, const sn_invitation_info *i) {
    for (int k = 0; k < s->n; k++)
        if (s->o[k].invitation) s->o[k].invitation(s->o[k].ctx, i);
}
