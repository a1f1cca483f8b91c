/* libmsnp invitations: parsing, classification, building. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "transcripts.h"

/* Parse a whole MSG payload the way every consumer does. */
static void parse_payload(const char *p, msnp_invite *inv) {
    msnp_mime m;
    assert_int_equal(msnp_mime_parse(p, strlen(p), &m, NULL), MSNP_MIME_OK);
    assert_int_equal(msnp_content_kind_of(&m), MSNP_CT_INVITE);
    size_t off;
    assert_int_equal(msnp_invite_parse(m.body.p, m.body.n, inv, &off), MSNP_INVITE_OK);
}

static void test_file_transfer_exchange(void **state) {
    (void)state;
    msnp_invite inv;
    msnp_classified_by by;
    parse_payload(FT_INVITE, &inv);
    assert_int_equal(inv.command, MSNP_INVITE_INVITE);
    assert_true(inv.has_cookie);
    assert_int_equal(inv.cookie, 33267);
    assert_true(msnp_str_eq(inv.file, "readme.txt"));
    assert_int_equal(inv.file_size, 60904);
    assert_int_equal(msnp_invite_classify(&inv, &by), MSNP_APP_FILE_TRANSFER);
    assert_int_equal(by, MSNP_BY_GUID);
    assert_int_equal(msnp_app_transport(MSNP_APP_FILE_TRANSFER), MSNP_TRANSPORT_TCP);

    parse_payload(FT_ACCEPT_RECEIVER, &inv);
    assert_int_equal(inv.command, MSNP_INVITE_ACCEPT);
    assert_int_equal(inv.cookie, 33267);
    assert_true(msnp_str_eq(inv.request_data, "IP-Address:"));
    assert_true(msnp_str_eq(inv.launch_application, "FALSE"));
    assert_int_equal(inv.ip.n, 0);
    assert_int_equal(msnp_invite_classify(&inv, &by), MSNP_APP_UNKNOWN); /* only INVITEs name the app */

    parse_payload(FT_ACCEPT_SENDER, &inv);
    assert_true(msnp_str_eq(inv.ip, "10.44.102.65"));
    assert_false(inv.has_ip_port);
    assert_true(inv.has_port);
    assert_int_equal(inv.port, 6891);
    assert_true(msnp_str_eq(inv.auth_cookie, "93301"));
}

static void test_voice_localised_with_slipped_guid(void **state) {
    (void)state;
    msnp_invite inv;
    msnp_classified_by by;
    parse_payload(VOICE_INVITE_ZH, &inv);
    assert_true(msnp_str_eq(inv.session_protocol, "SM1"));
    assert_false(inv.has_context_addr);
    /* the GUID says file transfer, but an SM1 session without a file is not
     * one: the localised name decides */
    assert_int_equal(msnp_invite_classify(&inv, &by), MSNP_APP_VOICE);
    assert_int_equal(by, MSNP_BY_NAME);
    assert_int_equal(msnp_app_transport(MSNP_APP_VOICE), MSNP_TRANSPORT_UDP);
}

static void test_whiteboard_context(void **state) {
    (void)state;
    msnp_invite inv;
    parse_payload(WHITEBOARD_CONTEXT, &inv);
    assert_int_equal(inv.command, MSNP_INVITE_CONTEXT);
    assert_true(inv.has_context_addr);
    assert_true(msnp_str_eq(inv.context_host, "10.1.1.211"));
    assert_int_equal(inv.context_port, 13374);
}

static void test_localised_names(void **state) {
    (void)state;
    /* the byte sequences the source analysis lists */
    static const struct {
        const char *bytes;
        msnp_app_kind kind;
    } cases[] = {
        {"\xe8\xaf\xad\xe9\x9f\xb3\xe5\xaf\xb9\xe8\xaf\x9d", MSNP_APP_VOICE},
        {"\xe6\x96\x87\xe4\xbb\xb6\xe4\xbc\xa0\xe8\xbe\x93", MSNP_APP_FILE_TRANSFER},
        {"\xe7\x99\xbd\xe6\x9d\xbf", MSNP_APP_WHITEBOARD},
        {"\xe8\xbf\x9c\xe7\xa8\x8b\xe5\x8d\x8f\xe5\x8a\xa9", MSNP_APP_REMOTE_ASSISTANCE},
        {"\xe5\xba\x94\xe7\x94\xa8\xe7\xa8\x8b\xe5\xba\x8f\xe5\x85\xb1\xe4\xba\xab", MSNP_APP_APP_SHARING},
        {"file transfer", MSNP_APP_FILE_TRANSFER},
        {"Whiteboard", MSNP_APP_WHITEBOARD},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const msnp_app_info *a = msnp_app_by_name(msnp_str_c(cases[i].bytes));
        assert_non_null(a);
        assert_int_equal(a->kind, cases[i].kind);
    }
    assert_null(msnp_app_by_name(msnp_str_c("Solitaire")));
}

