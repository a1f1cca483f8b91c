/* Notification role: login, lists, privacy, presence, challenges and
 * switchboard referrals. Every reply that reports a change is sent after
 * the store has committed it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msnkit/text.h"
#include "link.h"
#include "log.h"
#include "login.h"
#include "peering.h"
#include "presence.h"
#include "privacy.h"
#include "randpool.h"
#include "role.h"
#include "sbreg.h"
#include "server.h"

#define ARG(i) (cmd->argv[(i)])

static char *put_str(char *p, const char *s) {
    size_t n = strlen(s);
    memcpy(p, s, n);
    p[n] = '\0';
    return p + n;
}

static void u32str(uint32_t v, char out[16]) { msnkit_put_dec(out, v); }

/* "<whole>.<frac as nine digits>": the challenge's form (out: 21 bytes). */
static void challenge_text(char *out, uint32_t whole, uint32_t frac) {
    char *p = msnkit_put_dec(out, whole);
    *p++ = '.';
    for (int i = 8; i >= 0; i--) {
        p[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    p[9] = '\0';
}

/* ---- helpers ---- */

/* A friendly or group name as sent: URL-encoded, within the limit, and
 * decoding to valid UTF-8 without control characters. */
static int name_ok(msnp_str s, size_t max) { return name_sendable(s, max); }

static int store_failed(conn *c, const msnp_cmd *cmd, const char *what) {
    LOGE("store error", "conn=%llu user=%s op=%s error=\"%s\"", (unsigned long long)c->id, c->email, what,
         store_errmsg(c->srv->store));
    conn_err(c, MSNP_ERR_DB_SERVER, trid_of(cmd));
    return -1;
}

static void send_challenge(conn *c) {
    if (randpool_digits(c->chl, 20) != 0) return;
    c->chl_pending = 1;
    conn_cmd(c, "CHL", trid_num(0), c->chl, NULL);
    conn_set_login_timer(c, c->srv->cfg.challenge_timeout);
}

void ns_on_timer(conn *c) {
    if (c->chl_pending) {
        LOGI("challenge not answered", "conn=%llu user=%s", (unsigned long long)c->id, c->email);
        conn_close(c, "challenge timeout");
    }
}

void ns_shutdown_notice(conn *c) { conn_cmd(c, "OUT", trid_none(), "SSD", NULL); }

void ns_on_close(conn *c) {
    if (c->state != NS_AUTH) return;
    /* Rings of this session nobody answered end with it: a CAL meanwhile
     * gets 217, and one after the next login rings that session. */
    if (c->srv->sbreg) sbreg_rings_end(c->srv->sbreg, c->email, c->id);
    /* So do its unused XFR SB cookies: they stand for this session. Every
     * switchboard, in this process or linked, asks this node (AUTH) to
     * consume the cookie, so withdrawing it here is enough. */
    if (c->srv->sbreg) sbreg_xfr_end(c->srv->sbreg, c->email, c->id);
    link_rings_ended(c->srv, c); /* and in switchboard processes of their own */
    presence_remove(c->srv->presence, c);
    msnp_status before = c->status;
    c->status = MSNP_STATUS_FLN;
    if (!c->srv->shutting_down) presence_announce(c->srv, c, before);
    LOGI("logged out", "conn=%llu user=%s", (unsigned long long)c->id, c->email);
}

/* ---- login ---- */

static void send_profile(conn *c) {
    char payload[1024];
    unsigned char rnd[16];
    char auth[33] = "0";
    if (randpool_bytes(rnd, sizeof rnd) == 0) {
        static const char hex[] = "0123456789abcdef";
        for (int i = 0; i < 16; i++) {
            auth[i * 2] = hex[rnd[i] >> 4];
            auth[i * 2 + 1] = hex[rnd[i] & 15];
        }
        auth[32] = '\0';
    }
    /* The e-mail is at most MSNP_MAX_EMAIL bytes: the whole fits. */
    char *p = put_str(payload,
                      "MIME-Version: 1.0\r\n"
                      "Content-Type: text/x-msmsgsprofile; charset=UTF-8\r\n"
                      "LoginTime: ");
    p = msnkit_put_dec(p, (uint64_t)time(NULL));
    p = put_str(p,
                "\r\nEmailEnabled: 0\r\n"
                "MemberIdHigh: 0\r\n"
                "MemberIdLow: ");
    p = msnkit_put_dec(p, (uint64_t)c->uid);
    p = put_str(p,
                "\r\nlang_preference: 1033\r\n"
                "PreferredEmail: ");
    p = put_str(p, c->email);
    p = put_str(p,
                "\r\ncountry: \r\n"
                "PostalCode: \r\n"
                "Gender: \r\n"
                "Kid: 0\r\n"
                "Age: \r\n"
                "BDayPre: \r\n"
                "Birthday: \r\n"
                "Wallet: \r\n"
                "Flags: 1027\r\n"
                "sid: 507\r\n"
                "kv: 1\r\n"
                "MSPAuth: ");
    p = put_str(p, auth);
    p = put_str(p, "\r\n\r\n");
    size_t n = (size_t)(p - payload);
    msnp_str params[2] = {msnp_str_c("Hotmail"), msnp_str_c("Hotmail")};
    char buf[1200];
    long len = msnp_write_payload_cmd(buf, sizeof buf, "MSG", 0, 0, params, 2, payload, n);
    if (len > 0) conn_send(c, buf, (size_t)len);
}

/* Failed logins are throttled per (account, source address) and per
 * source address, never per account alone: guessing from one address
 * slows down more with every failure, while the owner, from anywhere
 * else, still logs in.
 *
 * The two throttling keys of a login from c as `email`: the source
 * address (src) and the pair of account and source (key), the address
 * worked out once for both. */
static void failure_keys(const conn *c, const char *email, char src[FAILURES_SRC_MAX], char key[FAILURES_KEY_MAX]) {
    failures_source(c->peer_ip, src, FAILURES_SRC_MAX);
    failures_account_key(key, FAILURES_KEY_MAX, email, src); /* sized for both: fits */
}

/* Refuses (911, close, logged with the address) while a throttle holds;
 * returns 1 then. */
static int auth_throttled(conn *c, const msnp_cmd *cmd, const char *email) {
    msnd_server *s = c->srv;
    uint64_t now = server_now_ms();
    char src[FAILURES_SRC_MAX], key[FAILURES_KEY_MAX];
    failure_keys(c, email, src, key);
    uint64_t by_pair = failures_blocked(s->fail_account_address, key, now);
    uint64_t by_addr = failures_blocked(s->fail_address, src, now);
    if (!by_pair && !by_addr) return 0;
    LOGW("login throttled", "peer=%s user=%s by=%s retry_after_ms=%llu", c->peer, email,
         by_pair ? "account+address" : "address", (unsigned long long)(by_pair > by_addr ? by_pair : by_addr));
    conn_err(c, MSNP_ERR_AUTH_FAILED, trid_of(cmd));
    conn_close(c, "login throttled");
    return 1;
}

static void auth_failed(conn *c, const msnp_cmd *cmd, const char *why) {
    msnd_server *s = c->srv;
    uint64_t now = server_now_ms();
    char src[FAILURES_SRC_MAX], key[FAILURES_KEY_MAX];
    failure_keys(c, c->email, src, key);
    uint64_t by_addr = failures_record(s->fail_address, src, now);
    uint64_t by_pair = failures_record(s->fail_account_address, key, now);
    LOGI("login failed", "conn=%llu peer=%s user=%s reason=%s", (unsigned long long)c->id, c->peer,
         c->email[0] ? c->email : "-", why);
    if (by_pair)
        LOGW("login throttle started", "peer=%s user=%s by=account+address delay_ms=%llu", c->peer, c->email,
             (unsigned long long)by_pair);
    if (by_addr)
        LOGW("login throttle started", "peer=%s by=address delay_ms=%llu", c->peer, (unsigned long long)by_addr);
    peering_failure_out(s, c->email[0] ? c->email : "-", src);
    c->state = NS_NEW;
    c->challenge[0] = '\0';
    conn_err(c, MSNP_ERR_AUTH_FAILED, trid_of(cmd));
}

/* src: where the login came from (failures_source), told to the other
 * nodes with the login so that they forget that source's failures too. */
static void login_ok(conn *c, const msnp_cmd *cmd, const store_user *u, const char *src) {
    msnd_server *s = c->srv;
    /* The name goes out in USR OK, NLN, ILN, RNG, JOI and to the other
     * nodes: one the protocol cannot carry is the e-mail everywhere. */
    const char *name = stored_name(u->name, u->email);
    if (name != u->name)
        LOGW("stored friendly name cannot be sent: the e-mail is shown instead", "user=%s name_bytes=%zu", u->email,
             strlen(u->name));
    if (conn_set_name(c, name) != 0) { /* before anything changes: the login can still be refused */
        conn_err(c, MSNP_ERR_SERVER_BUSY, trid_of(cmd));
        conn_close(c, "out of memory");
        return;
    }
    /* The old session's FLN fan-out may wait for the database: this
     * connection may have been closed meanwhile (as above), and another
     * login of the account may have completed, which is closed in turn
     * (presence_add would replace it in the online list and leave it open).
     * Bounded: each turn closes a session. */
    conn *old;
    while ((old = presence_find(s->presence, u->email)) && old != c) {
        conn_cmd(old, "OUT", trid_none(), "OTH", NULL);
        conn_close(old, "logged in elsewhere");
        LOGI("duplicate login, old session closed", "user=%s old_conn=%llu", u->email, (unsigned long long)old->id);
        if (c->closing) return;
    }
    c->state = NS_AUTH;
    c->uid = u->id;
    msnkit_copy(c->email, sizeof c->email, u->email); /* same sizes: fit */
    c->blp_allow = u->blp_allow;
    c->status = MSNP_STATUS_FLN;
    c->challenge[0] = '\0';
    c->login_ms = server_now_ms();
    presence_add(s->presence, c);
    peering_login_out(s, c->email, src);
    conn_set_login_timer(c, 0);
    conn_set_idle_timeout(c, s->cfg.ns_idle_timeout);
    if (c->version >= 6) conn_cmd(c, "USR", trid_of(cmd), "OK", u->email, c->name, "1", NULL);
    else conn_cmd(c, "USR", trid_of(cmd), "OK", u->email, c->name, NULL);
    send_profile(c);
    LOGI("logged in", "conn=%llu peer=%s user=%s version=MSNP%d", (unsigned long long)c->id, c->peer, u->email,
         c->version);
}

static void ns_usr(conn *c, const msnp_cmd *cmd) {
    if (c->state == NS_AUTH) {
        conn_err(c, MSNP_ERR_ALREADY_LOGIN, trid_of(cmd));
        return;
    }
    if (c->version == 0) {
        conn_err(c, MSNP_ERR_NOT_EXPECTED, trid_of(cmd));
        return;
    }
    if (cmd->argc < 4 || !msnp_str_eq(ARG(1), "MD5")) {
        conn_err(c, MSNP_ERR_AUTH_FAILED, trid_of(cmd));
        return;
    }
    if (msnp_str_eq(ARG(2), "I")) {
        char email[MSNP_MAX_EMAIL + 1];
        if (email_normalize(ARG(3), email, sizeof email) != 0) {
            conn_err(c, MSNP_ERR_AUTH_FAILED, trid_of(cmd));
            return;
        }
        if (auth_throttled(c, cmd, email)) return;
        msnkit_copy(c->email, sizeof c->email, email); /* normalized above: fits */
        /* A fresh, unpredictable challenge for each attempt; the same
         * for unknown accounts, so the reply does not reveal which exist. */
        uint32_t whole, frac;
        if (randpool_uniform(3000000000u, &whole) != 0 || randpool_uniform(1000000000u, &frac) != 0) {
            conn_err(c, MSNP_ERR_INTERNAL_SERVER, trid_of(cmd));
            return;
        }
        challenge_text(c->challenge, 1000000000u + whole, frac);
        c->state = NS_CHALLENGED;
        conn_cmd(c, "USR", trid_of(cmd), "MD5", "S", c->challenge, NULL);
        return;
    }
    if (!msnp_str_eq(ARG(2), "S") || c->state != NS_CHALLENGED) {
        conn_err(c, MSNP_ERR_AUTH_FAILED, trid_of(cmd));
        return;
    }
    if (auth_throttled(c, cmd, c->email)) return;
    store_user u;
    store_rc rc = store_user_get_for_login(c->srv->store, c->email, &u);
    /* The read may wait (PostgreSQL): a login that timed out meanwhile (or
     * the server shutting down) has closed the connection. It is not logged
     * in after all: listed as online, it would stay listed once freed. */
    if (c->closing) {
        memset(u.password, 0, sizeof u.password);
        return;
    }
    if (rc == STORE_ERROR) {
        store_failed(c, cmd, "login");
        return;
    }
    /* Again once the store has answered: the read may wait (PostgreSQL),
     * and answers sent at once on many connections would all have passed
     * the check above before any of them was counted, each one a guess. */
    if (auth_throttled(c, cmd, c->email)) {
        memset(u.password, 0, sizeof u.password);
        return;
    }
    char expect[MSNP_MD5_HEX_LEN + 1];
    if (rc == STORE_NOTFOUND) {
        auth_failed(c, cmd, "unknown-account");
        return;
    }
    msnp_login_response(msnp_str_c(c->challenge), msnp_str_c(u.password), expect);
    memset(u.password, 0, sizeof u.password);
    if (ARG(3).n != MSNP_MD5_HEX_LEN || !msnp_md5_hex_equal(ARG(3), msnp_str_c(expect))) {
        auth_failed(c, cmd, "bad-password");
        return;
    }
    char src[FAILURES_SRC_MAX], key[FAILURES_KEY_MAX];
    failure_keys(c, c->email, src, key);
    failures_clear(c->srv->fail_account_address, key);
    login_ok(c, cmd, &u, src);
}

/* ---- SYN / LST ---- */

typedef struct lst_ctx {
    conn *c;
    msnd_trid trid;
    const char *list;
    char ver[16];
    long total;
    long idx;
    int with_groups;
    int with_phones;
    long unsendable;                      /* entries whose stored name cannot be sent */
    char first_email[MSNP_MAX_EMAIL + 1]; /* the first of them (a copy: the entry lasts one call) */
    long bad_phones;                      /* entries with a stored phone number that cannot be sent */
    char first_phone[MSNP_MAX_EMAIL + 1]; /* the first of them */
} lst_ctx;

/* A phone property as PRP accepts it: PHH PHW PHM (k 0..2) one URL-encoded
 * parameter of at most 95 bytes, MOB MBE (k 3, 4) Y or N. */
static int phone_sendable(const char *v, int k) {
    msnp_str s = msnp_str_c(v);
    if (k >= 3) return msnp_str_eq(s, "Y") || msnp_str_eq(s, "N");
    return name_sendable(s, 95);
}

/* An entry's four BPR lines, which differ only after "BPR ver email ": the
 * first is written (its e-mail checked) by msnp_write_cmd, the other three
 * copy its start and add their fixed key and their value (checked by
 * phone_sendable), and the four are queued at once. A login's lists are
 * mostly these lines (four for each FL entry), each a conn_cmd of some
 * 600 instructions. vals[i] NULL: the key alone (the number unset). */
static void bpr_lines(conn *c, const char *ver, const char *email, const char *const keys[4],
                      const char *const vals[4]) {
    char buf[1024];
    msnp_str p[4] = {msnp_str_c(ver), msnp_str_c(email), msnp_str_c(keys[0]), msnp_str_c(vals[0])};
    long first = msnp_write_cmd(buf, sizeof buf, "BPR", 0, 0, p, vals[0] ? 4 : 3);
    size_t head = 3 + 1 + p[0].n + 1 + p[1].n + 1; /* "BPR ver email " */
    size_t need = first < 0 ? sizeof buf + 1 : (size_t)first, vn[4] = {0, 0, 0, 0};
    for (int i = 1; i < 4; i++) {
        if (vals[i]) vn[i] = strlen(vals[i]);
        need += head + 3 + (vals[i] ? 1 + vn[i] : 0) + 2;
    }
    if (need > sizeof buf) { /* a long e-mail or number: line by line, as ever */
        for (int i = 0; i < 4; i++) conn_cmd(c, "BPR", trid_none(), ver, email, keys[i], vals[i], NULL);
        return;
    }
    size_t o = (size_t)first;
    for (int i = 1; i < 4; i++) {
        memcpy(buf + o, buf, head);
        o += head;
        memcpy(buf + o, keys[i], 3);
        o += 3;
        if (vals[i]) {
            buf[o++] = ' ';
            memcpy(buf + o, vals[i], vn[i]);
            o += vn[i];
        }
        buf[o++] = '\r';
        buf[o++] = '\n';
    }
    conn_send(c, buf, o);
}

static int lst_one(const store_entry *e, void *arg) {
    lst_ctx *x = arg;
    if (x->idx >= x->total) return 1; /* changed under us; stay consistent */
    x->idx++;
    /* An entry whose name cannot be sent is still listed, under its
     * e-mail: a missing LST line leaves the client's list inconsistent. */
    const char *name = stored_name(e->name, e->email);
    if (name != e->name && x->unsendable++ == 0) snprintf(x->first_email, sizeof x->first_email, "%s", e->email);
    char idx[24], total[24];
    msnkit_put_dec(idx, (uint64_t)x->idx);
    msnkit_put_dec(total, (uint64_t)x->total);
    if (x->with_groups) {
        /* e->ngroups <= STORE_MAX_ENTRY_GROUPS ids of at most 11 bytes and a comma */
        char groups[STORE_MAX_ENTRY_GROUPS * 12] = "0";
        char *g = groups;
        for (size_t i = 0; i < e->ngroups; i++) {
            if (i) *g++ = ',';
            if (e->groups[i] < 0) *g++ = '-';
            g = msnkit_put_dec(g, e->groups[i] < 0 ? (uint64_t)(-(int64_t)e->groups[i]) : (uint64_t)e->groups[i]);
        }
        conn_cmd(x->c, "LST", x->trid, x->list, x->ver, idx, total, e->email, name, groups, NULL);
    } else conn_cmd(x->c, "LST", x->trid, x->list, x->ver, idx, total, e->email, name, NULL);
    if (x->with_phones) {
        static const char *const keys[4] = {"PHH", "PHW", "PHM", "MOB"};
        const char *vals[4];
        int bad = 0;
        for (int i = 0; i < 4; i++) {
            /* A number the protocol cannot carry is sent as unset: the
             * line is never left out. */
            const char *v = e->phones[i];
            if (v && !phone_sendable(v, i)) {
                v = NULL;
                bad = 1;
            }
            vals[i] = v || i < 3 ? v : "N";
        }
        bpr_lines(x->c, x->ver, e->email, keys, vals);
        if (bad && x->bad_phones++ == 0) snprintf(x->first_phone, sizeof x->first_phone, "%s", e->email);
    }
    return 0;
}

/* Once per list sent: the entries listed under their e-mail. */
static void lst_warn(const lst_ctx *x) {
    if (x->unsendable)
        LOGW("stored entry names cannot be sent: the e-mails are shown instead", "user=%s list=%s first=%s entries=%ld",
             x->c->email, x->list, x->first_email, x->unsendable);
    if (x->bad_phones)
        LOGW("stored phone numbers cannot be sent: they are sent as unset", "user=%s list=%s first=%s entries=%ld",
             x->c->email, x->list, x->first_phone, x->bad_phones);
}

static int send_list(conn *c, msnd_trid trid, msnp_list list, uint32_t ver) {
    lst_ctx x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.trid = trid;
    x.list = msnp_list_code(list);
    u32str(ver, x.ver);
    x.total = store_list_count(c->srv->store, c->uid, list);
    if (x.total < 0) return -1;
    x.with_groups = list == MSNP_LIST_FL && c->version >= 7;
    x.with_phones = list == MSNP_LIST_FL && c->version >= 5;
    if (x.total == 0) {
        conn_cmd(c, "LST", trid, x.list, x.ver, "0", "0", NULL);
        return 0;
    }
    conn_reply_begin(c); /* asked for: queued whole, however long the list */
    store_rc rc = store_list_each(c->srv->store, c->uid, list, lst_one, &x);
    conn_reply_end(c);
    lst_warn(&x);
    return rc == STORE_OK ? 0 : -1;
}

static void ns_syn(conn *c, const msnp_cmd *cmd) {
    uint64_t have;
    if (cmd->argc < 2 || msnp_str_to_u64(ARG(1), UINT32_MAX, &have) != 0) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    /* Everything in one read; the snapshot also answers this login's CHG
     * (ILN) and presence fan-out while the store is unchanged. */
    store *st = c->srv->store;
    const store_sync *y;
    if (store_sync_get(st, c->uid, &y) != STORE_OK) {
        store_failed(c, cmd, "syn");
        return;
    }
    const store_sync_user *u = &y->user;
    char ver[16];
    u32str(u->version, ver);
    conn_cmd(c, "SYN", trid_of(cmd), ver, NULL);
    if (have == u->version) {
        store_sync_release(st, y);
        return;
    }
    /* The lists were asked for: queued whole, however many others have
     * this user on their FL (RL), and read at the client's pace. */
    conn_reply_begin(c);
    conn_cmd(c, "GTC", trid_of(cmd), ver, u->gtc_prompt ? "A" : "N", NULL);
    conn_cmd(c, "BLP", trid_of(cmd), ver, u->blp_allow ? "AL" : "BL", NULL);
    if (c->version >= 5) {
        static const char *const keys[5] = {"PHH", "PHW", "PHM", "MOB", "MBE"};
        char bad[5 * 4] = "";
        for (int i = 0; i < 5; i++) {
            /* one the protocol cannot carry is sent as unset */
            const char *v = y->props[i];
            if (v && !phone_sendable(v, i)) {
                if (bad[0]) strcat(bad, ",");
                strcat(bad, keys[i]);
                v = NULL;
            }
            if (!v && i >= 3) v = "N";
            conn_cmd(c, "PRP", trid_of(cmd), ver, keys[i], v, NULL);
        }
        if (bad[0])
            LOGW("stored phone numbers cannot be sent: they are sent as unset", "user=%s keys=%s", c->email, bad);
    }
    if (c->version >= 7) {
        char idx[24], total[24], g[16];
        msnkit_put_dec(total, y->ngroups);
        for (size_t i = 0; i < y->ngroups; i++) {
            msnkit_put_dec(idx, i + 1);
            snprintf(g, sizeof g, "%d", y->gids[i]);
            /* A group name that cannot be sent: "Group N", so the group and
             * its members are still listed. */
            const char *gname = y->gnames[i];
            char fallback[32];
            if (!gname || !name_sendable(msnp_str_c(gname), STORE_MAX_GROUP_NAME)) {
                snprintf(fallback, sizeof fallback, "Group%%20%d", y->gids[i]);
                LOGW("stored group name cannot be sent: a number is shown instead", "user=%s group=%d", c->email,
                     y->gids[i]);
                gname = fallback;
            }
            conn_cmd(c, "LSG", trid_of(cmd), ver, idx, total, g, gname, "0", NULL);
        }
    }
    for (int l = MSNP_LIST_FL; l <= MSNP_LIST_RL; l++) {
        lst_ctx x;
        memset(&x, 0, sizeof x);
        x.c = c;
        x.trid = trid_of(cmd);
        x.list = msnp_list_code((msnp_list)l);
        memcpy(x.ver, ver, sizeof x.ver);
        x.total = (long)y->count[l];
        x.with_groups = l == MSNP_LIST_FL && c->version >= 7;
        x.with_phones = l == MSNP_LIST_FL && c->version >= 5;
        if (x.total == 0) conn_cmd(c, "LST", trid_of(cmd), x.list, x.ver, "0", "0", NULL);
        for (size_t i = 0; i < y->count[l]; i++) {
            store_entry e;
            store_sync_entry_view(&y->entries[l][i], &e);
            lst_one(&e, &x);
        }
        lst_warn(&x);
    }
    conn_reply_end(c);
    store_sync_release(st, y);
}

static void ns_lst(conn *c, const msnp_cmd *cmd) {
    msnp_list l = cmd->argc >= 2 ? msnp_list_parse(ARG(1)) : MSNP_LIST_INVALID;
    if (l == MSNP_LIST_INVALID) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    store_user u;
    if (store_user_get_id(c->srv->store, c->uid, &u) != STORE_OK || send_list(c, trid_of(cmd), l, u.version) != 0)
        store_failed(c, cmd, "lst");
}

/* ---- presence ---- */

static void ns_chg(conn *c, const msnp_cmd *cmd) {
    msnp_status st = cmd->argc >= 2 ? msnp_status_parse(ARG(1)) : MSNP_STATUS_INVALID;
    if (!privacy_status_settable(st)) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    /* A client id after the status (MSNP8 and later clients put their
     * capabilities there) is echoed whole, however long the line allowed. */
    char *client_id = NULL;
    if (cmd->argc >= 3 && msnp_param_is_safe(ARG(2)) && !(client_id = strndup(ARG(2).p, ARG(2).n))) {
        conn_err(c, MSNP_ERR_INTERNAL_SERVER, trid_of(cmd));
        return;
    }
    msnp_status before = c->status;
    c->status = st;
    conn_cmd(c, "CHG", trid_of(cmd), msnp_status_code(st), client_id, NULL);
    free(client_id);
    int first = !c->chg_seen;
    c->chg_seen = 1;
    if (first) presence_initial(c->srv, c, trid_of(cmd));
    if (before != st) presence_announce(c->srv, c, before);
    if (first && c->version >= 6 && c->srv->cfg.challenges) send_challenge(c);
}

static void ns_qry(conn *c, const msnp_cmd *cmd) {
    if (!cmd->has_payload || cmd->argc < 3) {
        conn_err(c, MSNP_ERR_SYNTAX, trid_of(cmd));
        return;
    }
    if (!c->chl_pending) {
        conn_err(c, MSNP_ERR_NOT_EXPECTED, trid_of(cmd));
        return;
    }
    char expect[MSNP_MD5_HEX_LEN + 1];
    if (msnp_chl_response(msnp_str_c(c->chl), ARG(1), expect) != 0 || cmd->payload.n != MSNP_MD5_HEX_LEN ||
        !msnp_md5_hex_equal(cmd->payload, msnp_str_c(expect))) {
        LOGI("wrong challenge answer", "conn=%llu user=%s", (unsigned long long)c->id, c->email);
        conn_err(c, MSNP_ERR_CHALLENGE_FAILED, trid_of(cmd));
        conn_close(c, "wrong challenge answer");
        return;
    }
    c->chl_pending = 0;
    conn_set_login_timer(c, 0);
    conn_cmd(c, "QRY", trid_of(cmd), NULL);
}

/* ---- lists ---- */

/* Resolve an e-mail parameter to an account. Returns 0 and fills u, or
 * sends the error and returns -1. */
static int lookup_contact(conn *c, const msnp_cmd *cmd, msnp_str email, store_user *u, int unknown_code) {
    char norm[MSNP_MAX_EMAIL + 1];
    if (email_normalize(email, norm, sizeof norm) != 0) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return -1;
    }
    store_rc rc = store_user_get(c->srv->store, norm, u);
    memset(u->password, 0, sizeof u->password);
    if (rc == STORE_ERROR) return store_failed(c, cmd, "lookup");
    if (rc == STORE_NOTFOUND) {
        conn_err(c, unknown_code, trid_of(cmd));
        return -1;
    }
    return 0;
}

static int parse_gid(msnp_str s, long *gid) {
    uint64_t v;
    if (msnp_str_to_u64(s, 1000000, &v) != 0) return -1;
    *gid = (long)v;
    return 0;
}

/* What ADD and REM both check and look up before changing a list:
 *   ADD trid LIST email name [gid]     REM trid LIST email [gid]
 * (gid: MSNP7, FL only). Whether the change is possible (on the list
 * already, in the group, full, ...) is the store's to decide, atomically. */
typedef struct list_target {
    msnp_list list;
    long gid; /* -1 when none was given */
    char gidstr[24];
    store_user contact;
} list_target;

/* Validates the list, the optional group id and the contact. Returns 0, or
 * -1 once the error is sent (or the connection closed for a client touching
 * RL). */
static int list_target_get(conn *c, const msnp_cmd *cmd, int adding, list_target *t) {
    size_t gid_arg = adding ? 4 : 3;
    memset(t, 0, sizeof *t);
    t->gid = -1;
    if (cmd->argc < gid_arg) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return -1;
    }
    t->list = msnp_list_parse(ARG(1));
    if (t->list == MSNP_LIST_RL) {
        /* The reverse list is the server's; the real service disconnected. */
        conn_close(c, "client tried to change RL");
        return -1;
    }
    if (t->list == MSNP_LIST_INVALID) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return -1;
    }
    if (adding && !name_ok(ARG(3), MSNP_MAX_NAME_ENCODED)) {
        conn_err(c, MSNP_ERR_INVALID_FRIENDLY_NAME, trid_of(cmd));
        return -1;
    }
    if (t->list == MSNP_LIST_FL && c->version >= 7 && cmd->argc > gid_arg) {
        if (parse_gid(ARG(gid_arg), &t->gid) != 0) {
            conn_err(c, MSNP_ERR_INVALID_GROUP, trid_of(cmd));
            return -1;
        }
        snprintf(t->gidstr, sizeof t->gidstr, "%ld", t->gid);
    }
    return lookup_contact(c, cmd, ARG(2), &t->contact, adding ? MSNP_ERR_INVALID_USER : MSNP_ERR_NOT_ON_LIST);
}

