/* invitation.c - invitation correlation and connection prediction. */
#include "invitation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "hash64.h"
#include "predict.h"
#include "session.h"
#include "strcopy.h"

/* Two queues, each in the order its members will leave: open invitations
 * by last activity (a message moves one to the back), finished ones by
 * when they finished. */
typedef struct inv_list {
    sn_invitation *oldest, *newest;
    size_t count;
} inv_list;

typedef struct inv_lists {
    inv_list open, finished;
} inv_lists;

/* The lists live beside the cookie map; one per context (NULL until
 * sn_invitations_init and after sn_invitations_free). */
static inv_lists *lists_of(sn_ctx *c) { return c->inv_lists; }
static inv_list *list_for(inv_lists *ls, const sn_invitation *i) { return i->finished ? &ls->finished : &ls->open; }

int sn_invitations_init(sn_ctx *c) {
    if (sn_strmap_init(&c->invitations) != 0) return -1;
    c->inv_lists = calloc(1, sizeof *c->inv_lists);
    return c->inv_lists ? 0 : -1;
}

static void free_list(inv_list *l) {
    for (sn_invitation *i = l->oldest; i;) {
        sn_invitation *n = i->newer;
        free(i);
        i = n;
    }
}

void sn_invitations_free(sn_ctx *c) {
    if (!c->invitations.b) return;
    inv_lists *l = lists_of(c);
    if (l) {
        free_list(&l->open);
        free_list(&l->finished);
    }
    free(l);
    c->inv_lists = NULL;
    sn_strmap_free(&c->invitations, NULL);
}

size_t sn_invitations_live(sn_ctx *c) {
    inv_lists *l = lists_of(c);
    return l ? l->open.count + l->finished.count : 0;
}

static void list_remove(inv_list *l, sn_invitation *inv) {
    if (inv->older) inv->older->newer = inv->newer;
    else l->oldest = inv->newer;
    if (inv->newer) inv->newer->older = inv->older;
    else l->newest = inv->older;
    inv->older = inv->newer = NULL;
    l->count--;
}

static void list_append(inv_list *l, sn_invitation *inv) {
    inv->newer = NULL;
    inv->older = l->newest;
    if (l->newest) l->newest->newer = inv;
    else l->oldest = inv;
    l->newest = inv;
    l->count++;
}

static void unlink_inv(sn_ctx *c, inv_lists *ls, sn_invitation *inv) {
    void **slot = sn_strmap_ref(&c->invitations, inv->cookie, strlen(inv->cookie), 0);
    sn_invitation *head = slot ? *slot : NULL;
    if (head == inv) {
        if (inv->same_cookie) *slot = inv->same_cookie;
        else sn_strmap_del(&c->invitations, inv->cookie, strlen(inv->cookie));
    } else {
        for (sn_invitation *x = head; x; x = x->same_cookie)
            if (x->same_cookie == inv) {
                x->same_cookie = inv->same_cookie;
                break;
            }
    }
    list_remove(list_for(ls, inv), inv);
}

static void drop(sn_ctx *c, inv_lists *ls, sn_invitation *inv) {
    unlink_inv(c, ls, inv);
    free(inv);
}

static uint64_t linger_of(const sn_ctx *c) {
    uint64_t t = c->cfg.expect_timeout_us;
    return t < SN_EXPECT_LINGER_US ? t : SN_EXPECT_LINGER_US;
}

void sn_invitations_expire(sn_ctx *c, uint64_t now) {
    inv_lists *ls = lists_of(c);
    if (!ls) return;
    uint64_t linger = linger_of(c), idle = c->cfg.expect_timeout_us;
    /* each iteration frees one */
    while (ls->finished.oldest && sn_ts_after(ls->finished.oldest->last_ts, linger) <= now)
        drop(c, ls, ls->finished.oldest);
    while (ls->open.oldest && sn_ts_after(ls->open.oldest->last_ts, idle) <= now) drop(c, ls, ls->open.oldest);
}

static void finish(sn_ctx *c, sn_invitation *i) {
    inv_lists *ls = lists_of(c);
    if (!ls || i->finished) return;
    list_remove(&ls->open, i);
    i->finished = 1;
    i->last_ts = c->now;
    list_append(&ls->finished, i);
}

