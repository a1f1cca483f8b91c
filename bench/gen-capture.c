/* gen-capture - a large, reproducible capture for the analyzer benchmark.
 *
 *   gen-capture --out FILE [--size MB (1024)] [--seed N] [--msn-share PCT (30)] [--pcapng]
 *   gen-capture --out FILE --dense SESSIONS [--seed N] [--pcapng]
 *
 * Writes an Ethernet pcap (via msnsynth) mixing, in proportion to bytes,
 * background traffic (HTTP requests with large responses, DNS queries and
 * answers) with complete MSN sessions: DS login and XFR, NS login with MD5,
 * SYN and lists, CHG and presence, XFR SB / CAL / RNG / ANS / JOI, chats with
 * X-MMS-IM-Format and typing notifications, and one invitation per session
 * cycling through every application (file transfer, voice, video,
 * whiteboard, application sharing, remote assistance, and a cancelled one),
 * each followed by its secondary flow: an MSNFTP transfer with blocks and
 * BYE, UDP media packets, or a TCP connection to the Context-Data address.
 *
 * --dense writes nothing but MSN: SESSIONS pairs of users, each pair logging
 * in and opening seven switchboards, one per invitation kind, each with its
 * chat, invitation and secondary flow (small ones: the analyzer's own work
 * on MSNP is the subject). Addresses, switchboard cookies, invitation and
 * MSNFTP cookies and secondary ports are unique in the capture.
 * --pcapng writes the same packets as pcapng (one section, one interface,
 * enhanced packet blocks) instead of classic pcap.
 * The same arguments always give the same bytes. Prints a JSON summary. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msnp/msnp.h>

#include "synth.h"

static msnsynth *W;
static uint64_t msn_bytes, bg_bytes, sessions, invitations[8], ftp_bytes;

static const char *out_path; /* removed when writing fails */

/* A capture cut short (a full disk) would pass for a smaller one: the
 * incomplete file goes. */
static void fail(const char *what) {
    fprintf(stderr, "gen-capture: %s: %s; the incomplete %s is removed\n", what, W ? msnsynth_error(W) : "",
            out_path ? out_path : "file");
    if (out_path) unlink(out_path);
    exit(1);
}

static void ep(msnsynth_endpoint *e, uint32_t ip, uint16_t port) {
    memset(e, 0, sizeof *e);
    e->family = 4;
    e->addr[0] = (uint8_t)(ip >> 24);
    e->addr[1] = (uint8_t)(ip >> 16);
    e->addr[2] = (uint8_t)(ip >> 8);
    e->addr[3] = (uint8_t)ip;
    e->port = port;
}