/* ADD trid LIST ver email name [gid] / REM trid LIST ver email [gid];
 * name NULL for REM. */
static void list_reply(conn *c, const char *verb, msnd_trid trid, const list_target *t, uint32_t ver,
                       const char *name) {
    char vs[16];
    u32str(ver, vs);
    const char *p[3] = {NULL, NULL, NULL};
    size_t n = 0;
    if (name) p[n++] = name;
    if (t->gid >= 0) p[n++] = t->gidstr;
    conn_cmd(c, verb, trid, msnp_list_code(t->list), vs, t->contact.email, p[0], p[1], NULL);
}

/* The protocol error for a list change the store refused; 0 for STORE_OK. */
static int list_refusal(store_rc rc) {
    switch (rc) {
    case STORE_OK: return 0;
    case STORE_NOTFOUND: return MSNP_ERR_NOT_ON_LIST;
    case STORE_EXISTS: return MSNP_ERR_ALREADY_THERE;
    case STORE_OPPOSITE: return MSNP_ERR_ALREADY_IN_OPPOSITE_LIST;
    case STORE_FULL: return MSNP_ERR_LIST_FULL;
    case STORE_NO_GROUP: return MSNP_ERR_INVALID_GROUP;
    case STORE_NOT_IN_GROUP: return MSNP_ERR_USER_NOT_IN_GROUP;
    case STORE_TOO_MANY_GROUPS: return MSNP_ERR_TOO_MANY_GROUPS;
    case STORE_ERROR: break;
    }
    return -1;
}