static void test_guids(void **state) {
    (void)state;
    const msnp_app_info *a = msnp_app_by_guid(msnp_str_c("{5d3e02ab-6190-11d3-bbbb-00c04f795683}"));
    assert_non_null(a);
    assert_int_equal(a->kind, MSNP_APP_FILE_TRANSFER);
    a = msnp_app_by_guid(msnp_str_c("56b994a7-380f-410b-9985-c809d78c1bdc"));
    assert_non_null(a);
    assert_int_equal(a->kind, MSNP_APP_REMOTE_ASSISTANCE);
    assert_null(msnp_app_by_guid(msnp_str_c("{00000000-0000-0000-0000-000000000000}")));
    assert_null(msnp_app_by_guid(msnp_str_c("{}")));
    size_t n;
    const msnp_app_info *t = msnp_app_table(&n);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(t[i].guid);
        assert_ptr_equal(msnp_app_by_guid(msnp_str_c(t[i].guid)), &t[i]);
        /* the form msnp_app_by_guid relies on: braces around 36 bytes of
         * upper-case hexadecimal digits and hyphens */
        assert_int_equal(strlen(t[i].guid), 38);
        assert_true(t[i].guid[0] == '{' && t[i].guid[37] == '}');
        for (size_t k = 1; k < 37; k++)
            assert_true((t[i].guid[k] >= '0' && t[i].guid[k] <= '9') || (t[i].guid[k] >= 'A' && t[i].guid[k] <= 'F') ||
                        t[i].guid[k] == '-');
        /* each byte in the other case matches; a byte that only folds onto
         * it with 0x20 (a control byte for a digit, CR for '-') does not */
        char g[39];
        for (size_t k = 1; k < 37; k++) {
            memcpy(g, t[i].guid, 39);
            char ch = g[k];
            g[k] = (char)(ch >= 'A' && ch <= 'F' ? ch + 32 : ch);
            assert_ptr_equal(msnp_app_by_guid(msnp_str_c(g)), &t[i]);
            g[k] = (char)(ch ^ 0x20);
            if (ch >= 'A' && ch <= 'F') assert_ptr_equal(msnp_app_by_guid(msnp_str_c(g)), &t[i]);
            else assert_null(msnp_app_by_guid(msnp_str_c(g)));
            g[k] = (char)(ch + 1 == ':' ? 'A' : ch + 1);
            assert_null(msnp_app_by_guid(msnp_str_c(g)));
        }
    }
    assert_null(msnp_app_by_guid(msnp_str_c("{5D3E02AB-6190-11D3-BBBB-00C04F79568}")));
    assert_null(msnp_app_by_guid(msnp_str_c("{5D3E02AB-6190-11D3-BBBB-00C04F7956833}")));
}

static msnp_app_kind classify_body(const char *body, msnp_classified_by *by) {
    msnp_invite inv;
    assert_int_equal(msnp_invite_parse(body, strlen(body), &inv, NULL), MSNP_INVITE_OK);
    return msnp_invite_classify(&inv, by);
}

