/* ftp.c - MSNFTP sender and receiver on libevent.
 *
 * Hot path: the sender reads the file in large chunks and frames many
 * blocks into one reserved evbuffer region; the receiver copies payload into
 * a staging buffer and writes it with one write() per 256 KiB. No allocation
 * happens per block. */
#include "msnc/ftp.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <msnp/msnp.h>

#include "connect_any.h"
#include "netutil.h"

#define STAGE_BYTES (256 * 1024)
#define SEND_FILL_HIGH (1024 * 1024) /* stop framing above this much queued output */
#define SEND_FILL_LOW (256 * 1024)   /* write callback fires below this */
#define MAX_CANDIDATES 4             /* unauthenticated connections at once */
#define LINE_MAX_BYTES 512           /* MSNFTP lines are short */
#define DEFAULT_ACCEPT_MS 30000u
#define DEFAULT_IDLE_MS 60000u

typedef enum ftp_state {
    ST_LISTENING,  /* sender: waiting for the receiver */
    ST_CONNECTING, /* receiver: TCP connect in progress */
    ST_WAIT_VER,   /* both: VER MSNFTP exchange */
    ST_WAIT_USR,   /* sender */
    ST_WAIT_FIL,   /* receiver */
    ST_WAIT_TFR,   /* sender */
    ST_DATA,       /* sender: sending; receiver: receiving */
    ST_WAIT_BYE,   /* sender: everything queued, waiting for BYE */
    ST_DONE
} ftp_state;

/* A connection that has not proved itself yet: on the listening side every
 * accepted one, on a connecting sender the one it opened. */
typedef struct candidate {
    struct bufferevent *bev;
    msnp_parser parser;
    ftp_state state;
    int ver_sent;  /* our VER MSNFTP already went out (reverse case) */
    int extra_ver; /* the peer's answer to our early VER was tolerated */
    uint64_t seq;  /* order of arrival: the oldest makes room when all slots are busy */
} candidate;

struct msnc_ftp {
    struct event_base *base;
    msnc_ftp_callbacks cb;
    void *arg;
    int sender;
    ftp_state state;
    struct bufferevent *bev; /* the authenticated / connected stream */
    msnp_parser parser;
    struct evconnlistener *listener;
    msnc_connect_any *conn; /* TCP connects in progress */
    int tcp_client;         /* we connect (receiver normally, sender in the reverse case) */
    int extra_ver;          /* receiver: a second VER from the sender was tolerated */
    candidate cand[MAX_CANDIDATES];
    uint64_t accepted;   /* connections accepted so far */
    struct event *timer; /* accept timeout (sender) */
    uint16_t port;
    unsigned idle_ms;
    uint16_t block_size;
    int fd;         /* the file */
    char *path;     /* sender: source; receiver: final path once known */
    char *tmp_path; /* receiver: temporary file */
    char *dir, *filename, *email, *auth_cookie;
    uint64_t size, done, expected;
    uint64_t sent;       /* sender: file bytes the connection took (progress) */
    uint32_t block_left; /* receiver: payload bytes left in the current block */
    unsigned char *stage;
    size_t stage_len;
    uint64_t max_rate;
    struct ev_token_bucket_cfg *bucket;
};

const char *msnc_ftp_result_name(msnc_ftp_result r) {
    switch (r) {
    case MSNC_FTP_OK: return "ok";
    case MSNC_FTP_CANCELLED: return "cancelled";
    case MSNC_FTP_PEER_CANCELLED: return "peer_cancelled";
    case MSNC_FTP_REFUSED: return "refused";
    case MSNC_FTP_PEER_DISK_FULL: return "peer_disk_full";
    case MSNC_FTP_LOCAL_IO: return "local_io";
    case MSNC_FTP_PROTOCOL: return "protocol";
    case MSNC_FTP_NETWORK: return "network";
    case MSNC_FTP_TIMEOUT: return "timeout";
    }
    return "unknown";
}

char *msnc_ftp_safe_name(const char *in, char *dst, size_t cap) {
    if (cap == 0) return dst;
    const char *base = in ? in : "";
    for (const char *p = base; *p; p++)
        if (*p == '/' || *p == '\\') base = p + 1;
    size_t o = 0, left = strlen(base);
    for (const char *p = base; *p;) {
        uint32_t cp = 0;
        size_t n = msnp_utf8_seq(p, left, &cp);
        /* one '_' for a byte that is not UTF-8, a control character (C0,
         * DEL, C1) or a bidirectional override or isolate, which would
         * show the name in another order ("txt.exe" as "exe.txt") */
        int hide = n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
            (cp >= 0x2066 && cp <= 0x2069);
        size_t take = hide ? 1 : n;
        if (o + take + 1 > cap) break; /* whole characters only */
        /* a leading '.' would hide the file, a leading '-' would make it
         * an option to the shell commands run on the download directory
         * (`rm *`, `ls *`) */
        if (hide || (o == 0 && (*p == '.' || *p == '-'))) {
            dst[o++] = '_';
        } else {
            memcpy(dst + o, p, take);
            o += take;
        }
        size_t step = n ? n : 1;
        p += step;
        left -= step;
    }
    dst[o] = '\0';
    if (o == 0) snprintf(dst, cap, "file");
    return dst;
}

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

static void send_line(struct bufferevent *bev, const char *line) {
    if (bev) evbuffer_add_printf(bufferevent_get_output(bev), "%s\r\n", line);
}

static void free_struct(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    msnc_ftp *t = arg;
    free(t->path);
    free(t->tmp_path);
    free(t->dir);
    free(t->filename);
    free(t->email);
    free(t->auth_cookie);
    free(t->stage);
    if (t->bucket) ev_token_bucket_cfg_free(t->bucket);
    free(t);
}

/* Give up every resource. The struct itself is freed on the next loop
 * turn so callers up the stack may still test t->state == ST_DONE. */
