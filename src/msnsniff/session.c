/* session.c - MSNP session tracking. */
#include "session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <msnp/msnp.h>

#include "detect.h"
#include "dns.h"
#include "ftp.h"
#include "hash64.h"
#include "invitation.h"
#include "predict.h"
#include "strcopy.h"

#define MAX_PARTS 16
#define USER_MAX 130 /* a passport name is at most 129 bytes */
/* a switchboard session id: digits at Microsoft's servers, a UUID ({8-4-4-4-12}, 38 bytes) at
 * some others; longer ones are refused (oversized_field), never cut */
#define SESSID_MAX 128
#define PROBE_LIMIT 4096u    /* bytes searched for a first command mid-stream */
#define PARSE_ERRORS_MAX 64u /* per flow; then the flow is given up on */

/* A message seen leaving its sender's connection, by a fingerprint: a
 * copy another captured connection receives is its echo only if it
 * matches one (a sender's connection in the session says nothing of
 * whether this message's sending was captured: its segment may be lost). */
typedef struct sn_sent_print {
    uint64_t payload; /* hash of the MSG payload */
    uint64_t sender;  /* hash of the sender's lower-case address; 0: unknown */
    unsigned copies;  /* received copies still to come on captured connections */
} sn_sent_print;

/* the latest messages sent in a session: a received copy comes right
 * after its sending, so a few are enough, and the ring bounds the cost */
#define SENT_PRINTS 16

/* One switchboard session as the server knows it (address + session id),
 * which each participant's own connection joins: the same message is then
 * seen leaving the sender and reaching the others. */
typedef struct sn_conv {
    uint64_t id;
    unsigned refs;
    unsigned next_print;
    sn_sent_print prints[SENT_PRINTS];
} sn_conv;

/* Where the client's switchboard login (USR email cookie / ANS email
 * cookie sessid) stands: only the server's answer (USR t OK, IRO, ANS t
 * OK, or any later command of the session) says it was admitted; an
 * error answer (911 and close) says it was not. */
enum { SB_LOGIN_NONE, SB_LOGIN_WAIT, SB_LOGIN_OPEN, SB_LOGIN_REFUSED };

/* MSGs sent whose answer (ACK, NAK, an error) may still come: few, since
 * the server answers in order and soon; beyond it the oldest is
 * forgotten (an error for it then goes unreported). */
#define SENT_MAX 8

typedef struct sn_sb {
    struct sn_conv *conv;
    uint64_t id;
    uint64_t ns_flow;
    size_t nparts;
    uint8_t login;    /* SB_LOGIN_* */
    uint8_t answer;   /* the login is an ANS (answering a call), not a USR */
    uint8_t inferred; /* admitted for what followed, the server's answer unseen */
    uint8_t login_trid_ok;
    uint32_t login_trid; /* the USR/ANS's TrID, which the server's answer repeats */
    char *cookie;        /* the login's cookie, for the events its answer brings */
    size_t cookie_n;
    /* the referral the login used (its cookie is forgotten at the open): a
     * refusal coming after an inferred open still names it */
    uint8_t referral; /* 0: none known, 1: XFR, 2: RNG */
    uint8_t hit;      /* the open hit the referral's expectation */
    uint8_t nsent;
    uint8_t server_n;             /* the server's endpoint made (sb_server): its length */
    uint8_t sent_kind[SENT_MAX];  /* 1: text, 2: typing, 3: other, 4: invitation */
    uint32_t sent_trid[SENT_MAX]; /* oldest first */
    uint64_t sent_inv[SENT_MAX];  /* an invitation message's invitation */
    /* The text last, none of it read before it is written: a new session
     * (sb_of) zeroes the fields above and the session id's first byte, not
     * the 2.4 KB below. */
    char sessid[SESSID_MAX];
    /* "server|sessid", set while conv is; its first server_n bytes are
     * the server's endpoint once made (sb_server), before and after */
    char conv_key[64 + 1 + SESSID_MAX];
    char parts[MAX_PARTS][USER_MAX]; /* other participants: nparts of them */
} sn_sb;

/* A gap seen before the flow was classified: reported only if the flow
 * turns out to be MSN (a download whose first packets were lost is not
 * ours, and its holes are nobody's business). */
#define EARLY_GAPS 4
typedef struct sn_early_gap {
    uint64_t frame, now, offset, lost;
    size_t pending;
    int dir;
    sn_gap_why why;
} sn_early_gap;

typedef struct sn_conn {
    uint8_t kind;   /* SN_APP_MSNP / SN_APP_MSNFTP */
    uint8_t nearly; /* early gaps held (EARLY_GAPS at most) */
    uint8_t role;   /* sn_role */
    uint8_t client_dir;
    uint8_t parsers_ready;
    uint8_t resync[2];
    uint8_t usr_auth; /* client sent USR MD5 ...: an NS/DS login */
    uint8_t usr_sb;   /* client sent USR email cookie / ANS: a switchboard */
    uint8_t logged_in;
    uint8_t oversized_said; /* an oversized_field anomaly was reported */
    uint8_t memcap_said;    /* the switchboard session did not fit the memcap: said */
    uint32_t parse_errors;
    /* a gap came before the flow was classified: its first line is not
     * the connection's first, so look for a command at each line's start
     * as on a flow picked up mid-stream */
    uint8_t search[2];
    size_t probed[2];
    /* bytes to pass over before parsing again: the rest of a payload whose
     * length was declared (cut by a gap, or above the parser's limit) */
    uint64_t skip[2];
    sn_sb *sb;
    sn_ftp *ftp;
    struct sn_online *online; /* this connection's entry in the online users */
    /* None of what follows is read before it is written (the parsers are
     * set up before parsers_ready, early gaps counted by nearly), but the
     * strings' first bytes: a new connection (conn_of) zeroes the fields
     * above and those. */
    msnp_parser parser[2];
    sn_early_gap early[EARLY_GAPS];
    char user[USER_MAX];
    char name[USER_MAX];
    char version[12];
} sn_conn;

/* A user logged in on at least one notification connection still open. */
typedef struct sn_online {
    unsigned refs;
    size_t n;
    sn_addr client; /* client end of the latest notification connection */
    char user[];
} sn_online;

const char *sn_role_name(sn_role r) {
    switch (r) {
    case SN_ROLE_DS: return "ds";
    case SN_ROLE_NS: return "ns";
    case SN_ROLE_SB: return "sb";
    case SN_ROLE_MSNFTP: return "msnftp";
    default: return NULL;
    }
}

/* The online users are keyed by the lower-case address: one user, in
 * whatever case a connection wrote it (servers compare addresses so). 0
 * for an address longer than a passport name (none is kept). Eight bytes
 * at a time: every announced address looks its announcer up. */
static size_t user_key(char key[USER_MAX], const char *user) {
    size_t n = strnlen(user, USER_MAX);
    if (n == USER_MAX) return 0;
    uint64_t w;
    if (n < 8) {
        for (size_t i = 0; i < n; i++)
            key[i] = user[i] >= 'A' && user[i] <= 'Z' ? (char)(user[i] - 'A' + 'a') : user[i];
    } else {
        for (size_t i = 0; i + 8 <= n; i += 8) {
            memcpy(&w, user + i, 8);
            w = sn_lower8(w);
            memcpy(key + i, &w, 8);
        }
        memcpy(&w, user + n - 8, 8); /* the last eight bytes, some again */
        w = sn_lower8(w);
        memcpy(key + n - 8, &w, 8);
    }
    key[n] = '\0';
    return n;
}

const sn_addr *sn_session_user_client(sn_ctx *c, const char *user) {
    char key[USER_MAX];
    size_t n = user ? user_key(key, user) : 0;
    const sn_online *on = n ? sn_strmap_get(&c->users, key, n) : NULL;
    return on ? &on->client : NULL;
}

sn_role sn_session_role(const sn_flow *f) {
    const sn_conn *k = f->conn;
    return k ? (sn_role)k->role : SN_ROLE_UNKNOWN;
}

const char *sn_session_user(const sn_flow *f) {
    const sn_conn *k = f->conn;
    return k && k->user[0] ? k->user : NULL;
}

static void copy_str(char *dst, size_t cap, msnp_str s) { msnp_str_copy(s, dst, cap); }

/* An e-mail address (a passport name: at most 129 bytes), whole or not at all. */
static int copy_user(sn_ctx *c, const sn_flow *f, sn_conn *k, char dst[USER_MAX], msnp_str s) {
    dst[0] = '\0';
    if (!sn_field_fits(c, f->id, &k->oversized_said, s.n, USER_MAX, "an e-mail address")) return 0;
    copy_str(dst, USER_MAX, s);
    return 1;
}

/* A switchboard session id (numbers, or a UUID with some servers). */
static void take_sessid(sn_ctx *c, const sn_flow *f, sn_conn *k, msnp_str s) {
    if (!k->sb || !sn_field_fits(c, f->id, &k->oversized_said, s.n, SESSID_MAX, "a switchboard session id")) return;
    copy_str(k->sb->sessid, SESSID_MAX, s);
}

static size_t ep_str(const sn_flow *f, int side, char *buf, size_t cap) {
    return sn_endpoint_str(&f->addr[side], f->port[side], buf, cap);
}

