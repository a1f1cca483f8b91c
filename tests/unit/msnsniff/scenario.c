/* scenario.c - the example MSN sessions, synthesized. See scenario.h. */
#include "scenario.h"

#include <msnp/msnftp.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SB_COOKIE "16925950.1016955577.17693"

unsigned char sn_scenario_file_byte(size_t i) { return (unsigned char)((i * 131u + (i >> 8) * 7u + 3u) & 0xFFu); }

typedef struct scen {
    msnsynth *w;
    const sn_scenario_opts *o;
    uint32_t isn;
    uint16_t eport;
} scen;

static msnsynth_endpoint ep(const scen *s, const char *v4, uint16_t port) {
    msnsynth_endpoint e;
    char buf[64];
    if (s->o->ipv6) {
        snprintf(buf, sizeof buf, "2001:db8::%s", v4);
        msnsynth_endpoint_set(&e, buf, port);
    } else {
        msnsynth_endpoint_set(&e, v4, port);
    }
    return e;
}

static msnsynth_tcp *conn(scen *s, const char *caddr, const char *saddr, uint16_t sport, int handshake) {
    msnsynth_endpoint c = ep(s, caddr, s->eport++), v = ep(s, saddr, sport);
    s->isn += 0x01000193u;
    msnsynth_tcp *t = msnsynth_tcp_open(s->w, &c, &v, s->isn, s->isn ^ 0x5A5A5A5Au, handshake);
    if (t) msnsynth_tcp_policy(t, &s->o->policy);
    return t;
}

static void say(msnsynth_tcp *t, int from_server, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) msnsynth_tcp_send(t, from_server, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* client: MSG trid ack len\r\n<payload>; server: MSG email name len\r\n<payload> */
static void msg_c(msnsynth_tcp *t, unsigned trid, char ack, const char *payload) {
    say(t, 0, "MSG %u %c %zu\r\n%s", trid, ack, strlen(payload), payload);
}

static void msg_s(msnsynth_tcp *t, const char *email, const char *name, const char *payload) {
    say(t, 1, "MSG %s %s %zu\r\n%s", email, name, strlen(payload), payload);
}

#define INVITE_HDR "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n"
#define TEXT_HDR \
    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n" \
    "X-MMS-IM-Format: FN=Microsoft%20Sans%20Serif; EF=I; CO=000000; CS=0; PF=22\r\n\r\n"

static const char ME[] = "example@passport.com";
static const char PEER[] = "name_123@hotmail.com";
static const char ME_IP[] = "10.44.102.65";
static const char PEER_IP[] = "10.1.1.211";

static void dns_answer(scen *s, const char *name, const unsigned char a[4]) {
    unsigned char pkt[512];
    size_t n = 0;
    static const unsigned char hdr[12] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0};
    memcpy(pkt, hdr, 12);
    n = 12;
    /* question name */
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        pkt[n++] = (unsigned char)len;
        memcpy(pkt + n, p, len);
        n += len;
        p += len + (dot ? 1 : 0);
    }
    pkt[n++] = 0;
    static const unsigned char q[4] = {0, 1, 0, 1};
    memcpy(pkt + n, q, 4);
    n += 4;
    static const unsigned char ans[12] = {0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4};
    memcpy(pkt + n, ans, 12);
    n += 12;
    memcpy(pkt + n, a, 4);
    n += 4;
    msnsynth_endpoint srv = ep(s, "10.44.0.1", 53), cli = ep(s, ME_IP, 33000);
    msnsynth_udp(s->w, &srv, &cli, pkt, n);
}

static void dispatch(scen *s) {
    msnsynth_tcp *t = conn(s, ME_IP, "207.46.104.20", 1863, 1);
    say(t, 0, "VER 0 MSNP7 MSNP6 MSNP5 MSNP4 CVR0\r\n");
    say(t, 1, "VER 0 MSNP7 MSNP6 MSNP5 MSNP4 CVR0\r\n");
    say(t, 0, "INF 1\r\n");
    say(t, 1, "INF 1 MD5\r\n");
    say(t, 0, "USR 2 MD5 I %s\r\n", ME);
    say(t, 1, "XFR 2 NS 64.4.12.132:1863 0\r\n");
    msnsynth_tcp_close(t, 1);
}

