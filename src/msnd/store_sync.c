/* store_sync.c - login snapshots (store_sync_get, store.h): the rows a
 * backend returns for one account packed into one block, and a bounded
 * cache of those blocks, each valid while store_generation_of() its account
 * is unchanged.
 *
 * The cache is direct-mapped by account id (a colliding account replaces
 * the older one) and holds at most the store's budget
 * (store_set_login_cache: --login-cache-mb, 64 MiB unless set); a snapshot
 * larger than SYNC_ENTRY_MAX_BYTES is handed to its caller but not kept.
 * The slots scale with the budget (one per KiB, about half a snapshot, a
 * power of two), so that accounts with consecutive ids do not collide
 * while the bytes would hold them: a budget large enough for every account
 * that logs in makes each repeat login read no rows. A full cache makes
 * room for a new snapshot by dropping older ones (make_room):
 * the snapshot just read is the one about to be used (a login's SYN, ILN
 * and fan-out follow its USR within milliseconds), so refusing it would
 * turn each of those into a query of its own once a few thousand accounts
 * had logged in. A snapshot is current while store_generation_of its
 * account has not moved since it was read (a change made here or by
 * another process or node to a row it shows: the account's own, or a
 * contact's BLP or name, which move every account's); a stale one is
 * dropped when it is looked up. */
#include "store_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msnkit/grow.h>

#define SYNC_MIN_SLOTS 4096u
#define SYNC_MAX_SLOTS (1u << 22)
#define SYNC_BYTES_PER_SLOT 1024u
#define SYNC_ENTRY_MAX_BYTES (64u << 10)

#define NO_TEXT SIZE_MAX

/* A row as collected: texts are offsets into the builder's pool. */
typedef struct raw_row {
    int kind;
    int64_t id;
    size_t email, name, peer_name;
    int64_t a;
    int b, c;
    int64_t ord;
} raw_row;

struct store_sync_builder {
    raw_row *rows;
    size_t nrows, caprows;
    char *pool;
    size_t used, cap;
    size_t nkind[SYNC_KINDS];
};

typedef struct sync_snap {
    store_sync pub; /* first: the public view is the snapshot */
    int64_t uid;
    uint64_t gen;
    int refs; /* callers holding it, plus one while cached */
    size_t bytes;
    const uint32_t *fl_by_contact; /* FL entries in ascending contact id */
} sync_snap;

struct sync_cache {
    size_t bytes, budget;
    size_t count;    /* snapshots held */
    uint32_t nslots; /* a power of two */
    sync_snap **slot;
    uint32_t *used; /* indexes of the slots filled since the last flush */
    unsigned char *listed;
    size_t nused;
    size_t evict_at; /* make_room's next position in used */
};

static size_t keep_text(store_sync_builder *b, const char *t, int *failed) {
    if (!t) return NO_TEXT;
    size_t n = strlen(t) + 1;
    char *pool = msnkit_grow(b->pool, &b->cap, b->used + n, 1, 16);
    if (!pool) {
        *failed = 1;
        return NO_TEXT;
    }
    b->pool = pool;
    memcpy(b->pool + b->used, t, n);
    b->used += n;
    return b->used - n;
}

int store_sync_add(store_sync_builder *b, const store_sync_row *r) {
    if (r->kind < 0 || r->kind >= SYNC_KINDS) return -1;
    raw_row *rows = msnkit_grow(b->rows, &b->caprows, b->nrows + 1, sizeof *rows, 16);
    if (!rows) return -1;
    b->rows = rows;
    int failed = 0;
    raw_row *w = &b->rows[b->nrows];
    memset(w, 0, sizeof *w);
    w->kind = r->kind;
    w->id = r->id;
    w->email = keep_text(b, r->email, &failed);
    w->name = keep_text(b, r->name, &failed);
    /* an RL row's two names are the watcher's own, and an FL entry is
     * mostly named as its contact calls itself: kept once */
    w->peer_name =
        r->peer_name && r->name && strcmp(r->peer_name, r->name) == 0 ? w->name : keep_text(b, r->peer_name, &failed);
    w->a = r->a;
    w->b = r->b;
    w->c = r->c;
    w->ord = r->ord;
    /* Side rows are joined to their FL entry by contact: kept in contact
     * order, a contact's groups ascending (by_kind_then_ord). */
    if (r->kind >= SYNC_FL_GROUP) w->ord = r->id;
    if (failed) return -1;
    b->nrows++;
    b->nkind[r->kind]++;
    return 0;
}