static sn_ev *ev_flow(sn_ctx *c, const char *type, const sn_flow *f) {
    sn_ev *ev = sn_ev_new(&c->ev, type, c->now);
    sn_ev_set_int(ev, "flow", f->id);
    return ev;
}

static void anomaly(sn_ctx *c, sn_anomaly kind, const sn_flow *f, const char *detail, int dir, uint64_t offset) {
    sn_anomaly_info a = sn_anomaly_make(kind, f ? f->id : 0, detail);
    if (dir >= 0) {
        const sn_conn *k = f ? f->conn : NULL;
        a.direction = k && dir == k->client_dir ? 0 : 1;
        a.has_offset = 1;
        a.offset = offset;
    }
    sn_anomaly_report(c, &a);
}

static void init_parsers(sn_conn *k) {
    msnp_parser_init(&k->parser[k->client_dir], MSNP_FROM_CLIENT, NULL);
    msnp_parser_init(&k->parser[!k->client_dir], MSNP_FROM_SERVER, NULL);
    k->parsers_ready = 1;
}

static sn_conn *conn_of(sn_ctx *c, sn_flow *f) {
    if (!f->conn) {
        /* per-connection state is budgeted like the reassembly buffers;
         * a connection it cannot hold is not analysed, and that is said
         * (once: the flow is given up) */
        sn_conn *k = sn_mem_alloc(&c->mem, sizeof *k);
        if (!k) {
            sn_anomaly_info a = sn_anomaly_make(SN_AN_MEMCAP, f->id,
                                                "memcap reached: this connection's state does not fit; not analysed");
            sn_anomaly_report(c, &a);
            return NULL;
        }
        memset(k, 0, offsetof(sn_conn, parser));
        k->user[0] = k->name[0] = k->version[0] = '\0';
        f->conn = k;
    }
    return f->conn;
}

static void set_role(sn_ctx *c, sn_flow *f, sn_conn *k, sn_role r) {
    if (k->role == r) return;
    if (k->role == SN_ROLE_UNKNOWN || (k->role == SN_ROLE_NS && r == SN_ROLE_DS)) {
        if (k->role == SN_ROLE_NS && c->st.role_ns) c->st.role_ns--;
        k->role = (uint8_t)r;
        if (r == SN_ROLE_DS) c->st.role_ds++;
        else if (r == SN_ROLE_NS) c->st.role_ns++;
        else if (r == SN_ROLE_SB) c->st.role_sb++;
    }
}

/* ---- switchboard sessions ---------------------------------------------- */

static sn_sb *sb_of(sn_ctx *c, sn_flow *f, sn_conn *k) {
    if (!k->sb) {
        k->sb = sn_mem_alloc(&c->mem, sizeof *k->sb);
        if (k->sb) {
            memset(k->sb, 0, offsetof(sn_sb, sessid));
            k->sb->sessid[0] = '\0';
            k->sb->id = ++c->next_session;
            c->st.sessions++;
        } else if (!k->memcap_said) {
            /* its login, members and messages go unreported: said once */
            k->memcap_said = 1;
            sn_anomaly_info a = sn_anomaly_make(
                SN_AN_MEMCAP, f->id, "memcap reached: this switchboard session's state does not fit; not followed");
            sn_anomaly_report(c, &a);
        }
    }
    set_role(c, f, k, SN_ROLE_SB);
    return k->sb;
}

/* The session's server endpoint as text (*n bytes, not NUL-terminated),
 * made the first time it is asked for, where the conversation's key
 * begins with it: the key and the login's events name it. */
static const char *sb_server(const sn_flow *f, const sn_conn *k, size_t *n) {
    sn_sb *sb = k->sb;
    if (!sb->server_n) sb->server_n = (uint8_t)ep_str(f, !k->client_dir, sb->conv_key, 64);
    *n = sb->server_n;
    return sb->conv_key;
}

/* Join the conversation of this switchboard session once both its server
 * address and session id are known (CAL ... RINGING sessid, or ANS). */
static void sb_link(sn_ctx *c, const sn_flow *f, sn_conn *k) {
    sn_sb *sb = k->sb;
    /* the user need not be known: a connection picked up after its login
     * still shares the session's messages, and so their echoes */
    if (!sb || sb->conv || !sb->sessid[0]) return;
    size_t sn;
    sb_server(f, k, &sn); /* the key's first sn bytes */
    /* "server|sessid": both always fit */
    _Static_assert(64 + sizeof sb->sessid <= sizeof sb->conv_key, "conversation key too small");
    size_t idn = strlen(sb->sessid), kn = sn + 1 + idn;
    sb->conv_key[sn] = '|';
    memcpy(sb->conv_key + sn + 1, sb->sessid, idn + 1);
    /* one look-up finds the conversation or makes its entry */
    void **slot = sn_strmap_ref(&c->conversations, sb->conv_key, kn, 1);
    if (!slot) return;
    sn_conv *cv = *slot;
    if (!cv) {
        cv = sn_mem_alloc(&c->mem, sizeof *cv);
        if (!cv) { /* the entry made for it goes: no conversation is kept without one */
            sn_strmap_del(&c->conversations, sb->conv_key, kn);
            return;
        }
        memset(cv, 0, sizeof *cv);
        cv->id = ++c->next_conversation;
        *slot = cv;
    }
    cv->refs++;
    sb->conv = cv;
}

static void sb_unlink(sn_ctx *c, sn_sb *sb) {
    sn_conv *cv = sb->conv;
    if (!cv) return;
    sb->conv = NULL;
    if (--cv->refs == 0) {
        sn_strmap_del(&c->conversations, sb->conv_key, strlen(sb->conv_key));
        sn_mem_free(&c->mem, cv, sizeof *cv);
    }
}

/* An address hashed in lower case (servers compare addresses so: one
 * user typed Alice@Example.COM, the others see alice@example.com), eight
 * bytes at a time: one is hashed for every message. 0: unknown. */
static uint64_t sender_print(const char *sender, size_t n) {
    return n ? sn_hash64_lower(14695981039346656037u, sender, n) | 1u : 0;
}

/* A message leaves its sender: each other captured connection in the
 * session will get a copy, its echo. */
static void sent_print_add(sn_conv *cv, const char *sender, size_t sender_n, msnp_str payload) {
    if (!cv) return;
    sn_sent_print *p = &cv->prints[cv->next_print];
    cv->next_print = (cv->next_print + 1) % SENT_PRINTS;
    p->payload = sn_hash64(0, payload.p, payload.n);
    p->sender = sender_print(sender, sender_n);
    /* at least one: the order two connections' packets are seen in may
     * not be the order the server saw them */
    p->copies = cv->refs > 2 ? cv->refs - 1 : 1;
}

/* A copy received: an echo only if its sending was seen (the sender's
 * own address unknown there, the payload alone says). */
static int sent_print_take(sn_conv *cv, const char *sender, size_t sender_n, msnp_str payload) {
    if (!cv) return 0;
    uint64_t ph = 0, sh = 0;
    int hashed = 0;
    for (unsigned i = 0; i < SENT_PRINTS; i++) {
        sn_sent_print *p = &cv->prints[(cv->next_print + SENT_PRINTS - 1 - i) % SENT_PRINTS];
        if (!p->copies) continue;
        if (!hashed) {
            ph = sn_hash64(0, payload.p, payload.n);
            sh = sender_print(sender, sender_n);
            hashed = 1;
        }
        if (p->payload == ph && (!p->sender || p->sender == sh)) {
            p->copies--;
            return 1;
        }
    }
    return 0;
}

/* strcasecmp(a, b) == 0, without the call when the first bytes are ASCII
 * and already tell two users apart (not the same letter in two cases), as
 * they do for most pairs of users */
static inline int same_user(const char *a, const char *b) {
    unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
    if (x != y && (x | y) < 0x80 && ((x ^ y) != 0x20 || (unsigned)((x | 0x20) - 'a') > 25u)) return 0;
    return strcasecmp(a, b) == 0;
}

static void sb_event(sn_ctx *c, const sn_flow *f, const sn_conn *k, const char *action, const char *user,
                     const char *name) {
    sn_ev *ev = ev_flow(c, "switchboard", f);
    sn_ev_set_str(ev, "action", action);
    if (k->sb) sn_ev_set_int(ev, "session", k->sb->id);
    sn_ev_set_str(ev, "user", user);
    if (name) sn_ev_set_str(ev, "name", name);
    if (k->user[0] && !same_user(user, k->user)) sn_ev_set_str(ev, "observer", k->user);
    sn_ev_emit(&c->ev, ev);
}

/* Where the session knows user e (compared without regard to case), e
 * rewritten to that spelling: the index of its participant, KNOWN_SELF
 * for the connection's own user, KNOWN_NOT when it does not. */
#define KNOWN_SELF (-1)
#define KNOWN_NOT (-2)
static int known_as(const sn_conn *k, char e[USER_MAX]) {
    if (same_user(e, k->user)) {
        memcpy(e, k->user, USER_MAX);
        return KNOWN_SELF;
    }
    for (size_t i = 0; k->sb && i < k->sb->nparts; i++)
        if (same_user(k->sb->parts[i], e)) {
            memcpy(e, k->sb->parts[i], USER_MAX);
            return (int)i;
        }
    return KNOWN_NOT;
}