static void test_classification_order(void **state) {
    (void)state;
    msnp_classified_by by;
    /* video: the SIP GUID with SIP_V requested */
    assert_int_equal(classify_body("Application-GUID: {02D3C01F-BF30-4825-A83A-DE7AF41648AA}\r\n"
                                   "Context-Data: Requested:SIP_A,SIP_V,;Capabilities:SIP_A,SIP_V,;\r\n"
                                   "Invitation-Command: INVITE\r\nInvitation-Cookie: 1\r\n",
                                   &by),
                     MSNP_APP_VIDEO);
    assert_int_equal(by, MSNP_BY_GUID);
    /* in any case; "SIP-V" is not SIP_V, nor is "Requester" Requested */
    assert_int_equal(classify_body("Application-GUID: {02D3C01F-BF30-4825-A83A-DE7AF41648AA}\r\n"
                                   "Context-Data: rEQUESTED:sip_a,Sip_v,;\r\n"
                                   "Invitation-Command: INVITE\r\nInvitation-Cookie: 1\r\n",
                                   &by),
                     MSNP_APP_VIDEO);
    assert_int_equal(classify_body("Application-GUID: {02D3C01F-BF30-4825-A83A-DE7AF41648AA}\r\n"
                                   "Context-Data: Requested:SIP-V,SIP_W,SIP_\r\n"
                                   "Invitation-Command: INVITE\r\nInvitation-Cookie: 1\r\n",
                                   &by),
                     MSNP_APP_VOICE);
    assert_int_equal(classify_body("Application-GUID: {02D3C01F-BF30-4825-A83A-DE7AF41648AA}\r\n"
                                   "Context-Data: Requester:SIP_V;Requeste\r\n"
                                   "Invitation-Command: INVITE\r\nInvitation-Cookie: 1\r\n",
                                   &by),
                     MSNP_APP_VOICE);
    /* capabilities alone do not make it video */
    assert_int_equal(classify_body("Application-GUID: {02D3C01F-BF30-4825-A83A-DE7AF41648AA}\r\n"
                                   "Context-Data: Requested:SIP_A,;Capabilities:SIP_A,SIP_V,;\r\n"
                                   "Invitation-Command: INVITE\r\nInvitation-Cookie: 1\r\n",
                                   &by),
                     MSNP_APP_VOICE);
    /* unknown GUID, unknown name: reported unknown, never guessed */
    assert_int_equal(
        classify_body("Application-Name: Chess\r\nApplication-GUID: {11111111-2222-3333-4444-555555555555}\r\n"
                      "Session-Protocol: SM1\r\nInvitation-Command: INVITE\r\nInvitation-Cookie: 1\r\n",
                      &by),
        MSNP_APP_UNKNOWN);
    assert_int_equal(by, MSNP_BY_NONE);
    /* no GUID, no known name: headers decide */
    assert_int_equal(
        classify_body("Application-File: a.txt\r\nInvitation-Command: INVITE\r\nInvitation-Cookie: 1\r\n", &by),
        MSNP_APP_FILE_TRANSFER);
    assert_int_equal(by, MSNP_BY_HEADERS);
    assert_int_equal(
        classify_body("Session-Protocol: SM1\r\nInvitation-Command: INVITE\r\nInvitation-Cookie: 1\r\n", &by),
        MSNP_APP_VOICE);
    assert_int_equal(by, MSNP_BY_HEADERS);
    assert_int_equal(classify_body("Invitation-Command: INVITE\r\nInvitation-Cookie: 1\r\n", &by), MSNP_APP_UNKNOWN);
}

static void test_addresses_and_portx(void **state) {
    (void)state;
    static const char body[] = "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 25\r\n"
                               "IP-Address: 216.254.16.46:6892\r\nIP-Address-Internal: 10.0.2.3\r\n"
                               "Port: 6892\r\nPortX: 11181\r\nAuthCookie: 1251249521\r\nSender-Connect: TRUE\r\n";
    msnp_invite inv;
    assert_int_equal(msnp_invite_parse(body, sizeof(body) - 1, &inv, NULL), MSNP_INVITE_OK);
    assert_true(msnp_str_eq(inv.ip, "216.254.16.46"));
    assert_true(inv.has_ip_port);
    assert_int_equal(inv.ip_port, 6892);
    assert_true(msnp_str_eq(inv.ip_internal, "10.0.2.3"));
    assert_int_equal(msnp_portx_decode(inv.portx), 6892);
    assert_true(inv.sender_connect);
}

/* Field names and commands are read in any case, and only as written:
 * a name of the same length that differs in one byte (a letter, '_' for
 * '-') is another header, and a command must be the whole value. */