static void release(msnc_ftp *t, int linger, int deferred) {
    if (t->timer) event_free(t->timer);
    t->timer = NULL;
    if (t->listener) evconnlistener_free(t->listener);
    t->listener = NULL;
    msnc_connect_any_cancel(t->conn);
    t->conn = NULL;
    for (int i = 0; i < MAX_CANDIDATES; i++)
        if (t->cand[i].bev) bufferevent_free(t->cand[i].bev);
    memset(t->cand, 0, sizeof(t->cand));
    if (t->bev) {
        /* The bucket is freed with t; the lingering close runs unthrottled. */
        if (t->bucket) bufferevent_set_rate_limit(t->bev, NULL);
        if (linger) msnc_bev_close_after_flush(t->bev);
        else bufferevent_free(t->bev);
    }
    t->bev = NULL;
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
    if (t->tmp_path) {
        unlink(t->tmp_path); /* only still set when the file did not complete */
        free(t->tmp_path);
        t->tmp_path = NULL;
    }
    struct timeval now = {0, 0};
    if (!deferred || event_base_once(t->base, -1, EV_TIMEOUT, free_struct, t, &now) != 0) free_struct(-1, 0, t);
}

/* The single exit: report, then release. Anything queued on the stream
 * (BYE, CCL, cancel marker) is still delivered. */
static void finish(msnc_ftp *t, msnc_ftp_result r, const char *detail, uint32_t bye) {
    if (t->state == ST_DONE) return;
    t->state = ST_DONE;
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    if (t->tmp_path) {
        unlink(t->tmp_path);
        free(t->tmp_path);
        t->tmp_path = NULL;
    }
    if (t->cb.finished) t->cb.finished(t, r, detail, r == MSNC_FTP_OK ? t->path : NULL, t->done, bye, t->arg);
    release(t, 1, 1);
}