static void part_add(sn_ctx *c, const sn_flow *f, sn_conn *k, msnp_str email, msnp_str name, const char *why) {
    if (!k->sb) return;
    char e[USER_MAX], n[USER_MAX * 3];
    if (!copy_user(c, f, k, e, email)) return;
    if (msnp_url_decode(name, n, sizeof n) < 0) copy_str(n, sizeof n, name);
    /* the connection's own user is no member of its own list: some
     * servers (Escargot) send the answerer's JOI before the IRO lines,
     * and the session's open event already named the user */
    if (known_as(k, e) != KNOWN_NOT) return;
    if (k->sb->nparts < MAX_PARTS) memcpy(k->sb->parts[k->sb->nparts++], e, sizeof e);
    c->st.joins++;
    sn_ev *ev = ev_flow(c, "switchboard", f);
    sn_ev_set_str(ev, "action", "join");
    sn_ev_set_int(ev, "session", k->sb->id);
    sn_ev_set_str(ev, "user", e);
    sn_ev_set_str(ev, "name", n);
    sn_ev_set_str(ev, "via", why);
    if (k->user[0]) sn_ev_set_str(ev, "observer", k->user);
    sn_ev_emit(&c->ev, ev);
}

static void part_remove(sn_ctx *c, const sn_flow *f, sn_conn *k, msnp_str email) {
    if (!k->sb) return;
    char e[USER_MAX];
    if (!copy_user(c, f, k, e, email)) return;
    /* one form per user: the one the session already knows it by */
    int at = known_as(k, e);
    if (at >= 0) {
        memmove(k->sb->parts[at], k->sb->parts[at + 1], (k->sb->nparts - (size_t)at - 1) * USER_MAX);
        k->sb->nparts--;
    }
    sb_event(c, f, k, "leave", e, NULL);
}

/* ---- switchboard referrals (XFR SB, RNG) -------------------------------- */

/* A referral's record lives from its XFR/RNG to its login or its
 * expectation's end, one per switchboard session: released ones are kept
 * for the next (SBREF_SPARE_MAX of them, so the spares stay bounded)
 * instead of a malloc and a free each. */
#define SBREF_SPARE_MAX 32u

sn_sbref *sn_sbref_new(sn_ctx *c) {
    sn_sbref *r = c->sbref_spare;
    if (!r) return malloc(sizeof *r);
    c->sbref_spare = r->next_spare;
    c->sbref_nspare--;
    return r;
}

void sn_sbref_release(sn_ctx *c, sn_sbref *r) {
    if (!r) return;
    if (c->sbref_nspare >= SBREF_SPARE_MAX) {
        free(r);
        return;
    }
    r->next_spare = c->sbref_spare;
    c->sbref_spare = r;
    c->sbref_nspare++;
}

void sn_sbref_spares_free(sn_ctx *c) {
    while (c->sbref_spare) { /* bounded: SBREF_SPARE_MAX */
        sn_sbref *r = c->sbref_spare;
        c->sbref_spare = r->next_spare;
        free(r);
    }
    c->sbref_nspare = 0;
}

/* A referral's host name is resolved from the DNS answers seen so far. */
static sn_expect *expect_referral(sn_ctx *c, sn_expect_proto *p) {
    if (!p->addr.family) {
        const sn_addr *a = sn_dns_lookup(c, p->host, p->host_len);
        if (a) p->addr = *a;
    }
    return sn_expect_add(&c->expect, p, c->now, NULL);
}

static void learn_referral(sn_ctx *c, sn_flow *f, sn_conn *k, const msnp_cmd *cmd, int ring) {
    /* XFR trid SB addr CKI cookie | RNG sessid addr CKI cookie caller name */
    msnp_str addr = cmd->argv[ring ? 1 : 2];
    msnp_str cookie = cmd->argv[ring ? 3 : 4];
    if (!ring && !msnp_str_eq(cmd->argv[1], "SB")) return;
    /* bounded: a referral leaves with its login or its expectation, and
     * beyond SN_SBREFS_MAX waiting ones new referrals are not kept (their
     * switchboards open with ns_flow null). Not zeroed, every field set
     * below. */
    sn_sbref *ref =
        c->cookies.count < SN_SBREFS_MAX || sn_strmap_get(&c->cookies, cookie.p, cookie.n) ? sn_sbref_new(c) : NULL;
    if (!ref) {
        c->st.sbrefs_dropped++;
    } else {
        ref->ns_flow = f->id;
        ref->learned = c->now;
        ref->expect_id = 0;
        ref->ring = ring;
        memcpy(ref->user, k->user, sizeof ref->user);
        copy_str(ref->server, sizeof ref->server, addr);
        ref->caller[0] = '\0';
        if (ring) copy_user(c, f, k, ref->caller, cmd->argv[4]);
    }
    sn_ev *ev = ev_flow(c, "switchboard", f);
    sn_ev_set_str(ev, "action", ring ? "ring" : "referral");
    sn_ev_set_str(ev, "user", k->user[0] ? k->user : NULL);
    sn_ev_set_strn(ev, "server", addr.p, addr.n);
    sn_ev_set_strn(ev, "cookie", cookie.p, cookie.n);
    if (ring) {
        sn_ev_set_strn(ev, "sessid", cmd->argv[0].p, cmd->argv[0].n);
        sn_ev_set_strn(ev, "caller", cmd->argv[4].p, cmd->argv[4].n);
    }
    sn_ev_emit(&c->ev, ev);
    /* after the referral's record: the prediction's follows it */
    sn_expect_proto proto;
    sn_expect *e = NULL;
    if (sn_predict_referral(cmd, k->user, f->id, &proto)) {
        proto.receiver = f->addr[k->client_dir]; /* a server's line: it reaches the client */
        e = expect_referral(c, &proto);
    }
    if (e && ref) ref->expect_id = e->id;
    if (ref) sn_sbref_release(c, sn_strmap_put(&c->cookies, cookie.p, cookie.n, ref));
}

/* The login's cookie, kept from the client's USR/ANS: the server answers
 * later, and a refusal may even come after the login was taken as
 * admitted for what the client did next. */
static msnp_str sb_cookie(const sn_sb *sb) { return msnp_str_make(sb->cookie ? sb->cookie : "", sb->cookie_n); }

/* The fields of an open or refused event that tell the login. */
static void login_fields(const sn_flow *f, const sn_conn *k, sn_ev *ev, msnp_str cookie) {
    const sn_sb *sb = k->sb;
    sn_ev_set_int(ev, "session", sb->id);
    sn_ev_set_str(ev, "user", k->user[0] ? k->user : NULL);
    sn_ev_set_str(ev, "mode", sb->answer ? "answer" : "call");
    sn_ev_set_strn(ev, "cookie", cookie.p, cookie.n);
    if (sb->answer && sb->sessid[0]) sn_ev_set_str(ev, "sessid", sb->sessid);
    size_t sn;
    const char *server = sb_server(f, k, &sn);
    sn_ev_set_strn(ev, "server", server, sn);
    if (sb->referral) {
        sn_ev_set_int(ev, "ns_flow", sb->ns_flow);
        sn_ev_set_str(ev, "referral", sb->referral == 2 ? "RNG" : "XFR");
    } else {
        sn_ev_set_null(ev, "ns_flow");
    }
}

/* The server admitted the client's USR/ANS (user: the address its USR t
 * OK answered with), or what followed on the connection shows it did. */
static void sb_admit(sn_ctx *c, sn_flow *f, sn_conn *k, msnp_str cookie, const msnp_str *user, int inferred) {
    sn_sb *sb = k->sb;
    /* a cookie admits one login: forget it (unused ones go with their
     * expectation's expiry), so the table stays bounded */
    sn_sbref *ref = sn_strmap_del(&c->cookies, cookie.p, cookie.n);
    int known = ref != NULL;
    /* one form per user, whatever case the client typed: the one the
     * server answered with, else the one its notification login was
     * answered with (ANS t OK names no one) */
    if (user && sn_field_fits(c, f->id, &k->oversized_said, user->n, USER_MAX, "an e-mail address") && user->n &&
        user->p[0]) /* what copy_user checks, and not empty: taken in place, no scratch copy */
        copy_str(k->user, sizeof k->user, *user);
    else if (ref && ref->user[0] && same_user(ref->user, k->user))
        sn_strcopy(k->user, sizeof k->user, ref->user); /* its length, not the buffer's */
    sb->login = SB_LOGIN_OPEN;
    sb->inferred = (uint8_t)inferred;
    sb_link(c, f, k);
    if (ref) {
        sb->ns_flow = ref->ns_flow;
        sb->referral = ref->ring ? 2 : 1;
    }
    sn_ev *ev = ev_flow(c, "switchboard", f);
    sn_ev_set_str(ev, "action", "open");
    login_fields(f, k, ev, cookie);
    sn_ev_emit(&c->ev, ev);
    sn_sbref_release(c, ref);
    if (!known)
        anomaly(c, SN_AN_UNKNOWN_COOKIE, f, "switchboard cookie not seen on any notification connection", -1, 0);

    sn_expect *e = sn_expect_by_cookie(&c->expect, cookie.p, cookie.n);
    if (e) {
        f->expect_id = e->id;
        f->expect_group = e->group;
        sn_expect_hit_info h;
        memset(&h, 0, sizeof h);
        h.ts = c->now;
        h.flow = f->id;
        h.proto = 6;
        h.by_cookie = 1;
        h.matched_by = "cookie";
        int cs = k->client_dir;
        h.src = f->addr[cs];
        h.sport = f->port[cs];
        h.dst = f->addr[!cs];
        h.dport = f->port[!cs];
        size_t sn;
        const char *s = sb_server(f, k, &sn);
        char server[64]; /* NUL-terminated for the hit */
        memcpy(server, s, sn);
        server[sn] = '\0';
        h.server = server;
        h.address_matches = (uint8_t)(e->addr.family && sn_addr_eq(&e->addr, &f->addr[!cs]) && e->port == f->port[!cs]);
        sn_expect_hit(&c->expect, e, &h);
        sb->hit = 1;
    }
}