static void ns_add(conn *c, const msnp_cmd *cmd) {
    msnd_server *s = c->srv;
    list_target t;
    if (list_target_get(c, cmd, 1, &t) != 0) return;
    msnp_list l = t.list;
    const store_user *u = &t.contact;
    char name[MSNP_MAX_NAME_ENCODED + 1];
    str_copy(ARG(3), name, sizeof name);
    store_list_op op = {.owner = c->uid,
                        .list = l,
                        .contact = u->id,
                        .name = name,
                        .gid = (int)t.gid,
                        .limit = l == MSNP_LIST_FL ? s->cfg.max_forward_list : s->cfg.max_allow_block_list};
    store_list_result r;
    int allowed_before = -1;
    if (l != MSNP_LIST_FL) allowed_before = presence_allowed(s, c->uid, c->blp_allow, u->id);
    store_rc rc = store_list_add(s->store, &op, &r);
    int refusal = list_refusal(rc);
    if (refusal < 0) {
        store_failed(c, cmd, "add");
        return;
    }
    if (refusal > 0) {
        conn_err(c, refusal, trid_of(cmd));
        return;
    }
    list_reply(c, "ADD", trid_of(cmd), &t, r.owner_ver, name);
    if (!r.entry_changed) return; /* MSNP7: an FL entry joined another group */
    if (l == MSNP_LIST_FL) {
        /* ILN first: with a store that waits, the RL notice lets the
         * contact (perhaps on another node) react at once, and its NLN
         * would otherwise race this ILN to the same client. */
        presence_initial_one(s, c, u->id, u->email, trid_of(cmd));
        presence_tell_rl(s, c, u->email, 1, r.contact_ver);
    } else if (allowed_before >= 0) {
        presence_reevaluate_one(s, c, u->id, u->email, allowed_before);
    }
}

