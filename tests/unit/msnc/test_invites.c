/* Invitation handshakes between two real invitation managers. Their
 * switchboard is replaced by a direct hand-over of the MSG payloads (the
 * switchboard relays payloads untouched); the secondary connections are
 * real loopback sockets on distinct 127.x addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <msnc/invites.h>
#include <msnp/msnp.h>

#include "testfs.h"

#define MAX_LOG 32

typedef struct side {
    struct event_base *base;
    msnc_invites *m;
    struct side *peer;
    const char *email;
    int auto_answer;          /* 1 accept, -1 decline, 0 nothing */
    char sent[MAX_LOG][1600]; /* invitation bodies this side sent */
    int nsent;
    int sent_chat[MAX_LOG];
    msnc_event_type last;
    int got[64]; /* count per event type */
    char last_cancel[64];
    char secondary_transport[8];
    char secondary_local[64], secondary_peer[64];
    char file[512];
    char failed_status[32]; /* status of the last transfer_failed */
    uint64_t failed_size;   /* and its size */
    char warning[256];      /* text of the last warning */
    int other_chat;         /* what other_chat() answers */
} side;

typedef struct delivery {
    side *to;
    side *from;
    int chat;
    char *payload;
    size_t len;
} delivery;

static void deliver_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    delivery *d = arg;
    if (!d->to->m) { /* that side is already gone */
        free(d->payload);
        free(d);
        return;
    }
    msnp_mime mime;
    assert_int_equal(msnp_mime_parse(d->payload, d->len, &mime, NULL), MSNP_MIME_OK);
    assert_int_equal(msnp_content_kind_of(&mime), MSNP_CT_INVITE);
    msnc_invites_on_message(d->to->m, d->chat, d->from->email, mime.body.p, mime.body.n);
    free(d->payload);
    free(d);
}

static int op_send(int chat, uint64_t cookie, const char *payload, size_t len, void *arg) {
    side *s = arg;
    msnp_mime mime;
    assert_int_equal(msnp_mime_parse(payload, len, &mime, NULL), MSNP_MIME_OK);
    /* the message is the one of the invitation it is sent for */
    char field[64];
    snprintf(field, sizeof(field), "Invitation-Cookie: %" PRIu64 "\r\n", cookie);
    char body[1600];
    size_t bn = mime.body.n < sizeof(body) - 1 ? mime.body.n : sizeof(body) - 1;
    memcpy(body, mime.body.p, bn);
    body[bn] = '\0';
    assert_non_null(strstr(body, field));
    if (s->nsent < MAX_LOG) {
        size_t n = mime.body.n < 1599 ? mime.body.n : 1599;
        memcpy(s->sent[s->nsent], mime.body.p, n);
        s->sent[s->nsent][n] = '\0';
        s->sent_chat[s->nsent] = chat;
        s->nsent++;
    }
    delivery *d = calloc(1, sizeof(*d));
    d->to = s->peer;
    d->from = s;
    d->chat = chat;
    d->payload = malloc(len);
    memcpy(d->payload, payload, len);
    d->len = len;
    struct timeval now = {0, 0};
    event_base_once(s->base, -1, EV_TIMEOUT, deliver_cb, d, &now);
    return 0;
}

static int op_other(int chat, const char *peer, void *arg) {
    (void)peer;
    side *s = arg;
    return s->other_chat ? s->other_chat : chat;
}

static void op_event(const msnc_event *ev, void *arg) {
    side *s = arg;
    s->last = ev->type;
    s->got[ev->type]++;
    if (ev->type == MSNC_EV_INVITE && s->auto_answer) {
        if (s->auto_answer > 0) assert_int_equal(msnc_invites_accept(s->m, ev->cookie), 0);
        else assert_int_equal(msnc_invites_decline(s->m, ev->cookie), 0);
    }
    if (ev->type == MSNC_EV_INVITE_CANCELLED) snprintf(s->last_cancel, sizeof(s->last_cancel), "%s", ev->text);
    if (ev->type == MSNC_EV_SECONDARY_CONNECTED) {
        snprintf(s->secondary_transport, sizeof(s->secondary_transport), "%s", ev->transport);
        snprintf(s->secondary_local, sizeof(s->secondary_local), "%s", ev->local);
        snprintf(s->secondary_peer, sizeof(s->secondary_peer), "%s", ev->peer);
    }
    if (ev->type == MSNC_EV_TRANSFER_DONE && ev->file) snprintf(s->file, sizeof(s->file), "%s", ev->file);
    if (ev->type == MSNC_EV_TRANSFER_FAILED) {
        snprintf(s->failed_status, sizeof(s->failed_status), "%s", ev->status ? ev->status : "");
        s->failed_size = ev->size;
    }
    if (ev->type == MSNC_EV_WARNING) snprintf(s->warning, sizeof(s->warning), "%s", ev->text ? ev->text : "");
}