/* The server answered the client's USR/ANS with an error (911, then it
 * closes): no session was opened, and the referral's cookie was not
 * used (its expectation stays, for a login that may still come). */
static void sb_refuse(sn_ctx *c, sn_flow *f, sn_conn *k, const msnp_cmd *cmd) {
    sn_sb *sb = k->sb;
    msnp_str cookie = sb_cookie(sb);
    const sn_sbref *ref = sn_strmap_get(&c->cookies, cookie.p, cookie.n);
    int known = ref != NULL || sb->login == SB_LOGIN_OPEN;
    if (ref) {
        sb->ns_flow = ref->ns_flow;
        sb->referral = ref->ring ? 2 : 1;
    }
    sb->login = SB_LOGIN_REFUSED;
    sb_unlink(c, sb); /* it gets no copies */
    if (c->st.sessions) c->st.sessions--;
    c->st.sb_refused++;
    if (sb->hit) {
        /* the inferred open hit the referral's expectation (its event is
         * out): no admitted login used it, so it counts as missed, which
         * keeps predicted = matched + missed + retired */
        sb->hit = 0;
        if (c->st.hits) c->st.hits--;
        c->st.misses++;
        if (c->expect.hits) c->expect.hits--;
        c->expect.misses++;
    }
    sn_ev *ev = ev_flow(c, "switchboard", f);
    sn_ev_set_str(ev, "action", "refused");
    login_fields(f, k, ev, cookie);
    sn_ev_set_str(ev, "error", cmd->name);
    sn_ev_emit(&c->ev, ev);
    if (!known)
        anomaly(c, SN_AN_UNKNOWN_COOKIE, f, "switchboard cookie not seen on any notification connection", -1, 0);
}

/* Client USR t email cookie / ANS t email cookie sessid on a switchboard:
 * reported when the server answers it (sb_admit, sb_refuse). */
static void sb_login(sn_ctx *c, sn_flow *f, sn_conn *k, const msnp_cmd *cmd, const msnp_str *sessid) {
    sn_sb *sb = sb_of(c, f, k);
    if (!sb || sb->login != SB_LOGIN_NONE) return; /* a connection logs in once */
    msnp_str cookie = cmd->argv[2];
    k->usr_sb = 1;
    copy_user(c, f, k, k->user, cmd->argv[1]);
    sb->login = SB_LOGIN_WAIT;
    sb->answer = sessid != NULL;
    sb->login_trid_ok = cmd->has_trid;
    sb->login_trid = cmd->trid;
    if (sessid) {
        take_sessid(c, f, k, *sessid);
        /* joined now, not at its admission: the others' messages may be
         * relayed to it before the server's answer is seen, and their
         * senders' connections must expect its copy (sent_print_add) */
        sb_link(c, f, k);
    }
    /* budgeted like the session; without room the login is taken as
     * admitted at once, as it is not known whether it was */
    sb->cookie = sn_mem_alloc(&c->mem, cookie.n + 1);
    if (!sb->cookie) {
        sb_admit(c, f, k, cookie, NULL, 1);
        return;
    }
    memcpy(sb->cookie, cookie.p, cookie.n);
    sb->cookie[cookie.n] = '\0';
    sb->cookie_n = cookie.n;
}

/* ---- sent messages the server may refuse ---------------------------------- */

static void sent_add(sn_sb *sb, uint32_t trid, uint8_t kind, uint64_t inv) {
    if (sb->nsent == SENT_MAX) { /* the oldest is forgotten */
        memmove(sb->sent_trid, sb->sent_trid + 1, (SENT_MAX - 1) * sizeof sb->sent_trid[0]);
        memmove(sb->sent_inv, sb->sent_inv + 1, (SENT_MAX - 1) * sizeof sb->sent_inv[0]);
        memmove(sb->sent_kind, sb->sent_kind + 1, SENT_MAX - 1);
        sb->nsent--;
    }
    sb->sent_trid[sb->nsent] = trid;
    sb->sent_inv[sb->nsent] = inv;
    sb->sent_kind[sb->nsent++] = kind;
}

/* The server answered the MSG of this TrID (ACK, NAK, an error): its kind,
 * or 0 when no such MSG awaits an answer. The server answers in order, so
 * the MSGs sent before it will get none now (U and N ones that went
 * through): they are forgotten with it. */
static uint8_t sent_answered(sn_sb *sb, uint32_t trid, uint64_t *inv) {
    for (uint8_t i = 0; i < sb->nsent; i++) {
        if (sb->sent_trid[i] != trid) continue;
        uint8_t kind = sb->sent_kind[i], rest = (uint8_t)(sb->nsent - i - 1);
        *inv = sb->sent_inv[i];
        memmove(sb->sent_trid, sb->sent_trid + i + 1, rest * sizeof sb->sent_trid[0]);
        memmove(sb->sent_inv, sb->sent_inv + i + 1, rest * sizeof sb->sent_inv[0]);
        memmove(sb->sent_kind, sb->sent_kind + i + 1, rest);
        sb->nsent = rest;
        return kind;
    }
    return 0;
}

/* An error answer on a switchboard: to the login, or to a MSG sent, which
 * then was not relayed to anyone (too long, a bad ack letter); or a NAK,
 * a MSG not delivered to every recipient (to no one: the switchboard says
 * it when nobody else is in the session). */
static void sb_error(sn_ctx *c, sn_flow *f, sn_conn *k, const msnp_cmd *cmd) {
    sn_sb *sb = k->sb;
    int to_login = !cmd->has_trid || !sb->login_trid_ok || cmd->trid == sb->login_trid;
    if (cmd->code != MSNP_NAK && sb->login == SB_LOGIN_WAIT && to_login) {
        sb_refuse(c, f, k, cmd);
        return;
    }
    uint64_t inv = 0;
    uint8_t kind = cmd->has_trid ? sent_answered(sb, cmd->trid, &inv) : 0;
    if (kind) {
        /* the message event came with the MSG; this one says it went nowhere */
        if (kind == 1 && c->st.messages) c->st.messages--;
        else if (kind == 2 && c->st.typing) c->st.typing--;
        c->st.messages_refused++;
        sn_ev *ev = ev_flow(c, "message_refused", f);
        sn_ev_set_int(ev, "session", sb->id);
        sn_ev_set_int(ev, "trid", cmd->trid);
        sn_ev_set_str(ev, "sender", k->user[0] ? k->user : NULL);
        static const char *const kinds[] = {"", "text", "typing", "other", "invitation"};
        sn_ev_set_str(ev, "kind", kinds[kind < 5 ? kind : 3]);
        if (kind == 4) sn_ev_set_int(ev, "invitation", inv);
        sn_ev_set_str(ev, "error", cmd->name);
        sn_ev_emit(&c->ev, ev);
        /* an invitation message nobody got: what it (or the invitation)
         * announced will not be connected to; the pinholes made for it
         * would open a port for no one */
        if (kind == 4) sn_expect_retire_group(&c->expect, inv);
    } else if (cmd->code != MSNP_NAK && sb->login == SB_LOGIN_OPEN && sb->inferred && cmd->has_trid &&
               sb->login_trid_ok && cmd->trid == sb->login_trid) {
        /* taken as admitted for what the client did next; the server's
         * answer, late in the capture, says otherwise */
        sb_refuse(c, f, k, cmd);
    }
}

/* ---- messages ------------------------------------------------------------ */

/* A URL-encoded name (a command's token) as its field takes it: the token
 * itself when it holds no '%' (most names: decoding would copy it as it
 * is, and a token holds no NUL for the copy to end at), else decoded into
 * buf. A NULL view when it does not fit buf[cap], as msnp_url_decode
 * refuses it. */
static msnp_str name_field(msnp_str name, char *buf, size_t cap) {
    if (!memchr(name.p, '%', name.n)) return name.n < cap ? name : MSNP_STR_NULL;
    if (msnp_url_decode(name, buf, cap) < 0) return MSNP_STR_NULL;
    return msnp_str_c(buf);
}

/* A header's value by a literal name, its length known when compiling:
 * a message's headers are looked up several times. */