static void test_names_in_any_case(void **state) {
    (void)state;
    static const char body[] = "iNVITATION-cOMMAND: context\r\nINVITATION-COOKIE: 77\r\n"
                               "application-name: Whiteboard\r\nAPPLICATION-GUID: {X}\r\n"
                               "Application-file: a.txt\r\nAPPLICATION-FILESIZE: 12\r\n"
                               "ip-address: 10.0.0.9\r\nIP-ADDRESS-INTERNAL: 10.0.0.8\r\n"
                               "PORT: 7000\r\nportx: 10779\r\nPORTX-internal: 10780\r\n"
                               "AUTHCOOKIE: 42\r\nSESSION-protocol: SM1\r\nsession-ID: {S}\r\n"
                               "CONTEXT-DATA: 10.0.0.7:9000\r\nrequest-data: IP-Address:\r\n"
                               "LAUNCH-application: FALSE\r\nCONNECTIVITY: N\r\n"
                               "sender-CONNECT: true\r\ncancel-CODE: FAIL\r\n";
    msnp_invite inv;
    assert_int_equal(msnp_invite_parse(body, sizeof(body) - 1, &inv, NULL), MSNP_INVITE_OK);
    assert_int_equal(inv.command, MSNP_INVITE_CONTEXT);
    assert_int_equal(inv.cookie, 77);
    assert_true(msnp_str_eq(inv.app_name, "Whiteboard"));
    assert_true(msnp_str_eq(inv.app_guid, "{X}"));
    assert_true(msnp_str_eq(inv.file, "a.txt"));
    assert_int_equal(inv.file_size, 12);
    assert_true(msnp_str_eq(inv.ip, "10.0.0.9"));
    assert_true(msnp_str_eq(inv.ip_internal, "10.0.0.8"));
    assert_int_equal(inv.port, 7000);
    assert_int_equal(inv.portx, 10779);
    assert_int_equal(inv.portx_internal, 10780);
    assert_true(msnp_str_eq(inv.auth_cookie, "42"));
    assert_true(msnp_str_eq(inv.session_protocol, "SM1"));
    assert_true(msnp_str_eq(inv.session_id, "{S}"));
    assert_true(inv.has_context_addr);
    assert_int_equal(inv.context_port, 9000);
    assert_true(msnp_str_eq(inv.request_data, "IP-Address:"));
    assert_true(msnp_str_eq(inv.launch_application, "FALSE"));
    assert_true(msnp_str_eq(inv.connectivity, "N"));
    assert_true(inv.sender_connect);
    assert_true(msnp_str_eq(inv.cancel_code, "FAIL"));

    static const char near[] = "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 5\r\n"
                               "Invitation_Cookie: 6\r\nInvitation-Cookiz: 7\r\nIP_Address: 10.0.0.1\r\n"
                               "IP-Addressx: 10.0.0.2\r\nPorts: 7000\r\nPort_: 7001\r\nPorx: 7002\r\n"
                               "Application-Namf: X\r\nApplicationXGUID: Y\r\nPortX_Internal: 10780\r\n";
    assert_int_equal(msnp_invite_parse(near, sizeof(near) - 1, &inv, NULL), MSNP_INVITE_OK);
    assert_int_equal(inv.cookie, 5);
    assert_null(inv.ip.p);
    assert_false(inv.has_port);
    assert_false(inv.has_portx);
    assert_false(inv.has_portx_internal);
    assert_null(inv.app_name.p);
    assert_null(inv.app_guid.p);

    /* a control byte in a name is refused by the header block itself */
    static const char cr[] = "Invitation-Command: ACCEPT\r\nInvitation\rCookie: 5\r\n";
    assert_int_equal(msnp_invite_parse(cr, sizeof(cr) - 1, &inv, NULL), MSNP_INVITE_EMIME);

    static const struct {
        const char *text;
        msnp_invite_command cmd;
    } cmds[] = {
        {"INVITE", MSNP_INVITE_INVITE},     {"invite", MSNP_INVITE_INVITE},      {" Accept\t", MSNP_INVITE_ACCEPT},
        {"cAnCeL", MSNP_INVITE_CANCEL},     {"CONTEXT", MSNP_INVITE_CONTEXT},    {"INVITES", MSNP_INVITE_UNKNOWN},
        {"INVIT", MSNP_INVITE_UNKNOWN},     {"INV\x09TE", MSNP_INVITE_UNKNOWN},  {"INVITE\x01", MSNP_INVITE_UNKNOWN},
        {"\x01NVITE", MSNP_INVITE_UNKNOWN}, {"CONTEX\x14", MSNP_INVITE_UNKNOWN}, {"ACCEP", MSNP_INVITE_UNKNOWN},
        {"", MSNP_INVITE_UNKNOWN},          {"CONTEXTS", MSNP_INVITE_UNKNOWN},   {"C0NTEXT", MSNP_INVITE_UNKNOWN},
    };
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
        assert_int_equal(msnp_invite_command_parse(msnp_str_c(cmds[k].text)), cmds[k].cmd);
}