static void finishf(msnc_ftp *t, msnc_ftp_result r, uint32_t bye, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void finishf(msnc_ftp *t, msnc_ftp_result r, uint32_t bye, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    finish(t, r, buf, bye);
}

static void set_read_timeout(struct bufferevent *bev, unsigned ms) {
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    bufferevent_set_timeouts(bev, ms ? &tv : NULL, NULL);
}

static void set_write_timeout(struct bufferevent *bev, unsigned ms) {
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    bufferevent_set_timeouts(bev, NULL, ms ? &tv : NULL);
}

/* Pull one command line out of a stream. Returns 1 with *cmd filled, 0 if
 * incomplete, -1 on a framing error. The line is copied into linebuf and
 * drained from the stream, so cmd's views (into linebuf) stay valid while
 * the caller acts on it, whatever happens to the stream. */
static int next_line(struct bufferevent *bev, msnp_parser *p, msnp_cmd *cmd, char *why, size_t cap,
                     char linebuf[LINE_MAX_BYTES]) {
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    if (len == 0) return 0;
    size_t look = len < LINE_MAX_BYTES ? len : LINE_MAX_BYTES;
    const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
    msnp_parse_error err;
    long n = msnp_parse(p, buf, look, cmd, &err);
    if (n == 0) {
        if (look == LINE_MAX_BYTES) {
            snprintf(why, cap, "line too long");
            return -1;
        }
        return 0;
    }
    if (n < 0) {
        snprintf(why, cap, "%s", err.what ? err.what : msnp_parse_status_str(err.status));
        return -1;
    }
    memcpy(linebuf, buf, (size_t)n);
    evbuffer_drain(in, (size_t)n);
    msnp_parser again;
    msnp_parser_init(&again, MSNP_FROM_UNKNOWN, NULL);
    if (msnp_parse(&again, linebuf, (size_t)n, cmd, &err) != n) {
        snprintf(why, cap, "unparsable line");
        return -1;
    }
    return 1;
}

/* Optional bandwidth cap, so a transfer does not saturate a slow link. */
static void apply_rate(msnc_ftp *t) {
    if (!t->max_rate || !t->bev) return;
    size_t rate = t->max_rate > 1000000000u ? 1000000000u : (size_t)t->max_rate;
    if (!t->bucket) t->bucket = ev_token_bucket_cfg_new(rate, rate, rate, rate, NULL);
    if (t->bucket) bufferevent_set_rate_limit(t->bev, t->bucket);
}

static int parse_u64(msnp_str s, uint64_t *out) { return msnp_str_to_u64(s, UINT64_MAX, out); }

static void report_connected(msnc_ftp *t, struct bufferevent *bev) {
    if (!t->cb.connected) return;
    char local[64], peer[64];
    msnc_fd_addr(bufferevent_getfd(bev), 0, local, sizeof(local));
    msnc_fd_addr(bufferevent_getfd(bev), 1, peer, sizeof(peer));
    t->cb.connected(t, local, peer, t->arg);
}

static int is_ver_msnftp(const msnp_cmd *cmd) {
    if (cmd->code != MSNP_VER) return 0;
    for (size_t i = 0; i < cmd->argc; i++)
        if (msnp_str_eq(cmd->argv[i], "MSNFTP")) return 1;
    return 0;
}

/* Drop the listener, the other candidates and the waiting timer once one
 * connection has been chosen. */
static void keep_only(msnc_ftp *t, int idx) {
    t->bev = t->cand[idx].bev;
    t->parser = t->cand[idx].parser;
    t->cand[idx].bev = NULL;
    for (int i = 0; i < MAX_CANDIDATES; i++)
        if (t->cand[i].bev) {
            bufferevent_free(t->cand[i].bev);
            t->cand[i].bev = NULL;
        }
    if (t->listener) {
        evconnlistener_free(t->listener);
        t->listener = NULL;
    }
    if (t->timer) {
        event_free(t->timer);
        t->timer = NULL;
    }
}

static void receiver_promote(msnc_ftp *t, int idx);

/* ------------------------------------------------------------------ sender */

static void sender_event_cb(struct bufferevent *bev, short what, void *arg);
static void sender_read_cb(struct bufferevent *bev, void *arg);
static void sender_write_cb(struct bufferevent *bev, void *arg);

/* The file holds fewer bytes than FIL announced: it was truncated or
 * replaced after the offer (now: its size at this point). The failure is
 * ours and says so, naming the file; the receiver is told with the cancel
 * marker, the one way MSNFTP lets a sender end a transfer early. Queued
 * output ends on a block boundary, so the marker cannot be taken for data. */
static void sender_shrank(msnc_ftp *t, uint64_t now) {
    unsigned char cancel[3];
    msnftp_cancel_encode(cancel);
    evbuffer_add(bufferevent_get_output(t->bev), cancel, sizeof(cancel));
    finishf(t, MSNC_FTP_LOCAL_IO, 0, "%s: file shrank from %" PRIu64 " to %" PRIu64 " bytes while being sent", t->path,
            t->size, now);
}

/* Progress of a sender: the file bytes framed (done) less those still
 * waiting in the output buffer, which runs up to SEND_FILL_HIGH ahead of
 * the connection (a file under 1 MiB is framed whole at once, and a rate
 * cap drains it slowly). Each block queued carries a 3-byte header. */
static void sender_progress(msnc_ftp *t) {
    if (!t->cb.progress || t->state == ST_DONE) return;
    size_t queued = evbuffer_get_length(bufferevent_get_output(t->bev));
    size_t blocks = (queued + t->block_size + MSNFTP_BLOCK_HEADER - 1) / (t->block_size + MSNFTP_BLOCK_HEADER);
    uint64_t payload = queued > blocks * MSNFTP_BLOCK_HEADER ? queued - blocks * MSNFTP_BLOCK_HEADER : 0;
    uint64_t sent = payload < t->done ? t->done - payload : 0;
    if (sent < t->sent) return; /* the header estimate never takes the figure back */
    t->sent = sent;
    t->cb.progress(t, sent, t->size, t->arg);
}

/* Frame as much of the file as fits under the high-water mark. */
static void sender_fill(msnc_ftp *t) {
    struct evbuffer *out = bufferevent_get_output(t->bev);
    const size_t bs = t->block_size;
    const size_t chunk_blocks = STAGE_BYTES / bs;
    while (t->state == ST_DATA && t->done < t->size && evbuffer_get_length(out) < SEND_FILL_HIGH) {
        uint64_t left = t->size - t->done;
        size_t want = chunk_blocks * bs;
        if (left < want) want = (size_t)left;
        ssize_t r;
        do r = read(t->fd, t->stage, want);
        while (r < 0 && errno == EINTR);
        if (r == 0) {
            /* The end came early. Its size now, if it is known to be
             * smaller, else what could be read of it. */
            struct stat st;
            uint64_t now = fstat(t->fd, &st) == 0 && (uint64_t)st.st_size < t->size ? (uint64_t)st.st_size : t->done;
            sender_shrank(t, now);
            return;
        }
        if (r < 0) {
            unsigned char cancel[3];
            msnftp_cancel_encode(cancel);
            evbuffer_add(out, cancel, sizeof(cancel));
            finishf(t, MSNC_FTP_LOCAL_IO, 0, "read %s: %s", t->path, strerror(errno));
            return;
        }
        size_t got = (size_t)r;
        size_t nblocks = (got + bs - 1) / bs;
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(out, (ev_ssize_t)(got + nblocks * MSNFTP_BLOCK_HEADER), &v, 1) < 1) {
            finish(t, MSNC_FTP_LOCAL_IO, "out of memory", 0);
            return;
        }
        unsigned char *dst = v.iov_base;
        size_t off = 0;
        while (off < got) {
            size_t n = got - off < bs ? got - off : bs;
            msnftp_block_encode(dst, (uint16_t)n);
            memcpy(dst + MSNFTP_BLOCK_HEADER, t->stage + off, n);
            dst += MSNFTP_BLOCK_HEADER + n;
            off += n;
        }
        v.iov_len = (size_t)(dst - (unsigned char *)v.iov_base);
        evbuffer_commit_space(out, &v, 1);
        t->done += got;
    }
    if (t->state == ST_DATA && t->done == t->size) {
        /* Everything queued: now it is the receiver's turn to say BYE. */
        t->state = ST_WAIT_BYE;
        set_read_timeout(t->bev, t->idle_ms);
    }
    sender_progress(t);
}

/* The receiver's BYE / CCL, legal at any point after authentication. */
static int sender_handle_end(msnc_ftp *t, const msnp_cmd *c) {
    if (c->code == MSNP_CCL || c->code == MSNP_BYE) {
        /* The receiver has stopped reading blocks: queued ones are moot. */
        struct evbuffer *out = bufferevent_get_output(t->bev);
        evbuffer_drain(out, evbuffer_get_length(out));
    }
    if (c->code == MSNP_CCL) {
        finish(t, MSNC_FTP_PEER_CANCELLED, "receiver cancelled (CCL)", MSNFTP_BYE_CANCELLED);
        return 1;
    }
    if (c->code != MSNP_BYE) return 0;
    uint64_t code = 0;
    if (c->argc < 1 || parse_u64(c->argv[0], &code) != 0 || code > UINT32_MAX) {
        finish(t, MSNC_FTP_PROTOCOL, "malformed BYE from receiver", 0);
        return 1;
    }
    uint32_t bye = (uint32_t)code;
    if (bye == MSNFTP_BYE_RECEIVED_OK || bye == MSNFTP_BYE_SENT_OK) {
        if (t->state == ST_WAIT_BYE) finish(t, MSNC_FTP_OK, "receiver confirmed", bye);
        else
            finishf(t, MSNC_FTP_PROTOCOL, bye, "receiver said done after %" PRIu64 " of %" PRIu64 " bytes", t->done,
                    t->size);
    } else if (bye == MSNFTP_BYE_DISK_FULL) {
        finish(t, MSNC_FTP_PEER_DISK_FULL,
               "receiver cannot store the file (BYE 2147942405: out of disk space or not writable)", bye);
    } else if (bye == MSNFTP_BYE_CANCELLED) {
        finish(t, MSNC_FTP_PEER_CANCELLED, "receiver cancelled (BYE 2164261682)", bye);
    } else if (bye == MSNFTP_BYE_TIMEOUT) {
        finish(t, MSNC_FTP_TIMEOUT, "receiver timed out (BYE 2164261694)", bye);
    } else {
        finishf(t, MSNC_FTP_PROTOCOL, bye, "receiver ended with BYE %u (%s)", (unsigned)bye, msnftp_bye_text(bye));
    }
    return 1;
}