static void builder_free(store_sync_builder *b) {
    free(b->rows);
    free(b->pool);
}

static const store_sync_entry *fl_entries_for_sort;

static int by_contact(const void *x, const void *y) {
    int64_t a = fl_entries_for_sort[*(const uint32_t *)x].contact;
    int64_t b = fl_entries_for_sort[*(const uint32_t *)y].contact;
    return (a > b) - (a < b);
}

static int cmp_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static int has_id(const int64_t *ids, size_t n, int64_t id) { return n && bsearch(&id, ids, n, sizeof id, cmp_i64); }

static int by_kind_then_ord(const void *x, const void *y) {
    const raw_row *a = x, *b = y;
    if (a->kind != b->kind) return a->kind - b->kind;
    if (a->ord != b->ord) return (a->ord > b->ord) - (a->ord < b->ord);
    return (a->a > b->a) - (a->a < b->a);
}

/* qsort, skipped when the elements are in order already: the login
 * statement returns its rows mostly sorted, and glibc's merge sort costs
 * a few thousand instructions per login even then. */
static void sort_unless_sorted(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *)) {
    const char *p = base;
    for (size_t i = 1; i < n; i++)
        if (cmp(p + (i - 1) * size, p + i * size) > 0) {
            qsort(base, n, size, cmp);
            return;
        }
}

/* The FL entry of contact, through the contact-order index; NULL when the
 * contact is on no FL entry. */
static store_sync_entry *fl_find(store_sync_entry *fl, const uint32_t *idx, size_t n, int64_t contact) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t c = fl[idx[mid]].contact;
        if (c == contact) return &fl[idx[mid]];
        if (c < contact) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

static const char *const prop_keys[5] = {"PHH", "PHW", "PHM", "MOB", "MBE"};

/* Contacts with at least one FL_PHONE row (each gets an array of four). */
static size_t phone_contacts(const store_sync_builder *b) {
    size_t n = 0;
    int64_t last = 0;
    int any = 0;
    for (size_t i = 0; i < b->nrows; i++) {
        const raw_row *r = &b->rows[i];
        if (r->kind != SYNC_FL_PHONE) continue;
        if (!any || r->id != last) n++;
        any = 1;
        last = r->id;
    }
    return n;
}

/* Packs the rows into one block: header, entries, group ids and names,
 * FL membership ids, phone arrays, the contact-order index, texts. NULL
 * when out of memory; *missing when there was no account row. */