static msnsynth_tcp *notification(scen *s) {
    msnsynth_tcp *t = conn(s, ME_IP, "64.4.12.132", 1863, 1);
    say(t, 0, "VER 3 MSNP7 MSNP6 MSNP5 MSNP4 CVR0\r\n");
    say(t, 1, "VER 3 MSNP7 MSNP6 MSNP5 MSNP4 CVR0\r\n");
    say(t, 0, "INF 4\r\n");
    say(t, 1, "INF 4 MD5\r\n");
    say(t, 0, "USR 5 MD5 I %s\r\n", ME);
    say(t, 1, "USR 5 MD5 S 1013928519.693957190\r\n");
    say(t, 0, "USR 6 MD5 S 23e54a439a6a17d15025f4c6cbd0f6b5\r\n");
    say(t, 1, "USR 6 OK %s my%%20screen%%20name 1\r\n", ME);
    say(t, 0, "CHG 7 NLN\r\n");
    say(t, 1, "CHG 7 NLN\r\nILN 7 NLN %s name_123\r\n", PEER);
    return t;
}

static msnsynth_tcp *switchboard(scen *s, msnsynth_tcp *ns, unsigned trid, const char *sb, const char *cookie) {
    say(ns, 0, "XFR %u SB\r\n", trid);
    say(ns, 1, "XFR %u SB %s:1863 CKI %s\r\n", trid, sb, cookie);
    msnsynth_tcp *t = conn(s, ME_IP, sb, 1863, 1);
    say(t, 0, "USR 1 %s %s\r\n", ME, cookie);
    say(t, 1, "USR 1 OK %s mike\r\n", ME);
    say(t, 0, "CAL 2 %s\r\n", PEER);
    say(t, 1, "CAL 2 RINGING 11752099\r\n");
    say(t, 1, "JOI %s name_123\r\n", PEER);
    return t;
}

static void chat_and_whiteboard(scen *s, msnsynth_tcp *ns, msnsynth_tcp *sb) {
    msg_c(sb, 3, 'A', TEXT_HDR "hello! how are you?");
    say(sb, 1, "ACK 3\r\n");
    msg_s(sb, PEER, "name_123",
          "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\nTypingUser: name_123@hotmail.com\r\n\r\n\r\n");
    msg_s(sb, PEER, "name_123",
          "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
          "X-MMS-IM-Format: FN=Arial; EF=B; CO=ff0000; CS=0; PF=22\r\n\r\n"
          "fine, thanks \xe4\xbd\xa0\xe5\xa5\xbd\r\nsecond line");
    /* whiteboard: localised name and the GUID */
    msg_c(sb, 4, 'N',
          INVITE_HDR "Application-Name: \xe7\x99\xbd\xe6\x9d\xbf\r\n"
                     "Application-GUID: {1DF57D09-637A-4CA5-91B9-2C3EDAAF62FE}\r\n"
                     "Invitation-Command: INVITE\r\nInvitation-Cookie: 77001\r\n"
                     "Session-ID: {A2B3C4D5-0000-1111-2222-333344445555}\r\n\r\n");
    msg_s(sb, PEER, "name_123",
          INVITE_HDR "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 77001\r\nLaunch-Application: FALSE\r\n"
                     "Request-Data: IP-Address:\r\n\r\n");
    msg_c(sb, 5, 'A',
          INVITE_HDR "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 77001\r\nIP-Address: 10.44.102.65\r\n\r\n");
    say(sb, 1, "ACK 5\r\n");
    say(ns, 0, "QRY 11 msmsgs@msnmsgr.com 32\r\n0123456789abcdef0123456789abcdef");
    say(ns, 1, "QRY 11\r\n");
    msg_s(sb, PEER, "name_123",
          INVITE_HDR
          "Invitation-Command: CONTEXT\r\nInvitation-Cookie: 77001\r\nContext-Data: 10.1.1.211:13374\r\n\r\n");
    /* the predicted T.120 connection: me -> peer */
    msnsynth_tcp *wb = conn(s, ME_IP, PEER_IP, 13374, 1);
    static const unsigned char t120[] = {0x03, 0x00, 0x00, 0x0b, 0x06, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00};
    msnsynth_tcp_send(wb, 0, t120, sizeof t120);
    msnsynth_tcp_close(wb, 0);
}