/* Returns 0, or -1 when the connected callback ended the transfer (a
 * cancel from inside it): t must not be used any further then. */
static int sender_promote(msnc_ftp *t, int idx) {
    keep_only(t, idx);
    msnc_bev_bulk(t->bev);
    apply_rate(t);
    bufferevent_setwatermark(t->bev, EV_WRITE, SEND_FILL_LOW, 0);
    bufferevent_setcb(t->bev, sender_read_cb, sender_write_cb, sender_event_cb, t);
    set_read_timeout(t->bev, t->idle_ms);
    if (!t->tcp_client) report_connected(t, t->bev);
    return t->state == ST_DONE ? -1 : 0;
}

/* Handshake on a candidate connection. Sender: VER, then USR with the
 * cookie. Receiver listening in the reverse case: the sender's VER. */
static void candidate_read_cb(struct bufferevent *bev, void *arg) {
    msnc_ftp *t = arg;
    int idx = -1;
    for (int i = 0; i < MAX_CANDIDATES; i++)
        if (t->cand[i].bev == bev) idx = i;
    if (idx < 0) return;
    candidate *c = &t->cand[idx];
    msnp_cmd cmd;
    char why[128];
    char linebuf[LINE_MAX_BYTES];
    for (;;) {
        int r = next_line(bev, &c->parser, &cmd, why, sizeof(why), linebuf);
        if (r == 0) return;
        const char *refusal = NULL;
        char notice[256];
        if (r < 0) {
            refusal = why;
        } else if (c->state == ST_WAIT_VER) {
            if (!is_ver_msnftp(&cmd)) refusal = "expected VER MSNFTP";
            else if (!t->sender) {
                receiver_promote(t, idx);
                return;
            } else {
                if (!c->ver_sent) send_line(bev, "VER MSNFTP");
                c->ver_sent = 1;
                c->state = ST_WAIT_USR;
            }
        } else if (c->state == ST_WAIT_USR) {
            if (cmd.code == MSNP_VER && c->ver_sent && !c->extra_ver) {
                /* Both sides may have opened with VER; one more is harmless. */
                c->extra_ver = 1;
                continue;
            }
            if (cmd.code != MSNP_USR || cmd.argc != 2) refusal = "expected USR email cookie";
            else if (!msnp_str_eq(cmd.argv[1], t->auth_cookie)) refusal = "wrong AuthCookie";
            else if (t->email && !msnp_str_ieq(cmd.argv[0], t->email)) refusal = "unexpected e-mail";
            else {
                char line[64];
                snprintf(line, sizeof(line), "FIL %" PRIu64, t->size);
                send_line(bev, line);
                t->state = ST_WAIT_TFR;
                if (sender_promote(t, idx) != 0) return;
                if (t->cb.started) t->cb.started(t, t->size, t->arg);
                /* More input (TFR) may already be buffered. */
                sender_read_cb(t->bev, t);
                return;
            }
        }
        if (refusal) {
            char peer[64];
            msnc_fd_addr(bufferevent_getfd(bev), 1, peer, sizeof(peer));
            snprintf(notice, sizeof(notice), "refused MSNFTP connection from %s: %s", peer, refusal);
            bufferevent_free(bev);
            c->bev = NULL;
            if (t->tcp_client) {
                /* We opened the only connection there will be. */
                finish(t, MSNC_FTP_REFUSED, notice, 0);
                return;
            }
            if (t->cb.notice) t->cb.notice(t, notice, t->arg);
            return;
        }
    }
}

static void candidate_event_cb(struct bufferevent *bev, short what, void *arg) {
    msnc_ftp *t = arg;
    for (int i = 0; i < MAX_CANDIDATES; i++)
        if (t->cand[i].bev == bev) t->cand[i].bev = NULL;
    bufferevent_free(bev);
    if (t->tcp_client) {
        if (what & BEV_EVENT_TIMEOUT)
            finish(t, MSNC_FTP_TIMEOUT, "receiver said nothing after the connection opened", 0);
        else finish(t, MSNC_FTP_NETWORK, "receiver closed the connection before USR", 0);
    }
}

