/* lists.c - contact lists (FL/AL/BL/RL), presence, and the on-disk cache
 * that lets SYN skip the full list when nothing changed. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_int.h"

#define CACHE_MAGIC "msnc-lists 1"
#define MAX_CONTACTS 4096

void msnc_url_decode(msnp_str in, char *dst, size_t cap) {
    if (msnp_url_decode(in, dst, cap) < 0) msnp_str_copy(in, dst, cap);
}

contact *msnc_lists_find(const msnc_client *c, const char *email) {
    for (contact *k = c->contacts; k; k = k->next)
        if (strcasecmp(k->email, email) == 0) return k;
    return NULL;
}

contact *msnc_lists_get(msnc_client *c, const char *email) {
    contact *k = msnc_lists_find(c, email);
    if (k) return k;
    size_t n = 0;
    for (contact *i = c->contacts; i; i = i->next) n++;
    if (n >= MAX_CONTACTS) return NULL;
    k = calloc(1, sizeof(*k));
    if (!k) return NULL;
    snprintf(k->email, sizeof(k->email), "%s", email);
    snprintf(k->name, sizeof(k->name), "%s", email);
    k->status = MSNP_STATUS_FLN;
    k->next = c->contacts;
    c->contacts = k;
    return k;
}

void msnc_lists_clear(msnc_client *c) {
    /* Keep entries (presence may already be known) but forget memberships. */
    for (contact *k = c->contacts; k; k = k->next) k->lists = 0;
}

void msnc_lists_free(msnc_client *c) {
    while (c->contacts) {
        contact *k = c->contacts;
        c->contacts = k->next;
        free(k);
    }
}

static int cache_path(const msnc_client *c, char *dst, size_t cap) {
    if (!c->cache_dir || !*c->cache_dir) return -1;
    int n = snprintf(dst, cap, "%s/%s.lists", c->cache_dir, c->email);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

void msnc_lists_load_cache(msnc_client *c) {
    char path[4096];
    if (cache_path(c, path, sizeof(path)) != 0) return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    int ok = fgets(line, sizeof(line), f) && strncmp(line, CACHE_MAGIC, strlen(CACHE_MAGIC)) == 0;
    uint32_t version = 0;
    for (int i = 0; ok && i < MAX_CONTACTS * 4 && fgets(line, sizeof(line), f); i++) {
        char a[16], b[MSNP_MAX_EMAIL + 2], d[MSNP_MAX_NAME_ENCODED + 2], g[256];
        g[0] = '\0';
        if (sscanf(line, "version %" SCNu32, &version) == 1) continue;
        if (sscanf(line, "gtc %3s", a) == 1) {
            msnp_str_copy(msnp_str_c(a), c->gtc, sizeof(c->gtc));
            continue;
        }
        if (sscanf(line, "blp %3s", a) == 1) {
            msnp_str_copy(msnp_str_c(a), c->blp, sizeof(c->blp));
            continue;
        }
        int n = sscanf(line, "%15s %129s %387s %255s", a, b, d, g);
        if (n < 3) continue;
        msnp_list l = msnp_list_parse(msnp_str_c(a));
        if (l == MSNP_LIST_INVALID || !msnp_email_valid(msnp_str_c(b))) continue;
        contact *k = msnc_lists_get(c, b);
        if (!k) break;
        k->lists |= 1u << l;
        msnp_str_copy(msnp_str_c(d), k->name, sizeof(k->name));
        if (l == MSNP_LIST_FL && n == 4) snprintf(k->groups, sizeof(k->groups), "%s", g);
    }
    fclose(f);
    if (ok) c->list_version = version;
}

/* A cache that cannot be written costs every login a full SYN: said once
 * (a warning event), not at each change. */
static void cache_failed(msnc_client *c, const char *path, int err) {
    if (c->cache_warned) return;
    c->cache_warned = 1;
    char text[4400];
    snprintf(text, sizeof(text), "contact list cache %s cannot be written: %s", path, strerror(err));
    msnc_client_emit_text(c, MSNC_EV_WARNING, text);
}

/* dir and the directories above it that are missing, as mkdir -p (0700:
 * a contact list is private). */
static void make_dirs(const char *dir) {
    char p[4096];
    if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p)) return;
    for (char *s = p + 1; *s; s++) /* bounded by the path's length */
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0700);
            *s = '/';
        }
    mkdir(p, 0700);
}