static void file_transfer(scen *s, msnsynth_tcp *ns) {
    msnsynth_tcp *sb = switchboard(s, ns, 12, "64.4.12.164", "17262740.1050826919.32308");
    msg_c(sb, 4, 'N',
          INVITE_HDR "Application-Name: File Transfer\r\nApplication-GUID: {5D3E02AB-6190-11D3-BBBB-00C04F795683}\r\n"
                     "Invitation-Command: INVITE\r\nInvitation-Cookie: 33267\r\nApplication-File: readme.txt\r\n"
                     "Application-FileSize: 60904\r\n\r\n");
    msg_s(sb, PEER, "name_123",
          INVITE_HDR "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 33267\r\nLaunch-Application: FALSE\r\n"
                     "Request-Data: IP-Address:\r\n\r\n");
    msg_c(sb, 5, 'N',
          INVITE_HDR
          "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 33267\r\nIP-Address: 10.44.102.65\r\n"
          "Port: 6891\r\nAuthCookie: 93301\r\nLaunch-Application: FALSE\r\nRequest-Data: IP-Address:\r\n\r\n");
    /* receiver connects to the sender */
    msnsynth_endpoint rc = ep(s, PEER_IP, 1030), sd = ep(s, ME_IP, 6891);
    s->isn += 0x01000193u;
    msnsynth_tcp *ft = msnsynth_tcp_open(s->w, &rc, &sd, s->isn, s->isn ^ 0x33u, 1);
    msnsynth_tcp_policy(ft, &s->o->policy);
    say(ft, 0, "VER MSNFTP\r\n");
    say(ft, 1, "VER MSNFTP\r\n");
    say(ft, 0, "USR %s 93301\r\n", PEER);
    say(ft, 1, "FIL %u\r\n", SN_SCENARIO_FILE_SIZE);
    say(ft, 0, "TFR\r\n");
    unsigned char *buf = malloc(SN_SCENARIO_FILE_SIZE + SN_SCENARIO_FILE_SIZE / 2045u * 3u + 16u);
    size_t n = 0;
    for (size_t off = 0; off < SN_SCENARIO_FILE_SIZE; off += 2045u) {
        size_t len = SN_SCENARIO_FILE_SIZE - off < 2045u ? SN_SCENARIO_FILE_SIZE - off : 2045u;
        msnftp_block_encode(buf + n, (uint16_t)len);
        n += 3;
        for (size_t i = 0; i < len; i++) buf[n + i] = sn_scenario_file_byte(off + i);
        n += len;
    }
    msnsynth_tcp_send(ft, 1, buf, n);
    free(buf);
    say(ft, 0, "BYE 16777989\r\n");
    msnsynth_tcp_close(ft, 1);
    say(sb, 0, "OUT\r\n");
    say(sb, 1, "BYE %s\r\n", PEER);
    msnsynth_tcp_close(sb, 1);
}

static void voice(scen *s, msnsynth_tcp *ns) {
    /* two switchboards: one to send, one to receive */
    msnsynth_tcp *send_sb = switchboard(s, ns, 13, "64.4.12.192", "21877513.1016955580.4711");
    msnsynth_tcp *recv_sb = switchboard(s, ns, 14, "64.4.12.159", "21877514.1016955581.4712");
    msg_c(send_sb, 4, 'N',
          INVITE_HDR "Application-Name: \xe8\xaf\xad\xe9\x9f\xb3\xe5\xaf\xb9\xe8\xaf\x9d\r\n"
                     "Session-Protocol: SM1\r\nContext-Data: Requested:SIP_A,; Capabilities:SIP_A,SIP_V,\r\n"
                     "Invitation-Command: INVITE\r\nInvitation-Cookie: 55001\r\n"
                     "Session-ID: {B1C2D3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E}\r\n\r\n");
    say(send_sb, 1, "ACK 4\r\n");
    msg_s(recv_sb, PEER, "name_123",
          INVITE_HDR "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 55001\r\nIP-Address: 10.1.1.211\r\n"
                     "Session-ID: {B1C2D3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E}\r\n\r\n");
    msg_c(recv_sb, 4, 'A',
          INVITE_HDR "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 55001\r\nIP-Address: 10.44.102.65:5004\r\n"
                     "Session-ID: {B1C2D3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E}\r\n\r\n");
    say(recv_sb, 1, "ACK 4\r\n");
    /* the peer sends UDP to the inviter's address */
    msnsynth_endpoint from = ep(s, PEER_IP, 5005), to = ep(s, ME_IP, 5004);
    for (int i = 0; i < 3; i++) {
        char sip[64];
        int n = snprintf(sip, sizeof sip, "INVITE sip:%s SIP/2.0 #%d", ME, i);
        msnsynth_udp(s->w, &from, &to, sip, (size_t)n);
        msnsynth_udp(s->w, &to, &from, "SIP/2.0 200 OK", 14);
    }
    msnsynth_tcp_close(send_sb, 0);
    msnsynth_tcp_close(recv_sb, 0);
}