typedef struct world {
    struct event_base *base;
    side a, b;
    char dir[128];
} world;

static int setup(void **state) {
    world *w = calloc(1, sizeof(*w));
    w->base = event_base_new();
    snprintf(w->dir, sizeof(w->dir), "/tmp/msnc-inv-unit-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    side *sides[2] = {&w->a, &w->b};
    const char *emails[2] = {"alice@example.com", "bob@example.com"};
    const char *ips[2] = {"127.0.0.2", "127.0.0.3"};
    for (int i = 0; i < 2; i++) {
        side *s = sides[i];
        s->base = w->base;
        s->email = emails[i];
        s->peer = sides[1 - i];
        msnc_invite_config cfg = {0};
        cfg.email = emails[i];
        cfg.bind_ip = ips[i];
        cfg.download_dir = w->dir;
        cfg.invite_timeout_ms = 500;
        cfg.connect_timeout_ms = 3000;
        msnc_invite_ops ops = {op_send, op_other, op_event};
        s->m = msnc_invites_new(w->base, &cfg, &ops, s);
    }
    *state = w;
    return 0;
}

static int teardown(void **state) {
    world *w = *state;
    msnc_invites_free(w->a.m);
    w->a.m = NULL;
    msnc_invites_free(w->b.m);
    w->b.m = NULL;
    struct timeval z = {0, 20000};
    event_base_loopexit(w->base, &z);
    event_base_dispatch(w->base);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
    if (system(cmd) != 0) return -1;
    event_base_free(w->base);
    free(w);
    return 0;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    world *w = arg;
    if ((!w->a.m || msnc_invites_active(w->a.m) == 0) && (!w->b.m || msnc_invites_active(w->b.m) == 0))
        event_base_loopbreak(w->base);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Run until neither side has an invitation left (bounded: 8 s). */
static void run(world *w) {
    struct event *t = event_new(w->base, -1, EV_PERSIST, tick_cb, w);
    struct event *d = evtimer_new(w->base, stop_cb, w->base);
    struct timeval tv = {0, 5000}, dl = {8, 0};
    evtimer_add(t, &tv);
    evtimer_add(d, &dl);
    event_base_dispatch(w->base);
    event_free(t);
    event_free(d);
}

static msnp_invite parse_sent(const side *s, int i) {
    msnp_invite inv;
    assert_true(i < s->nsent);
    assert_int_equal(msnp_invite_parse(s->sent[i], strlen(s->sent[i]), &inv, NULL), MSNP_INVITE_OK);
    return inv;
}

static void app_session(void **state, msnp_app_kind kind, const char *transport) {
    world *w = *state;
    w->b.auto_answer = 1;
    char err[128];
    uint64_t cookie = msnc_invites_start(w->a.m, 1, "bob@example.com", kind, 0, err, sizeof(err));
    assert_true(cookie != 0);
    run(w);
    assert_int_equal(w->a.got[MSNC_EV_SECONDARY_CONNECTED], 1);
    assert_int_equal(w->b.got[MSNC_EV_SECONDARY_CONNECTED], 1);
    assert_string_equal(w->a.secondary_transport, transport);
    /* Each side's socket really is on its own address. */
    assert_true(strncmp(w->a.secondary_local, "127.0.0.2:", 10) == 0);
    assert_true(strncmp(w->b.secondary_local, "127.0.0.3:", 10) == 0);
    assert_true(strncmp(w->a.secondary_peer, "127.0.0.3:", 10) == 0);
    /* The INVITE names the application in a way the codec classifies back. */
    msnp_invite inv = parse_sent(&w->a, 0);
    assert_int_equal(inv.command, MSNP_INVITE_INVITE);
    assert_int_equal(inv.cookie, cookie);
    assert_int_equal(msnp_invite_classify(&inv, NULL), kind);
    assert_true(msnp_str_eq(inv.session_protocol, "SM1"));
    /* Every message carries the same cookie. */
    for (int i = 0; i < w->a.nsent; i++) assert_int_equal(parse_sent(&w->a, i).cookie, cookie);
    for (int i = 0; i < w->b.nsent; i++) assert_int_equal(parse_sent(&w->b, i).cookie, cookie);
}

static void test_voice(void **state) {
    world *w = *state;
    w->b.other_chat = 2; /* bob answers on the second switchboard */
    app_session(state, MSNP_APP_VOICE, "udp");
    msnp_invite inv = parse_sent(&w->a, 0);
    assert_non_null(strstr(w->a.sent[0], "Requested:SIP_A"));
    (void)inv;
    /* bob: ACCEPT with his IP on chat 2; alice answers there with ip:port. */
    assert_int_equal(w->b.sent_chat[0], 2);
    msnp_invite b_acc = parse_sent(&w->b, 0);
    assert_true(msnp_str_eq(b_acc.ip, "127.0.0.3"));
    msnp_invite a_acc = parse_sent(&w->a, 1);
    assert_int_equal(a_acc.command, MSNP_INVITE_ACCEPT);
    assert_int_equal(w->a.sent_chat[1], 2);
    assert_true(msnp_str_eq(a_acc.ip, "127.0.0.2"));
    assert_true(a_acc.has_ip_port);
}

static void test_video(void **state) {
    world *w = *state;
    app_session(state, MSNP_APP_VIDEO, "udp");
    assert_non_null(strstr(w->a.sent[0], "Requested:SIP_V"));
}

static void test_whiteboard(void **state) {
    world *w = *state;
    app_session(state, MSNP_APP_WHITEBOARD, "tcp");
    /* alice's ACCEPT carries an address without a port; bob's CONTEXT the port. */
    msnp_invite a_acc = parse_sent(&w->a, 1);
    assert_int_equal(a_acc.command, MSNP_INVITE_ACCEPT);
    assert_true(msnp_str_eq(a_acc.ip, "127.0.0.2"));
    assert_false(a_acc.has_ip_port);
    assert_false(a_acc.has_port);
    msnp_invite ctx = parse_sent(&w->b, 1);
    assert_int_equal(ctx.command, MSNP_INVITE_CONTEXT);
    assert_true(ctx.has_context_addr);
    assert_true(msnp_str_eq(ctx.context_host, "127.0.0.3"));
}

static void test_app_sharing(void **state) { app_session(state, MSNP_APP_APP_SHARING, "tcp"); }

static void test_remote_assistance(void **state) {
    world *w = *state;
    app_session(state, MSNP_APP_REMOTE_ASSISTANCE, "tcp");
    msnp_invite a_acc = parse_sent(&w->a, 1);
    assert_true(a_acc.has_context_addr);
    assert_true(msnp_str_eq(a_acc.context_host, "127.0.0.2"));
}

static void test_file_transfer(void **state) {
    world *w = *state;
    w->b.auto_answer = 1;
    char src[256];
    snprintf(src, sizeof(src), "%s/report.txt", w->dir);
    FILE *f = fopen(src, "w");
    fputs("quarterly numbers\n", f);
    fclose(f);
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/in", w->dir);
    mkdir(sub, 0700);
    msnc_invites_free(w->b.m);
    msnc_invite_config cfg = {0};
    cfg.email = "bob@example.com";
    cfg.bind_ip = "127.0.0.3";
    cfg.download_dir = sub;
    msnc_invite_ops ops = {op_send, op_other, op_event};
    w->b.m = msnc_invites_new(w->base, &cfg, &ops, &w->b);
    char err[128];
    uint64_t cookie = msnc_invites_send_file(w->a.m, 1, "bob@example.com", src, err, sizeof(err));
    assert_true(cookie != 0);
    run(w);
    assert_int_equal(w->a.got[MSNC_EV_TRANSFER_DONE], 1);
    assert_int_equal(w->b.got[MSNC_EV_TRANSFER_DONE], 1);
    msnp_invite inv = parse_sent(&w->a, 0);
    assert_int_equal(msnp_invite_classify(&inv, NULL), MSNP_APP_FILE_TRANSFER);
    assert_true(msnp_str_eq(inv.file, "report.txt"));
    assert_int_equal(inv.file_size, 18);
    msnp_invite b_acc = parse_sent(&w->b, 0);
    assert_true(msnp_str_eq(b_acc.request_data, "IP-Address:"));
    msnp_invite a_acc = parse_sent(&w->a, 1);
    assert_true(msnp_str_eq(a_acc.ip, "127.0.0.2"));
    assert_true(a_acc.has_port && a_acc.has_portx);
    assert_int_equal(msnp_portx_decode(a_acc.portx), a_acc.port);
    assert_true(a_acc.auth_cookie.n > 0);
    char got[512];
    snprintf(got, sizeof(got), "%s/report.txt", sub);
    assert_string_equal(w->b.file, got);
}

/* Offers file NAME (one byte long) in the test directory: it must be
 * refused at once with an error holding WHY and the path, and nothing
 * announced, warned or sent. */
static void offer_refused(world *w, const char *name, const char *why) {
    char src[256];
    snprintf(src, sizeof(src), "%s/%s", w->dir, name);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
    char err[512];
    uint64_t cookie = msnc_invites_send_file(w->a.m, 1, "bob@example.com", src, err, sizeof(err));
    assert_true(cookie == 0);
    assert_non_null(strstr(err, why));
    assert_non_null(strstr(err, src));
    assert_int_equal(w->a.got[MSNC_EV_INVITE_SENT], 0);
    assert_int_equal(w->a.got[MSNC_EV_WARNING], 0);
    assert_int_equal(w->a.nsent, 0);
}

/* A name with a line break cannot be an invitation's header value. */
static void test_file_name_with_a_line_break(void **state) {
    offer_refused(*state, "two\nlines.txt", "control character (0x0A)");
}

/* The invitation says charset=UTF-8: a Latin-1 name cannot be carried. */
static void test_file_name_not_utf8(void **state) { offer_refused(*state, "caf\xe9.txt", "its name is not UTF-8"); }

static void test_decline(void **state) {
    world *w = *state;
    w->b.auto_answer = -1;
    char err[128];
    assert_true(msnc_invites_start(w->a.m, 1, "bob@example.com", MSNP_APP_WHITEBOARD, 0, err, sizeof(err)) != 0);
    run(w);
    assert_string_equal(w->a.last_cancel, "REJECT");
    assert_int_equal(w->a.got[MSNC_EV_INVITE_CANCELLED], 1);
    assert_int_equal(w->b.got[MSNC_EV_INVITE_CANCELLED], 1);
}

static void test_timeout(void **state) {
    world *w = *state; /* bob never answers; the invite timeout is 500 ms */
    char err[128];
    assert_true(msnc_invites_start(w->a.m, 1, "bob@example.com", MSNP_APP_VOICE, 0, err, sizeof(err)) != 0);
    run(w);
    assert_string_equal(w->a.last_cancel, "TIMEOUT");
    /* bob heard the CANCEL and dropped the offer too */
    assert_string_equal(w->b.last_cancel, "TIMEOUT");
}

static void test_unknown_application(void **state) {
    world *w = *state;
    const char body[] = "Application-Name: Chess\r\nApplication-GUID: {00000000-1111-2222-3333-444444444444}\r\n"
                        "Invitation-Command: INVITE\r\nInvitation-Cookie: 55\r\n\r\n";
    msnc_invites_on_message(w->b.m, 1, "alice@example.com", body, sizeof(body) - 1);
    assert_int_equal(w->b.got[MSNC_EV_INVITE], 0);
    msnp_invite c = parse_sent(&w->b, 0);
    assert_int_equal(c.command, MSNP_INVITE_CANCEL);
    assert_true(msnp_str_eq(c.cancel_code, "REJECT_NOT_INSTALLED"));
}

static void test_malformed_and_foreign(void **state) {
    world *w = *state;
    const char junk[] = "this is not a header block\r\n";
    msnc_invites_on_message(w->b.m, 1, "alice@example.com", junk, sizeof(junk) - 1);
    assert_int_equal(w->b.got[MSNC_EV_WARNING], 1);
    /* ACCEPT/CANCEL for a cookie nobody started: ignored. */
    const char acc[] = "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 4\r\nIP-Address: 127.0.0.9\r\nPort: 1\r\n\r\n";
    msnc_invites_on_message(w->b.m, 1, "alice@example.com", acc, sizeof(acc) - 1);
    assert_int_equal(w->b.nsent, 0);
    assert_int_equal(msnc_invites_accept(w->b.m, 12345), -1);
}

/* ---------------------------------------------------- reverse connection */

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n++;
    closedir(d);
    return n;
}

/* Replace one side's manager: its own download directory and options. */
static void remake(world *w, side *s, const char *subdir, int no_incoming, unsigned connect_ms, uint16_t port) {
    msnc_invites_free(s->m);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/%s", w->dir, subdir);
    mkdir(dir, 0700);
    msnc_invite_config cfg = {0};
    cfg.email = s->email;
    cfg.bind_ip = s == &w->a ? "127.0.0.2" : "127.0.0.3";
    cfg.download_dir = dir;
    cfg.invite_timeout_ms = 2000;
    cfg.connect_timeout_ms = connect_ms;
    cfg.no_incoming = no_incoming;
    cfg.ftp_port_first = cfg.ftp_port_last = port;
    msnc_invite_ops ops = {op_send, op_other, op_event};
    s->m = msnc_invites_new(w->base, &cfg, &ops, s);
}

static void write_file(const char *path, size_t size) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < size; i++) fputc((int)(i * 7u & 0xff), f);
    fclose(f);
}