static sync_snap *build(store_sync_builder *b, int *missing) {
    *missing = b->nkind[SYNC_USER] != 1;
    if (*missing) return NULL;
    sort_unless_sorted(b->rows, b->nrows, sizeof *b->rows, by_kind_then_ord);
    size_t nent = b->nkind[SYNC_FL] + b->nkind[SYNC_AL] + b->nkind[SYNC_BL] + b->nkind[SYNC_RL];
    size_t ng = b->nkind[SYNC_GROUP], nfl = b->nkind[SYNC_FL];
    size_t nfgid = b->nkind[SYNC_FL_GROUP];
    size_t nphone = b->nkind[SYNC_FL_PHONE] ? phone_contacts(b) : 0;
    size_t o_ent = ALIGN8(sizeof(sync_snap));
    size_t o_gid = ALIGN8(o_ent + nent * sizeof(store_sync_entry));
    size_t o_gname = ALIGN8(o_gid + ng * sizeof(int));
    size_t o_fgid = ALIGN8(o_gname + ng * sizeof(char *));
    size_t o_phone = ALIGN8(o_fgid + nfgid * sizeof(int));
    size_t o_idx = ALIGN8(o_phone + nphone * 4 * sizeof(char *));
    size_t o_pool = ALIGN8(o_idx + nfl * sizeof(uint32_t));
    size_t total = o_pool + b->used;
    char *blk = malloc(total);
    if (!blk) return NULL;
    sync_snap *y = (sync_snap *)blk;
    memset(y, 0, sizeof *y);
    y->bytes = total;
    store_sync_entry *ent = (store_sync_entry *)(blk + o_ent);
    int *gid = (int *)(blk + o_gid);
    const char **gname = (const char **)(blk + o_gname);
    int *fgid = (int *)(blk + o_fgid);
    const char **phone = (const char **)(blk + o_phone);
    uint32_t *idx = (uint32_t *)(blk + o_idx);
    char *pool = blk + o_pool;
    if (b->used) memcpy(pool, b->pool, b->used);
#define TXT(off) ((off) == NO_TEXT ? NULL : pool + (off))
#define STR(off) ((off) == NO_TEXT ? "" : pool + (off))
    /* Each list's entries in one run, in the order they came. */
    store_sync_entry *next[4];
    size_t at = 0;
    for (int l = 0; l < 4; l++) {
        next[l] = ent + at;
        y->pub.entries[l] = ent + at;
        y->pub.count[l] = b->nkind[SYNC_FL + l];
        at += y->pub.count[l];
    }
    size_t ngot = 0;
    size_t at_row = 0;
    for (; at_row < b->nrows && b->rows[at_row].kind < SYNC_FL_GROUP; at_row++) {
        const raw_row *r = &b->rows[at_row];
        switch (r->kind) {
        case SYNC_USER: {
            store_sync_user *u = &y->pub.user;
            u->id = r->id;
            u->email = STR(r->email);
            u->name = STR(r->name);
            u->version = (uint32_t)r->a;
            u->blp_allow = r->b;
            u->gtc_prompt = r->c;
            break;
        }
        case SYNC_PROP:
            for (int k = 0; k < 5; k++)
                if (r->email != NO_TEXT && strcmp(pool + r->email, prop_keys[k]) == 0) y->pub.props[k] = TXT(r->name);
            break;
        case SYNC_GROUP:
            gid[ngot] = (int)r->id;
            gname[ngot++] = STR(r->name);
            break;
        default: {
            int l = r->kind - SYNC_FL;
            store_sync_entry *e = next[l]++;
            memset(e, 0, sizeof *e);
            e->contact = r->id;
            e->email = STR(r->email);
            e->name = STR(r->name);
            e->peer_name = STR(r->peer_name);
            if (r->kind == SYNC_FL) {
                e->groups = fgid; /* none until its FL_GROUP rows */
                e->blp_allow = r->a != 0;
            }
            break;
        }
        }
    }
    for (size_t k = 0; k < nfl; k++) idx[k] = (uint32_t)k;
    fl_entries_for_sort = y->pub.entries[MSNP_LIST_FL];
    sort_unless_sorted(idx, nfl, sizeof *idx, by_contact);
    y->fl_by_contact = idx;
    /* Side rows (store_impl.h), sorted by kind and contact. */
    store_sync_entry *fl = (store_sync_entry *)y->pub.entries[MSNP_LIST_FL];
    size_t fg = 0, ph = 0;
    const char **four = NULL; /* the phone numbers of contact four_of, whose rows are being read */
    int64_t four_of = 0;
    while (at_row < b->nrows) {
        const raw_row *r = &b->rows[at_row];
        store_sync_entry *e = fl_find(fl, idx, nfl, r->id);
        if (r->kind == SYNC_FL_GROUP) {
            size_t run = at_row;
            while (run < b->nrows && b->rows[run].kind == SYNC_FL_GROUP && b->rows[run].id == r->id) run++;
            if (e) {
                e->groups = fgid + fg;
                for (size_t k = at_row; k < run && e->ngroups < STORE_MAX_ENTRY_GROUPS; k++) {
                    fgid[fg++] = (int)b->rows[k].a;
                    e->ngroups++;
                }
            }
            at_row = run;
            continue;
        }
        if (e && r->kind == SYNC_FL_PHONE && r->email != NO_TEXT) {
            for (int k = 0; k < 4; k++) {
                if (strcmp(pool + r->email, prop_keys[k]) != 0) continue;
                /* one array per contact with phone numbers; a contact's
                 * rows come together (sorted by contact) */
                if (!four || four_of != r->id) {
                    if (ph == nphone) break; /* cannot happen: nphone counts the contacts */
                    four = phone + 4 * ph++;
                    four_of = r->id;
                    for (int j = 0; j < 4; j++) four[j] = NULL;
                    e->phones = four;
                }
                four[k] = TXT(r->name);
            }
        } else if (e && r->kind == SYNC_LISTED_BY) {
            if (r->b == MSNP_LIST_AL) e->in_al = 1;
            if (r->b == MSNP_LIST_BL) e->in_bl = 1;
        }
        at_row++;
    }
#undef TXT
#undef STR
    /* A contact that does not allow the account (the rule presence uses:
     * on its BL, or its BLP is BL and the account is not on its AL) hides
     * its phone numbers from it: its BPR lines go out unset. */
    for (size_t k = 0; k < nfl; k++)
        if (fl[k].in_bl || (!fl[k].blp_allow && !fl[k].in_al)) fl[k].phones = NULL;
    y->pub.ngroups = ng;
    y->pub.gids = gid;
    y->pub.gnames = gname;
    /* RL: what the account's own AL/BL/BLP say about each watcher. */
    size_t nal = y->pub.count[MSNP_LIST_AL], nbl = y->pub.count[MSNP_LIST_BL];
    int64_t *al = malloc((nal + nbl + 1) * sizeof *al);
    if (!al) {
        free(blk);
        return NULL;
    }
    int64_t *bl = al + nal;
    for (size_t i = 0; i < nal; i++) al[i] = y->pub.entries[MSNP_LIST_AL][i].contact;
    for (size_t i = 0; i < nbl; i++) bl[i] = y->pub.entries[MSNP_LIST_BL][i].contact;
    sort_unless_sorted(al, nal, sizeof *al, cmp_i64);
    sort_unless_sorted(bl, nbl, sizeof *bl, cmp_i64);
    store_sync_entry *rl = (store_sync_entry *)y->pub.entries[MSNP_LIST_RL];
    for (size_t i = 0; i < y->pub.count[MSNP_LIST_RL]; i++) {
        rl[i].blp_allow = y->pub.user.blp_allow != 0;
        rl[i].in_al = has_id(al, nal, rl[i].contact) != 0;
        rl[i].in_bl = has_id(bl, nbl, rl[i].contact) != 0;
    }
    free(al);
    return y;
}