void sn_invitation_finish(sn_ctx *c, const char *cookie, uint64_t id) {
    sn_invitation *i = sn_invitation_find(c, cookie, id);
    if (i) finish(c, i);
}

/* A message for an open invitation keeps it for another idle period. */
static void touch(sn_ctx *c, sn_invitation *i) {
    inv_lists *ls = lists_of(c);
    if (!ls || i->finished) return;
    i->last_ts = c->now;
    list_remove(&ls->open, i);
    list_append(&ls->open, i);
}

/* strcmp(a, b) == 0, the first bytes compared before the call: the users
 * of a switchboard differ in their first byte as often as not, and every
 * invitation message compares its users with its invitation's. */
static inline int same_user(const char *a, const char *b) { return a[0] == b[0] && strcmp(a, b) == 0; }

static int involves(const sn_invitation *i, const char *u) {
    return u && u[0] && (same_user(i->inviter, u) || same_user(i->invitee, u));
}

sn_invitation *sn_invitation_find(sn_ctx *c, const char *cookie, uint64_t id) {
    for (sn_invitation *i = sn_strmap_get(&c->invitations, cookie, strlen(cookie)); i; i = i->same_cookie)
        if (i->id == id) return i;
    return NULL;
}

sn_invitation *sn_invitation_by_auth(sn_ctx *c, const char *auth) {
    inv_lists *ls = lists_of(c);
    if (!ls || !auth[0]) return NULL;
    const inv_list *lists[2] = {&ls->open, &ls->finished};
    sn_invitation *best = NULL;
    for (int l = 0; l < 2; l++) /* bounded: SN_INVITATIONS_MAX in all */
        for (sn_invitation *i = lists[l]->newest; i; i = i->older)
            if (strcmp(i->auth, auth) == 0 && (!best || i->id > best->id)) {
                best = i;
                break;
            }
    return best;
}

/* Whether messages of invitation i were seen on this switchboard session. */
static int in_session(const sn_invitation *i, uint64_t session) {
    return session && (i->sessions[0] == session || i->sessions[1] == session);
}

/* The invitation this message belongs to: same cookie, and the sender or
 * a recipient among its two users. Only one of its users among the
 * message's is enough when one side cannot tell the pair (the message
 * names no sender or no recipients, or the invitation never learnt one of
 * its users); when both name their pairs, a different pair is a different
 * invitation that happens to reuse the cookie. */
static sn_invitation *lookup(sn_invitation *head, const sn_invite_origin *o) {
    int message_names_pair = o->sender && o->sender[0] && o->nrecipients > 0;
    /* Several invitations of the same users may share the cookie at once
     * (offers in two switchboard sessions): the one whose messages were
     * seen on this message's session is its own; the newest (the chain's
     * first) only when no session decides. */
    sn_invitation *pair = NULL, *pair_here = NULL, *best = NULL, *best_here = NULL;
    /* bounded: the invitations kept under one cookie */
    for (sn_invitation *i = head; i; i = i->same_cookie) {
        int score = involves(i, o->sender);
        for (size_t r = 0; r < o->nrecipients; r++) score += involves(i, o->recipients[r]);
        int here = in_session(i, o->session);
        if (score >= 2) {
            if (!pair) pair = i;
            if (here && !pair_here) pair_here = i;
            continue;
        }
        int invitation_names_pair = i->inviter[0] && i->invitee[0];
        if (score == 1 && !(message_names_pair && invitation_names_pair)) {
            if (!best) best = i;
            if (here && !best_here) best_here = i;
        }
    }
    if (pair) return pair_here ? pair_here : pair;
    if (best) return best_here ? best_here : best;
    if (!o->session) return NULL;
    /* A switchboard picked up mid-chat names neither user of a message its
     * client sends (its USR was before the capture): the INVITE then named
     * nobody, and the ACCEPT of the same cookie in the same session is its
     * answer all the same. */
    for (sn_invitation *i = head; i; i = i->same_cookie)
        if (in_session(i, o->session) && !(message_names_pair && i->inviter[0] && i->invitee[0])) return i;
    return NULL;
}