#define MIME_VALUE(m, lit) msnp_mime_value_n((m), (lit), sizeof(lit) - 1)

static size_t effects_str(unsigned ef, char out[5]) {
    size_t i = 0;
    if (ef & MSNP_EF_BOLD) out[i++] = 'B';
    if (ef & MSNP_EF_ITALIC) out[i++] = 'I';
    if (ef & MSNP_EF_UNDERLINE) out[i++] = 'U';
    if (ef & MSNP_EF_STRIKE) out[i++] = 'S';
    out[i] = '\0';
    return i;
}

/* The body of a text/plain message as UTF-8, into *out (malloc'd, the
 * caller frees) when it is not written so: a Content-Type with ISO-8859-1
 * is Latin-1, each byte its own character, and so is one without a
 * charset (the protocol's rule; the official client reads it so) unless
 * the body is valid UTF-8: clients that leave the charset out and write
 * UTF-8 exist, and Latin-1 text with accents is almost never valid UTF-8.
 * 0 when the body is to be taken as it is (UTF-8, another charset, ASCII,
 * no memory). */
static size_t latin1_text(const msnp_mime *mime, msnp_str body, char **out) {
    *out = NULL;
    /* ASCII, most messages, reads the same in every charset: the header
     * (looked up once already for the message's kind) is not read again */
    size_t high = 0, i = 0;
    /* eight bytes at a time: a byte of 0x80 and above has its top bit set */
    for (; i + 8 <= body.n; i += 8) {
        uint64_t w;
        memcpy(&w, body.p + i, 8);
        w &= 0x8080808080808080ull;
        if (w) high += (size_t)__builtin_popcountll(w);
    }
    for (; i < body.n; i++) high += (unsigned char)body.p[i] >= 0x80;
    if (!high) return 0;
    msnp_str cs;
    msnp_content_type_split(MIME_VALUE(mime, "Content-Type"), NULL, &cs);
    cs = msnp_str_trim(cs);
    if (cs.n && !msnp_str_ieq(cs, "ISO-8859-1") && !msnp_str_ieq(cs, "ISO8859-1") && !msnp_str_ieq(cs, "latin1"))
        return 0;
    if ((!cs.n && msnp_utf8_valid(body.p, body.n)) || !(*out = malloc(body.n + high))) return 0;
    size_t n = 0;
    for (i = 0; i < body.n; i++) {
        unsigned char ch = (unsigned char)body.p[i];
        if (ch < 0x80) {
            (*out)[n++] = (char)ch;
        } else {
            (*out)[n++] = (char)(0xC0 | ch >> 6);
            (*out)[n++] = (char)(0x80 | (ch & 0x3F));
        }
    }
    return n;
}

static void handle_msg(sn_ctx *c, sn_flow *f, sn_conn *k, int from_client, const msnp_cmd *cmd) {
    msnp_mime mime;
    size_t bad = 0;
    if (msnp_mime_parse(cmd->payload.p, cmd->payload.n, &mime, &bad) != MSNP_MIME_OK) {
        anomaly(c, SN_AN_BAD_MIME, f, "MSG payload is not a MIME header block",
                from_client ? k->client_dir : !k->client_dir, cmd->offset);
        return;
    }
    msnp_content_kind kind = msnp_content_kind_of(&mime);
    if (k->role != SN_ROLE_SB) {
        /* NS messages: Hotmail profile and mail notifications; not chat */
        if (kind == MSNP_CT_TEXT_PLAIN || kind == MSNP_CT_INVITE || kind == MSNP_CT_CONTROL) {
            if (k->role == SN_ROLE_UNKNOWN && (k->usr_sb || cmd->argc == 3)) sb_of(c, f, k);
        }
        if (k->role != SN_ROLE_SB) return;
    }
    /* the connection's own user when the message leaves it (read in
     * place: nothing below writes k->user), else the address it came from */
    char from[USER_MAX];
    const char *sender = from_client ? k->user : from;
    int at = KNOWN_SELF; /* where known_as found the sender */
    if (!from_client && copy_user(c, f, k, from, cmd->argv[0]))
        at = known_as(k, from); /* one form per user: the one this connection already knows it by */
    /* recipients: everyone in the session at this moment but the sender.
     * No two participants are the same user (part_add): once known_as
     * found the sender among them (or not at all), only that one is left
     * out, and nobody need be compared again. */
    const char *rcpt[MAX_PARTS + 1];
    size_t nr = 0;
    if (!from_client && k->user[0]) rcpt[nr++] = k->user;
    for (size_t i = 0; k->sb && i < k->sb->nparts; i++)
        if (at == KNOWN_SELF ? !same_user(k->sb->parts[i], sender) : (int)i != at) rcpt[nr++] = k->sb->parts[i];

    if (kind == MSNP_CT_INVITE) {
        int dir = from_client ? k->client_dir : !k->client_dir;
        msnp_invite inv;
        size_t eoff = 0;
        msnp_invite_status st = msnp_invite_parse(mime.body.p, mime.body.n, &inv, &eoff);
        if (st == MSNP_INVITE_ENO_COMMAND && MIME_VALUE(&mime, "Invitation-Command").p) {
            /* the fields were written into the MIME header block (no blank
             * line after Content-Type): a client that reads them there
             * still acts on them, so they are read there too, and said */
            st = msnp_invite_parse(cmd->payload.p, cmd->payload.n, &inv, &eoff);
            if (st == MSNP_INVITE_OK) {
                c->st.invitations_in_header++;
                anomaly(c, SN_AN_INVITATION_IN_HEADER, f, "invitation fields in the MIME header block", dir,
                        cmd->offset);
            }
        }
        if (st != MSNP_INVITE_OK) {
            anomaly(c, SN_AN_BAD_INVITATION, f, msnp_invite_status_str(st), dir, cmd->offset);
            return;
        }
        if (inv.addr_error != MSNP_INVITE_OK) /* the invitation is followed; its address is not used */
            anomaly(c, SN_AN_BAD_INVITATION, f, msnp_invite_status_str(inv.addr_error), dir, cmd->offset);
        sn_invite_origin o = {f->id, k->sb ? k->sb->id : 0, sender, rcpt, nr, from_client, NULL, {NULL, NULL}};
        /* the sender's addresses: this connection when the message leaves
         * it (its notification connection is looked up when an address is
         * announced: sn_session_user_client); the receiver's when it
         * arrives */
        if (from_client) {
            o.known.sb_client = &f->addr[k->client_dir];
        } else {
            o.receiver = &f->addr[k->client_dir];
        }
        uint64_t id = sn_invitation_observe(c, &o, &inv);
        /* the server may still refuse it (sb_error) */
        if (from_client && k->sb && cmd->has_trid && id) sent_add(k->sb, cmd->trid, 4, id);
        return;
    }
    sn_ev *ev = ev_flow(c, "message", f);
    if (k->sb) sn_ev_set_int(ev, "session", k->sb->id);
    sn_conv *cv = k->sb ? k->sb->conv : NULL;
    if (cv) sn_ev_set_int(ev, "conversation", cv->id);
    else sn_ev_set_null(ev, "conversation");
    /* the copy a recipient gets of a message whose sending we also saw */
    int echo = 0;
    size_t sender_n = strlen(sender); /* for its print and its field */
    if (from_client) sent_print_add(cv, sender, sender_n, cmd->payload);
    else echo = sent_print_take(cv, sender, sender_n, cmd->payload);
    sn_ev_set_bool(ev, "echo", echo);
    sn_ev_set_str(ev, "direction", from_client ? "sent" : "received");
    /* what the server's answer to it (message_refused) names it by */
    if (from_client && cmd->has_trid) sn_ev_set_int(ev, "trid", cmd->trid);
    sn_ev_set_strn(ev, "sender", sender_n ? sender : NULL, sender_n);
    if (!from_client && cmd->argc >= 3) {
        char nm[USER_MAX * 3];
        msnp_str name = name_field(cmd->argv[1], nm, sizeof nm);
        if (name.p) sn_ev_set_strn(ev, "sender_name", name.p, name.n);
    }
    sn_ev_open_array(ev, "recipients");
    for (size_t i = 0; i < nr; i++) sn_ev_array_str(ev, rcpt[i]);
    sn_ev_close(ev);
    if (kind == MSNP_CT_CONTROL) {
        msnp_str tu = MIME_VALUE(&mime, "TypingUser");
        sn_ev_set_str(ev, "kind", "typing");
        if (tu.p) sn_ev_set_strn(ev, "typing_user", tu.p, tu.n);
        if (!echo) c->st.typing++;
    } else if (kind != MSNP_CT_TEXT_PLAIN) {
        /* relayed like any other (capabilities, a client's own types, none
         * at all): said with its type, its body not read */
        msnp_str ct = MIME_VALUE(&mime, "Content-Type");
        sn_ev_set_str(ev, "kind", "other");
        if (ct.p) sn_ev_set_strn(ev, "content_type", ct.p, ct.n);
        else sn_ev_set_null(ev, "content_type");
    } else {
        sn_ev_set_str(ev, "kind", "text");
        char *utf8;
        size_t un = latin1_text(&mime, mime.body, &utf8);
        if (utf8) sn_ev_set_strn(ev, "text", utf8, un);
        else sn_ev_set_strn(ev, "text", mime.body.p, mime.body.n);
        free(utf8);
        msnp_str fmt = MIME_VALUE(&mime, "X-MMS-IM-Format");
        msnp_imformat im;
        if (fmt.p && msnp_imformat_parse(fmt, &im) == 0) {
            sn_ev_open_object(ev, "format");
            if (im.has_font) sn_ev_set_str(ev, "font", im.font);
            if (im.has_effects) {
                char e[5];
                sn_ev_set_strn(ev, "effects", e, effects_str(im.effects, e));
            }
            if (im.has_color) {
                static const char hex[] = "0123456789abcdef";
                uint32_t rgb = msnp_imformat_rgb(&im) & 0xFFFFFFu;
                char col[7];
                col[0] = '#';
                for (int i = 6; i >= 1; i--, rgb >>= 4) col[i] = hex[rgb & 15u];
                sn_ev_set_strn(ev, "color", col, 7);
            }
            sn_ev_close(ev);
        }
        if (!echo) c->st.messages++;
    }
    sn_ev_set_int(ev, "size", cmd->payload.n);
    sn_ev_emit(&c->ev, ev);
    /* the server may still refuse it (sb_error) */
    if (from_client && k->sb && cmd->has_trid)
        sent_add(k->sb, cmd->trid, kind == MSNP_CT_TEXT_PLAIN ? 1 : kind == MSNP_CT_CONTROL ? 2 : 3, 0);
}