static void reverse_transfer(void **state, int receiver_no_incoming) {
    world *w = *state;
    remake(w, &w->a, "a", 1, 3000, 0);
    remake(w, &w->b, "b", receiver_no_incoming, 3000, 0);
    w->b.auto_answer = 1;
    char src[256], err[128];
    snprintf(src, sizeof(src), "%s/a/rev.bin", w->dir);
    write_file(src, 70001);
    uint64_t cookie = msnc_invites_send_file(w->a.m, 1, "bob@example.com", src, err, sizeof(err));
    assert_true(cookie != 0);
    run(w);
    assert_int_equal(w->a.got[MSNC_EV_TRANSFER_DONE], 1);
    assert_int_equal(w->b.got[MSNC_EV_TRANSFER_DONE], 1);
    msnp_invite inv = parse_sent(&w->a, 0);
    assert_true(msnp_str_eq(inv.connectivity, "N"));
    /* The receiver's ACCEPT carries its address, port and cookie. */
    msnp_invite acc = parse_sent(&w->b, 0);
    assert_int_equal(acc.command, MSNP_INVITE_ACCEPT);
    assert_true(acc.sender_connect);
    assert_true(msnp_str_eq(acc.ip, "127.0.0.3"));
    assert_true(acc.has_port && acc.has_portx);
    assert_int_equal(msnp_portx_decode(acc.portx), acc.port);
    assert_true(acc.auth_cookie.n > 0);
    /* The sender never listens and sends no second ACCEPT. */
    assert_int_equal(w->a.nsent, 1);
    assert_int_equal(w->a.got[MSNC_EV_SECONDARY_LISTEN], 0);
    assert_int_equal(w->b.got[MSNC_EV_SECONDARY_LISTEN], 1);
    assert_true(strncmp(w->a.secondary_local, "127.0.0.2:", 10) == 0);
    assert_true(strncmp(w->a.secondary_peer, "127.0.0.3:", 10) == 0);
    assert_int_equal(w->b.got[MSNC_EV_WARNING], receiver_no_incoming ? 1 : 0);
}