static sn_invitation *create(sn_ctx *c, const char *cookie, size_t cn, const sn_invite_origin *o, msnp_str file) {
    inv_lists *ls = lists_of(c);
    if (!ls) return NULL;
    if (ls->open.count + ls->finished.count >= SN_INVITATIONS_MAX) {
        c->st.invitations_dropped++;
        drop(c, ls, ls->finished.oldest ? ls->finished.oldest : ls->open.oldest);
    }
    /* the cookie's chain and the slot the new one heads, found with one
     * look-up (after the drop above, which may take the cookie out): a
     * slot made here is filled below, or taken out again */
    void **slot = sn_strmap_ref(&c->invitations, cookie, cn, 1);
    if (!slot) return NULL;
    sn_invitation *oldest = NULL;
    size_t same = 0;
    /* bounded: SN_INV_SAME_COOKIE_MAX at most */
    for (sn_invitation *x = *slot; x; x = x->same_cookie, same++) oldest = x; /* the chain holds the newest first */
    if (same >= SN_INV_SAME_COOKIE_MAX) { /* the last of a long chain: its head, and so the key, stay */
        c->st.invitations_dropped++;
        drop(c, ls, oldest);
    }
    /* whole: the payload that holds it is bounded (64 KiB at most) */
    size_t fn = file.p ? file.n : 0;
    sn_invitation *i = calloc(1, sizeof *i + fn + 1);
    if (!i) {
        if (!*slot) sn_strmap_del(&c->invitations, cookie, cn);
        return NULL;
    }
    msnp_str_copy(file, i->file, fn + 1);
    i->id = ++c->next_invitation;
    sn_strcopy(i->cookie, sizeof i->cookie, cookie);
    i->last_ts = c->now;
    i->sessions[0] = o->session;
    i->same_cookie = *slot;
    *slot = i;
    list_append(&ls->open, i);
    return i;
}

/* Makes room for an Application-File of fn bytes in an invitation created
 * without one (an orphan whose INVITE came later). The cookie chain and
 * its queue point at it: they are pointed at where it moved. NULL (and i
 * unchanged) when there is no memory. */
static sn_invitation *regrow(sn_ctx *c, sn_invitation *i, size_t fn) {
    inv_lists *ls = lists_of(c);
    inv_list *l = list_for(ls, i);
    void **slot = sn_strmap_ref(&c->invitations, i->cookie, strlen(i->cookie), 0);
    sn_invitation *before = slot && *slot != i ? *slot : NULL;
    while (before && before->same_cookie != i) before = before->same_cookie; /* bounded: one cookie's chain */
    sn_invitation *n = realloc(i, sizeof *n + fn + 1);
    if (!n) return NULL;
    if (before) before->same_cookie = n;
    else if (slot) *slot = n;
    if (n->older) n->older->newer = n;
    else l->oldest = n;
    if (n->newer) n->newer->older = n;
    else l->newest = n;
    return n;
}

/* The hash continued over one field, and a word that ends it with its
 * length (so that "a" + "bc" and "ab" + "c" differ, and an absent field
 * from an empty one). */
static uint64_t mix_field(uint64_t h, msnp_str s) {
    s = msnp_str_trim(s);
    h = sn_hash64(h, s.p, s.n);
    return (h ^ (s.p ? (uint64_t)s.n : ~0ull)) * 0xC2B2AE3D27D4EB4Full;
}

/* What an INVITE offers: the same for every copy of one message (the
 * switchboard relays it unchanged), and for a new offer under a reused
 * cookie different as soon as its application, file or session is. */
static uint64_t offer_of(const msnp_invite *inv) {
    uint64_t h = inv->has_file_size ? inv->file_size + 1 : 0; /* the size as the number it is */
    const msnp_str fields[] = {inv->app_name,         inv->app_guid,   inv->file,
                               inv->session_protocol, inv->session_id, inv->context_data};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) h = mix_field(h, fields[k]);
    return h;
}

/* Whether message o may belong to invitation i, by the rules of lookup()
 * (without its preference for the best fit). */