void msnc_lists_save_cache(msnc_client *c) {
    char path[4096], tmp[4200];
    if (cache_path(c, path, sizeof(path)) != 0) return;
    make_dirs(c->cache_dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        cache_failed(c, path, errno);
        return;
    }
    fprintf(f, "%s\nversion %" PRIu32 "\n", CACHE_MAGIC, c->list_version);
    if (c->gtc[0]) fprintf(f, "gtc %s\n", c->gtc);
    if (c->blp[0]) fprintf(f, "blp %s\n", c->blp);
    for (const contact *k = c->contacts; k; k = k->next)
        for (int l = MSNP_LIST_FL; l <= MSNP_LIST_RL; l++)
            if (k->lists & (1u << l))
                fprintf(f, "%s %s %s%s%s\n", msnp_list_code((msnp_list)l), k->email, k->name,
                        l == MSNP_LIST_FL && k->groups[0] ? " " : "", l == MSNP_LIST_FL ? k->groups : "");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        int err = errno ? errno : EIO;
        unlink(tmp);
        cache_failed(c, path, err);
    }
}

static void emit_presence(msnc_client *c, const contact *k) {
    char name[MSNP_MAX_NAME_ENCODED + 1];
    msnc_url_decode(msnp_str_c(k->name), name, sizeof(name));
    msnc_event ev = {0};
    ev.type = MSNC_EV_PRESENCE;
    ev.email = k->email;
    ev.name = name;
    ev.status = msnp_status_code(k->status);
    msnc_client_emit(c, &ev);
}

void msnc_lists_on_presence(msnc_client *c, const msnp_cmd *cmd) {
    /* ILN trid status email name | NLN status email name | FLN email */
    size_t base = cmd->code == MSNP_ILN ? 1 : 0;
    if (cmd->code == MSNP_FLN) {
        if (cmd->argc < 1) {
            msnc_client_warn_line(c, cmd, "ignored an FLN without e-mail");
            return;
        }
        char email[MSNP_MAX_EMAIL + 1];
        if (msnc_client_field(c, cmd, cmd->argv[0], email, sizeof(email), "e-mail") != 0) return;
        contact *k = msnc_lists_get(c, email);
        if (!k) return;
        k->status = MSNP_STATUS_FLN;
        emit_presence(c, k);
        return;
    }
    /* Fields after the name (client capabilities, newer servers) are not used. */
    if (cmd->argc < base + 2) {
        msnc_client_warn_line(c, cmd, "ignored a presence line with missing fields");
        return;
    }
    msnp_status s = msnp_status_parse(cmd->argv[base]);
    if (s == MSNP_STATUS_INVALID) {
        msnc_client_warn_line(c, cmd, "ignored a presence line with an unknown status");
        return;
    }
    char email[MSNP_MAX_EMAIL + 1], name[MSNP_MAX_NAME_ENCODED + 1];
    if (msnc_client_field(c, cmd, cmd->argv[base + 1], email, sizeof(email), "e-mail") != 0) return;
    if (cmd->argc >= base + 3 && msnc_client_field(c, cmd, cmd->argv[base + 2], name, sizeof(name), "name") != 0)
        return;
    contact *k = msnc_lists_get(c, email);
    if (!k) return;
    k->status = s;
    if (cmd->argc >= base + 3) snprintf(k->name, sizeof(k->name), "%s", name);
    emit_presence(c, k);
}

static void sync_done(msnc_client *c) {
    c->syncing = 0;
    c->list_version = c->sync_version;
    msnc_lists_save_cache(c);
    msnc_client_login_progress(c);
    uint64_t n = 0;
    for (contact *k = c->contacts; k; k = k->next)
        if (k->lists & (1u << MSNP_LIST_FL)) n++;
    msnc_event ev = {0};
    ev.type = MSNC_EV_SYNCED;
    ev.count = n;
    ev.version = (int)c->list_version;
    msnc_client_emit(c, &ev);
}