static void test_reverse_file_transfer(void **state) { reverse_transfer(state, 0); }

/* Both ends behind Connectivity N: the receiver says so and listens anyway
 * (they may share a network; on loopback they do). */
static void test_reverse_both_no_incoming(void **state) { reverse_transfer(state, 1); }

static const char reverse_invite[] = "Application-Name: File Transfer\r\n"
                                     "Application-GUID: {5D3E02AB-6190-11D3-BBBB-00C04F795683}\r\n"
                                     "Invitation-Command: INVITE\r\nInvitation-Cookie: 777\r\n"
                                     "Application-File: never.bin\r\nApplication-FileSize: 10\r\n"
                                     "Connectivity: N\r\n\r\n";

/* A sender that never connects: the listening receiver gives up after
 * connect_timeout, says FTTIMEOUT, and leaves no socket or file behind. */
static void test_reverse_sender_never_connects(void **state) {
    world *w = *state;
    remake(w, &w->b, "b", 0, 300, 0);
    int fds = open_fds();
    msnc_invites_on_message(w->b.m, 1, "alice@example.com", reverse_invite, sizeof(reverse_invite) - 1);
    assert_int_equal(msnc_invites_accept(w->b.m, 777), 0);
    assert_true(open_fds() > fds); /* the listener */
    run(w);
    assert_int_equal(w->b.got[MSNC_EV_TRANSFER_FAILED], 1);
    assert_string_equal(w->b.failed_status, "timeout");
    msnp_invite c = parse_sent(&w->b, w->b.nsent - 1);
    assert_int_equal(c.command, MSNP_INVITE_CANCEL);
    assert_true(msnp_str_eq(c.cancel_code, "FTTIMEOUT"));
    assert_int_equal(open_fds(), fds);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/b", w->dir);
    assert_int_equal(dir_entries(dir), 0);
}