/* The names with their lengths are the names. */
static void test_names_with_lengths(void **state) {
    (void)state;
    for (int c = MSNP_INVITE_UNKNOWN; c <= MSNP_INVITE_CONTEXT + 1; c++) {
        msnp_str s = msnp_invite_command_str((msnp_invite_command)c);
        assert_ptr_equal(s.p, msnp_invite_command_name((msnp_invite_command)c));
        assert_int_equal(s.n, strlen(s.p));
    }
    for (int k = MSNP_APP_UNKNOWN; k <= MSNP_APP_OTHER + 1; k++) {
        msnp_str s = msnp_app_kind_str((msnp_app_kind)k);
        assert_ptr_equal(s.p, msnp_app_kind_name((msnp_app_kind)k));
        assert_int_equal(s.n, strlen(s.p));
    }
    assert_true(msnp_str_eq(msnp_invite_command_str(MSNP_INVITE_CONTEXT), "CONTEXT"));
    assert_true(msnp_str_eq(msnp_app_kind_str(MSNP_APP_REMOTE_ASSISTANCE), "remote_assistance"));
}

/* The port to connect to: Port before IP-Address's ":port" before PortX
 * (msnc connects to Port when IP-Address carries another); inside,
 * PortX-Internal before Port before PortX, never the outside ":port". */
static void test_ports_to_connect_to(void **state) {
    (void)state;
    static const struct {
        const char *fields;
        uint16_t port, internal;
    } cases[] = {
        {"IP-Address: 10.0.0.1:7000\r\nPort: 7001\r\n", 7001, 7001},
        {"Port: 7001\r\nIP-Address: 10.0.0.1:7000\r\n", 7001, 7001}, /* whatever the order */
        {"IP-Address: 10.0.0.1:7000\r\n", 7000, 0},
        {"IP-Address: 10.0.0.1:7000\r\nPortX: 10778\r\n", 7000, 7003}, /* 10778 = 7003 ^ 0x3141 */
        {"IP-Address: 10.0.0.1\r\nPortX: 10778\r\n", 7003, 7003},
        {"IP-Address: 10.0.0.1\r\nPort: 7001\r\nPortX: 10778\r\n", 7001, 7001},
        {"IP-Address: 10.0.0.1\r\n", 0, 0},
        {"IP-Address: 216.254.16.46:6892\r\nIP-Address-Internal: 10.0.2.3\r\nPortX-Internal: 11180\r\n", 6892,
         6893}, /* 11180 = 6893 ^ 0x3141 */
        {"IP-Address: 10.0.0.1\r\nIP-Address-Internal: 10.0.2.3\r\nPort: 7001\r\nPortX-Internal: 11180\r\n", 7001,
         6893},
        {"IP-Address: 10.0.0.1:0\r\nPort: 7001\r\n", 7001, 7001}, /* a bad ":port" is no port */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char body[256];
        snprintf(body, sizeof body, "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 9\r\n%s", cases[k].fields);
        msnp_invite inv;
        assert_int_equal(msnp_invite_parse(body, strlen(body), &inv, NULL), MSNP_INVITE_OK);
        assert_int_equal(msnp_invite_port(&inv), cases[k].port);
        assert_int_equal(msnp_invite_internal_port(&inv), cases[k].internal);
    }
}

/* IPv6: in brackets with a port, in brackets alone, or bare (no port). */
static void test_ipv6_addresses(void **state) {
    (void)state;
    static const char bracketed_port[] = "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 7\r\n"
                                         "IP-Address: [2001:db8::10]:6891\r\n";
    static const char bracketed[] = "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 7\r\n"
                                    "IP-Address: [2001:db8::10]\r\nPort: 6892\r\n";
    static const char bare[] = "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 7\r\n"
                               "IP-Address: 2001:db8::10\r\nPort: 6893\r\n";
    msnp_invite inv;
    assert_int_equal(msnp_invite_parse(bracketed_port, sizeof(bracketed_port) - 1, &inv, NULL), MSNP_INVITE_OK);
    assert_true(msnp_str_eq(inv.ip, "2001:db8::10"));
    assert_true(inv.has_ip_port);
    assert_int_equal(inv.ip_port, 6891);
    assert_int_equal(msnp_invite_parse(bracketed, sizeof(bracketed) - 1, &inv, NULL), MSNP_INVITE_OK);
    assert_true(msnp_str_eq(inv.ip, "2001:db8::10"));
    assert_false(inv.has_ip_port);
    assert_int_equal(inv.port, 6892);
    assert_int_equal(msnp_invite_parse(bare, sizeof(bare) - 1, &inv, NULL), MSNP_INVITE_OK);
    assert_true(msnp_str_eq(inv.ip, "2001:db8::10"));
    assert_false(inv.has_ip_port);
    assert_int_equal(inv.port, 6893);
}

/* An ACCEPT announcing ip (and port 6891), parsed into inv: the message is
 * read whatever the address. */
