/* ftp.c - MSNFTP transfer tracking and file carving. */
#include "ftp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <msnp/msnp.h>

#include "invitation.h"
#include "strcopy.h"

struct sn_ftp {
    msnp_parser parser[2];
    int block_dir; /* direction carrying blocks (the sender), -1 unknown */
    int blocks_on; /* the FIL line is behind us in block_dir */
    int blocks_done;
    uint8_t hdr[3];
    size_t hdr_have;
    size_t block_left;
    uint64_t fil_size;
    int has_fil;
    uint64_t received;
    int cancelled_by_sender, ccl, bye_seen, gap;
    uint32_t bye_code;
    char user[130]; /* a passport name is at most 129 bytes */
    char auth[128]; /* digits with Microsoft's clients; longer ones are refused, never cut */
    uint8_t oversized_said;
    uint64_t invitation;
    char cookie[SN_INV_COOKIE_MAX];
    char *name; /* the invitation's Application-File, whole */
    uint64_t announced;
    int has_announced;
    FILE *out;
    char path[PATH_MAX];
    int extract_failed;
};

/* The transfer is this invitation's: its cookie, file name and size. */
static void take_invitation(sn_ftp *t, const sn_invitation *i) {
    sn_strcopy(t->cookie, sizeof t->cookie, i->cookie);
    t->invitation = i->id;
    free(t->name);
    t->name = i->file[0] ? strdup(i->file) : NULL;
    t->announced = i->file_size;
    t->has_announced = i->has_file_size;
}

/* Two transfers offered on one address and port are told apart by the
 * AuthCookie the receiver gives (`USR email AuthCookie`), not by which
 * connection came first: the expectation that matched this connection
 * may be the other invitation's. */
static void check_auth(sn_ctx *c, sn_ftp *t) {
    sn_invitation *cur = t->invitation ? sn_invitation_find(c, t->cookie, t->invitation) : NULL;
    if (!t->auth[0] || (cur && strcmp(cur->auth, t->auth) == 0)) return;
    sn_invitation *named = sn_invitation_by_auth(c, t->auth);
    if (named && named != cur) take_invitation(t, named);
}