/* /cancel while the receiver listens: OUTBANDCANCEL, the port is closed. */
static void test_reverse_cancel_while_listening(void **state) {
    world *w = *state;
    remake(w, &w->b, "b", 0, 3000, 0);
    int fds = open_fds();
    msnc_invites_on_message(w->b.m, 1, "alice@example.com", reverse_invite, sizeof(reverse_invite) - 1);
    assert_int_equal(msnc_invites_accept(w->b.m, 777), 0);
    msnp_invite acc = parse_sent(&w->b, 0);
    assert_true(acc.sender_connect && acc.has_port);
    assert_int_equal(msnc_invites_cancel(w->b.m, 777), 0);
    msnp_invite c = parse_sent(&w->b, 1);
    assert_true(msnp_str_eq(c.cancel_code, "OUTBANDCANCEL"));
    assert_int_equal(msnc_invites_active(w->b.m), 0);
    run(w);
    assert_int_equal(open_fds(), fds);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(acc.port);
    inet_pton(AF_INET, "127.0.0.3", &sin.sin_addr);
    assert_int_not_equal(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
    close(s);
}

/* The sender gives up (CANCEL) while the receiver listens for it: the
 * receiver stops listening and reports the peer's cancel. */
static void test_peer_cancels_while_listening(void **state) {
    world *w = *state;
    remake(w, &w->b, "b", 0, 3000, 0);
    int fds = open_fds();
    msnc_invites_on_message(w->b.m, 1, "alice@example.com", reverse_invite, sizeof(reverse_invite) - 1);
    assert_int_equal(msnc_invites_accept(w->b.m, 777), 0);
    int sent = w->b.nsent;
    const char cancel[] = "Invitation-Command: CANCEL\r\nInvitation-Cookie: 777\r\nCancel-Code: OUTBANDCANCEL\r\n\r\n";
    msnc_invites_on_message(w->b.m, 1, "alice@example.com", cancel, sizeof(cancel) - 1);
    assert_int_equal(w->b.got[MSNC_EV_TRANSFER_FAILED], 1);
    assert_int_equal(msnc_invites_active(w->b.m), 0);
    assert_int_equal(w->b.nsent, sent); /* no CANCEL back for a CANCEL */
    run(w);
    assert_int_equal(open_fds(), fds);
}

/* Shutting the manager down while MSNFTP is still waiting for its peer:
 * the peer hears OUTBANDCANCEL instead of waiting in vain. */
static void test_free_while_listening(void **state) {
    world *w = *state;
    remake(w, &w->b, "b", 0, 3000, 0);
    int fds = open_fds();
    msnc_invites_on_message(w->b.m, 1, "alice@example.com", reverse_invite, sizeof(reverse_invite) - 1);
    assert_int_equal(msnc_invites_accept(w->b.m, 777), 0);
    int before = w->b.nsent;
    msnc_invites_free(w->b.m);
    w->b.m = NULL;
    assert_int_equal(w->b.nsent, before + 1);
    msnp_invite c = parse_sent(&w->b, before);
    assert_int_equal(c.command, MSNP_INVITE_CANCEL);
    assert_true(msnp_str_eq(c.cancel_code, "OUTBANDCANCEL"));
    run(w);
    assert_int_equal(open_fds(), fds);
}

/* A listening socket that accepts nothing: connects to it complete (the
 * kernel's backlog) but nobody ever speaks. */
static int silent_listener(const char *ip, uint16_t *port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &sin.sin_addr);
    assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(s, 4), 0);
    socklen_t len = sizeof(sin);
    getsockname(s, (struct sockaddr *)&sin, &len);
    *port = ntohs(sin.sin_port);
    return s;
}