static void ns_rem(conn *c, const msnp_cmd *cmd) {
    msnd_server *s = c->srv;
    list_target t;
    if (list_target_get(c, cmd, 0, &t) != 0) return;
    msnp_list l = t.list;
    const store_user *u = &t.contact;
    store_list_op op = {.owner = c->uid, .list = l, .contact = u->id, .gid = (int)t.gid};
    store_list_result r;
    int allowed_before = -1;
    if (l != MSNP_LIST_FL) allowed_before = presence_allowed(s, c->uid, c->blp_allow, u->id);
    store_rc rc = store_list_remove(s->store, &op, &r);
    int refusal = list_refusal(rc);
    if (refusal < 0) {
        store_failed(c, cmd, "rem");
        return;
    }
    if (refusal > 0) {
        conn_err(c, refusal, trid_of(cmd));
        return;
    }
    list_reply(c, "REM", trid_of(cmd), &t, r.owner_ver, NULL);
    if (!r.entry_changed) return; /* still in another group: only the membership went */
    if (l == MSNP_LIST_FL) presence_tell_rl(s, c, u->email, 0, r.contact_ver);
    else if (allowed_before >= 0) presence_reevaluate_one(s, c, u->id, u->email, allowed_before);
}

static void ns_rea(conn *c, const msnp_cmd *cmd) {
    msnd_server *s = c->srv;
    if (cmd->argc < 3) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    if (!name_ok(ARG(2), MSNP_MAX_NAME_ENCODED)) {
        conn_err(c, MSNP_ERR_INVALID_FRIENDLY_NAME, trid_of(cmd));
        return;
    }
    char email[MSNP_MAX_EMAIL + 1], name[MSNP_MAX_NAME_ENCODED + 1], vs[16];
    if (email_normalize(ARG(1), email, sizeof email) != 0) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    str_copy(ARG(2), name, sizeof name);
    uint32_t ver = 0;
    if (strcmp(email, c->email) == 0) {
        if (store_set_name(s->store, c->uid, name, &ver) != STORE_OK) {
            store_failed(c, cmd, "rea");
            return;
        }
        if (conn_set_name(c, name) != 0)
            LOGE("name not kept", "conn=%llu error=\"out of memory\"", (unsigned long long)c->id);
        u32str(ver, vs);
        conn_cmd(c, "REA", trid_of(cmd), vs, email, name, NULL);
        presence_announce(s, c, c->status); /* NLN with the new name */
        return;
    }
    store_user u;
    if (lookup_contact(c, cmd, ARG(1), &u, MSNP_ERR_NOT_ON_LIST) != 0) return;
    store_rc rc = store_list_rename(s->store, c->uid, u.id, name, &ver);
    if (rc == STORE_NOTFOUND) {
        conn_err(c, MSNP_ERR_NOT_ON_LIST, trid_of(cmd));
        return;
    }
    if (rc != STORE_OK) {
        store_failed(c, cmd, "rea");
        return;
    }
    u32str(ver, vs);
    conn_cmd(c, "REA", trid_of(cmd), vs, u.email, name, NULL);
}