sn_ftp *sn_ftp_new(sn_ctx *c, const sn_flow *f) {
    sn_ftp *t = sn_mem_alloc(&c->mem, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    msnp_parser_init(&t->parser[0], MSNP_FROM_UNKNOWN, NULL);
    msnp_parser_init(&t->parser[1], MSNP_FROM_UNKNOWN, NULL);
    t->block_dir = -1;
    if (f->expect_id) {
        /* the invitation that predicted this connection names the file */
        sn_expect *e = sn_expect_find(&c->expect, f->expect_group, f->expect_id);
        if (e) {
            sn_strcopy(t->cookie, sizeof t->cookie, e->cookie);
            t->invitation = e->invitation;
            sn_invitation *i = sn_invitation_find(c, e->cookie, e->invitation);
            if (i) take_invitation(t, i);
        }
    }
    return t;
}

static void safe_name(const char *in, char *out, size_t cap) {
    size_t w = 0;
    for (size_t i = 0; in[i] && w + 1 < cap && w < 100; i++) {
        char ch = in[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
            ch == '-' || ch == '_';
        out[w++] = ok ? ch : '_';
    }
    out[w] = '\0';
    /* no hidden files, no "." or ".." */
    for (size_t i = 0; i < w && out[i] == '.'; i++) out[i] = '_';
    if (!w) snprintf(out, cap, "file");
}

static void anomaly(sn_ctx *c, sn_anomaly kind, const sn_flow *f, const char *detail) {
    sn_anomaly_info a = sn_anomaly_make(kind, f->id, detail);
    sn_anomaly_report(c, &a);
}

static void open_output(sn_ctx *c, sn_ftp *t, const sn_flow *f) {
    if (!c->cfg.extract_dir || t->out || t->extract_failed) return;
    /* Each file being carved holds a descriptor until its transfer ends:
     * a capture of many transfers at once (forged ones cost nothing) took
     * them all, and the next -r file, -o opened again on SIGHUP or a
     * decompressor could not be opened. Carving gets half of them. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && c->carving >= rl.rlim_cur / 2) {
        t->extract_failed = 1;
        char msg[160];
        snprintf(msg, sizeof msg,
                 "not carved: %u files are being carved at once, half of the open files allowed (ulimit -n %llu)",
                 c->carving, (unsigned long long)rl.rlim_cur);
        anomaly(c, SN_AN_EXTRACT, f, msg);
        c->st.files_not_carved++;
        return;
    }
    char base[128];
    safe_name(t->name ? t->name : "msnftp.bin", base, sizeof base);
    for (int attempt = 0; attempt < 100; attempt++) {
        if (attempt == 0)
            snprintf(t->path, sizeof t->path, "%s/%llu-%s", c->cfg.extract_dir, (unsigned long long)f->id, base);
        else
            snprintf(t->path, sizeof t->path, "%s/%llu-%d-%s", c->cfg.extract_dir, (unsigned long long)f->id, attempt,
                     base);
        t->out = fopen(t->path, "wbx"); /* never overwrite */
        if (t->out || errno != EEXIST) break;
    }
    if (!t->out) {
        t->extract_failed = 1;
        char msg[PATH_MAX + 64];
        snprintf(msg, sizeof msg, "cannot create %s: %s", t->path, strerror(errno));
        anomaly(c, SN_AN_EXTRACT, f, msg);
        c->st.files_not_carved++;
        t->path[0] = '\0';
        return;
    }
    c->carving++;
}

/* A write that failed (a full disk) leaves a file that is not the one
 * sent: it is set aside as *.partial when the transfer ends (path is
 * kept for that), and nothing more is written to it. */
static void write_failed(sn_ctx *c, sn_ftp *t, const sn_flow *f) {
    char msg[PATH_MAX + 64];
    snprintf(msg, sizeof msg, "write to %s failed: %s", t->path, strerror(errno));
    anomaly(c, SN_AN_EXTRACT, f, msg);
    t->extract_failed = 1;
    c->st.files_not_carved++;
}

static void write_out(sn_ctx *c, sn_ftp *t, const sn_flow *f, const uint8_t *p, size_t n) {
    if (!t->out || t->gap) return;
    if (fwrite(p, 1, n, t->out) != n) {
        write_failed(c, t, f);
        fclose(t->out);
        t->out = NULL;
        c->carving--;
    }
}

/* path, which is not the file sent, moved to path.partial (path.N.partial
 * when that is taken): the name is made with O_EXCL first and renamed
 * over, so that no file already there (an earlier run's) is replaced. */
static int set_aside(const char *path, char *bad, size_t cap) {
    for (int attempt = 0; attempt < 100; attempt++) {
        int len =
            attempt == 0 ? snprintf(bad, cap, "%s.partial", path) : snprintf(bad, cap, "%s.%d.partial", path, attempt);
        /* never a cut name, which would be another file's (the caller's
         * cap leaves room for any path: checked, not expected) */
        if (len < 0 || (size_t)len >= cap) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = open(bad, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            if (errno == EEXIST) continue;
            return -1;
        }
        close(fd);
        if (rename(path, bad) == 0) return 0;
        int eno = errno;
        unlink(bad);
        errno = eno;
        return -1;
    }
    errno = EEXIST;
    return -1;
}

static size_t blocks(sn_ctx *c, sn_ftp *t, const sn_flow *f, const uint8_t *p, size_t n) {
    size_t used = 0;
    while (used < n && !t->blocks_done) {
        if (t->block_left) {
            size_t take = n - used < t->block_left ? n - used : t->block_left;
            write_out(c, t, f, p + used, take);
            t->received += take;
            c->st.file_bytes += take;
            t->block_left -= take;
            used += take;
            continue;
        }
        while (t->hdr_have < 3 && used < n) t->hdr[t->hdr_have++] = p[used++];
        if (t->hdr_have < 3) break;
        t->hdr_have = 0;
        msnftp_block b;
        if (msnftp_block_decode(t->hdr, 3, &b) != 3) {
            anomaly(c, SN_AN_MSNFTP, f, "MSNFTP block header with a flag byte other than 0 or 1");
            t->blocks_done = 1;
            break;
        }
        if (b.cancel) {
            t->cancelled_by_sender = 1;
            t->blocks_done = 1;
            break;
        }
        t->block_left = b.len;
        if (t->has_fil && t->received >= t->fil_size && b.len == 0) t->blocks_done = 1;
    }
    if (t->has_fil && t->received >= t->fil_size && !t->block_left) t->blocks_done = 1;
    return t->blocks_done ? n : used;
}

size_t sn_ftp_data(sn_ctx *c, sn_ftp *t, const sn_flow *f, int dir, const uint8_t *p, size_t n) {
    if (t->blocks_on && dir == t->block_dir) return blocks(c, t, f, p, n);
    size_t used = 0;
    /* bounded: each round consumes bytes or stops */
    while (used < n) {
        msnp_cmd cmd;
        msnp_parse_error err;
        long rc = msnp_parse(&t->parser[dir], (const char *)p + used, n - used, &cmd, &err);
        if (rc == 0) break;
        if (rc < 0) {
            anomaly(c, SN_AN_MSNFTP, f, err.what);
            /* not a command stream any more: drop this side's bytes, and the
             * parser's pending line with them (it must never see a buffer
             * shorter than the one it has scanned) */
            msnp_parser_skip(&t->parser[dir], n - used);
            return n;
        }
        used += (size_t)rc;
        switch (cmd.code) {
        case MSNP_USR:
            if (cmd.argc >= 2) {
                if (sn_field_fits(c, f->id, &t->oversized_said, cmd.argv[0].n, sizeof t->user, "an e-mail address"))
                    msnp_str_copy(cmd.argv[0], t->user, sizeof t->user);
                if (sn_field_fits(c, f->id, &t->oversized_said, cmd.argv[1].n, sizeof t->auth, "an AuthCookie")) {
                    msnp_str_copy(cmd.argv[1], t->auth, sizeof t->auth);
                    check_auth(c, t);
                }
            }
            break;
        case MSNP_FIL:
            if (cmd.argc >= 1) {
                uint64_t v;
                if (msnp_str_to_u64(cmd.argv[0], UINT64_MAX, &v) == 0) {
                    t->fil_size = v;
                    t->has_fil = 1;
                }
                t->block_dir = dir;
                t->blocks_on = 1;
                open_output(c, t, f);
                if (t->has_fil && t->fil_size == 0) t->blocks_done = 1;
                return used + blocks(c, t, f, p + used, n - used);
            }
            break;
        case MSNP_BYE:
            t->bye_seen = 1;
            if (cmd.argc >= 1) {
                uint64_t v;
                if (msnp_str_to_u64(cmd.argv[0], UINT32_MAX, &v) == 0) t->bye_code = (uint32_t)v;
            }
            break;
        case MSNP_CCL: t->ccl = 1; break;
        default: break;
        }
    }
    return used;
}

void sn_ftp_gap(sn_ctx *c, sn_ftp *t, const sn_flow *f, int dir, uint64_t lost) {
    if (dir == t->block_dir && t->blocks_on) {
        /* block framing is lost with the bytes: the file cannot be carved */
        t->gap = 1;
        t->blocks_done = 1;
    }
    msnp_parser_skip(&t->parser[dir], lost);
}

void sn_ftp_close(sn_ctx *c, sn_ftp *t, const sn_flow *f) {
    /* the last bytes are written by fclose: a file smaller than stdio's
     * buffer is written there or not at all */
    if (t->out) {
        if (fclose(t->out) != 0) write_failed(c, t, f);
        t->out = NULL;
        c->carving--;
    }
    if (t->invitation && !t->name && !t->has_announced) {
        /* the connection opened before its invitation's INVITE was
         * captured (an orphan then, adopted since): the file is named now */
        sn_invitation *i = sn_invitation_find(c, t->cookie, t->invitation);
        if (i && i->invited) take_invitation(t, i);
    }
    const char *status;
    if (t->gap) status = "incomplete";
    else if (t->cancelled_by_sender || t->ccl) status = "cancelled";
    else if (!t->has_fil) status = "no_transfer";
    else if (t->received == t->fil_size && (!t->has_announced || t->announced == t->fil_size)) status = "complete";
    else if (t->received < t->fil_size) status = "short";
    else status = "size_mismatch";
    sn_ev *ev = sn_ev_new(&c->ev, "file", c->now);
    sn_ev_set_int(ev, "flow", f->id);
    if (t->invitation) sn_ev_set_int(ev, "invitation", t->invitation);
    sn_ev_set_str(ev, "cookie", t->cookie[0] ? t->cookie : NULL);
    sn_ev_set_str(ev, "name", t->name);
    sn_ev_set_str(ev, "receiver", t->user[0] ? t->user : NULL);
    sn_ev_set_str(ev, "auth_cookie", t->auth[0] ? t->auth : NULL);
    if (t->has_announced) sn_ev_set_int(ev, "size_announced", t->announced);
    if (t->has_fil) sn_ev_set_int(ev, "size_fil", t->fil_size);
    sn_ev_set_int(ev, "size_received", t->received);
    sn_ev_set_str(ev, "status", status);
    if (t->bye_seen) {
        sn_ev_set_int(ev, "bye_code", t->bye_code);
        sn_ev_set_str(ev, "bye", msnftp_bye_text(t->bye_code));
    }
    char aside_failed[2 * PATH_MAX + 64]; /* not zero-filled: 8 KiB a file */
    aside_failed[0] = '\0';
    if (t->path[0]) {
        if (strcmp(status, "complete") == 0 && !t->extract_failed) {
            sn_ev_set_str(ev, "path", t->path);
        } else {
            /* a partial file would pass for the real one: keep it aside */
            char bad[PATH_MAX + 16];
            if (set_aside(t->path, bad, sizeof bad) == 0) sn_ev_set_str(ev, "path", bad);
            else
                snprintf(aside_failed, sizeof aside_failed, "cannot rename %s to %s: %s", t->path, bad,
                         strerror(errno));
        }
    }
    sn_ev_emit(&c->ev, ev);
    if (aside_failed[0]) {
        anomaly(c, SN_AN_EXTRACT, f, aside_failed);
        if (!t->extract_failed) c->st.files_not_carved++; /* counted once a file */
    }
    c->st.files++;
    if ((t->has_announced && t->has_fil && t->announced != t->fil_size) ||
        (t->has_fil && !t->gap && !t->cancelled_by_sender && !t->ccl && t->received != t->fil_size)) {
        char msg[160];
        snprintf(msg, sizeof msg, "file size: announced %llu, FIL %llu, received %llu",
                 (unsigned long long)t->announced, (unsigned long long)t->fil_size, (unsigned long long)t->received);
        anomaly(c, SN_AN_SIZE_MISMATCH, f, msg);
    }
    free(t->name);
    sn_mem_free(&c->mem, t, sizeof *t);
}