static void sharing_and_assistance(scen *s, msnsynth_tcp *ns) {
    msnsynth_tcp *sb = switchboard(s, ns, 15, "64.4.12.160", "99887766.1016955590.1");
    /* application sharing: named only in the localised form, then cancelled */
    msg_c(sb, 4, 'N',
          INVITE_HDR "Application-Name: \xe5\xba\x94\xe7\x94\xa8\xe7\xa8\x8b\xe5\xba\x8f\xe5\x85\xb1\xe4\xba\xab\r\n"
                     "Invitation-Command: INVITE\r\nInvitation-Cookie: 88001\r\n\r\n");
    msg_s(sb, PEER, "name_123",
          INVITE_HDR "Invitation-Command: CANCEL\r\nInvitation-Cookie: 88001\r\nCancel-Code: REJECT\r\n\r\n");
    /* remote assistance: accepted with an address nobody connects to */
    msg_s(sb, PEER, "name_123",
          INVITE_HDR "Application-Name: \xe8\xbf\x9c\xe7\xa8\x8b\xe5\x8d\x8f\xe5\x8a\xa9\r\n"
                     "Invitation-Command: INVITE\r\nInvitation-Cookie: 99001\r\n\r\n");
    msg_c(sb, 5, 'N',
          INVITE_HDR "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 99001\r\nLaunch-Application: FALSE\r\n\r\n");
    msg_s(sb, PEER, "name_123",
          INVITE_HDR "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 99001\r\nIP-Address: 10.1.1.211:3389\r\n\r\n");
    say(sb, 0, "OUT\r\n");
    msnsynth_tcp_close(sb, 1);
}

static void incoming_call(scen *s, msnsynth_tcp *ns) {
    static const unsigned char sb7[4] = {64, 4, 12, 174};
    dns_answer(s, "sb7.msgr.hotmail.com", sb7);
    say(ns, 1, "RNG 11752100 sb7.msgr.hotmail.com:1863 CKI 1016955577.123456 %s name_123\r\n", PEER);
    msnsynth_tcp *sb = conn(s, ME_IP, "64.4.12.174", 1863, 1);
    say(sb, 0, "ANS 1 %s 1016955577.123456 11752100\r\n", ME);
    say(sb, 1, "IRO 1 1 1 %s name_123\r\n", PEER);
    say(sb, 1, "ANS 1 OK\r\n");
    msg_s(sb, PEER, "name_123", TEXT_HDR "are you there?");
    msg_c(sb, 2, 'A', TEXT_HDR "yes");
    say(sb, 1, "ACK 2\r\n");
    say(sb, 1, "BYE %s\r\n", PEER);
    say(sb, 0, "OUT\r\n");
    msnsynth_tcp_close(sb, 1);
}

static void peer_midstream(scen *s) {
    /* the peer's own notification connection, already running, on port 443 */
    msnsynth_tcp *t = conn(s, PEER_IP, "64.4.13.195", 443, 0);
    say(t, 0, "ING 11\r\nCHG 12 BSY\r\n");
    say(t, 1, "CHG 12 BSY\r\nNLN AWY %s my%%20screen%%20name\r\n", ME);
    say(t, 1, "FLN %s\r\n", ME);
    msnsynth_tcp_abandon(t);
}