static void ipstr(uint32_t ip, char *out, size_t cap) {
    snprintf(out, cap, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

static void sendf(msnsynth_tcp *c, int from_server, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void sendf(msnsynth_tcp *c, int from_server, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf) fail("line too long");
    if (msnsynth_tcp_send(c, from_server, buf, (size_t)n) != 0) fail("tcp send");
    msn_bytes += (uint64_t)n;
}

static void send_msg(msnsynth_tcp *c, int from_server, const char *head_fmt_a, const char *payload, size_t n) {
    char head[256];
    int hn = snprintf(head, sizeof head, "%s %zu\r\n", head_fmt_a, n);
    char buf[4096];
    if ((size_t)hn + n > sizeof buf) fail("payload too long");
    memcpy(buf, head, (size_t)hn);
    memcpy(buf + hn, payload, n);
    if (msnsynth_tcp_send(c, from_server, buf, (size_t)hn + n) != 0) fail("tcp send");
    msn_bytes += (uint64_t)hn + n;
}

static const char *const texts[] = {"hi!",
                                    "are you coming tonight?",
                                    "I'll send you the photos now",
                                    "\xe4\xbd\xa0\xe5\xa5\xbd",
                                    "ok, talk later",
                                    "brb, phone"};

/* One NS login (DS first) for user `email` from client ip; returns the open NS connection. */
static msnsynth_tcp *login(uint32_t cip, uint16_t *cport, const char *email, uint32_t ds_ip, uint32_t ns_ip,
                           unsigned contacts) {
    msnsynth_endpoint c, s;
    ep(&c, cip, (*cport)++);
    ep(&s, ds_ip, 1863);
    uint64_t r = msnsynth_rand(W);
    msnsynth_tcp *ds = msnsynth_tcp_open(W, &c, &s, (uint32_t)r, (uint32_t)(r >> 32), 1);
    if (!ds) fail("tcp open");
    char nsip[32];
    ipstr(ns_ip, nsip, sizeof nsip);
    sendf(ds, 0, "VER 1 MSNP7 MSNP6 MSNP5 MSNP4 CVR0\r\n");
    sendf(ds, 1, "VER 1 MSNP7 MSNP6 MSNP5 MSNP4 CVR0\r\n");
    sendf(ds, 0, "CVR 2 0x0409 winnt 5.1 i386 MSNMSGR 5.0.0540 MSMSGS %s\r\n", email);
    sendf(ds, 1, "CVR 2 5.0.0540 5.0.0540 1.0.0863 http://download.example/ http://messenger.example/\r\n");
    sendf(ds, 0, "USR 3 MD5 I %s\r\n", email);
    sendf(ds, 1, "XFR 3 NS %s:1863 0 %u.%u.%u.%u:1863\r\n", nsip, ds_ip >> 24, (ds_ip >> 16) & 255, (ds_ip >> 8) & 255,
          ds_ip & 255);
    msnsynth_tcp_close(ds, 1);

    ep(&c, cip, (*cport)++);
    ep(&s, ns_ip, 1863);
    r = msnsynth_rand(W);
    msnsynth_tcp *ns = msnsynth_tcp_open(W, &c, &s, (uint32_t)r, (uint32_t)(r >> 32), 1);
    if (!ns) fail("tcp open");
    sendf(ns, 0, "VER 4 MSNP7 MSNP6 MSNP5 MSNP4 CVR0\r\n");
    sendf(ns, 1, "VER 4 MSNP7 MSNP6 MSNP5 MSNP4 CVR0\r\n");
    sendf(ns, 0, "USR 5 MD5 I %s\r\n", email);
    unsigned ch1 = (unsigned)(msnsynth_rand(W) % 1000000000u), ch2 = (unsigned)(msnsynth_rand(W) % 1000000000u);
    sendf(ns, 1, "USR 5 MD5 S 1%09u.%09u\r\n", ch1, ch2);
    char chal[32], answer[MSNP_MD5_HEX_LEN + 1];
    snprintf(chal, sizeof chal, "1%09u.%09u", ch1, ch2);
    msnp_login_response(msnp_str_c(chal), msnp_str_c("password"), answer);
    sendf(ns, 0, "USR 6 MD5 S %s\r\n", answer);
    sendf(ns, 1, "USR 6 OK %s %s 1\r\n", email, email);
    sendf(ns, 0, "SYN 7 0\r\n");
    sendf(ns, 1, "SYN 7 12\r\nGTC 7 12 A\r\nBLP 7 12 AL\r\n");
    for (unsigned k = 0; k < contacts; k++)
        sendf(ns, 1, "LST 7 FL 12 %u %u friend%u@example.com Friend%%20%u 0\r\n", k + 1, contacts, k, k);
    sendf(ns, 1, "LST 7 AL 12 0 0\r\nLST 7 BL 12 0 0\r\nLST 7 RL 12 0 0\r\n");
    sendf(ns, 0, "CHG 8 NLN\r\n");
    sendf(ns, 1, "CHG 8 NLN\r\nILN 8 NLN friend1@example.com Friend%%201\r\nCHL 0 %020" PRIu64 "\r\n",
          (uint64_t)(msnsynth_rand(W) % 100000000000000000ull));
    return ns;
}

static size_t text_payload(char *out, size_t cap, const char *text) {
    int n = snprintf(out, cap,
                     "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                     "X-MMS-IM-Format: FN=MS%%20Sans%%20Serif; EF=B; CO=ff0000; CS=0; PF=22\r\n\r\n%s",
                     text);
    return n > 0 ? (size_t)n : 0;
}

static void msnftp_flow(uint32_t rip, uint32_t sip, uint16_t port, const char *email, const char *cookie,
                        uint64_t size) {
    msnsynth_endpoint c, s;
    ep(&c, rip, (uint16_t)(40000 + msnsynth_rand(W) % 20000));
    ep(&s, sip, port);
    uint64_t r = msnsynth_rand(W);
    msnsynth_tcp *t = msnsynth_tcp_open(W, &c, &s, (uint32_t)r, (uint32_t)(r >> 32), 1);
    if (!t) fail("tcp open");
    sendf(t, 0, "VER MSNFTP\r\n");
    sendf(t, 1, "VER MSNFTP\r\n");
    sendf(t, 0, "USR %s %s\r\n", email, cookie);
    sendf(t, 1, "FIL %" PRIu64 "\r\n", size);
    sendf(t, 0, "TFR\r\n");
    static unsigned char block[MSNFTP_BLOCK_HEADER + MSNFTP_BLOCK_MAX];
    uint64_t left = size;
    while (left) {
        uint16_t n = (uint16_t)(left < MSNFTP_BLOCK_MAX ? left : MSNFTP_BLOCK_MAX);
        msnftp_block_encode(block, n);
        for (uint16_t i = 0; i < n; i++) block[MSNFTP_BLOCK_HEADER + i] = (unsigned char)((size - left + i) * 31u);
        if (msnsynth_tcp_send(t, 1, block, MSNFTP_BLOCK_HEADER + (size_t)n) != 0) fail("tcp send");
        msn_bytes += MSNFTP_BLOCK_HEADER + (size_t)n;
        ftp_bytes += n;
        left -= n;
    }
    sendf(t, 0, "BYE %u\r\n", MSNFTP_BYE_RECEIVED_OK);
    msnsynth_tcp_close(t, 0);
}

static void udp_media(uint32_t a, uint16_t pa, uint32_t b, uint16_t pb, unsigned packets) {
    msnsynth_endpoint x, y;
    ep(&x, a, pa);
    ep(&y, b, pb);
    unsigned char pkt[172];
    for (unsigned i = 0; i < packets; i++) {
        memset(pkt, (int)(i & 0xff), sizeof pkt);
        pkt[0] = 0x80;
        if (msnsynth_udp(W, (i & 1) ? &y : &x, (i & 1) ? &x : &y, pkt, sizeof pkt) != 0) fail("udp");
        msn_bytes += sizeof pkt;
    }
}

static void tcp_secondary(uint32_t a, uint32_t b, uint16_t port, size_t bytes) {
    msnsynth_endpoint x, y;
    ep(&x, a, (uint16_t)(40000 + msnsynth_rand(W) % 20000));
    ep(&y, b, port);
    uint64_t r = msnsynth_rand(W);
    msnsynth_tcp *t = msnsynth_tcp_open(W, &x, &y, (uint32_t)r, (uint32_t)(r >> 32), 1);
    if (!t) fail("tcp open");
    static unsigned char buf[8192];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 7u);
    size_t left = bytes;
    int dir = 0;
    while (left) {
        size_t n = left < sizeof buf ? left : sizeof buf;
        if (msnsynth_tcp_send(t, dir, buf, n) != 0) fail("tcp send");
        msn_bytes += n;
        left -= n;
        dir ^= 1;
    }
    msnsynth_tcp_close(t, 0);
}

/* The n-th user address in 10.0.0.0/8, never ending in .0 or .255, so two
 * users of one session never share an address (and so a 4-tuple). */
static uint32_t user_ip(uint64_t n) {
    return 0x0a000000u | (uint32_t)(((n / 254) << 8) & 0xffff00u) | (uint32_t)(n % 254 + 1);
}

/* Two users logged in, and the parameters that make a session's flows its own. */
typedef struct {
    uint64_t id;
    int dense;
    uint32_t aip, bip, sb_ip;
    char a[64], b[64], sbip[32], aips[32], bips[32];
    uint16_t ap, bp;
    msnsynth_tcp *ans, *bns;
} msn_pair;

static void pair_login(msn_pair *p, uint64_t id, int dense) {
    memset(p, 0, sizeof *p);
    p->id = id;
    p->dense = dense;
    p->aip = user_ip(id * 2);
    p->bip = user_ip(id * 2 + 1);
    uint32_t ds_ip = 0x40040d00u | (uint32_t)(id % 200 + 1), ns_ip = 0x40040c00u | (uint32_t)(id % 150 + 1);
    p->sb_ip = 0x400404c0u | (uint32_t)(id % 50 + 1);
    snprintf(p->a, sizeof p->a, "alice%" PRIu64 "@example.com", id);
    snprintf(p->b, sizeof p->b, "bob%" PRIu64 "@example.com", id);
    ipstr(p->sb_ip, p->sbip, sizeof p->sbip);
    ipstr(p->aip, p->aips, sizeof p->aips);
    ipstr(p->bip, p->bips, sizeof p->bips);
    p->ap = 1030;
    p->bp = 1030;
    p->ans = login(p->aip, &p->ap, p->a, ds_ip, ns_ip, 8);
    p->bns = login(p->bip, &p->bp, p->b, ds_ip, ns_ip, 8);
    sendf(p->bns, 1, "NLN NLN %s %s\r\n", p->a, p->a);
}

static void pair_logout(msn_pair *p) {
    sendf(p->ans, 0, "OUT\r\n");
    msnsynth_tcp_close(p->ans, 0);
    sendf(p->bns, 0, "OUT\r\n");
    msnsynth_tcp_close(p->bns, 0);
    sessions++;
}

/* One switchboard of the pair (slot numbers them within a dense session):
 * A asks for it and calls B, six chat exchanges (two in a dense session) with typing notifications,
 * one invitation of kind `k` and its secondary flow, then both leave.
 * Dense sessions derive every cookie and secondary port from (id, slot) so
 * no two switchboards or invitations of the capture share one. */
static void pair_switchboard(msn_pair *p, unsigned k, unsigned slot) {
    const uint64_t id = p->id, uid = id * 8 + slot;
    const char *a = p->a, *b = p->b;
    unsigned ck1 = (unsigned)(msnsynth_rand(W) % 100000000u), ck2 = (unsigned)(msnsynth_rand(W) % 100000000u);
    if (p->dense) ck1 = (unsigned)(uid % 100000000u);
    sendf(p->ans, 0, "XFR %u SB\r\n", 9 + slot);
    sendf(p->ans, 1, "XFR %u SB %s:1863 CKI %u.%u.%u\r\n", 9 + slot, p->sbip, ck1, ck2, (unsigned)id % 99999u);
    msnsynth_endpoint c, s;
    ep(&c, p->aip, p->ap++);
    ep(&s, p->sb_ip, 1863);
    uint64_t r = msnsynth_rand(W);
    msnsynth_tcp *asb = msnsynth_tcp_open(W, &c, &s, (uint32_t)r, (uint32_t)(r >> 32), 1);
    if (!asb) fail("tcp open");
    sendf(asb, 0, "USR 1 %s %u.%u.%u\r\n", a, ck1, ck2, (unsigned)id % 99999u);
    sendf(asb, 1, "USR 1 OK %s %s\r\n", a, a);
    sendf(asb, 0, "CAL 2 %s\r\n", b);
    unsigned sess = p->dense ? (unsigned)(uid % 90000000u) + 10000000u : (unsigned)(id % 90000000u) + 10000000u;
    sendf(asb, 1, "CAL 2 RINGING %u\r\n", sess);
    sendf(p->bns, 1, "RNG %u %s:1863 CKI %u.%u %s %s\r\n", sess, p->sbip, ck2, ck1, a, a);
    ep(&c, p->bip, p->bp++);
    r = msnsynth_rand(W);
    msnsynth_tcp *bsb = msnsynth_tcp_open(W, &c, &s, (uint32_t)r, (uint32_t)(r >> 32), 1);
    if (!bsb) fail("tcp open");
    sendf(bsb, 0, "ANS 1 %s %u.%u %u\r\n", b, ck2, ck1, sess);
    sendf(bsb, 1, "IRO 1 1 1 %s %s\r\nANS 1 OK\r\n", a, a);
    sendf(asb, 1, "JOI %s %s\r\n", b, b);

    /* chat */
    char pl[2048], head[160];
    unsigned atrid = 3, btrid = 2;
    for (unsigned m = 0, exchanges = p->dense ? 2 : 6; m < exchanges; m++) {
        int from_a = (m & 1) == 0;
        msnsynth_tcp *src = from_a ? asb : bsb, *dst = from_a ? bsb : asb;
        const char *who = from_a ? a : b;
        size_t n = (size_t)snprintf(
            pl, sizeof pl, "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\nTypingUser: %s\r\n\r\n\r\n",
            who);
        snprintf(head, sizeof head, "MSG %u U", from_a ? atrid++ : btrid++);
        send_msg(src, 0, head, pl, n);
        snprintf(head, sizeof head, "MSG %s %s", who, who);
        send_msg(dst, 1, head, pl, n);
        n = text_payload(pl, sizeof pl, texts[(id + m + slot) % (sizeof texts / sizeof texts[0])]);
        unsigned t = from_a ? atrid++ : btrid++;
        snprintf(head, sizeof head, "MSG %u A", t);
        send_msg(src, 0, head, pl, n);
        snprintf(head, sizeof head, "MSG %s %s", who, who);
        send_msg(dst, 1, head, pl, n);
        sendf(src, 1, "ACK %u\r\n", t);
    }

    /* one invitation, A -> B, and its follow-up */
    static const char *const guid_ft = "{5D3E02AB-6190-11d3-BBBB-00C04F795683}";
    static const char *const guid_voice = "{02D3C01F-BF30-4825-A83A-DE7AF41648AA}";
    static const char *const guid_wb = "{1DF57D09-637A-4ca5-91B9-2C3EDAAF62FE}";
    static const char *const guid_as = "{F1B1920C-6A3C-4ce7-B18C-AFAB305FD03D}";
    static const char *const guid_ra = "{56b994a7-380f-410b-9985-c809d78c1bdc}";
    uint64_t cookie = p->dense ? 100000 + uid : 100000 + id;
    char authc[32], fname[64], ctx[64];
    unsigned auth = (unsigned)(msnsynth_rand(W) % 900000000u) + 100000000u;
    if (p->dense) auth = (unsigned)(100000000u + uid % 800000000u);
    snprintf(authc, sizeof authc, "%u", auth);
    msnp_invite_fields inv, acc;
    memset(&inv, 0, sizeof inv);
    memset(&acc, 0, sizeof acc);
    inv.command = MSNP_INVITE_INVITE;
    inv.cookie = cookie;
    acc.command = MSNP_INVITE_ACCEPT;
    acc.cookie = cookie;
    invitations[k]++;
    /* dense sessions keep the secondary flows small: the switchboards are the subject */
    uint64_t fsize = p->dense ? 2000 + msnsynth_rand(W) % 16000 : 20000 + msnsynth_rand(W) % 200000;
    uint16_t media_port = (uint16_t)(5000 + id % 1000 + (p->dense ? k * 1000 : 0));
    uint16_t ctx_port = (uint16_t)(13000 + id % 1000 + (p->dense ? k * 1000 : 0));
    switch (k) {
    case 0: /* file transfer */
        inv.app_name = "File Transfer";
        inv.app_guid = guid_ft;
        snprintf(fname, sizeof fname, "photo%" PRIu64 ".jpg", p->dense ? uid : id);
        inv.file = fname;
        inv.file_size = fsize;
        inv.has_file_size = 1;
        acc.ip = p->aips;
        acc.port = 6891;
        acc.with_portx = 1;
        acc.auth_cookie = authc;
        acc.sender_connect = 1;
        acc.launch_application = "FALSE";
        acc.request_data = "IP-Address:";
        break;
    case 1: /* voice */
    case 2: /* video */
        inv.app_name = k == 1 ? "Voice" : "Video";
        inv.app_guid = guid_voice;
        inv.session_protocol = "SM1";
        inv.context_data =
            k == 1 ? "Requested:SIP_A,;Capabilities:SIP_A,;" : "Requested:SIP_V,;Capabilities:SIP_V,SIP_A,;";
        inv.session_id = "{A2ED5ACF-F784-4B47-A7D4-997CD8F643CC}";
        acc.ip = p->bips;
        acc.port = media_port;
        acc.session_id = inv.session_id;
        break;
    case 3:
    case 4:
    case 5: /* whiteboard, app sharing, remote assistance */
        inv.app_name = k == 3 ? "Whiteboard" : k == 4 ? "Application Sharing" : "Remote Assistance";
        inv.app_guid = k == 3 ? guid_wb : k == 4 ? guid_as : guid_ra;
        acc.ip = p->bips;
        break;
    default: /* cancelled file transfer */
        inv.app_name = "File Transfer";
        inv.app_guid = guid_ft;
        inv.file = "notes.txt";
        inv.file_size = 1234;
        inv.has_file_size = 1;
        acc.command = MSNP_INVITE_CANCEL;
        acc.cancel_code = "REJECT";
        break;
    }
    long n = msnp_invite_build(&inv, pl, sizeof pl);
    if (n < 0) fail("invite build");
    snprintf(head, sizeof head, "MSG %u N", atrid++);
    send_msg(asb, 0, head, pl, (size_t)n);
    snprintf(head, sizeof head, "MSG %s %s", a, a);
    send_msg(bsb, 1, head, pl, (size_t)n);
    /* In a dense session a file transfer goes as clients do it: B accepts
     * asking for the address, and A, who listens, answers with a second
     * ACCEPT that carries its address, port and AuthCookie. */
    msnp_invite_fields listener = acc;
    if (p->dense && k == 0) {
        acc.ip = NULL;
        acc.port = 0;
        acc.with_portx = 0;
        acc.auth_cookie = NULL;
        acc.sender_connect = 0;
    }
    n = msnp_invite_build(&acc, pl, sizeof pl);
    if (n < 0) fail("invite build");
    snprintf(head, sizeof head, "MSG %u N", btrid++);
    send_msg(bsb, 0, head, pl, (size_t)n);
    snprintf(head, sizeof head, "MSG %s %s", b, b);
    send_msg(asb, 1, head, pl, (size_t)n);
    if (p->dense && k == 0) {
        listener.launch_application = NULL;
        listener.request_data = NULL;
        n = msnp_invite_build(&listener, pl, sizeof pl);
        if (n < 0) fail("invite build");
        snprintf(head, sizeof head, "MSG %u N", atrid++);
        send_msg(asb, 0, head, pl, (size_t)n);
        snprintf(head, sizeof head, "MSG %s %s", a, a);
        send_msg(bsb, 1, head, pl, (size_t)n);
    }
    if (k >= 3 && k <= 5) {
        msnp_invite_fields cx;
        memset(&cx, 0, sizeof cx);
        cx.command = MSNP_INVITE_CONTEXT;
        cx.cookie = cookie;
        snprintf(ctx, sizeof ctx, "%s:%u", p->aips, (unsigned)ctx_port);
        cx.context_data = ctx;
        n = msnp_invite_build(&cx, pl, sizeof pl);
        if (n < 0) fail("invite build");
        snprintf(head, sizeof head, "MSG %u N", atrid++);
        send_msg(asb, 0, head, pl, (size_t)n);
        snprintf(head, sizeof head, "MSG %s %s", a, a);
        send_msg(bsb, 1, head, pl, (size_t)n);
    }
    /* the secondary connection */
    if (k == 0) msnftp_flow(p->bip, p->aip, 6891, b, authc, fsize);
    else if (k == 1 || k == 2)
        udp_media(p->aip, media_port, p->bip, media_port, p->dense ? (k == 1 ? 8 : 16) : (k == 1 ? 60 : 120));
    else if (k <= 5) tcp_secondary(p->bip, p->aip, ctx_port, p->dense ? 3000 : 30000);

    sendf(bsb, 0, "OUT\r\n");
    sendf(asb, 1, "BYE %s\r\n", b);
    msnsynth_tcp_close(bsb, 0);
    sendf(asb, 0, "OUT\r\n");
    msnsynth_tcp_close(asb, 0);
}

/* A whole MSN session between users a and b: logins, switchboard, chat, one invitation of kind `k`. */
static void msn_session(uint64_t id, unsigned k) {
    msn_pair p;
    pair_login(&p, id, 0);
    pair_switchboard(&p, k, 0);
    pair_logout(&p);
}

/* A dense session: the two logins, then one switchboard per invitation kind
 * (seven), each with its chat, invitation and secondary flow. */
static void msn_session_dense(uint64_t id) {
    msn_pair p;
    pair_login(&p, id, 1);
    for (unsigned k = 0; k < 7; k++) pair_switchboard(&p, k, k);
    pair_logout(&p);
}

static void background(uint64_t id) {
    uint32_t cip = 0xc0a80000u | (uint32_t)(id % 60000 + 2);
    uint32_t web = 0x5db8d800u | (uint32_t)(id % 200 + 1), dns = 0x08080808u;
    msnsynth_endpoint c, s;
    char q[512];
    /* DNS query + answer */
    ep(&c, cip, (uint16_t)(30000 + id % 30000));
    ep(&s, dns, 53);
    unsigned char dq[64] = {(unsigned char)(id >> 8),
                            (unsigned char)id,
                            1,
                            0,
                            0,
                            1,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            3,
                            'w',
                            'w',
                            'w',
                            7,
                            'e',
                            'x',
                            'a',
                            'm',
                            'p',
                            'l',
                            'e',
                            3,
                            'c',
                            'o',
                            'm',
                            0,
                            0,
                            1,
                            0,
                            1};
    if (msnsynth_udp(W, &c, &s, dq, 33) != 0) fail("udp");
    dq[2] = 0x81;
    dq[3] = 0x80;
    dq[7] = 1;
    unsigned char ans[16] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 93, 184, 216, 34};
    memcpy(dq + 33, ans, sizeof ans);
    if (msnsynth_udp(W, &s, &c, dq, 49) != 0) fail("udp");
    bg_bytes += 82;
    /* HTTP GET with a large response */
    ep(&c, cip, (uint16_t)(20000 + id % 10000));
    ep(&s, web, 80);
    uint64_t r = msnsynth_rand(W);
    msnsynth_tcp *t = msnsynth_tcp_open(W, &c, &s, (uint32_t)r, (uint32_t)(r >> 32), 1);
    if (!t) fail("tcp open");
    int qn = snprintf(q, sizeof q,
                      "GET /images/%" PRIu64 ".jpg HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/4.0\r\n"
                      "Accept: */*\r\n\r\n",
                      id);
    msnsynth_tcp_send(t, 0, q, (size_t)qn);
    size_t body = 8192 + (size_t)(msnsynth_rand(W) % (256 * 1024));
    qn = snprintf(q, sizeof q, "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: %zu\r\n\r\n", body);
    msnsynth_tcp_send(t, 1, q, (size_t)qn);
    static unsigned char chunk[16384];
    static int init;
    if (!init) {
        for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (unsigned char)((i * 2654435761u) >> 13);
        init = 1;
    }
    size_t left = body;
    while (left) {
        size_t n = left < sizeof chunk ? left : sizeof chunk;
        if (msnsynth_tcp_send(t, 1, chunk, n) != 0) fail("tcp send");
        left -= n;
    }
    bg_bytes += body + (size_t)qn;
    msnsynth_tcp_close(t, 0);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: gen-capture --out FILE [--size MB] [--seed N] [--msn-share PCT] [--pcapng]\n"
            "       gen-capture --out FILE --dense SESSIONS [--seed N] [--pcapng]\n"
            "       gen-capture --help\n");
}