static void accept_with_ip(const char *ip, msnp_invite *inv) {
    static char body[160];
    snprintf(body, sizeof body, "Invitation-Command: ACCEPT\r\nIP-Address: %s\r\nPort: 6891\r\n", ip);
    assert_int_equal(msnp_invite_parse(body, strlen(body), inv, NULL), MSNP_INVITE_OK);
}

/* A dotted quad is an address exactly when inet_pton reads one: every
 * string of digits and dots up to seven bytes, and longer ones by chance
 * (no such string is a host name, its last label being all digits). */
static void test_dotted_quads_as_inet_pton(void **state) {
    (void)state;
    static const char alphabet[] = "01256.";
    char s[24];
    uint32_t seed = 12345;
    for (size_t k = 0; k < 400000; k++) {
        size_t len, x = k;
        if (k < 335922) { /* 6 + 6^2 + ... + 6^7: all of them */
            len = 1;
            for (size_t span = 6; x >= span; span *= 6, len++) x -= span;
            for (size_t i = 0; i < len; i++, x /= 6) s[i] = alphabet[x % 6];
        } else {
            seed = seed * 1103515245u + 12345u;
            len = 8 + (seed >> 16) % 12;
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                s[i] = (seed >> 16) % 4 ? alphabet[(seed >> 18) % 5] : '.';
            }
        }
        s[len] = '\0';
        unsigned char a[4];
        int want = inet_pton(AF_INET, s, a) == 1;
        msnp_invite inv;
        accept_with_ip(s, &inv);
        if ((inv.ip.n != 0) != want) fail_msg("\"%s\": inet_pton says %d", s, want);
        assert_int_equal(inv.addr_error, want ? MSNP_INVITE_OK : MSNP_INVITE_EBAD_ADDRESS);
    }
    msnp_invite inv;
    accept_with_ip("255.255.255.255", &inv);
    assert_true(msnp_str_eq(inv.ip, "255.255.255.255"));
    accept_with_ip("0.0.0.0", &inv);
    assert_true(msnp_str_eq(inv.ip, "0.0.0.0"));
}