static uint64_t reverse_offer(world *w) {
    char src[256], err[128];
    snprintf(src, sizeof(src), "%s/a/x.bin", w->dir);
    write_file(src, 10);
    uint64_t cookie = msnc_invites_send_file(w->a.m, 1, "bob@example.com", src, err, sizeof(err));
    assert_true(cookie != 0);
    return cookie;
}

static void inject_accept(world *w, uint64_t cookie, const char *fields) {
    char body[1200];
    int n = snprintf(body, sizeof(body), "Invitation-Command: ACCEPT\r\nInvitation-Cookie: %llu\r\n%s\r\n",
                     (unsigned long long)cookie, fields);
    msnc_invites_on_message(w->a.m, 1, "bob@example.com", body, (size_t)n);
}

/* The usual direction, a receiver that accepts but never connects: the
 * listening sender gives up after connect_timeout with FTTIMEOUT and
 * closes its port and file. */
static void test_receiver_never_connects(void **state) {
    world *w = *state;
    remake(w, &w->a, "a", 0, 300, 0);
    int fds = open_fds();
    uint64_t cookie = reverse_offer(w); /* a has incoming: a plain INVITE */
    inject_accept(w, cookie, "Launch-Application: FALSE\r\nRequest-Data: IP-Address:\r\n");
    assert_int_equal(w->a.got[MSNC_EV_SECONDARY_LISTEN], 1);
    assert_true(open_fds() > fds);
    run(w);
    assert_int_equal(w->a.got[MSNC_EV_TRANSFER_FAILED], 1);
    assert_string_equal(w->a.failed_status, "timeout");
    msnp_invite c = parse_sent(&w->a, w->a.nsent - 1);
    assert_true(msnp_str_eq(c.cancel_code, "FTTIMEOUT"));
    assert_int_equal(open_fds(), fds);
}