static void accept_cb(struct evconnlistener *l, int fd, struct sockaddr *sa, int salen, void *arg) {
    msnc_ftp *t = arg;
    (void)l;
    (void)sa;
    (void)salen;
    int idx = -1;
    for (int i = 0; i < MAX_CANDIDATES; i++)
        if (!t->cand[i].bev) idx = i;
    if (idx < 0) {
        /* Every slot holds a connection that has not proved itself. Refusing
         * the newcomer would let a few silent strangers lock the real peer
         * out until the wait ends; dropping the oldest keeps room for it. */
        idx = 0;
        for (int i = 1; i < MAX_CANDIDATES; i++)
            if (t->cand[i].seq < t->cand[idx].seq) idx = i;
        char peer[64], notice[160];
        msnc_fd_addr(bufferevent_getfd(t->cand[idx].bev), 1, peer, sizeof(peer));
        snprintf(notice, sizeof(notice), "dropped a waiting MSNFTP connection from %s to make room", peer);
        bufferevent_free(t->cand[idx].bev);
        t->cand[idx].bev = NULL;
        if (t->cb.notice) {
            t->cb.notice(t, notice, t->arg);
            if (t->state == ST_DONE) { /* cancelled from the notice */
                close(fd);
                return;
            }
        }
    }
    struct bufferevent *bev = bufferevent_socket_new(t->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        close(fd);
        return;
    }
    memset(&t->cand[idx], 0, sizeof(t->cand[idx]));
    t->cand[idx].bev = bev;
    t->cand[idx].state = ST_WAIT_VER;
    t->cand[idx].seq = ++t->accepted;
    msnp_parser_init(&t->cand[idx].parser, MSNP_FROM_UNKNOWN, NULL);
    bufferevent_setcb(bev, candidate_read_cb, NULL, candidate_event_cb, t);
    set_read_timeout(bev, t->idle_ms);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    if (!t->sender) {
        /* Reverse case: the receiver is the TCP server here and opens with
         * VER at once, whether or not the sender speaks first. */
        send_line(bev, "VER MSNFTP");
        t->cand[idx].ver_sent = 1;
    }
}

/* Reverse case, sender side: our connection to the receiver is up. */
static void sender_connected_cb(struct bufferevent *bev, size_t index, const char *why, void *arg) {
    (void)index;
    msnc_ftp *t = arg;
    t->conn = NULL;
    if (!bev) {
        finishf(t, MSNC_FTP_NETWORK, 0, "cannot connect to the receiver: %s", why);
        return;
    }
    candidate *c = &t->cand[0];
    memset(c, 0, sizeof(*c));
    c->bev = bev;
    c->state = ST_WAIT_VER;
    c->ver_sent = 1;
    msnp_parser_init(&c->parser, MSNP_FROM_UNKNOWN, NULL);
    t->state = ST_WAIT_VER;
    bufferevent_setcb(bev, candidate_read_cb, NULL, candidate_event_cb, t);
    set_read_timeout(bev, t->idle_ms);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    send_line(bev, "VER MSNFTP");
    report_connected(t, bev);
}

static void sender_read_cb(struct bufferevent *bev, void *arg) {
    msnc_ftp *t = arg;
    msnp_cmd cmd;
    char why[128];
    char linebuf[LINE_MAX_BYTES];
    while (t->state != ST_DONE) {
        int r = next_line(bev, &t->parser, &cmd, why, sizeof(why), linebuf);
        if (r == 0) return;
        if (r < 0) {
            finishf(t, MSNC_FTP_PROTOCOL, 0, "bad line from receiver: %s", why);
            return;
        }
        if (sender_handle_end(t, &cmd)) return;
        if (t->state == ST_WAIT_TFR && cmd.code == MSNP_TFR) {
            t->state = ST_DATA;
            /* The receiver is silent while data flows: watch writes instead. */
            set_write_timeout(bev, t->idle_ms);
            /* Shorter than offered already (cut between the offer and now):
             * end it before sending a part the receiver would throw away. */
            struct stat st;
            if (fstat(t->fd, &st) == 0 && (uint64_t)st.st_size < t->size) {
                sender_shrank(t, (uint64_t)st.st_size);
                return;
            }
            sender_fill(t);
            if (t->state == ST_DONE) return;
        } else {
            finishf(t, MSNC_FTP_PROTOCOL, 0, "unexpected %s from receiver", cmd.name);
            return;
        }
    }
}

static void sender_write_cb(struct bufferevent *bev, void *arg) {
    (void)bev;
    msnc_ftp *t = arg;
    if (t->state == ST_DATA) sender_fill(t);
    /* all framed: the rest of the progress is the buffer draining */
    else if (t->state == ST_WAIT_BYE) sender_progress(t);
}

static void sender_event_cb(struct bufferevent *bev, short what, void *arg) {
    (void)bev;
    msnc_ftp *t = arg;
    if (what & BEV_EVENT_TIMEOUT) finish(t, MSNC_FTP_TIMEOUT, "receiver stopped responding", 0);
    else if (what & BEV_EVENT_EOF)
        finish(t, MSNC_FTP_NETWORK,
               t->state == ST_WAIT_BYE ? "receiver closed before confirming (no BYE)"
                                       : "receiver closed the connection",
               0);
    else finishf(t, MSNC_FTP_NETWORK, 0, "connection error: %s", strerror(errno));
}

static void accept_timeout_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    msnc_ftp *t = arg;
    const char *why;
    if (t->sender)
        why = t->tcp_client ? "could not reach the receiver in time" : "nobody connected to receive the file";
    else why = t->tcp_client ? "could not reach the sender in time" : "the sender never connected";
    finish(t, MSNC_FTP_TIMEOUT, why, 0);
}

static int arm_accept_timer(msnc_ftp *t, unsigned ms) {
    if (!ms) ms = DEFAULT_ACCEPT_MS;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    t->timer = evtimer_new(t->base, accept_timeout_cb, t);
    return t->timer && evtimer_add(t->timer, &tv) == 0 ? 0 : -1;
}

/* The data connection's first step, for either role: listen on a port of
 * [first, last], or connect to `to` (its second target the alternative),
 * then wait at most accept_ms for the other side. 0, or -1 with err set
 * and t released. */