/* ---- presence and login ---------------------------------------------------- */

static void presence(sn_ctx *c, const sn_flow *f, const sn_conn *k, msnp_str user, msnp_str status,
                     const msnp_str *name, const char *source) {
    sn_ev *ev = ev_flow(c, "presence", f);
    sn_ev_set_strn(ev, "user", user.p, user.n);
    msnp_status s = msnp_status_parse(status);
    sn_ev_set_strn(ev, "status", status.p, status.n);
    sn_ev_set_str(ev, "status_text", s == MSNP_STATUS_INVALID ? "unknown" : msnp_status_description(s));
    if (name) {
        char nm[USER_MAX * 3];
        msnp_str field = name_field(*name, nm, sizeof nm);
        if (field.p) sn_ev_set_strn(ev, "name", field.p, field.n);
    }
    sn_ev_set_str(ev, "source", source);
    if (k->user[0]) sn_ev_set_str(ev, "observer", k->user);
    sn_ev_emit(&c->ev, ev);
    c->st.presence++;
}

/* The users table holds who is online now (a user counts while one of
 * their notification connections is open), so it follows the sessions
 * and not the length of the capture; the summary's list is the first
 * SN_SUMMARY_USERS users that logged in. */
static void user_offline(sn_ctx *c, sn_conn *k) {
    sn_online *o = k->online;
    k->online = NULL;
    if (o && --o->refs == 0) {
        sn_strmap_del(&c->users, o->user, o->n);
        free(o);
    }
}

static void user_online(sn_ctx *c, const sn_flow *f, sn_conn *k) {
    user_offline(c, k);
    char key[USER_MAX];
    size_t n = user_key(key, k->user);
    sn_online *o = n ? sn_strmap_get(&c->users, key, n) : NULL;
    if (!o && n) {
        if (c->users.count >= SN_USERS_MAX) {
            c->st.users_untracked++;
        } else if ((o = malloc(sizeof *o + n + 1)) != NULL) {
            o->refs = 0;
            o->n = n;
            memcpy(o->user, key, n + 1);
            if (sn_strmap_put(&c->users, key, n, o) == o) {
                free(o);
                o = NULL;
            }
        }
    }
    if (o) {
        o->refs++;
        o->client = f->addr[k->client_dir];
        k->online = o;
    }
    if (c->nsummary_users < SN_SUMMARY_USERS) {
        for (unsigned u = 0; u < c->nsummary_users; u++)
            if (same_user(c->summary_users[u].user, k->user)) return;
        sn_strcopy(c->summary_users[c->nsummary_users].user, sizeof c->summary_users[0].user, k->user);
        snprintf(c->summary_users[c->nsummary_users].version, sizeof c->summary_users[0].version, "%s",
                 k->version[0] ? k->version : "?");
        c->nsummary_users++;
    }
}

static void login_ok(sn_ctx *c, sn_flow *f, sn_conn *k, const msnp_cmd *cmd) {
    /* USR trid OK email name [verified] */
    set_role(c, f, k, SN_ROLE_NS);
    copy_user(c, f, k, k->user, cmd->argv[2]);
    if (msnp_url_decode(cmd->argv[3], k->name, sizeof k->name) < 0) copy_str(k->name, sizeof k->name, cmd->argv[3]);
    k->logged_in = 1;
    c->st.logins++;
    sn_ev *ev = ev_flow(c, "login", f);
    sn_ev_set_str(ev, "result", "ok");
    sn_ev_set_str(ev, "user", k->user[0] ? k->user : NULL);
    sn_ev_set_str(ev, "name", k->name);
    sn_ev_set_str(ev, "version", k->version[0] ? k->version : NULL);
    sn_ev_set_endpoint(ev, "client", &f->addr[k->client_dir], f->port[k->client_dir]);
    sn_ev_set_endpoint(ev, "server", &f->addr[!k->client_dir], f->port[!k->client_dir]);
    if (cmd->argc >= 5) sn_ev_set_bool(ev, "verified", msnp_str_eq(cmd->argv[4], "1"));
    sn_ev_emit(&c->ev, ev);
    user_online(c, f, k);
}

/* ---- command dispatch ---------------------------------------------------- */