static void test_bad_invitations(void **state) {
    (void)state;
    msnp_invite inv;
    size_t off = 0;
    static const char nocmd[] = "Invitation-Cookie: 5\r\n";
    assert_int_equal(msnp_invite_parse(nocmd, sizeof(nocmd) - 1, &inv, &off), MSNP_INVITE_ENO_COMMAND);
    static const char badport[] = "Invitation-Command: ACCEPT\r\nPort: 99999\r\n";
    assert_int_equal(msnp_invite_parse(badport, sizeof(badport) - 1, &inv, &off), MSNP_INVITE_OK);
    assert_int_equal(inv.addr_error, MSNP_INVITE_EBAD_PORT);
    assert_int_equal(inv.addr_error_offset, 34);
    assert_int_equal(inv.command, MSNP_INVITE_ACCEPT);
    assert_false(inv.has_port);
    /* port 0 is no port to connect to (it once meant "any" to the analyzer);
     * a written port that is not one is not part of a host name */
    static const char *no_port[] = {
        "Invitation-Command: ACCEPT\r\nIP-Address: 10.0.0.2\r\nPort: 0\r\n",
        "Invitation-Command: ACCEPT\r\nIP-Address: 10.0.0.2:0\r\n",
        "Invitation-Command: ACCEPT\r\nIP-Address: 10.0.0.2:99999\r\n",
        "Invitation-Command: ACCEPT\r\nIP-Address: [2001:db8::2]:0\r\n",
        "Invitation-Command: ACCEPT\r\nIP-Address-Internal: 10.0.0.2:70000\r\n",
        "Invitation-Command: ACCEPT\r\nIP-Address: 10.0.0.2\r\nPortX: 12609\r\n", /* 0x3141: port 0 */
        "Invitation-Command: ACCEPT\r\nIP-Address: 10.0.0.2\r\nPortX-Internal: 12609\r\n",
    };
    for (size_t i = 0; i < sizeof no_port / sizeof no_port[0]; i++) {
        assert_int_equal(msnp_invite_parse(no_port[i], strlen(no_port[i]), &inv, &off), MSNP_INVITE_OK);
        assert_int_equal(inv.addr_error, MSNP_INVITE_EBAD_PORT);
        assert_false(inv.has_port || inv.has_portx || inv.has_ip_port || inv.has_portx_internal);
        assert_string_equal(msnp_invite_status_str(MSNP_INVITE_EBAD_PORT),
                            "port outside 1-65535 in an invitation field");
    }
    /* not an address: a mistyped IPv4 address, two of them, a space */
    static const char *no_address[] = {"10.0.0.256", "10.0.0.2 10.0.0.9", "host_name.example",
                                       "-a.example", "a..example",        "1.2.3",
                                       ".",          "a.example..",       "10.0.0.256."};
    for (size_t i = 0; i < sizeof no_address / sizeof no_address[0]; i++) {
        accept_with_ip(no_address[i], &inv);
        assert_int_equal(inv.addr_error, MSNP_INVITE_EBAD_ADDRESS);
        assert_null(inv.ip.p);
    }
    /* a refused address is left out with the port that came with it: no
     * port to connect to at an address there is not */
    static const char *no_address_port[] = {"10.0.0.256:6891", "host_name.example:6891", "1.2.3:6891"};
    for (size_t i = 0; i < sizeof no_address_port / sizeof no_address_port[0]; i++) {
        char body[128];
        snprintf(body, sizeof body, "Invitation-Command: ACCEPT\r\nIP-Address: %s\r\n", no_address_port[i]);
        assert_int_equal(msnp_invite_parse(body, strlen(body), &inv, NULL), MSNP_INVITE_OK);
        assert_int_equal(inv.addr_error, MSNP_INVITE_EBAD_ADDRESS);
        assert_null(inv.ip.p);
        assert_false(inv.has_ip_port);
        assert_int_equal(inv.ip_port, 0);
        assert_int_equal(msnp_invite_port(&inv), 0);
    }
    static const char *addresses[] = {"10.0.0.2", "2001:db8::2", "[2001:db8::2]:6891", "msn-ft.example.com",
                                      "10.0.0.2:6891"};
    for (size_t i = 0; i < sizeof addresses / sizeof addresses[0]; i++) {
        accept_with_ip(addresses[i], &inv);
        assert_int_equal(inv.addr_error, MSNP_INVITE_OK);
        assert_non_null(inv.ip.p);
    }
    /* a fully qualified host name ends with a dot: the same host, kept as
     * written (with a port too); 253 characters before the dot at most */
    static const char *fqdn[] = {"msn-ft.example.com.", "msn-ft.example.com.:6891", "localhost."};
    static const char *fqdn_host[] = {"msn-ft.example.com.", "msn-ft.example.com.", "localhost."};
    for (size_t i = 0; i < sizeof fqdn / sizeof fqdn[0]; i++) {
        accept_with_ip(fqdn[i], &inv);
        assert_int_equal(inv.addr_error, MSNP_INVITE_OK);
        assert_int_equal(inv.ip.n, strlen(fqdn_host[i]));
        assert_memory_equal(inv.ip.p, fqdn_host[i], inv.ip.n);
    }
    {
        char longest[300], body[400];
        size_t n = 0;
        for (int l = 0; l < 4; l++) { /* 4 labels of 62 and their dots, then "a": 253 */
            memset(longest + n, 'a', 62);
            n += 62;
            longest[n++] = '.';
        }
        memcpy(longest + n, "a.", 3);
        snprintf(body, sizeof body, "Invitation-Command: ACCEPT\r\nIP-Address-Internal: %s\r\n", longest);
        assert_int_equal(strlen(longest), 254);
        assert_int_equal(msnp_invite_parse(body, strlen(body), &inv, NULL), MSNP_INVITE_OK);
        assert_int_equal(inv.addr_error, MSNP_INVITE_OK);
        assert_int_equal(inv.ip_internal.n, 254);
        memcpy(longest + n, "ab.", 4); /* 254 before the dot */
        snprintf(body, sizeof body, "Invitation-Command: ACCEPT\r\nIP-Address-Internal: %s\r\n", longest);
        assert_int_equal(msnp_invite_parse(body, strlen(body), &inv, NULL), MSNP_INVITE_OK);
        assert_int_equal(inv.addr_error, MSNP_INVITE_EBAD_ADDRESS);
    }
    static const char junk_port[] = "Invitation-Command: ACCEPT\r\nPort: 6891abc\r\n";
    assert_int_equal(msnp_invite_parse(junk_port, sizeof(junk_port) - 1, &inv, &off), MSNP_INVITE_EBAD_NUMBER);
    static const char host_port[] = "Invitation-Command: ACCEPT\r\nIP-Address: example.com:6891\r\n";
    assert_int_equal(msnp_invite_parse(host_port, sizeof(host_port) - 1, &inv, &off), MSNP_INVITE_OK);
    assert_int_equal(inv.ip_port, 6891);
    static const char badcookie[] = "Invitation-Command: INVITE\r\nInvitation-Cookie: -1\r\n";
    assert_int_equal(msnp_invite_parse(badcookie, sizeof(badcookie) - 1, &inv, &off), MSNP_INVITE_EBAD_NUMBER);
    static const char notmime[] = "Invitation-Command INVITE\r\n";
    assert_int_equal(msnp_invite_parse(notmime, sizeof(notmime) - 1, &inv, &off), MSNP_INVITE_EMIME);
    assert_int_equal(off, 0);
}