/* A list change's new version: during a SYN the lists are not whole yet,
 * and the version waits for sync_done with them. Each change the server
 * tells us is the next version; one further on means the lists changed
 * in ways we were not told (an account deleted on the server, a contact's
 * own new name in our FL entry), so what we hold is not what that version
 * holds: from then on the version is 0, and the cache and the next SYN
 * ask for the lists whole instead of keeping the difference for good. */
static void set_version(msnc_client *c, uint32_t ver) {
    if (c->syncing) c->sync_version = ver;
    else c->list_version = c->list_version != 0 && ver == c->list_version + 1 ? ver : 0;
}

static int parse_u32(msnp_str s, uint32_t *out) {
    uint64_t v;
    if (msnp_str_to_u64(s, UINT32_MAX, &v) != 0) return -1;
    *out = (uint32_t)v;
    return 0;
}

static void emit_list(msnc_client *c, msnp_list l, const contact *k, const char *what) {
    char name[MSNP_MAX_NAME_ENCODED + 1];
    msnc_url_decode(msnp_str_c(k->name), name, sizeof(name));
    msnc_event ev = {0};
    ev.type = MSNC_EV_LIST;
    ev.list = msnp_list_code(l);
    ev.email = k->email;
    ev.name = name;
    ev.text = what;
    msnc_client_emit(c, &ev);
}