void store_sync_entry_view(const store_sync_entry *e, store_entry *out) {
    memset(out, 0, sizeof *out);
    out->contact = e->contact;
    out->email = e->email;
    out->name = e->name;
    out->groups = e->groups;
    out->ngroups = e->ngroups;
    if (e->phones)
        for (int k = 0; k < 4; k++) out->phones[k] = e->phones[k];
}

static void snap_unref(sync_snap *y) {
    if (y && --y->refs == 0) free(y);
}

static void cache_flush(struct sync_cache *c) {
    for (size_t i = 0; i < c->nused; i++) {
        snap_unref(c->slot[c->used[i]]);
        c->slot[c->used[i]] = NULL;
        c->listed[c->used[i]] = 0;
    }
    c->nused = 0;
    c->bytes = 0;
    c->count = 0;
    c->evict_at = 0;
}

void store_sync_cache_free(store *s) {
    if (!s->sync) return;
    cache_flush(s->sync);
    free(s->sync->slot);
    free(s->sync->used);
    free(s->sync->listed);
    free(s->sync);
    s->sync = NULL;
}

void store_set_login_cache(store *s, size_t bytes) {
    store_sync_cache_free(s); /* sized anew by the next snapshot kept */
    s->sync_budget = bytes;
}

void store_login_cache_stats_get(store *s, store_login_cache_stats *out) {
    memset(out, 0, sizeof *out);
    out->budget = s->sync_budget;
    if (s->sync) {
        out->bytes = s->sync->bytes;
        out->snapshots = s->sync->count;
    }
    out->hits = s->sync_hits;
    out->misses = s->sync_misses;
    out->evicted = s->sync_evicted;
}