static void handle_cmd(sn_ctx *c, sn_flow *f, sn_conn *k, int dir, const msnp_cmd *cmd) {
    int from_client = dir == k->client_dir;
    size_t argc = cmd->argc;
    if (cmd->is_error) {
        if (k->usr_auth && !k->logged_in && cmd->name[0] == '9' && cmd->name[1] == '1' && cmd->name[2] == '1') {
            c->st.login_failures++;
            sn_ev *ev = ev_flow(c, "login", f);
            sn_ev_set_str(ev, "result", "failed");
            sn_ev_set_str(ev, "user", k->user[0] ? k->user : NULL);
            sn_ev_set_str(ev, "error", cmd->name);
            sn_ev_emit(&c->ev, ev);
        } else if (!from_client && k->sb) {
            sb_error(c, f, k, cmd);
        }
        return;
    }
    /* a login still awaiting its answer: what the client does only once
     * admitted (CAL, MSG), and anything the server says but OUT, show it
     * was, its answer lost (a gap) or yet to come in the capture */
    if (k->sb && k->sb->login == SB_LOGIN_WAIT &&
        (from_client ? cmd->code == MSNP_CAL || cmd->code == MSNP_MSG : cmd->code != MSNP_OUT)) {
        int ok = !from_client && cmd->code == MSNP_USR && argc >= 3 && msnp_str_eq(cmd->argv[1], "OK");
        sb_admit(c, f, k, sb_cookie(k->sb), ok ? &cmd->argv[2] : NULL, from_client);
    } else if (k->sb && k->sb->inferred && !from_client && cmd->code != MSNP_OUT) {
        k->sb->inferred = 0; /* the server's own word: admitted */
    }
    if (from_client) {
        switch (cmd->code) {
        case MSNP_USR:
            if (argc >= 4 && (msnp_str_eq(cmd->argv[1], "MD5") || msnp_str_eq(cmd->argv[1], "TWN"))) {
                /* either step is a notification login: one picked up after
                 * its USR ... I still has its USR ... S, and the answer
                 * (USR t OK email name, without the verified flag before
                 * MSNP6) is a login, not a switchboard's */
                k->usr_auth = 1;
                if (msnp_str_eq(cmd->argv[2], "I")) copy_user(c, f, k, k->user, cmd->argv[3]);
            } else if (argc >= 3 && memchr(cmd->argv[1].p, '@', cmd->argv[1].n)) {
                /* fields after the cookie (some clients send one; servers
                 * pass over them) leave the cookie as it is */
                sb_login(c, f, k, cmd, NULL);
            }
            break;
        case MSNP_ANS:
            if (argc >= 4) sb_login(c, f, k, cmd, &cmd->argv[3]);
            break;
        case MSNP_CAL: sb_of(c, f, k); break;
        case MSNP_MSG:
            if (cmd->has_payload) handle_msg(c, f, k, 1, cmd);
            break;
        case MSNP_OUT:
            /* one who was never admitted leaves nothing */
            if (k->role == SN_ROLE_SB && k->user[0] &&
                !(k->sb && (k->sb->login == SB_LOGIN_WAIT || k->sb->login == SB_LOGIN_REFUSED)))
                sb_event(c, f, k, "leave", k->user, NULL);
            break;
        default: break;
        }
        return;
    }
    switch (cmd->code) {
    case MSNP_VER:
        if (argc >= 2) {
            if (msnp_version_parse(cmd->argv[1]) != MSNP_VERSION_NONE)
                copy_str(k->version, sizeof k->version, cmd->argv[1]);
        }
        break;
    case MSNP_XFR:
        if (argc >= 3 && msnp_str_eq(cmd->argv[1], "NS")) {
            set_role(c, f, k, SN_ROLE_DS);
            sn_expect_proto proto;
            if (sn_predict_referral(cmd, k->user, f->id, &proto)) expect_referral(c, &proto);
        } else if (argc >= 5 && msnp_str_eq(cmd->argv[1], "SB")) {
            set_role(c, f, k, SN_ROLE_NS);
            learn_referral(c, f, k, cmd, 0);
        }
        break;
    case MSNP_RNG:
        if (argc >= 5) {
            set_role(c, f, k, SN_ROLE_NS);
            learn_referral(c, f, k, cmd, 1);
        }
        break;
    case MSNP_USR:
        if (argc >= 4 && msnp_str_eq(cmd->argv[1], "OK")) {
            if (k->usr_sb || k->role == SN_ROLE_SB || (!k->usr_auth && argc == 4 && k->role != SN_ROLE_NS)) {
                if (!k->usr_sb) {
                    /* picked up after the client's USR: learn the user from the answer */
                    sn_sb *sb = sb_of(c, f, k);
                    copy_user(c, f, k, k->user, cmd->argv[2]);
                    if (sb) {
                        sb->login = SB_LOGIN_OPEN;
                        sb_event(c, f, k, "open", k->user, NULL);
                    }
                    k->usr_sb = 1;
                }
            } else {
                login_ok(c, f, k, cmd);
            }
        } else if (argc >= 4 && msnp_str_eq(cmd->argv[2], "S")) {
            set_role(c, f, k, SN_ROLE_NS);
        }
        break;
    case MSNP_CHG:
        set_role(c, f, k, SN_ROLE_NS); /* presence comes only from notification servers */
        if (argc >= 2 && k->user[0]) presence(c, f, k, msnp_str_c(k->user), cmd->argv[1], NULL, "CHG");
        break;
    case MSNP_ILN:
        set_role(c, f, k, SN_ROLE_NS); /* presence comes only from notification servers */
        if (argc >= 3) presence(c, f, k, cmd->argv[2], cmd->argv[1], argc >= 4 ? &cmd->argv[3] : NULL, "ILN");
        break;
    case MSNP_NLN:
        set_role(c, f, k, SN_ROLE_NS); /* presence comes only from notification servers */
        if (argc >= 2) presence(c, f, k, cmd->argv[1], cmd->argv[0], argc >= 3 ? &cmd->argv[2] : NULL, "NLN");
        break;
    case MSNP_FLN:
        set_role(c, f, k, SN_ROLE_NS); /* presence comes only from notification servers */
        if (argc >= 1) presence(c, f, k, cmd->argv[0], msnp_str_c("FLN"), NULL, "FLN");
        break;
    case MSNP_IRO:
        if (argc >= 5) {
            sb_of(c, f, k);
            part_add(c, f, k, cmd->argv[3], cmd->argv[4], "IRO");
        }
        break;
    case MSNP_JOI:
        if (argc >= 2) {
            sb_of(c, f, k);
            part_add(c, f, k, cmd->argv[0], cmd->argv[1], "JOI");
        }
        break;
    case MSNP_BYE:
        if (argc >= 1 && k->role == SN_ROLE_SB) part_remove(c, f, k, cmd->argv[0]);
        break;
    case MSNP_CAL:
        /* the client's CAL may be lost (or before the capture): the answer
         * alone says this is a switchboard */
        if (argc >= 3 && msnp_str_eq(cmd->argv[1], "RINGING") && sb_of(c, f, k) && !k->sb->sessid[0]) {
            take_sessid(c, f, k, cmd->argv[2]);
            sb_link(c, f, k);
        }
        break;
    case MSNP_MSG:
        if (cmd->has_payload && argc >= 3) handle_msg(c, f, k, 0, cmd);
        break;
    case MSNP_ACK: /* delivered */
        if (k->sb && cmd->has_trid) {
            uint64_t inv;
            sent_answered(k->sb, cmd->trid, &inv);
        }
        break;
    case MSNP_NAK: /* not delivered to every recipient: a message_refused */
        if (k->sb && cmd->has_trid) sb_error(c, f, k, cmd);
        break;
    default: break;
    }
}

/* ---- byte stream ----------------------------------------------------------- */

static void gap_event(sn_ctx *c, const sn_flow *f, const sn_conn *k, int dir, uint64_t offset, uint64_t lost,
                      size_t pending, sn_gap_why why) {
    c->st.gaps++;
    c->st.gap_bytes += lost;
    /* bytes the capture holds but the memory budget could not keep are
     * not the capture's loss: the user can raise the limit */
    const char *detail = why == SN_GAP_DROPPED
        ? "bytes dropped: an incomplete command outgrew --flow-memcap or --memcap; parser resynchronised"
        : why == SN_GAP_GIVEN_UP
        ? "bytes missing from the capture, given up as the data after them outgrew --flow-memcap or --memcap; "
          "parser resynchronised"
        : "bytes missing from the capture; parser resynchronised";
    sn_anomaly_info a = sn_anomaly_make(SN_AN_GAP, f->id, detail);
    a.direction = dir == k->client_dir ? 0 : 1;
    a.has_offset = 1;
    a.offset = offset;
    a.has_lost = 1;
    a.lost = lost;
    a.dropped_pending = pending;
    sn_anomaly_report(c, &a);
}

/* The flow is MSN after all: report its early gaps as they happened. */
static void early_gaps_report(sn_ctx *c, const sn_flow *f, sn_conn *k) {
    uint64_t now = c->now, frame = c->frame;
    for (unsigned i = 0; i < k->nearly; i++) {
        c->now = k->early[i].now;
        c->frame = k->early[i].frame;
        gap_event(c, f, k, k->early[i].dir, k->early[i].offset, k->early[i].lost, k->early[i].pending, k->early[i].why);
    }
    c->now = now;
    c->frame = frame;
    k->nearly = 0;
}

static void give_up(sn_ctx *c, sn_reasm *r, sn_flow *f) {
    f->app = SN_APP_OTHER;
    sn_stream_ignore(r, &f->st[0]);
    sn_stream_ignore(r, &f->st[1]);
}

/* Decide what the flow is from the first line of direction dir. */
static int classify(sn_ctx *c, sn_reasm *r, sn_flow *f, sn_conn *k, int dir, const uint8_t *p, size_t n, size_t *skip) {
    *skip = 0;
    int side = -1;
    size_t at = 0;
    /* mid-stream: look for a command at the start of some line */
    for (;;) {
        sn_detect_result d = sn_detect_line(p + at, n - at, &side);
        if (d == SN_DETECT_MSNP || d == SN_DETECT_MSNFTP) {
            k->kind = (uint8_t)(d == SN_DETECT_MSNP ? SN_APP_MSNP : SN_APP_MSNFTP);
            k->search[0] = k->search[1] = 0;
            if (f->app != SN_APP_EXPECTED || d == SN_DETECT_MSNFTP || d == SN_DETECT_MSNP) f->app = k->kind;
            if (f->midstream && side >= 0) k->client_dir = (uint8_t)(side == 1 ? !dir : dir);
            else k->client_dir = 0;
            f->client_side = k->client_dir;
            if (d == SN_DETECT_MSNP) {
                init_parsers(k);
                c->st.flows_msnp++;
                /* offsets stay stream offsets: what came before this line
                 * (lines that were not commands, a gap) is accounted for */
                msnp_parser_skip(&k->parser[dir], f->st[dir].offset - n + at);
                msnp_parser_skip(&k->parser[!dir], f->st[!dir].offset - f->st[!dir].len);
            } else {
                k->role = SN_ROLE_MSNFTP;
                c->st.flows_msnftp++;
                k->ftp = sn_ftp_new(c, f);
                if (!k->ftp) {
                    /* the transfer goes unfollowed (no file event, nothing
                     * carved): said, as for a switchboard */
                    sn_anomaly_info a = sn_anomaly_make(
                        SN_AN_MEMCAP, f->id, "memcap reached: this MSNFTP transfer's state does not fit; not followed");
                    sn_anomaly_report(c, &a);
                }
            }
            *skip = at;
            early_gaps_report(c, f, k);
            return 1;
        }
        if (d == SN_DETECT_MORE) return 0;
        if (!(f->midstream || k->search[dir]) || k->probed[dir] + at >= PROBE_LIMIT) {
            k->nearly = 0; /* not MSN: its holes are not reported */
            if (f->app != SN_APP_EXPECTED) give_up(c, r, f);
            else {
                sn_stream_ignore(r, &f->st[0]);
                sn_stream_ignore(r, &f->st[1]);
            }
            return -1;
        }
        const uint8_t *lf = memchr(p + at, '\n', n - at);
        if (!lf) {
            /* keep at most a line's worth while waiting for its end */
            k->probed[dir] += at;
            *skip = at;
            return 0;
        }
        at = (size_t)(lf - p) + 1;
    }
}

/* The payload length a command line [p, p + n) declares (its last
 * parameter), or 0 when it has none that fits 64 bits. */