static void other_traffic(scen *s) {
    msnsynth_tcp *h = conn(s, ME_IP, "192.0.2.80", 80, 1);
    say(h, 0, "GET / HTTP/1.0\r\nHost: example.com\r\n\r\n");
    say(h, 1, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
    msnsynth_tcp_close(h, 1);
    msnsynth_tcp *b = conn(s, ME_IP, "192.0.2.81", 1863, 1);
    static const unsigned char tls[] = {0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00};
    msnsynth_tcp_send(b, 0, tls, sizeof tls);
    msnsynth_tcp_reset(b, 1);
}

int sn_scenario_write(const char *path, const sn_scenario_opts *o) {
    scen s;
    memset(&s, 0, sizeof s);
    s.o = o;
    s.isn = 1000;
    s.eport = 1025;
    s.w = msnsynth_open(path, &o->synth);
    if (!s.w) return -1;
    static const unsigned char ds[4] = {207, 46, 104, 20};
    dns_answer(&s, "messenger.hotmail.com", ds);
    dispatch(&s);
    msnsynth_tcp *ns = notification(&s);
    msnsynth_tcp *chat = switchboard(&s, ns, 10, "64.4.12.193", SB_COOKIE);
    chat_and_whiteboard(&s, ns, chat);
    file_transfer(&s, ns);
    voice(&s, ns);
    sharing_and_assistance(&s, ns);
    incoming_call(&s, ns);
    peer_midstream(&s);
    other_traffic(&s);
    say(chat, 0, "OUT\r\n");
    msnsynth_tcp_close(chat, 1);
    say(ns, 0, "OUT\r\n");
    msnsynth_tcp_close(ns, 1);
    return msnsynth_close(s.w);
}

int sn_scenario_parse_args(int argc, char **argv, sn_scenario_opts *o) {
    memset(o, 0, sizeof *o);
    o->policy.acks = 1;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--mss") == 0 && val) {
            o->policy.mss = (size_t)strtoul(val, NULL, 10);
            i++;
        } else if (strcmp(a, "--reorder") == 0) {
            o->policy.reorder = 1;
        } else if (strcmp(a, "--dup") == 0) {
            o->policy.duplicate = 1;
        } else if (strcmp(a, "--overlap") == 0) {
            o->policy.overlap = 1;
        } else if (strcmp(a, "--drop") == 0 && val) {
            o->policy.drop_every = (unsigned)strtoul(val, NULL, 10);
            i++;
        } else if (strcmp(a, "--vlan") == 0 && val) {
            char *end;
            o->synth.vlan[0] = (uint16_t)strtoul(val, &end, 10);
            o->synth.nvlan = 1;
            if (*end == ',') {
                o->synth.vlan[1] = (uint16_t)strtoul(end + 1, NULL, 10);
                o->synth.nvlan = 2;
            }
            i++;
        } else if (strcmp(a, "--ipv6") == 0) {
            o->ipv6 = 1;
        } else if (strcmp(a, "--ext6") == 0) {
            o->synth.ipv6_ext_headers = 1;
        } else if (strcmp(a, "--pcapng") == 0) {
            o->synth.format = MSNSYNTH_PCAPNG;
        } else if (strcmp(a, "--frag") == 0 && val) {
            o->synth.ipv4_frag_mtu = (uint16_t)strtoul(val, NULL, 10);
            i++;
        } else if (strcmp(a, "--frag6") == 0 && val) {
            o->synth.ipv6_frag_mtu = (uint16_t)strtoul(val, NULL, 10);
            i++;
        } else if (strcmp(a, "--snaplen") == 0 && val) {
            o->synth.snaplen = (uint32_t)strtoul(val, NULL, 10);
            i++;
        } else if (strcmp(a, "--link") == 0 && val) {
            if (strcmp(val, "raw") == 0) o->synth.link = MSNSYNTH_LINK_RAW;
            else if (strcmp(val, "sll") == 0) o->synth.link = MSNSYNTH_LINK_SLL;
            else if (strcmp(val, "sll2") == 0) o->synth.link = MSNSYNTH_LINK_SLL2;
            else if (strcmp(val, "null") == 0) o->synth.link = MSNSYNTH_LINK_NULL;
            else if (strcmp(val, "ether") != 0) return -1;
            i++;
        } else {
            return -1;
        }
    }
    return i;
}