static void test_build_round_trip(void **state) {
    (void)state;
    msnp_invite_fields f = {0};
    f.command = MSNP_INVITE_ACCEPT;
    f.cookie = 33267;
    f.ip = "10.44.102.65";
    f.port = 6891;
    f.with_portx = 1;
    f.auth_cookie = "93301";
    f.launch_application = "FALSE";
    f.request_data = "IP-Address:";
    char buf[1024];
    long n = msnp_invite_build(&f, buf, sizeof(buf));
    assert_true(n > 0);
    msnp_invite inv;
    parse_payload(buf, &inv);
    assert_int_equal(inv.command, MSNP_INVITE_ACCEPT);
    assert_int_equal(inv.cookie, 33267);
    assert_true(msnp_str_eq(inv.ip, "10.44.102.65"));
    assert_int_equal(inv.port, 6891);
    assert_int_equal(inv.portx, 6891 ^ 0x3141);
    assert_true(msnp_str_eq(inv.auth_cookie, "93301"));

    /* The file-transfer INVITE built from fields is byte-identical to the
     * transcript (same field order as the official client). */
    msnp_invite_fields g = {0};
    g.command = MSNP_INVITE_INVITE;
    g.app_name = "File Transfer";
    g.app_guid = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}";
    g.cookie = 33267;
    g.file = "readme.txt";
    g.file_size = 60904;
    g.has_file_size = 1;
    n = msnp_invite_build(&g, buf, sizeof(buf));
    assert_int_equal(n, (long)strlen(FT_INVITE));
    assert_memory_equal(buf, FT_INVITE, strlen(FT_INVITE));
    /* the payload and its NUL fit exactly; without room for the NUL: -1 */
    char exact[sizeof(FT_INVITE)];
    assert_int_equal(msnp_invite_build(&g, exact, sizeof(exact)), n);
    assert_int_equal(exact[n], '\0');
    assert_int_equal(msnp_invite_build(&g, exact, sizeof(exact) - 1), -1);

    /* values that would break the header block are refused */
    g.file = "evil\r\nInvitation-Command: CANCEL";
    assert_int_equal(msnp_invite_build(&g, buf, sizeof(buf)), -1);
    g.file = "tab\there.txt"; /* no control byte at all */
    assert_int_equal(msnp_invite_build(&g, buf, sizeof(buf)), -1);
    g.file = "esc\x1b[2J.txt";
    assert_int_equal(msnp_invite_build(&g, buf, sizeof(buf)), -1);
    g.file = "del\x7f.txt";
    assert_int_equal(msnp_invite_build(&g, buf, sizeof(buf)), -1);
    g.file = "latin1-caf\xe9.txt"; /* the block says charset=UTF-8 */
    assert_int_equal(msnp_invite_build(&g, buf, sizeof(buf)), -1);
    g.file = "caf\xc3\xa9 \xe6\x96\x87.txt";
    assert_true(msnp_invite_build(&g, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "Application-File: caf\xc3\xa9 \xe6\x96\x87.txt\r\n"));
    g.file = "ok.txt";
    assert_int_equal(msnp_invite_build(&g, buf, 40), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_transfer_exchange),
        cmocka_unit_test(test_voice_localised_with_slipped_guid),
        cmocka_unit_test(test_whiteboard_context),
        cmocka_unit_test(test_localised_names),
        cmocka_unit_test(test_guids),
        cmocka_unit_test(test_classification_order),
        cmocka_unit_test(test_addresses_and_portx),
        cmocka_unit_test(test_names_in_any_case),
        cmocka_unit_test(test_names_with_lengths),
        cmocka_unit_test(test_ports_to_connect_to),
        cmocka_unit_test(test_ipv6_addresses),
        cmocka_unit_test(test_dotted_quads_as_inet_pton),
        cmocka_unit_test(test_bad_invitations),
        cmocka_unit_test(test_build_round_trip),
    };
    return cmocka_run_group_tests_name("msnp_invite", tests, NULL, NULL);
}