static uint64_t declared_length(const uint8_t *p, size_t n) {
    while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    size_t at = n;
    while (at && p[at - 1] >= '0' && p[at - 1] <= '9') at--;
    uint64_t v;
    msnp_str last = msnp_str_make((const char *)p + at, n - at);
    return at < n && msnp_str_to_u64(last, UINT64_MAX, &v) == 0 ? v : 0;
}

size_t sn_session_data(sn_ctx *c, sn_reasm *r, sn_flow *f, int dir, const uint8_t *p, size_t n) {
    sn_conn *k = conn_of(c, f);
    if (!k) {
        give_up(c, r, f);
        return n;
    }
    size_t used = 0;
    if (!k->kind) {
        size_t skip = 0;
        int cl = classify(c, r, f, k, dir, p, n, &skip);
        if (cl < 0) return n;
        if (cl == 0) return skip;
        used = skip;
        k->resync[dir] = 0;
    }
    if (k->kind == SN_APP_MSNFTP)
        return used + (k->ftp ? sn_ftp_data(c, k->ftp, f, dir, p + used, n - used) : n - used);
    if (!k->parsers_ready) init_parsers(k);
    msnp_parser *ps = &k->parser[dir];
    /* bounded: every round consumes at least one byte or stops */
    while (used < n) {
        if (k->skip[dir]) {
            size_t take = n - used < k->skip[dir] ? n - used : (size_t)k->skip[dir];
            msnp_parser_skip(ps, take);
            k->skip[dir] -= take;
            used += take;
            continue;
        }
        if (k->resync[dir]) {
            used += msnp_parser_resync(ps, (const char *)p + used, n - used);
            if (used >= n) return n;
            /* fewer than four bytes cannot show a command yet: wait for more */
            if (n - used < 4) return used;
            k->resync[dir] = 0;
        }
        msnp_cmd cmd;
        msnp_parse_error err;
        long rc = msnp_parse(ps, (const char *)p + used, n - used, &cmd, &err);
        if (rc == 0) break;
        if (rc > 0) {
            used += (size_t)rc;
            handle_cmd(c, f, k, dir, &cmd);
            continue;
        }
        c->st.parse_errors++;
        k->parse_errors++;
        anomaly(c, SN_AN_PARSE_ERROR, f, err.what, dir, err.offset);
        if (k->parse_errors >= PARSE_ERRORS_MAX) {
            anomaly(c, SN_AN_PARSE_ERROR, f, "too many parse errors; flow no longer analysed", dir, err.offset);
            sn_stream_ignore(r, &f->st[0]);
            sn_stream_ignore(r, &f->st[1]);
            return n;
        }
        /* a line refused whole is stepped over, with the payload of a
         * payload command (read as lines, its text would pass for
         * commands); then look for the next command */
        long bad = msnp_parse_bad_line(ps, (const char *)p + used, n - used, &err, &cmd);
        if (bad > 0) {
            used += (size_t)bad;
            if (!cmd.has_payload) k->resync[dir] = 1;
            continue;
        }
        /* drop the bad line, then look for the next command */
        const uint8_t *lf = memchr(p + used, '\n', n - used);
        size_t cut = lf ? (size_t)(lf - (p + used)) + 1 : n - used;
        /* a payload above the parser's limit still has its length: pass
         * over it whole (read as lines, its text would pass for commands) */
        uint64_t declared = err.status == MSNP_EPAYLOAD_TOO_BIG && lf ? declared_length(p + used, cut) : 0;
        msnp_parser_skip(ps, cut);
        used += cut;
        if (declared) k->skip[dir] = declared;
        else k->resync[dir] = 1;
    }
    return used;
}

void sn_session_gap(sn_ctx *c, sn_flow *f, int dir, uint64_t lost, size_t pending, sn_gap_why why) {
    sn_conn *k = conn_of(c, f);
    if (!k) return;
    if (lost == 0 && pending == 0) {
        f->midstream = 1;
        k->resync[dir] = 1;
        return;
    }
    if (!k->kind && f->app != SN_APP_OTHER) {
        /* not classified yet: hold the report until we know it is MSN */
        if (k->nearly < EARLY_GAPS) {
            sn_early_gap *g = &k->early[k->nearly++];
            g->frame = c->frame;
            g->now = c->now;
            g->offset = f->st[dir].offset - lost;
            g->lost = lost;
            g->pending = pending;
            g->dir = dir;
            g->why = why;
        }
    } else if (k->kind) {
        gap_event(c, f, k, dir, f->st[dir].offset - lost, lost, pending, why);
    }
    if (k->kind == SN_APP_MSNFTP) {
        if (k->ftp) sn_ftp_gap(c, k->ftp, f, dir, lost + pending);
        return;
    }
    if (!k->kind) k->search[dir] = 1;
    uint64_t dropped = (uint64_t)pending + lost;
    if (k->skip[dir]) { /* within a payload already being passed over */
        uint64_t left = k->skip[dir] > dropped ? k->skip[dir] - dropped : 0;
        if (k->parsers_ready) msnp_parser_skip(&k->parser[dir], dropped);
        k->skip[dir] = left;
        if (!left && dropped > 0) k->resync[dir] = 1;
        return;
    }
    if (k->parsers_ready) {
        msnp_parser *ps = &k->parser[dir];
        /* The gap fell inside a payload whose command line was read: its
         * declared length says where the next command starts (a payload
         * has no line end after it to resynchronise on). */
        uint64_t item = ps->line_end && ps->payload ? (uint64_t)ps->line_end + ps->payload : 0;
        msnp_parser_skip(ps, dropped);
        if (item > dropped && !k->resync[dir]) {
            k->skip[dir] = item - dropped;
            return;
        }
    }
    k->resync[dir] = 1;
}

void sn_session_overlap(sn_ctx *c, sn_flow *f, int dir, uint64_t offset, uint64_t len, uint64_t first_hash,
                        uint64_t second_hash, int second_kept) {
    c->st.overlap_conflicts++;
    const sn_conn *k = f->conn;
    sn_anomaly_info a = sn_anomaly_make(
        SN_AN_OVERLAP_CONFLICT, f->id,
        second_kept ? "overlapping TCP segments with different contents; the second copy is kept (it starts "
                      "before the first, or at the same byte and goes further: a receiver keeps it)"
                    : "overlapping TCP segments with different contents; the first copy is kept");
    a.direction = k && dir != k->client_dir ? 1 : 0;
    a.has_offset = 1;
    a.offset = offset;
    a.has_overlap = 1;
    a.overlap_len = len;
    a.first_hash = first_hash;
    a.second_hash = second_hash;
    sn_anomaly_report(c, &a);
}

/* What ended a flow, as a parse_error that cut a command says it: the
 * connection closing (FIN, RST) is not the capture ending or the flow
 * being dropped while the connection may have gone on. */
static const char *ended_by(const char *why) {
    static const struct {
        const char *why, *what;
    } said[] = {
        {"fin", "the connection was closed (FIN)"},
        {"rst", "the connection was reset (RST)"},
        {"capture_end", "the capture ended (the connection was not seen to close)"},
        {"idle", "the flow was dropped as idle (the connection was not seen to close)"},
        {"memcap", "the flow was evicted for memory (--memcap; the connection was not seen to close)"},
        {"max_flows", "the flow was evicted for room (the flow limit; the connection was not seen to close)"},
        {"reused", "a new connection took the flow's addresses and ports"},
    };
    for (size_t i = 0; why && i < sizeof said / sizeof said[0]; i++)
        if (strcmp(why, said[i].why) == 0) return said[i].what;
    return "the flow ended";
}

void sn_session_close(sn_ctx *c, sn_flow *f, const char *why) {
    sn_conn *k = f->conn;
    if (!k) return;
    /* what the parser was still waiting for the rest of is said, not
     * dropped in silence: a MSG whose length promised more than came */
    for (int dir = 0; k->kind == SN_APP_MSNP && k->parsers_ready && dir < 2; dir++) {
        const sn_stream *s = &f->st[dir];
        if (!s->len || s->ignore || k->resync[dir]) continue;
        c->st.parse_errors++;
        char detail[192];
        snprintf(detail, sizeof detail, "%s inside a command%s; the command is lost", ended_by(why),
                 k->parser[dir].line_end ? "'s payload" : " line");
        anomaly(c, SN_AN_PARSE_ERROR, f, detail, dir, s->offset - s->len);
    }
    if (k->sb) {
        /* a login the capture shows no answer to, nor any use of, opened
         * nothing that it shows */
        if (k->sb->login == SB_LOGIN_WAIT && c->st.sessions) c->st.sessions--;
        if (k->sb->cookie) sn_mem_free(&c->mem, k->sb->cookie, k->sb->cookie_n + 1);
        sn_ev *ev = ev_flow(c, "switchboard", f);
        sn_ev_set_str(ev, "action", "close");
        sn_ev_set_int(ev, "session", k->sb->id);
        sn_ev_set_str(ev, "user", k->user[0] ? k->user : NULL);
        sn_ev_emit(&c->ev, ev);
        sb_unlink(c, k->sb);
        sn_mem_free(&c->mem, k->sb, sizeof *k->sb);
    }
    if (k->ftp) sn_ftp_close(c, k->ftp, f);
    user_offline(c, k);
    sn_mem_free(&c->mem, k, sizeof *k);
    f->conn = NULL;
}