static int fits(const sn_invitation *i, const sn_invite_origin *o) {
    int message_names_pair = o->sender && o->sender[0] && o->nrecipients > 0;
    int both_named = message_names_pair && i->inviter[0] && i->invitee[0];
    int score = involves(i, o->sender);
    for (size_t r = 0; r < o->nrecipients; r++) score += involves(i, o->recipients[r]);
    if (score >= 2) return 1;
    if (score == 1) return !both_named;
    return o->session && (i->sessions[0] == o->session || i->sessions[1] == o->session) && !both_named;
}

/* The invitation an INVITE belongs to: an open one whose INVITE, from
 * the same inviter, offered the same (another copy of that message:
 * *orphan 0), else an orphan of the same users, which the INVITE
 * completes (*orphan 1), else NULL: a new invitation. A finished one is
 * not it (an INVITE after the end of an invitation is a new one that
 * reuses its cookie), except an orphan whose connection opened: its own
 * INVITE was never seen, so the cookie cannot have been offered again
 * yet, and a late INVITE is that one (then its other copy, as a repeat).
 * A cancelled orphan is left alone: the INVITE may be a retry. */
static sn_invitation *lookup_invite(sn_invitation *head, const sn_invite_origin *o, uint64_t offer, int *orphan) {
    const char *sender = o->sender ? o->sender : "";
    sn_invitation *waiting = NULL, *opened = NULL;
    /* bounded: the invitations kept under one cookie */
    for (sn_invitation *i = head; i; i = i->same_cookie) {
        if (!fits(i, o)) continue;
        if (i->finished && (i->cancelled || (i->invited && !i->late))) continue;
        if (i->invited && i->offer == offer && same_user(i->inviter, sender)) {
            *orphan = 0;
            return i;
        }
        if (i->invited) continue;
        if (!i->finished && !waiting) waiting = i;
        if (i->finished && !opened) opened = i;
    }
    if (!waiting) waiting = opened;
    *orphan = waiting != NULL;
    return waiting;
}

/* What the INVITE tells of its invitation: users, application, file size. */
static void take_invite(sn_ctx *c, sn_invitation *i, const sn_invite_origin *o, const msnp_invite *inv,
                        uint64_t offer) {
    if (o->sender && o->sender[0]) sn_strcopy(i->inviter, sizeof i->inviter, o->sender);
    if (o->nrecipients) sn_strcopy(i->invitee, sizeof i->invitee, o->recipients[0]);
    i->app = msnp_invite_classify(inv, &i->by);
    i->file_size = inv->file_size;
    i->has_file_size = inv->has_file_size;
    i->offer = offer;
    i->invited = 1;
    i->orphan = 0;
    c->st.invitations++;
    c->st.invitations_by_app[(unsigned)i->app < SN_APP_KINDS ? (unsigned)i->app : 0]++;
}

/* The INVITE of an orphan, captured after messages that answered it (the
 * two switchboards of a call interleaved, or one capture's packets late):
 * it is that invitation's, which learns its application, file and users
 * now. The orphan guessed its inviter from the first message's recipient;
 * its other user (who accepted) stays the invitee when the INVITE's
 * recipients include them. */
static sn_invitation *adopt(sn_ctx *c, sn_invitation *i, const sn_invite_origin *o, const msnp_invite *inv,
                            uint64_t offer) {
    const char *sender = o->sender ? o->sender : "";
    char other[SN_INV_USER_MAX], guessed[SN_INV_USER_MAX];
    sn_strcopy(guessed, sizeof guessed, i->inviter);
    sn_strcopy(other, sizeof other, sender[0] && strcmp(i->invitee, sender) == 0 ? i->inviter : i->invitee);
    size_t fn = inv->file.p ? inv->file.n : 0;
    if (fn) {
        sn_invitation *n = regrow(c, i, fn);
        if (n) { /* else no memory: the invitation goes on without its file name */
            i = n;
            msnp_str_copy(inv->file, i->file, fn + 1);
        }
    }
    take_invite(c, i, o, inv, offer);
    int among = o->nrecipients == 0;
    for (size_t r = 0; r < o->nrecipients && !among; r++) among = strcmp(o->recipients[r], other) == 0;
    if (other[0] && among && strcmp(other, i->inviter) != 0) sn_strcopy(i->invitee, sizeof i->invitee, other);
    /* the messages already reported were filed by the side of the guessed
     * inviter: file them by the real one's, so their other copies are
     * still known as echoes */
    if (guessed[0] && strcmp(guessed, i->inviter) != 0)
        i->reported = (uint8_t)(((i->reported & 0x55u) << 1) | ((i->reported & 0xAAu) >> 1));
    return i;
}