static int open_data(msnc_ftp *t, const char *bind_ip, int listen, uint16_t first, uint16_t last,
                     const msnc_target to[2], msnc_connect_any_cb connected, unsigned accept_ms, char *err,
                     size_t errcap) {
    if (listen) {
        t->state = ST_LISTENING;
        t->listener = msnc_listen_range(t->base, bind_ip, first, last, accept_cb, t, &t->port, err, errcap);
    } else {
        t->tcp_client = 1;
        t->state = ST_CONNECTING;
        t->conn = msnc_connect_any_start(t->base, bind_ip, to, 2, connected, t, err, errcap);
    }
    if (!t->listener && !t->conn) {
        release(t, 0, 0);
        return -1;
    }
    if (arm_accept_timer(t, accept_ms) != 0) {
        snprintf(err, errcap, "out of memory");
        release(t, 0, 0);
        return -1;
    }
    return 0;
}

static msnc_ftp *ftp_new(struct event_base *base, const msnc_ftp_callbacks *cb, void *arg) {
    msnc_ftp *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->base = base;
    if (cb) t->cb = *cb;
    t->arg = arg;
    t->fd = -1;
    t->stage = malloc(STAGE_BYTES);
    if (!t->stage) {
        free(t);
        return NULL;
    }
    return t;
}

msnc_ftp *msnc_ftp_send_start(struct event_base *base, const msnc_ftp_send_opts *o, const msnc_ftp_callbacks *cb,
                              void *arg, char *err, size_t errcap) {
    if (!o->path || !o->auth_cookie || !*o->auth_cookie) {
        snprintf(err, errcap, "file and AuthCookie required");
        return NULL;
    }
    msnc_ftp *t = ftp_new(base, cb, arg);
    if (!t) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    t->sender = 1;
    t->state = ST_LISTENING;
    t->idle_ms = o->idle_timeout_ms ? o->idle_timeout_ms : DEFAULT_IDLE_MS;
    t->block_size = o->block_size ? o->block_size : MSNFTP_BLOCK_MAX;
    t->path = xstrdup(o->path);
    t->email = xstrdup(o->expect_email);
    t->auth_cookie = xstrdup(o->auth_cookie);
    t->max_rate = o->max_rate;
    /* O_NONBLOCK: the file offered may have been replaced since by a FIFO,
     * whose open would otherwise wait for a writer with the whole event loop.
     * A regular file gets its blocking reads back below. */
    t->fd = open(o->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (t->fd < 0 || fstat(t->fd, &st) != 0) {
        snprintf(err, errcap, "cannot open %s: %s", o->path, strerror(errno));
        release(t, 0, 0);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "%s is not a regular file", o->path);
        release(t, 0, 0);
        return NULL;
    }
    (void)fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) & ~O_NONBLOCK);
    t->size = o->has_offered_size ? o->offered_size : (uint64_t)st.st_size;
    msnc_target to[2] = {{o->connect_host, o->connect_port}, {o->connect_alt_host, o->connect_alt_port}};
    int listen = !(o->connect_host && *o->connect_host);
    if (open_data(t, o->bind_ip, listen, o->port_first, o->port_last, to, sender_connected_cb, o->accept_timeout_ms,
                  err, errcap) != 0)
        return NULL;
    return t;
}

/* ---------------------------------------------------------------- receiver */