/* The cache for s's budget, made on first use; NULL when the budget is 0
 * or memory is short (snapshots are then handed out and not kept). The
 * arrays are calloc'd: slots never filled cost no memory. */
static struct sync_cache *cache_of(store *s) {
    if (s->sync) return s->sync;
    size_t budget = s->sync_budget;
    if (budget == 0) return NULL;
    uint32_t n = SYNC_MIN_SLOTS;
    while (n < SYNC_MAX_SLOTS && (size_t)n * SYNC_BYTES_PER_SLOT < budget) n *= 2;
    struct sync_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->slot = calloc(n, sizeof *c->slot);
    c->used = calloc(n, sizeof *c->used);
    c->listed = calloc(n, 1);
    if (!c->slot || !c->used || !c->listed) {
        free(c->slot);
        free(c->used);
        free(c->listed);
        free(c);
        return NULL;
    }
    c->nslots = n;
    c->budget = budget;
    return s->sync = c;
}

/* The one slot an account's snapshot may be in (direct-mapped). */
static uint32_t slot_of(const struct sync_cache *c, int64_t uid) { return (uint32_t)((uint64_t)uid & (c->nslots - 1)); }

static void slot_drop(struct sync_cache *c, uint32_t k) {
    sync_snap *old = c->slot[k];
    if (!old) return;
    c->slot[k] = NULL;
    c->bytes -= old->bytes;
    c->count--;
    snap_unref(old);
}

static sync_snap *lookup(store *s, int64_t uid) {
    struct sync_cache *c = s->sync;
    if (!c || c->nused == 0) return NULL;
    uint32_t k = slot_of(c, uid);
    sync_snap *y = c->slot[k];
    if (!y || y->uid != uid) return NULL;
    if (y->gen == store_generation_of(s, uid)) return y;
    slot_drop(c, k); /* stale */
    return NULL;
}

/* Drops snapshots until need more bytes fit: round robin over the slots
 * in the order they were first filled, which approximates oldest first
 * without keeping a list in use order. Returns how many it dropped. */
static uint64_t make_room(struct sync_cache *c, size_t need) {
    uint64_t dropped = 0;
    for (size_t n = 0; n < c->nused && c->bytes + need > c->budget; n++) {
        if (c->evict_at >= c->nused) c->evict_at = 0;
        uint32_t k = c->used[c->evict_at++];
        dropped += c->slot[k] != NULL;
        slot_drop(c, k);
    }
    return dropped;
}

static void insert(store *s, sync_snap *y) {
    if (y->bytes > SYNC_ENTRY_MAX_BYTES) return;
    struct sync_cache *c = cache_of(s);
    if (!c) return;
    uint32_t k = slot_of(c, y->uid);
    /* an older snapshot of the account, or a colliding account, gives way
     * (the second counts as evicted: its account reads its rows again) */
    s->sync_evicted += c->slot[k] && c->slot[k]->uid != y->uid;
    slot_drop(c, k);
    if (c->bytes + y->bytes > c->budget) s->sync_evicted += make_room(c, y->bytes);
    if (c->bytes + y->bytes > c->budget) return;
    if (!c->listed[k]) {
        c->listed[k] = 1;
        c->used[c->nused++] = k;
    }
    c->slot[k] = y;
    c->bytes += y->bytes;
    c->count++;
    y->refs++;
}