/* /cancel while the sender's reverse connect is in progress. The
 * receiver's port is given as Port, then as PortX alone (Port XOR 0x3141,
 * as official clients obfuscate it): the sender connects to it either
 * way, the port msnsniff predicts from the same ACCEPT. */
static void test_reverse_cancel_while_connecting(void **state) {
    world *w = *state;
    remake(w, &w->a, "a", 1, 3000, 0);
    uint16_t port;
    int ls = silent_listener("127.0.0.3", &port);
    for (int portx = 0; portx < 2; portx++) {
        int fds = open_fds();
        uint64_t cookie = reverse_offer(w);
        char fields[200];
        snprintf(fields, sizeof(fields),
                 "IP-Address: 127.0.0.3\r\n%s: %u\r\nAuthCookie: 99\r\nSender-Connect: TRUE\r\n",
                 portx ? "PortX" : "Port", portx ? (unsigned)(port ^ 0x3141u) : (unsigned)port);
        inject_accept(w, cookie, fields);
        assert_int_equal(msnc_invites_active(w->a.m), 1);
        assert_true(open_fds() > fds); /* the connecting socket and the file */
        assert_int_equal(msnc_invites_cancel(w->a.m, cookie), 0);
        msnp_invite c = parse_sent(&w->a, w->a.nsent - 1);
        assert_true(msnp_str_eq(c.cancel_code, "OUTBANDCANCEL"));
        assert_int_equal(msnc_invites_active(w->a.m), 0);
        run(w);
        assert_int_equal(open_fds(), fds);
    }
    close(ls);
}

/* /send of something that is no regular file (a directory, a FIFO): the
 * error says so, not whatever errno an earlier call left behind. */
static void test_send_not_a_regular_file(void **state) {
    world *w = *state;
    char err[256];
    errno = EINPROGRESS; /* left over from a non-blocking connect */
    assert_int_equal(msnc_invites_send_file(w->a.m, 1, "bob@example.com", "/", err, sizeof(err)), 0);
    assert_string_equal(err, "cannot send /: not a regular file");
    assert_int_equal(msnc_invites_send_file(w->a.m, 1, "bob@example.com", "/nonexistent/x", err, sizeof(err)), 0);
    assert_string_equal(err, "cannot send /nonexistent/x: No such file or directory");
    assert_int_equal(msnc_invites_active(w->a.m), 0);
    assert_int_equal(w->a.nsent, 0);
}

/* Hostile or broken addresses in an ACCEPT: refused with CANCEL FAIL, no
 * connection attempted; a bad internal address next to a good one is
 * simply not used. */
static void test_hostile_addresses(void **state) {
    world *w = *state;
    static const char *bad[] = {"0.0.0.0",
                                "0.1.2.3",
                                "255.255.255.255",
                                "224.0.0.1",
                                "239.255.255.250",
                                "240.0.0.1",
                                "127.0.0.01",
                                "127.0.0.1 x",
                                "1.2.3",
                                "1.2.3.4.5",
                                "256.1.1.1",
                                "127.0.0.1:",
                                "-1.0.0.1",
                                "",
                                "127.0.0.1/8",
                                "0x7f.0.0.1",
                                "127.000000000000000000000000000000000000000000000000000000000000.0.0.1"};
    remake(w, &w->a, "a", 1, 3000, 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int fds = open_fds();
        uint64_t cookie = reverse_offer(w);
        char fields[300];
        snprintf(fields, sizeof(fields), "IP-Address: %s\r\nPort: 6891\r\nAuthCookie: 5\r\nSender-Connect: TRUE\r\n",
                 bad[i]);
        int before = w->a.got[MSNC_EV_INVITE_CANCELLED];
        inject_accept(w, cookie, fields);
        assert_int_equal(w->a.got[MSNC_EV_INVITE_CANCELLED], before + 1);
        assert_string_equal(w->a.last_cancel, "FAIL");
        assert_int_equal(msnc_invites_active(w->a.m), 0);
        assert_int_equal(open_fds(), fds);
    }
    /* Port 0, and an AuthCookie that would break the USR line. */
    uint64_t cookie = reverse_offer(w);
    inject_accept(w, cookie, "IP-Address: 127.0.0.3\r\nPort: 0\r\nAuthCookie: 5\r\nSender-Connect: TRUE\r\n");
    assert_string_equal(w->a.last_cancel, "FAIL");
    cookie = reverse_offer(w);
    inject_accept(w, cookie, "IP-Address: 127.0.0.3\r\nPort: 6891\r\nAuthCookie: 5 6\r\nSender-Connect: TRUE\r\n");
    assert_string_equal(w->a.last_cancel, "FAIL");
    /* Voice: the inviter's address may not be multicast either. */
    remake(w, &w->b, "b", 0, 3000, 0);
    const char voice[] = "Application-Name: Voice Conversation\r\n"
                         "Application-GUID: {02D3C01F-BF30-4825-A83A-DE7AF41648AA}\r\n"
                         "Session-Protocol: SM1\r\nInvitation-Command: INVITE\r\nInvitation-Cookie: 31\r\n\r\n";
    msnc_invites_on_message(w->b.m, 1, "alice@example.com", voice, sizeof(voice) - 1);
    assert_int_equal(msnc_invites_accept(w->b.m, 31), 0);
    const char acc[] = "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 31\r\nIP-Address: 224.0.0.251:5353\r\n\r\n";
    msnc_invites_on_message(w->b.m, 1, "alice@example.com", acc, sizeof(acc) - 1);
    assert_string_equal(w->b.last_cancel, "FAIL");
    assert_int_equal(msnc_invites_active(w->b.m), 0);
    run(w);
}