/* Literals by case: the event takes each without measuring it. */
static void set_classified_by(sn_ev *ev, msnp_classified_by b) {
    switch (b) {
    case MSNP_BY_GUID: sn_ev_set_str(ev, "classified_by", "guid"); break;
    case MSNP_BY_NAME: sn_ev_set_str(ev, "classified_by", "name"); break;
    case MSNP_BY_HEADERS: sn_ev_set_str(ev, "classified_by", "headers"); break;
    default: sn_ev_set_str(ev, "classified_by", "none"); break;
    }
}

/* What the origin check flagged, counted and said (a forged address). */
static void origin_flagged(sn_ctx *c, const sn_expect *e, uint64_t flow, const char *detail) {
    if (e->flags & SN_XF_FORGED) c->st.announced_forged++;
    if (e->flags & SN_XF_NAT) c->st.announced_nat++;
    if (e->flags & SN_XF_NO_PINHOLE) c->st.pinholes_refused++;
    if (e->flags & SN_XF_FORGED) {
        sn_anomaly_info a = sn_anomaly_make(SN_AN_ANNOUNCED_ADDRESS, flow, detail);
        a.cookie = e->cookie;
        sn_anomaly_report(c, &a);
    }
}

/* The origin check and the policy decide the flags; the table does the rest. */
static void predict(sn_ctx *c, const sn_invite_origin *o, const sn_origin *announcer, sn_expect_proto *p) {
    if (!p->addr.family) {
        const sn_addr *a = sn_dns_lookup(c, p->host, p->host_len);
        if (a) p->addr = *a;
    }
    sn_origin known = *announcer;
    unsigned flags = sn_origin_check(&p->addr, &known);
    if (!sn_policy_allows(c->cfg.announce_policy, flags)) flags |= SN_XF_NO_PINHOLE;
    p->flags = (uint8_t)flags;
    if (o->receiver) p->receiver = *o->receiver;
    if (!p->addr.family) {
        /* a host name no DNS answer named yet: the address a later one
         * gives it is checked against the announcer as known now
         * (sn_invitation_check_resolved), or the announcer could name a
         * third host by a name answered after its message */
        const sn_addr *const mine[SN_EXPECT_ANNOUNCER_ADDRS] = {known.sb_client, known.ns_client};
        for (size_t i = 0; i < SN_EXPECT_ANNOUNCER_ADDRS; i++)
            if (mine[i]) p->announcer[i] = *mine[i];
    }
    sn_expect *dup = NULL;
    sn_expect *e = sn_expect_add(&c->expect, p, c->now, &dup);
    if (!e) return; /* already predicted (the same message seen from both sides), or over a bound */
    origin_flagged(c, e, o->flow, "announced address is not the announcer's");
}

void sn_invitation_check_resolved(void *ctx, sn_expect *e) {
    sn_ctx *c = ctx;
    const sn_origin known = {&e->announcer[0], &e->announcer[1]};
    unsigned flags = sn_origin_check(&e->addr, &known);
    if (!sn_policy_allows(c->cfg.announce_policy, flags)) flags |= SN_XF_NO_PINHOLE;
    /* the host name's verdict (unchecked) was counted when it was predicted */
    if ((e->flags & SN_XF_NO_PINHOLE) && c->st.pinholes_refused) c->st.pinholes_refused--;
    e->flags = (uint8_t)flags;
    origin_flagged(c, e, e->learned_flow, "announced host name resolves to an address not the announcer's");
}