/* A numeric option's value: all of it a whole number in [lo, hi]; else the
 * option is named on standard error and 0 returned. */
static int whole_arg(const char *name, const char *v, uint64_t lo, uint64_t hi, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || v[0] == '-' || n < lo || n > hi) {
        fprintf(stderr, "gen-capture: %s: '%s' is not a whole number from %" PRIu64 " to %" PRIu64 "\n", name, v, lo,
                hi);
        return 0;
    }
    *out = n;
    return 1;
}

int main(int argc, char **argv) {
    const char *out = NULL;
    uint64_t size_mb = 1024, seed = 1;
    unsigned share = 30;
    uint64_t dense = 0, v;
    int pcapng = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            if (!whole_arg("--size", argv[++i], 1, 65536, &size_mb)) return 2;
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            if (!whole_arg("--seed", argv[++i], 0, UINT64_MAX, &seed)) return 2;
        } else if (!strcmp(argv[i], "--msn-share") && i + 1 < argc) {
            if (!whole_arg("--msn-share", argv[++i], 1, 100, &v)) return 2;
            share = (unsigned)v;
        } else if (!strcmp(argv[i], "--dense") && i + 1 < argc) {
            /* 0 is not "no --dense": it would write the 1 GiB mixed capture */
            if (!whole_arg("--dense", argv[++i], 1, 4000000, &dense)) return 2;
        } else if (!strcmp(argv[i], "--pcapng")) pcapng = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    /* user addresses come from 10.0.0.0/8 (user_ip), two per session */
    if (!out || size_mb < 1 || size_mb > 65536 || share < 1 || share > 100 || dense > 4000000) {
        fprintf(stderr, "gen-capture: --out is required; --size 1..65536 MB; --msn-share 1..100; --dense 1..4000000\n");
        return 2;
    }
    msnsynth_opts o;
    memset(&o, 0, sizeof o);
    o.format = pcapng ? MSNSYNTH_PCAPNG : MSNSYNTH_PCAP;
    o.link = MSNSYNTH_LINK_ETHERNET;
    o.start_us = 1700000000ull * 1000000ull;
    o.step_us = 50;
    errno = 0;
    W = msnsynth_open(out, &o);
    out_path = W ? out : NULL;
    if (!W) {
        fprintf(stderr, "gen-capture: cannot open %s%s%s\n", out, errno ? ": " : "", errno ? strerror(errno) : "");
        return 1;
    }
    msnsynth_seed(W, seed);
    uint64_t target = size_mb << 20, id = 0, bg = 0;
    if (dense)
        for (; id < dense; id++) msn_session_dense(id);
    else
        while (msnsynth_bytes(W) < target) {
            /* keep MSN bytes near `share` percent of the payload bytes */
            if ((msn_bytes + 1) * 100 < (msn_bytes + bg_bytes + 1) * share) msn_session(id, (unsigned)(id % 7)), id++;
            else background(bg++);
        }
    uint64_t packets = msnsynth_packets(W), bytes = msnsynth_bytes(W);
    errno = 0;
    if (msnsynth_close(W) != 0) {
        int e = errno;
        fprintf(stderr, "gen-capture: writing failed: %s; the incomplete %s is removed\n", e ? strerror(e) : "error",
                out);
        unlink(out);
        return 1;
    }
    printf("{\"file\":\"%s\",\"mode\":\"%s\",\"bytes\":%" PRIu64 ",\"packets\":%" PRIu64 ",\"msn_sessions\":%" PRIu64
           ",\"msn_payload_bytes\":%" PRIu64 ",\"msnftp_file_bytes\":%" PRIu64 ",\"background_payload_bytes\":%" PRIu64
           ",\"invitations\":{\"file_transfer\":%" PRIu64 ",\"voice\":%" PRIu64 ",\"video\":%" PRIu64
           ",\"whiteboard\":%" PRIu64 ",\"app_sharing\":%" PRIu64 ",\"remote_assistance\":%" PRIu64
           ",\"cancelled\":%" PRIu64 "}}\n",
           out, dense ? "dense" : "mixed", bytes, packets, sessions, msn_bytes, ftp_bytes, bg_bytes, invitations[0],
           invitations[1], invitations[2], invitations[3], invitations[4], invitations[5], invitations[6]);
    return 0;
}