/* A Session-ID is echoed in every answer: one that no answer could carry
 * (a TAB, Latin-1) is refused when it arrives, not failed on /accept. */
static void test_session_id_not_text(void **state) {
    world *w = *state;
    const char *ids[] = {"{a\tb}", "{caf\xe9}"};
    for (int i = 0; i < 2; i++) {
        char voice[512];
        int n = snprintf(voice, sizeof(voice),
                         "Application-Name: Voice Conversation\r\n"
                         "Application-GUID: {02D3C01F-BF30-4825-A83A-DE7AF41648AA}\r\n"
                         "Session-Protocol: SM1\r\nSession-ID: %s\r\nInvitation-Command: INVITE\r\n"
                         "Invitation-Cookie: %d\r\n\r\n",
                         ids[i], 41 + i);
        w->b.warning[0] = '\0';
        msnc_invites_on_message(w->b.m, 1, "alice@example.com", voice, (size_t)n);
        assert_non_null(strstr(w->b.warning, "Session-ID is not UTF-8 text"));
        assert_int_equal(msnc_invites_active(w->b.m), 0);
    }
}

/* Every port of the range taken: transfer_failed (network) and CANCEL FAIL,
 * on the listening sender and on the listening receiver alike. */
static void test_port_range_exhausted(void **state) {
    world *w = *state;
    uint16_t pa, pb;
    int la = silent_listener("127.0.0.2", &pa);
    int lb = silent_listener("127.0.0.3", &pb);
    remake(w, &w->a, "a", 0, 3000, pa);
    remake(w, &w->b, "b", 0, 3000, pb);
    w->b.auto_answer = 1;
    int fds = open_fds();
    uint64_t cookie = reverse_offer(w); /* not reverse: a has incoming */
    run(w);
    assert_int_equal(w->a.got[MSNC_EV_TRANSFER_FAILED], 1);
    assert_string_equal(w->a.failed_status, "network");
    assert_int_equal(w->a.failed_size, 10); /* the offered file's, though nothing started */
    assert_string_equal(w->b.last_cancel, "FAIL");
    (void)cookie;
    /* The reverse case: the receiver cannot listen. */
    msnc_invites_on_message(w->b.m, 1, "alice@example.com", reverse_invite, sizeof(reverse_invite) - 1);
    run(w);
    assert_int_equal(w->b.got[MSNC_EV_TRANSFER_FAILED], 1);
    assert_string_equal(w->b.failed_status, "network");
    assert_int_equal(w->b.failed_size, 10);
    msnp_invite c = parse_sent(&w->b, w->b.nsent - 1);
    assert_int_equal(c.command, MSNP_INVITE_CANCEL);
    assert_true(msnp_str_eq(c.cancel_code, "FAIL"));
    for (int i = 0; i < w->b.nsent; i++) assert_false(parse_sent(&w->b, i).sender_connect);
    assert_int_equal(open_fds(), fds);
    close(la);
    close(lb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_voice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_video, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whiteboard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_sharing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_assistance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_transfer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_name_with_a_line_break, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_name_not_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_id_not_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_application, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_and_foreign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reverse_file_transfer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reverse_both_no_incoming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reverse_sender_never_connects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reverse_cancel_while_listening, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reverse_cancel_while_connecting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_while_listening, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_cancels_while_listening, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_never_connects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_not_a_regular_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_range_exhausted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