static void ns_blp(conn *c, const msnp_cmd *cmd) {
    int allow;
    if (cmd->argc >= 2 && msnp_str_eq(ARG(1), "AL")) allow = 1;
    else if (cmd->argc >= 2 && msnp_str_eq(ARG(1), "BL")) allow = 0;
    else {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    if (allow == c->blp_allow) {
        conn_err(c, MSNP_ERR_ALREADY_IN_MODE, trid_of(cmd));
        return;
    }
    uint32_t ver;
    if (store_set_blp(c->srv->store, c->uid, allow, &ver) != STORE_OK) {
        store_failed(c, cmd, "blp");
        return;
    }
    int old = c->blp_allow;
    c->blp_allow = allow;
    char vs[16];
    u32str(ver, vs);
    conn_cmd(c, "BLP", trid_of(cmd), vs, allow ? "AL" : "BL", NULL);
    presence_reevaluate_all(c->srv, c, old);
}

static void ns_gtc(conn *c, const msnp_cmd *cmd) {
    int prompt;
    if (cmd->argc >= 2 && msnp_str_eq(ARG(1), "A")) prompt = 1;
    else if (cmd->argc >= 2 && msnp_str_eq(ARG(1), "N")) prompt = 0;
    else {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    store_user u;
    if (store_user_get_id(c->srv->store, c->uid, &u) != STORE_OK) {
        store_failed(c, cmd, "gtc");
        return;
    }
    memset(u.password, 0, sizeof u.password);
    if (u.gtc_prompt == prompt) {
        conn_err(c, MSNP_ERR_ALREADY_IN_MODE, trid_of(cmd));
        return;
    }
    uint32_t ver;
    if (store_set_gtc(c->srv->store, c->uid, prompt, &ver) != STORE_OK) {
        store_failed(c, cmd, "gtc");
        return;
    }
    char vs[16];
    u32str(ver, vs);
    conn_cmd(c, "GTC", trid_of(cmd), vs, prompt ? "A" : "N", NULL);
}

/* ---- groups (MSNP7) ---- */

static void ns_adg(conn *c, const msnp_cmd *cmd) {
    if (cmd->argc < 2) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    if (ARG(1).n > STORE_MAX_GROUP_NAME) {
        conn_err(c, MSNP_ERR_GROUP_NAME_TOO_LONG, trid_of(cmd));
        return;
    }
    if (!name_ok(ARG(1), STORE_MAX_GROUP_NAME)) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    char name[STORE_MAX_GROUP_NAME + 1], vs[16], gs[24];
    str_copy(ARG(1), name, sizeof name);
    int gid;
    uint32_t ver;
    store_rc rc = store_group_add(c->srv->store, c->uid, name, c->srv->cfg.max_groups, &gid, &ver);
    if (rc == STORE_FULL) {
        conn_err(c, MSNP_ERR_TOO_MANY_GROUPS, trid_of(cmd));
        return;
    }
    if (rc != STORE_OK) {
        store_failed(c, cmd, "adg");
        return;
    }
    u32str(ver, vs);
    snprintf(gs, sizeof gs, "%d", gid);
    conn_cmd(c, "ADG", trid_of(cmd), vs, name, gs, "0", NULL);
}

/* The FL contacts whose one group is gid: RMG takes them off the list. */
typedef struct only_in_group {
    int gid;
    int64_t *ids;
    char (*emails)[MSNP_MAX_EMAIL + 1];
    size_t n, cap;
    int failed;
} only_in_group;

static int collect_only_in(const store_entry *e, void *ctx) {
    only_in_group *g = ctx;
    if (e->ngroups != 1 || e->groups[0] != g->gid) return 0;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        int64_t *ids = realloc(g->ids, cap * sizeof *ids);
        if (ids) g->ids = ids;
        char(*emails)[MSNP_MAX_EMAIL + 1] = ids ? realloc(g->emails, cap * sizeof *emails) : NULL;
        if (!emails) {
            g->failed = 1;
            return 1;
        }
        g->emails = emails;
        g->cap = cap;
    }
    g->ids[g->n] = e->contact;
    snprintf(g->emails[g->n], sizeof g->emails[0], "%s", e->email);
    g->n++;
    return 0;
}

/* RMG: a contact whose one group this was leaves the FL, as with `REM FL
 * email gid` of its last group (its RL loses the owner, who is told `REM 0
 * RL` if online): an MSNP7 client drops such contacts itself, and keeping
 * them in group 0 would leave its list and the server's apart at the same
 * version. The group goes last; the reply carries the final version. */
static void ns_rmg(conn *c, const msnp_cmd *cmd) {
    msnd_server *s = c->srv;
    long gid;
    if (cmd->argc < 2 || parse_gid(ARG(1), &gid) != 0) {
        conn_err(c, MSNP_ERR_INVALID_GROUP, trid_of(cmd));
        return;
    }
    if (gid == 0) {
        conn_err(c, MSNP_ERR_CANNOT_REMOVE_GROUP_ZERO, trid_of(cmd));
        return;
    }
    int exists = store_group_exists(s->store, c->uid, (int)gid);
    if (exists == 0) {
        conn_err(c, MSNP_ERR_INVALID_GROUP, trid_of(cmd));
        return;
    }
    only_in_group g = {.gid = (int)gid};
    if (exists < 0 || store_list_each(s->store, c->uid, MSNP_LIST_FL, collect_only_in, &g) != STORE_OK || g.failed) {
        free(g.ids);
        free(g.emails);
        store_failed(c, cmd, "rmg");
        return;
    }
    for (size_t i = 0; i < g.n; i++) {
        store_list_op op = {.owner = c->uid, .list = MSNP_LIST_FL, .contact = g.ids[i], .gid = (int)gid};
        store_list_result r;
        store_rc lrc = store_list_remove(s->store, &op, &r);
        if (lrc == STORE_OK && r.entry_changed) presence_tell_rl(s, c, g.emails[i], 0, r.contact_ver);
        else if (lrc != STORE_OK && lrc != STORE_NOTFOUND && lrc != STORE_NOT_IN_GROUP) {
            free(g.ids);
            free(g.emails);
            store_failed(c, cmd, "rmg");
            return;
        }
    }
    free(g.ids);
    free(g.emails);
    uint32_t ver;
    store_rc rc = store_group_del(s->store, c->uid, (int)gid, &ver);
    if (rc == STORE_NOTFOUND) {
        conn_err(c, MSNP_ERR_INVALID_GROUP, trid_of(cmd));
        return;
    }
    if (rc != STORE_OK) {
        store_failed(c, cmd, "rmg");
        return;
    }
    char vs[16], gs[24];
    u32str(ver, vs);
    snprintf(gs, sizeof gs, "%ld", gid);
    conn_cmd(c, "RMG", trid_of(cmd), vs, gs, NULL);
}

static void ns_reg(conn *c, const msnp_cmd *cmd) {
    long gid;
    if (cmd->argc < 3 || parse_gid(ARG(1), &gid) != 0) {
        conn_err(c, MSNP_ERR_INVALID_GROUP, trid_of(cmd));
        return;
    }
    if (ARG(2).n > STORE_MAX_GROUP_NAME) {
        conn_err(c, MSNP_ERR_GROUP_NAME_TOO_LONG, trid_of(cmd));
        return;
    }
    if (!name_ok(ARG(2), STORE_MAX_GROUP_NAME)) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    char name[STORE_MAX_GROUP_NAME + 1], vs[16], gs[24];
    str_copy(ARG(2), name, sizeof name);
    uint32_t ver;
    store_rc rc = store_group_rename(c->srv->store, c->uid, (int)gid, name, &ver);
    if (rc == STORE_NOTFOUND) {
        conn_err(c, MSNP_ERR_INVALID_GROUP, trid_of(cmd));
        return;
    }
    if (rc != STORE_OK) {
        store_failed(c, cmd, "reg");
        return;
    }
    u32str(ver, vs);
    snprintf(gs, sizeof gs, "%ld", gid);
    conn_cmd(c, "REG", trid_of(cmd), vs, gs, name, "0", NULL);
}

/* ---- phone properties (MSNP5+) ---- */

static void ns_prp(conn *c, const msnp_cmd *cmd) {
    static const char *const keys[5] = {"PHH", "PHW", "PHM", "MOB", "MBE"};
    int k = -1;
    for (int i = 0; cmd->argc >= 2 && i < 5; i++)
        if (msnp_str_eq(ARG(1), keys[i])) k = i;
    if (k < 0) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    char value[100] = "";
    if (cmd->argc >= 3) {
        if (ARG(2).n > 95 || !name_ok(ARG(2), 95) ||
            (k >= 3 && !msnp_str_eq(ARG(2), "Y") && !msnp_str_eq(ARG(2), "N"))) {
            conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
            return;
        }
        str_copy(ARG(2), value, sizeof value);
    }
    uint32_t ver;
    if (store_prop_set(c->srv->store, c->uid, keys[k], value[0] ? value : NULL, &ver) != STORE_OK) {
        store_failed(c, cmd, "prp");
        return;
    }
    char vs[16];
    u32str(ver, vs);
    conn_cmd(c, "PRP", trid_of(cmd), vs, keys[k], value[0] ? value : NULL, NULL);
}

/* ---- switchboard referral and the rest ---- */

static void ns_xfr(conn *c, const msnp_cmd *cmd) {
    if (cmd->argc < 2 || !msnp_str_eq(ARG(1), "SB")) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    if (c->status == MSNP_STATUS_HDN) {
        conn_err(c, MSNP_ERR_NOT_ALLOWED_WHEN_OFFLINE, trid_of(cmd));
        return;
    }
    char cookie[SB_COOKIE_MAX], addr[CFG_ADDR];
    if (server_sb_for_xfr(c->srv, c, addr, sizeof addr) != 0) {
        /* Switchboards run in their own processes and none is linked. */
        conn_err(c, MSNP_ERR_SERVER_UNAVAILABLE, trid_of(cmd));
        return;
    }
    /* Each user may hold a few unused cookies: the table is shared. */
    long held = sbreg_xfr_outstanding(c->srv->sbreg, c->email);
    if (c->srv->cfg.max_xfr_cookies_per_user > 0 && held >= c->srv->cfg.max_xfr_cookies_per_user) {
        LOGW("switchboard cookie quota reached", "conn=%llu peer=%s user=%s outstanding=%ld", (unsigned long long)c->id,
             c->peer, c->email, held);
        conn_err(c, MSNP_ERR_TOO_MANY_SESSIONS, trid_of(cmd));
        return;
    }
    uint64_t expires = server_now_ms() + (uint64_t)c->srv->cfg.cookie_lifetime * 1000u;
    if (sbreg_issue_xfr(c->srv->sbreg, c->email, c->id, expires, cookie, sizeof cookie) != 0) {
        conn_err(c, MSNP_ERR_SERVER_BUSY, trid_of(cmd));
        return;
    }
    conn_cmd(c, "XFR", trid_of(cmd), "SB", addr, "CKI", cookie, NULL);
}

static void ns_url(conn *c, const msnp_cmd *cmd) {
    if (cmd->argc < 2) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    const char *where = msnp_str_eq(ARG(1), "INBOX") ? "/cgi-bin/HoTMaiL" : "/";
    const char *login = "http://127.0.0.1/msnkit/login";
    if (c->version >= 3) conn_cmd(c, "URL", trid_of(cmd), where, login, "2", NULL);
    else conn_cmd(c, "URL", trid_of(cmd), where, login, NULL);
}

static void ns_ims(conn *c, const msnp_cmd *cmd) {
    if (cmd->argc < 2 || (!msnp_str_eq(ARG(1), "ON") && !msnp_str_eq(ARG(1), "OFF"))) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    conn_cmd(c, "IMS", trid_of(cmd), "0", msnp_str_eq(ARG(1), "ON") ? "ON" : "OFF", NULL);
}

static void ns_disabled(conn *c, const msnp_cmd *cmd) { conn_err(c, MSNP_ERR_COMMAND_DISABLED, trid_of(cmd)); }

static void ns_msg(conn *c, const msnp_cmd *cmd) {
    (void)cmd;
    /* Clients never send MSG to the NS; the real service hung up. */
    conn_close(c, "MSG sent to the notification server");
}

static int ns_logged_in(const conn *c) { return c->state == NS_AUTH; }

/* The version is fixed once the login has begun (USR MD5 I answered): the
 * session's replies, its commands and the challenge follow it, so a VER
 * then is not expected (715), and the version and the session stay. */
static void ns_ver(conn *c, const msnp_cmd *cmd) {
    if (c->state != NS_NEW) {
        conn_err(c, MSNP_ERR_NOT_EXPECTED, trid_of(cmd));
        return;
    }
    login_ver(c, cmd);
}

/* MSG closes whether or not the client has logged in. */
static const role_cmd ns_cmds[] = {
    {MSNP_VER, ns_ver, 0, 0},      {MSNP_INF, login_inf, 0, 0},   {MSNP_CVR, login_cvr, 0, 0},
    {MSNP_USR, ns_usr, 0, 0},      {MSNP_SYN, ns_syn, 1, 0},      {MSNP_CHG, ns_chg, 1, 0},
    {MSNP_ADD, ns_add, 1, 0},      {MSNP_REM, ns_rem, 1, 0},      {MSNP_REA, ns_rea, 1, 0},
    {MSNP_BLP, ns_blp, 1, 0},      {MSNP_GTC, ns_gtc, 1, 0},      {MSNP_LST, ns_lst, 1, 0},
    {MSNP_XFR, ns_xfr, 1, 0},      {MSNP_URL, ns_url, 1, 0},      {MSNP_QRY, ns_qry, 1, 6},
    {MSNP_PRP, ns_prp, 1, 5},      {MSNP_ADG, ns_adg, 1, 7},      {MSNP_RMG, ns_rmg, 1, 7},
    {MSNP_REG, ns_reg, 1, 7},      {MSNP_IMS, ns_ims, 1, 3},      {MSNP_FND, ns_disabled, 1, 0},
    {MSNP_SND, ns_disabled, 1, 0}, {MSNP_SDC, ns_disabled, 1, 5}, {MSNP_MSG, ns_msg, 0, 0},
};

const role ns_role = {ns_cmds, sizeof ns_cmds / sizeof ns_cmds[0], 1, ns_logged_in};
