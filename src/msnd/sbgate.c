/* Switchboard admission on the notification side; see sbgate.h. */
#include "sbgate.h"

#include <stdio.h>
#include <string.h>

#include "link.h"
#include "log.h"
#include "presence.h"
#include "privacy.h"
#include "sbreg.h"

void sbgate_name_of(msnd_server *s, const char *email, char *out, size_t cap) {
    conn *ns = presence_find(s->presence, email);
    if (ns && ns->state == NS_AUTH) {
        snprintf(out, cap, "%s", ns->name);
        return;
    }
    store_user u;
    if (s->store && store_user_get(s->store, email, &u) == STORE_OK) {
        memset(u.password, 0, sizeof u.password);
        const char *name = stored_name(u.name, u.email);
        if (name != u.name)
            LOGW("stored friendly name cannot be sent: the e-mail is shown instead", "user=%s name_bytes=%zu", u.email,
                 strlen(u.name));
        snprintf(out, cap, "%s", name);
        return;
    }
    snprintf(out, cap, "%s", email);
}

int sbgate_caller_offline(msnd_server *s, const char *caller) {
    const conn *ns = presence_find(s->presence, caller);
    if (ns) return ns->status == MSNP_STATUS_HDN;
    /* Another node's user: visible while that node says so (ON lines,
     * peering.h), as this node's users see it. That node says ON as the
     * user becomes visible, before it handles the user's next command (an
     * XFR SB), and OFF when it hides or leaves; a caller whose ON has not
     * arrived yet appears offline here for that moment, to its watchers
     * here as well. */
    return presence_remote_from(s->presence, caller) == NULL;
}

int sbgate_auth(msnd_server *s, const char *cookie, const char *email, char *name, size_t namecap) {
    int r = sbreg_redeem(s->sbreg, cookie, email, 0, server_now_ms());
    if (r != 0) return r == SBREG_UNKNOWN ? SBGATE_ELSEWHERE : SBGATE_NO;
    sbgate_name_of(s, email, name, namecap);
    return 0;
}

/* The callee's session `id` as it is now: the store calls below may wait
 * (PostgreSQL), and meanwhile it may have ended and been freed, or gone
 * hidden. SBGATE_ELSEWHERE when it has no session here any more,
 * SBGATE_NO when it has another one or may not be rung. */
static int ring_target(msnd_server *s, const char *callee, uint64_t id, conn **out) {
    conn *target = presence_find(s->presence, callee);
    if (!target || target->state != NS_AUTH || target->closing) return SBGATE_ELSEWHERE;
    if ((id && target->id != id) || !privacy_status_visible(target->status)) return SBGATE_NO;
    *out = target;
    return 0;
}

int sbgate_ring(msnd_server *s, const char *caller, const char *caller_name, const char *callee, uint32_t session_id,
                const char *cookie, const char *sb_addr, char *callee_name, size_t namecap) {
    conn *target = NULL;
    int r = ring_target(s, callee, 0, &target);
    if (r != 0) return r;
    /* Kept by value: target is not used again until it is looked up anew. */
    uint64_t target_id = target->id;
    int64_t target_uid = target->uid;
    int target_blp = target->blp_allow;
    store_user u;
    store_rc rc = s->store ? store_user_get(s->store, caller, &u) : STORE_NOTFOUND;
    if (rc != STORE_OK) {
        if (rc == STORE_NOTFOUND) return SBGATE_NO;
        LOGW("ring not decided: the database could not be read", "caller=%s callee=%s error=\"%s\"", caller, callee,
             store_errmsg(s->store));
        return SBGATE_FAIL;
    }
    memset(u.password, 0, sizeof u.password);
    int allowed = presence_allowed(s, target_uid, target_blp, u.id);
    if (allowed < 0) {
        LOGW("ring not decided: the database could not be read", "caller=%s callee=%s error=\"%s\"", caller, callee,
             store_errmsg(s->store));
        return SBGATE_FAIL;
    }
    if (allowed != 1) return SBGATE_NO;
    r = ring_target(s, callee, target_id, &target);
    if (r != 0) return r;
    char addr[CFG_ADDR], sid[16];
    if (sb_addr) snprintf(addr, sizeof addr, "%s", sb_addr);
    else server_advertised(s, target, CONN_SB, addr, sizeof addr);
    snprintf(sid, sizeof sid, "%u", session_id);
    conn_cmd(target, "RNG", trid_none(), sid, addr, "CKI", cookie, caller, caller_name, NULL);
    if (sb_addr) link_ring_made(s, target, cookie);
    snprintf(callee_name, namecap, "%s", target->name);
    LOGD("ringing", "session=%u caller=%s callee=%s sb=%s", session_id, caller, callee, addr);
    return 0;
}