static int flush_stage(msnc_ftp *t) {
    size_t off = 0;
    while (off < t->stage_len) {
        ssize_t w = write(t->fd, t->stage + off, t->stage_len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        off += (size_t)w;
    }
    t->stage_len = 0;
    return 0;
}

/* what names the step; the report adds the directory, which is what the
 * user has to look at (full, removed, read-only). */
static void receiver_fail_io(msnc_ftp *t, const char *what, int e) {
    send_line(t->bev, "BYE 2147942405");
    finishf(t, MSNC_FTP_LOCAL_IO, MSNFTP_BYE_DISK_FULL, "%s in %s: %s", what, t->dir, strerror(e));
}

/* All bytes are in: make the file visible under a name that is not taken. */
static void receiver_complete(msnc_ftp *t) {
    if (flush_stage(t) != 0) {
        receiver_fail_io(t, "cannot write the file", errno);
        return;
    }
    struct stat st;
    if (fstat(t->fd, &st) != 0 || (uint64_t)st.st_size != t->size) {
        send_line(t->bev, "BYE 2147942405");
        finish(t, MSNC_FTP_LOCAL_IO, "size on disk does not match", MSNFTP_BYE_DISK_FULL);
        return;
    }
    if (fdatasync(t->fd) != 0 && errno != EINVAL && errno != EROFS) {
        receiver_fail_io(t, "cannot sync the file", errno);
        return;
    }
    close(t->fd);
    t->fd = -1;
    char final[PATH_MAX];
    const char *dot = strrchr(t->filename, '.');
    size_t stem = dot && dot != t->filename ? (size_t)(dot - t->filename) : strlen(t->filename);
    /* An "extension" that leaves no room for " (n)" and a byte of the stem
     * within NAME_MAX ("a.<253 bytes>") is no extension: the mark then goes
     * at the end of the shortened name, which always fits. */
    if (strlen(t->filename) - stem + strlen(" (99)") >= NAME_MAX) stem = strlen(t->filename);
    int linked = 0, e = 0;
    for (int n = 0; n < 100 && !linked; n++) {
        if (n == 0) {
            snprintf(final, sizeof(final), "%s/%s", t->dir, t->filename);
        } else { /* "name (n).ext", the name shortened to keep it within NAME_MAX */
            char mark[16];
            int mn = snprintf(mark, sizeof(mark), " (%d)", n);
            size_t ext = strlen(t->filename + stem);
            size_t keep = msnp_utf8_prefix(t->filename, stem, NAME_MAX - ext - (size_t)mn);
            snprintf(final, sizeof(final), "%s/%.*s%s%s", t->dir, (int)keep, t->filename, mark, t->filename + stem);
        }
        /* link() never replaces an existing file, unlike rename(). */
        if (link(t->tmp_path, final) == 0) {
            linked = 1;
        } else if (errno == EEXIST) {
            continue;
        } else if (errno == EPERM || errno == ENOTSUP || errno == EXDEV) {
            if (access(final, F_OK) == 0) continue;
            if (rename(t->tmp_path, final) == 0) {
                linked = 2;
            } else {
                e = errno;
                break;
            }
        } else {
            e = errno;
            break;
        }
    }
    if (!linked) {
        receiver_fail_io(t, "cannot name the received file", e ? e : EEXIST);
        return;
    }
    if (linked == 1) unlink(t->tmp_path);
    free(t->tmp_path);
    t->tmp_path = NULL;
    free(t->path);
    t->path = strdup(final);
    send_line(t->bev, "BYE 16777989");
    finish(t, MSNC_FTP_OK, "received", MSNFTP_BYE_RECEIVED_OK);
}

static void receiver_on_fil(msnc_ftp *t, uint64_t size) {
    if (t->expected != UINT64_MAX && size != t->expected) {
        send_line(t->bev, "CCL");
        finishf(t, MSNC_FTP_PROTOCOL, 0, "sender announced %" PRIu64 " bytes, invitation said %" PRIu64, size,
                t->expected);
        return;
    }
    t->size = size;
    struct statvfs vfs;
    if (statvfs(t->dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < size) {
        send_line(t->bev, "BYE 2147942405");
        finishf(t, MSNC_FTP_LOCAL_IO, MSNFTP_BYE_DISK_FULL, "not enough space in %s for %" PRIu64 " bytes", t->dir,
                size);
        return;
    }
    /* a name near NAME_MAX would not fit with the dot and ".part-XXXXXX" */
    size_t keep = msnp_utf8_prefix(t->filename, strlen(t->filename), NAME_MAX - strlen(".") - strlen(".part-XXXXXX"));
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/.%.*s.part-XXXXXX", t->dir, (int)keep, t->filename);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        send_line(t->bev, "BYE 2147942405");
        finishf(t, MSNC_FTP_LOCAL_IO, MSNFTP_BYE_DISK_FULL, "cannot create a file in %s: %s", t->dir, strerror(e));
        return;
    }
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    /* mkstemp makes 0600; a received file gets the usual 0666 & ~umask. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, (mode_t)(0666 & ~mask));
    t->fd = fd;
    t->tmp_path = strdup(tmp);
    t->state = ST_DATA;
    send_line(t->bev, "TFR");
    if (t->cb.started) t->cb.started(t, size, t->arg);
    if (t->state == ST_DATA && size == 0) receiver_complete(t);
}

/* Consume blocks. Returns after the input is exhausted or the transfer ended. */
static void receiver_data(msnc_ftp *t) {
    struct evbuffer *in = bufferevent_get_input(t->bev);
    for (;;) {
        if (t->state != ST_DATA) return;
        if (t->block_left == 0) {
            unsigned char h[MSNFTP_BLOCK_HEADER];
            if (evbuffer_copyout(in, h, sizeof(h)) < (ev_ssize_t)sizeof(h)) break;
            msnftp_block b;
            if (msnftp_block_decode(h, sizeof(h), &b) < 0) {
                send_line(t->bev, "CCL");
                finish(t, MSNC_FTP_PROTOCOL, "bad MSNFTP block header", 0);
                return;
            }
            evbuffer_drain(in, sizeof(h));
            if (b.cancel) {
                finish(t, MSNC_FTP_PEER_CANCELLED, "sender cancelled", 0);
                return;
            }
            if (b.len > t->size - t->done) {
                send_line(t->bev, "CCL");
                finish(t, MSNC_FTP_PROTOCOL, "sender sent more than the announced size", 0);
                return;
            }
            t->block_left = b.len;
            continue;
        }
        size_t avail = evbuffer_get_length(in);
        if (avail == 0) break;
        size_t n = t->block_left;
        if (n > avail) n = avail;
        if (n > STAGE_BYTES - t->stage_len) n = STAGE_BYTES - t->stage_len;
        evbuffer_remove(in, t->stage + t->stage_len, n);
        t->stage_len += n;
        t->block_left -= (uint32_t)n;
        t->done += n;
        if (t->stage_len == STAGE_BYTES && flush_stage(t) != 0) {
            receiver_fail_io(t, "cannot write the file", errno);
            return;
        }
        if (t->done == t->size && t->block_left == 0) {
            receiver_complete(t);
            return;
        }
    }
    if (t->cb.progress) t->cb.progress(t, t->done, t->size, t->arg);
}

static void send_usr(msnc_ftp *t) {
    char line[512];
    snprintf(line, sizeof(line), "USR %s %s", t->email, t->auth_cookie);
    send_line(t->bev, line);
    t->state = ST_WAIT_FIL;
}

static void receiver_read_cb(struct bufferevent *bev, void *arg) {
    msnc_ftp *t = arg;
    msnp_cmd cmd;
    char why[128];
    char linebuf[LINE_MAX_BYTES];
    while (t->state == ST_WAIT_VER || t->state == ST_WAIT_FIL) {
        int r = next_line(bev, &t->parser, &cmd, why, sizeof(why), linebuf);
        if (r == 0) return;
        if (r < 0) {
            finishf(t, MSNC_FTP_PROTOCOL, 0, "bad line from sender: %s", why);
            return;
        }
        if (t->state == ST_WAIT_VER) {
            if (!is_ver_msnftp(&cmd)) {
                finish(t, MSNC_FTP_PROTOCOL, "sender does not speak MSNFTP", 0);
                return;
            }
            send_usr(t);
        } else if (cmd.code == MSNP_VER && !t->extra_ver) {
            /* A sender that also opened with VER: tolerated once. */
            t->extra_ver = 1;
        } else {
            uint64_t size;
            if (cmd.code == MSNP_FIL && cmd.argc == 1 && parse_u64(cmd.argv[0], &size) == 0) {
                receiver_on_fil(t, size);
            } else if (cmd.code == MSNP_FIL) {
                /* FIL it is, but not "FIL <bytes>" (negative, not decimal,
                 * over 2^64-1, missing, or followed by more fields) */
                finish(t, MSNC_FTP_PROTOCOL, "sender's FIL has no valid size (FIL and the size in decimal bytes)", 0);
                return;
            } else {
                finishf(t, MSNC_FTP_PROTOCOL, 0, "expected FIL, got %s", cmd.name);
                return;
            }
        }
    }
    if (t->state == ST_DATA) receiver_data(t);
}

static void receiver_event_cb(struct bufferevent *bev, short what, void *arg) {
    msnc_ftp *t = arg;
    if (what & BEV_EVENT_TIMEOUT) {
        send_line(bev, "BYE 2164261694");
        finish(t, MSNC_FTP_TIMEOUT, "sender stopped sending", MSNFTP_BYE_TIMEOUT);
    } else if (t->state == ST_CONNECTING) {
        finishf(t, MSNC_FTP_NETWORK, 0, "cannot connect to the sender: %s", strerror(errno));
    } else if (t->state == ST_WAIT_FIL) {
        finish(t, MSNC_FTP_REFUSED, "sender refused us (closed after USR: wrong AuthCookie?)", 0);
    } else {
        finishf(t, MSNC_FTP_NETWORK, 0, "connection lost after %" PRIu64 " of %" PRIu64 " bytes", t->done, t->size);
    }
}

/* The stream chosen, whichever side opened it: bulk I/O, callbacks. */
static void receiver_adopt(msnc_ftp *t) {
    msnc_bev_bulk(t->bev);
    apply_rate(t);
    bufferevent_setcb(t->bev, receiver_read_cb, NULL, receiver_event_cb, t);
    set_read_timeout(t->bev, t->idle_ms);
    bufferevent_enable(t->bev, EV_READ | EV_WRITE);
}

/* Reverse case: the first accepted connection that said VER MSNFTP. */
static void receiver_promote(msnc_ftp *t, int idx) {
    keep_only(t, idx);
    receiver_adopt(t);
    send_usr(t);
    /* The callback may cancel: after that, t is only good for its state. */
    report_connected(t, t->bev);
    if (t->state == ST_DONE) return;
    /* FIL may already be buffered behind the VER. */
    if (evbuffer_get_length(bufferevent_get_input(t->bev))) receiver_read_cb(t->bev, t);
}

static void receiver_connected_cb(struct bufferevent *bev, size_t index, const char *why, void *arg) {
    (void)index;
    msnc_ftp *t = arg;
    t->conn = NULL;
    if (!bev) {
        finishf(t, MSNC_FTP_NETWORK, 0, "cannot connect to the sender: %s", why);
        return;
    }
    if (t->timer) {
        event_free(t->timer);
        t->timer = NULL;
    }
    t->bev = bev;
    t->state = ST_WAIT_VER;
    receiver_adopt(t);
    send_line(bev, "VER MSNFTP");
    report_connected(t, bev);
}

msnc_ftp *msnc_ftp_recv_start(struct event_base *base, const msnc_ftp_recv_opts *o, const msnc_ftp_callbacks *cb,
                              void *arg, char *err, size_t errcap) {
    if ((!o->listen && !o->host) || !o->email || !o->auth_cookie || !o->dir) {
        snprintf(err, errcap, "host, e-mail, AuthCookie and directory required");
        return NULL;
    }
    if (!msnp_param_is_safe(msnp_str_c(o->email)) || !msnp_param_is_safe(msnp_str_c(o->auth_cookie))) {
        snprintf(err, errcap, "e-mail or AuthCookie would break the MSNFTP line");
        return NULL;
    }
    msnc_ftp *t = ftp_new(base, cb, arg);
    if (!t) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    char safe[256];
    msnc_ftp_safe_name(o->filename, safe, sizeof(safe));
    t->state = ST_CONNECTING;
    t->idle_ms = o->idle_timeout_ms ? o->idle_timeout_ms : DEFAULT_IDLE_MS;
    t->dir = xstrdup(o->dir);
    t->filename = xstrdup(safe);
    t->email = xstrdup(o->email);
    t->auth_cookie = xstrdup(o->auth_cookie);
    t->expected = o->expected_size;
    t->port = o->port;
    t->max_rate = o->max_rate;
    msnp_parser_init(&t->parser, MSNP_FROM_UNKNOWN, NULL);
    msnc_target to[2] = {{o->host, o->port}, {o->alt_host, o->alt_port}};
    if (open_data(t, o->bind_ip, o->listen, o->port_first, o->port_last, to, receiver_connected_cb,
                  o->accept_timeout_ms, err, errcap) != 0)
        return NULL;
    return t;
}

/* ------------------------------------------------------------------ common */

uint16_t msnc_ftp_port(const msnc_ftp *t) { return t->port; }
int msnc_ftp_is_sender(const msnc_ftp *t) { return t->sender; }
uint64_t msnc_ftp_size(const msnc_ftp *t) { return t->size; }

void msnc_ftp_cancel(msnc_ftp *t) {
    if (!t || t->state == ST_DONE) return;
    if (t->bev && t->state != ST_CONNECTING && t->state != ST_LISTENING) {
        if (t->sender) {
            if (t->state == ST_DATA || t->state == ST_WAIT_BYE) {
                /* Queued blocks stay: dropping them could cut a block in half
                 * and the marker would then be read as file data. */
                struct evbuffer *out = bufferevent_get_output(t->bev);
                unsigned char m[3];
                msnftp_cancel_encode(m);
                evbuffer_add(out, m, sizeof(m));
            }
        } else {
            send_line(t->bev, "CCL");
        }
    }
    finish(t, MSNC_FTP_CANCELLED, "cancelled locally", t->sender ? 0 : MSNFTP_BYE_CANCELLED);
}