uint64_t sn_invitation_observe(sn_ctx *c, const sn_invite_origin *o, const msnp_invite *inv) {
    char cookie[SN_INV_COOKIE_MAX];
    if (!inv->cookie_raw.p || inv->cookie_raw.n == 0) {
        sn_anomaly_info a = sn_anomaly_make(SN_AN_BAD_INVITATION, o->flow, "invitation without Invitation-Cookie");
        sn_anomaly_report(c, &a);
        return 0;
    }
    /* the key of every look-up below; as long as the copy, as a header
     * value holds no NUL (msnp_mime_parse refuses the block) */
    size_t cn = msnp_str_copy(msnp_str_trim(inv->cookie_raw), cookie, sizeof cookie);
    /* the invitations under the cookie, newest first: looked up once */
    sn_invitation *head = sn_strmap_get(&c->invitations, cookie, cn);
    sn_invitation *i = NULL;
    int repeat = 0, adopted = 0;
    if (inv->command == MSNP_INVITE_INVITE) {
        uint64_t offer = offer_of(inv);
        int orphan = 0;
        i = lookup_invite(head, o, offer, &orphan);
        if (i && orphan) {
            /* its connection already opened: copies of this INVITE
             * that follow are repeats, not new offers */
            int late = i->finished;
            i = adopt(c, i, o, inv, offer);
            if (late) i->late = 1;
            adopted = 1;
        } else if (i) {
            repeat = 1;
        } else {
            i = create(c, cookie, cn, o, inv->file);
            if (!i) return 0;
            take_invite(c, i, o, inv, offer);
        }
    } else if (!(i = lookup(head, o))) {
        /* the INVITE was not captured: keep going with what we can learn */
        i = create(c, cookie, cn, o, (msnp_str){NULL, 0});
        if (!i) return 0;
        i->orphan = 1;
        if (o->nrecipients) sn_strcopy(i->inviter, sizeof i->inviter, o->recipients[0]);
        sn_strcopy(i->invitee, sizeof i->invitee, o->sender ? o->sender : "");
        sn_anomaly_info a =
            sn_anomaly_make(SN_AN_ORPHAN_INVITATION, o->flow, "invitation message without a captured INVITE");
        a.cookie = cookie;
        sn_anomaly_report(c, &a);
    }
    touch(c, i);
    if (o->session && i->sessions[0] != o->session && !i->sessions[1]) i->sessions[1] = o->session;
    if (inv->command == MSNP_INVITE_ACCEPT) {
        i->accepted = 1;
        msnp_str auth = msnp_str_trim(inv->auth_cookie);
        if (auth.p && auth.n && auth.n < sizeof i->auth) msnp_str_copy(auth, i->auth, sizeof i->auth);
        /* in a session of three or more, the INVITE named no one user: the
         * one who accepts is the invitee, who then connects or is connected to */
        if (o->sender && o->sender[0] && !involves(i, o->sender) && i->inviter[0])
            sn_strcopy(i->invitee, sizeof i->invitee, o->sender);
    }

    sn_ev *ev = sn_ev_new(&c->ev, "invitation", c->now);
    sn_ev_set_int(ev, "flow", o->flow);
    if (o->session) sn_ev_set_int(ev, "session", o->session);
    sn_ev_set_int(ev, "invitation", i->id);
    sn_ev_set_strn(ev, "cookie", cookie, cn);
    msnp_str command = msnp_invite_command_str(inv->command), app = msnp_app_kind_str(i->app);
    sn_ev_set_strn(ev, "command", command.p, command.n);
    if (o->sent) sn_ev_set_str(ev, "direction", "sent");
    else sn_ev_set_str(ev, "direction", "received");
    sn_ev_set_strn(ev, "app", app.p, app.n);
    set_classified_by(ev, i->by);
    if (inv->app_name.p) sn_ev_set_strn(ev, "app_name", inv->app_name.p, inv->app_name.n);
    if (inv->app_guid.p) sn_ev_set_strn(ev, "guid", inv->app_guid.p, inv->app_guid.n);
    sn_ev_set_str(ev, "from", o->sender && o->sender[0] ? o->sender : NULL);
    sn_ev_open_array(ev, "to");
    for (size_t r = 0; r < o->nrecipients; r++) sn_ev_array_str(ev, o->recipients[r]);
    sn_ev_close(ev);
    sn_ev_set_str(ev, "inviter", i->inviter[0] ? i->inviter : NULL);
    if (inv->file.p) sn_ev_set_strn(ev, "file", inv->file.p, inv->file.n);
    if (inv->has_file_size) sn_ev_set_int(ev, "file_size", inv->file_size);
    if (inv->cancel_code.p) sn_ev_set_strn(ev, "cancel_code", inv->cancel_code.p, inv->cancel_code.n);
    if (inv->ip.p && inv->ip.n) sn_ev_set_strn(ev, "ip", inv->ip.p, inv->ip.n);
    uint16_t port = msnp_invite_port(inv); /* the one its peer connects to */
    if (port) sn_ev_set_int(ev, "port", port);
    if (inv->context_data.p && inv->context_data.n)
        sn_ev_set_strn(ev, "context_data", inv->context_data.p, inv->context_data.n);
    if (inv->session_protocol.p)
        sn_ev_set_strn(ev, "session_protocol", inv->session_protocol.p, inv->session_protocol.n);
    if (repeat) sn_ev_set_bool(ev, "repeat", 1);
    sn_ev_emit(&c->ev, ev);

    /* a command from the same side of the same invitation again: the
     * other copy of a message already reported (both ends captured) */
    const char *from = o->sender ? o->sender : "";
    /* i->inviter stays as it is below: one comparison for the side and the peer */
    int from_inviter = same_user(from, i->inviter);
    unsigned cmd = (unsigned)inv->command; /* 1..4: INVITE, ACCEPT, CANCEL, CONTEXT */
    uint8_t mask = 0;
    if (cmd >= 1 && cmd <= 4) mask = (uint8_t)(1u << ((cmd - 1u) * 2u + !from_inviter));
    if (sn_observers_want_invitations(&c->obs)) { /* the transcript's: the record above is the JSON's */
        sn_invitation_info info = {c->now,
                                   o->flow,
                                   o->session,
                                   i->id,
                                   cookie,
                                   command.p,
                                   app.p,
                                   from,
                                   i->inviter,
                                   (uint8_t)(o->sent != 0),
                                   (uint8_t)(mask && (i->reported & mask))};
        sn_notify_invitation(&c->obs, &info);
    }
    i->reported = (uint8_t)(i->reported | mask);

    /* what was predicted before the INVITE came was for an unknown
     * application (any transport): announce it again as what it is */
    if (adopted && i->app != MSNP_APP_UNKNOWN)
        sn_expect_reannounce(&c->expect, i->id, msnp_app_kind_name(i->app), (uint8_t)sn_app_class_of(i->app),
                             sn_app_transport(i->app), c->now);

    if (inv->command == MSNP_INVITE_CANCEL) {
        /* a cancelled invitation will not connect: withdraw its predictions */
        uint64_t gone = i->id;
        sn_expect_retire_group(&c->expect, gone);
        /* by the command, not by a Cancel-Code (which a CANCEL may lack,
         * and another message may carry): an INVITE after it is a new one */
        i->cancelled = 1;
        finish(c, i);
        return gone;
    }
    uint64_t id = i->id; /* i is not looked at after the predictions */
    /* the sender listens; the other user of the invitation connects */
    const char *peer = from_inviter ? i->invitee : i->inviter;
    if (!peer[0] && o->nrecipients) peer = o->recipients[0];
    sn_predict_invite in = {i->id, i->cookie, cn, i->app, from, peer, o->flow, o->session}; /* i->cookie is cookie */
    sn_expect_proto p[SN_PREDICT_MAX];
    size_t n = sn_predict_invitation(&in, inv, p);
    if (n) {
        /* the announcer as known now: its notification connection looked
         * up once for all the message's predictions */
        sn_origin known = o->known;
        known.ns_client = sn_session_user_client(c, o->sender);
        for (size_t k = 0; k < n; k++) predict(c, o, &known, &p[k]);
    }
    return id;
}