int msnc_lists_on_command(msnc_client *c, const msnp_cmd *cmd) {
    uint32_t ver = 0;
    switch (cmd->code) {
    case MSNP_SYN:
        /* SYN trid version */
        if (cmd->argc >= 2 && parse_u32(cmd->argv[1], &ver) == 0) {
            c->sync_version = ver;
            if (ver == c->list_version) {
                sync_done(c);
            } else {
                /* the version is taken when the last list has come: a
                 * connection lost before then leaves a partial list,
                 * which must not pass for version ver (cache, next SYN) */
                msnc_lists_clear(c);
                c->list_version = 0;
            }
        }
        return 1;
    case MSNP_GTC:
    case MSNP_BLP: {
        /* In SYN: GTC trid ver A; as a reply: GTC trid ver A. */
        if (cmd->argc < 1) return 1;
        msnp_str v = cmd->argv[cmd->argc - 1];
        char *dst = cmd->code == MSNP_GTC ? c->gtc : c->blp;
        (void)msnc_client_field(c, cmd, v, dst, sizeof(c->gtc), "setting");
        return 1;
    }
    case MSNP_LST: {
        /* LST trid LIST ver idx total [email name [groups]]; an empty
         * list is sent as `LST trid LIST ver 0 0`, with no entry. */
        msnp_list l = cmd->argc >= 2 ? msnp_list_parse(cmd->argv[1]) : MSNP_LIST_INVALID;
        uint32_t a, b;
        if (cmd->argc < 5 || l == MSNP_LIST_INVALID || parse_u32(cmd->argv[3], &a) != 0 ||
            parse_u32(cmd->argv[4], &b) != 0 || (cmd->argc == 5 && (a != 0 || b != 0))) {
            msnc_client_warn_line(c, cmd, "ignored a malformed LST");
            return 1;
        }
        if (cmd->argc >= 7) {
            char email[MSNP_MAX_EMAIL + 1], name[MSNP_MAX_NAME_ENCODED + 1], groups[sizeof(((contact *)0)->groups)];
            groups[0] = '\0';
            if (msnc_client_field(c, cmd, cmd->argv[5], email, sizeof(email), "e-mail") != 0 ||
                msnc_client_field(c, cmd, cmd->argv[6], name, sizeof(name), "name") != 0 ||
                (l == MSNP_LIST_FL && cmd->argc >= 8 &&
                 msnc_client_field(c, cmd, cmd->argv[7], groups, sizeof(groups), "groups") != 0))
                return 1;
            contact *k = msnc_lists_get(c, email);
            if (k) {
                k->lists |= 1u << l;
                snprintf(k->name, sizeof(k->name), "%s", name);
                if (l == MSNP_LIST_FL && cmd->argc >= 8) snprintf(k->groups, sizeof(k->groups), "%s", groups);
            }
        }
        /* Servers disagree on idx/total order: the larger one is the total. */
        uint32_t idx = a < b ? a : b, total = a < b ? b : a;
        if (c->syncing && l == MSNP_LIST_RL && idx == total) sync_done(c);
        return 1;
    }
    case MSNP_ADD:
    case MSNP_REM: {
        /* ADD trid LIST ver email name [group] / REM trid LIST ver email [group].
         * Some servers leave the list version out of their unsolicited
         * `ADD 0 RL email name`: an e-mail where the version belongs. */
        msnp_list l = cmd->argc >= 3 ? msnp_list_parse(cmd->argv[1]) : MSNP_LIST_INVALID;
        if (l == MSNP_LIST_INVALID) {
            msnc_client_warn_line(c, cmd, "ignored a malformed list change");
            return 1;
        }
        size_t at = 2; /* index of the e-mail */
        int has_ver = parse_u32(cmd->argv[2], &ver) == 0;
        if (has_ver) at = 3;
        if (cmd->argc <= at || (!has_ver && !msnp_email_valid(cmd->argv[2]))) {
            msnc_client_warn_line(c, cmd, "ignored a malformed list change");
            return 1;
        }
        char email[MSNP_MAX_EMAIL + 1], name[MSNP_MAX_NAME_ENCODED + 1] = "";
        if (msnc_client_field(c, cmd, cmd->argv[at], email, sizeof(email), "e-mail") != 0) return 1;
        if (cmd->code == MSNP_ADD && cmd->argc > at + 1 &&
            msnc_client_field(c, cmd, cmd->argv[at + 1], name, sizeof(name), "name") != 0)
            return 1;
        contact *k = msnc_lists_get(c, email);
        if (!k) {
            msnc_client_warn_line(c, cmd, "ignored a list change: the contact list is full");
            return 1;
        }
        if (has_ver) set_version(c, ver);
        if (cmd->code == MSNP_ADD) {
            k->lists |= 1u << l;
            if (name[0]) snprintf(k->name, sizeof(k->name), "%s", name);
        } else {
            k->lists &= ~(1u << l);
        }
        msnc_lists_save_cache(c);
        if (l == MSNP_LIST_RL && cmd->trid == 0) {
            char decoded[MSNP_MAX_NAME_ENCODED + 1];
            msnc_url_decode(msnp_str_c(k->name), decoded, sizeof(decoded));
            msnc_event ev = {0};
            ev.type = cmd->code == MSNP_ADD ? MSNC_EV_ADDED_BY : MSNC_EV_REMOVED_BY;
            ev.email = k->email;
            ev.name = decoded;
            msnc_client_emit(c, &ev);
        } else {
            emit_list(c, l, k, cmd->code == MSNP_ADD ? "added" : "removed");
        }
        return 1;
    }
    case MSNP_REA: {
        /* REA trid ver email name */
        if (cmd->argc < 4 || parse_u32(cmd->argv[1], &ver) != 0) {
            msnc_client_warn_line(c, cmd, "ignored a malformed REA");
            return 1;
        }
        char email[MSNP_MAX_EMAIL + 1], enc[MSNP_MAX_NAME_ENCODED + 1];
        if (msnc_client_field(c, cmd, cmd->argv[2], email, sizeof(email), "e-mail") != 0 ||
            msnc_client_field(c, cmd, cmd->argv[3], enc, sizeof(enc), "name") != 0)
            return 1;
        char decoded[MSNP_MAX_NAME_ENCODED + 1];
        msnc_url_decode(cmd->argv[3], decoded, sizeof(decoded));
        /* our own name counts as a list change too (the server's version
         * moves), though the lists themselves keep no trace of it */
        set_version(c, ver);
        if (strcasecmp(email, c->email) == 0) {
            snprintf(c->self_name, sizeof(c->self_name), "%s", enc);
        } else {
            contact *k = msnc_lists_get(c, email);
            if (k) snprintf(k->name, sizeof(k->name), "%s", enc);
        }
        msnc_lists_save_cache(c);
        msnc_event ev = {0};
        ev.type = MSNC_EV_NAME;
        ev.email = email;
        ev.name = decoded;
        msnc_client_emit(c, &ev);
        return 1;
    }
    case MSNP_LSG:
    case MSNP_BPR:
    case MSNP_PRP:
    case MSNP_ADG:
    case MSNP_RMG:
    case MSNP_REG:
    case MSNP_URL: return 1;
    default: return 0;
    }
}