/* Packs b into a snapshot of uid, keeps it when nothing it shows changed
 * while it was read, and returns it held once (NULL: out of memory). gen:
 * store_generation_of(uid) from before the read, or when by_key,
 * store_generation (the read began before uid was known). */
static sync_snap *finish(store *s, store_sync_builder *b, int64_t uid, uint64_t gen, int by_key, int *missing) {
    sync_snap *y = build(b, missing);
    builder_free(b);
    if (!y) {
        if (!*missing) snprintf(s->err, sizeof s->err, "out of memory");
        return NULL;
    }
    y->uid = uid;
    y->refs = 1;
    /* Kept only when nothing changed while it was read (another fiber's
     * write, another process's commit): then it is exactly the store's
     * state at generation gen. A read by e-mail is kept only when nothing
     * at all changed, and then labelled with uid's generation now. */
    if (by_key) {
        if (store_generation(s) != gen) return y;
        gen = store_generation_of(s, uid);
    } else if (store_generation_of(s, uid) != gen) {
        return y;
    }
    y->gen = gen;
    insert(s, y);
    return y;
}

store_rc store_sync_get(store *s, int64_t uid, const store_sync **out) {
    *out = NULL;
    sync_snap *y = lookup(s, uid);
    if (y) {
        s->sync_hits++;
        y->refs++;
        *out = &y->pub;
        return STORE_OK;
    }
    s->sync_misses++;
    uint64_t gen = store_generation_of(s, uid);
    store_sync_builder b;
    memset(&b, 0, sizeof b);
    store_rc rc = s->ops->sync_rows(s, uid, &b);
    if (rc != STORE_OK) {
        builder_free(&b);
        return rc;
    }
    int missing = 0;
    y = finish(s, &b, uid, gen, 0, &missing);
    if (!y) return missing ? STORE_NOTFOUND : STORE_ERROR;
    *out = &y->pub;
    return STORE_OK;
}

store_rc store_user_get_for_login(store *s, const char *email, store_user *out) {
    if (!s->ops->login_rows) return store_user_get(s, email, out);
    uint64_t gen = store_generation(s);
    store_sync_builder b;
    memset(&b, 0, sizeof b);
    store_rc rc = s->ops->login_rows(s, email, out, &b);
    if (rc != STORE_OK) {
        builder_free(&b);
        return rc;
    }
    int missing = 0;
    sync_snap *y = finish(s, &b, out->id, gen, 1, &missing);
    if (y) snap_unref(y);
    else if (!missing) rc = STORE_ERROR; /* out of memory */
    return rc;
}

void store_sync_release(store *s, const store_sync *pub) {
    (void)s;
    snap_unref((sync_snap *)(uintptr_t)pub);
}

/* store_contacts_each / store_watchers_each of a cached account; 1 when
 * answered. */
int store_sync_contacts(store *s, int64_t uid, store_peer_cb fn, void *ctx) {
    sync_snap *y = lookup(s, uid);
    if (!y) return 0;
    y->refs++; /* fn may call the store */
    const store_sync_entry *fl = y->pub.entries[MSNP_LIST_FL];
    for (size_t i = 0; i < y->pub.count[MSNP_LIST_FL]; i++) {
        const store_sync_entry *e = &fl[y->fl_by_contact[i]];
        store_peer p = {e->contact, e->email, e->peer_name, e->blp_allow, e->in_al, e->in_bl};
        fn(&p, ctx);
    }
    snap_unref(y);
    return 1;
}

int store_sync_watchers(store *s, int64_t uid, store_peer_cb fn, void *ctx) {
    sync_snap *y = lookup(s, uid);
    if (!y) return 0;
    y->refs++;
    const store_sync_entry *rl = y->pub.entries[MSNP_LIST_RL];
    for (size_t i = 0; i < y->pub.count[MSNP_LIST_RL]; i++) {
        const store_sync_entry *e = &rl[i];
        store_peer p = {e->contact, e->email, e->peer_name, e->blp_allow, e->in_al, e->in_bl};
        fn(&p, ctx);
    }
    snap_unref(y);
    return 1;
}
