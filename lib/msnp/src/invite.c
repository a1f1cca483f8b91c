/* text/x-msmsgsinvite bodies: parse, classify, build. */
#include "msnp/invite.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "msnp/util.h"

#define NAME(s) \
    { s, sizeof(s) - 1 }
msnp_str msnp_invite_command_str(msnp_invite_command c) {
    switch (c) {
    case MSNP_INVITE_INVITE: return (msnp_str)NAME("INVITE");
    case MSNP_INVITE_ACCEPT: return (msnp_str)NAME("ACCEPT");
    case MSNP_INVITE_CANCEL: return (msnp_str)NAME("CANCEL");
    case MSNP_INVITE_CONTEXT: return (msnp_str)NAME("CONTEXT");
    case MSNP_INVITE_UNKNOWN: break;
    }
    return (msnp_str)NAME("UNKNOWN");
}

const char *msnp_invite_command_name(msnp_invite_command c) { return msnp_invite_command_str(c).p; }

/* s (4 to 8 bytes) against lit, a lower-case word of letters only and
 * of s's length, without regard to case: with 0x20 set in each byte of
 * s, a letter's two cases and no other byte match a lower-case letter,
 * so this is msnp_str_ieq's comparison for any bytes s holds, four at a
 * time (the second four overlap the first when s is shorter than 8). */
static MSNP_ALWAYS_INLINE int letters_are(msnp_str s, const char *lit) {
    uint32_t a, b, x, y;
    memcpy(&a, s.p, 4);
    memcpy(&b, s.p + s.n - 4, 4);
    memcpy(&x, lit, 4);
    memcpy(&y, lit + s.n - 4, 4);
    return (a | 0x20202020u) == x && (b | 0x20202020u) == y;
}

msnp_invite_command msnp_invite_command_parse(msnp_str s) {
    s = msnp_str_trim(s);
    if (s.n == 6) {
        if (letters_are(s, "invite")) return MSNP_INVITE_INVITE;
        if (letters_are(s, "accept")) return MSNP_INVITE_ACCEPT;
        if (letters_are(s, "cancel")) return MSNP_INVITE_CANCEL;
    } else if (s.n == 7 && letters_are(s, "context")) {
        return MSNP_INVITE_CONTEXT;
    }
    return MSNP_INVITE_UNKNOWN;
}

const char *msnp_invite_status_str(msnp_invite_status s) {
    switch (s) {
    case MSNP_INVITE_OK: return "ok";
    case MSNP_INVITE_EMIME: return "invitation body is not a header block";
    case MSNP_INVITE_ENO_COMMAND: return "invitation has no Invitation-Command";
    case MSNP_INVITE_EBAD_NUMBER: return "malformed number in an invitation field";
    case MSNP_INVITE_EBAD_PORT: return "port outside 1-65535 in an invitation field";
    case MSNP_INVITE_EBAD_ADDRESS: return "IP-Address is neither an IP address nor a host name";
    }
    return "unknown invitation error";
}

/* "a.b.c.d" or "a.b.c.d:port": split at a single colon followed by digits.
 * -1 when a port is written but is not one (0, above 65535, not digits):
 * the address is then not a host name with a colon in it. */
static int split_addr(msnp_str v, msnp_str *host, uint16_t *port, int *has_port) {
    *host = v;
    *has_port = 0;
    msnp_str h;
    uint16_t p = 0;
    if (v.n && v.p[0] == '[') {
        /* an IPv6 address in brackets, with a port or without: port 0 is
         * refused by msnp_split_hostport, so p stays 0 when none is given */
        if (msnp_split_hostport(v, &h, &p, 0) != 0) return -1;
        *host = h;
        *port = p;
        *has_port = p != 0;
        return 0;
    }
    /* host:port; a bare IPv6 address (more than one colon) has no port */
    const char *c1 = v.n ? memchr(v.p, ':', v.n) : NULL;
    if (c1 && memchr(c1 + 1, ':', v.n - (size_t)(c1 + 1 - v.p)) == NULL) {
        if (msnp_split_hostport(v, &h, &p, 1) != 0) return -1;
        *host = h;
        *port = p;
        *has_port = 1;
    }
    return 0;
}

/* An IPv4 or IPv6 address, or a host name (letters, digits and hyphens in
 * dot-separated labels of 1-63, 253 in all, the last not all digits: that
 * would be a mistyped IPv4 address such as 10.0.0.256). A host name may
 * end with a dot, the fully qualified form of the same name ("host.example."):
 * the caller keeps it as written, and DNS answers name it either way. */
static int is_host(msnp_str h) {
    char t[64];
    if (h.n > 0 && h.n < sizeof t) {
        /* a dotted quad read here (most announced addresses; the libc
         * parser costs several times this), up to a NUL as inet_pton
         * reads the copy below */
        uint8_t v4[4];
        if (msnp_ipv4_parse_cstr(h, v4)) return 1;
        memcpy(t, h.p, h.n);
        t[h.n] = '\0';
        unsigned char a[16];
        if (inet_pton(AF_INET6, t, a) == 1) return 1;
    }
    if (h.n > 1 && h.p[h.n - 1] == '.') h.n--;
    if (h.n == 0 || h.n > 253) return 0;
    size_t label = 0;
    int digits_only = 1;
    for (size_t i = 0; i < h.n; i++) {
        char c = h.p[i];
        if (c == '.') {
            if (label == 0 || h.p[i - 1] == '-') return 0;
            label = 0;
            digits_only = 1;
            continue;
        }
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && label > 0)) return 0;
        if (++label > 63) return 0;
        if (!(c >= '0' && c <= '9')) digits_only = 0;
    }
    return label > 0 && h.p[h.n - 1] != '-' && !digits_only;
}

/* The headers msnp_invite_parse reads. */
typedef enum invite_field {
    F_OTHER = 0,
    F_COMMAND,
    F_APP_NAME,
    F_APP_GUID,
    F_COOKIE,
    F_CANCEL_CODE,
    F_FILE,
    F_FILE_SIZE,
    F_IP,
    F_IP_INTERNAL,
    F_PORT,
    F_PORTX,
    F_PORTX_INTERNAL,
    F_AUTH_COOKIE,
    F_SESSION_PROTOCOL,
    F_SESSION_ID,
    F_CONTEXT_DATA,
    F_REQUEST_DATA,
    F_LAUNCH_APPLICATION,
    F_CONNECTIVITY,
    F_SENDER_CONNECT
} invite_field;

/* Eight bytes of a header name with 0x20 set in each: a letter in lower
 * case, a hyphen as it is. msnp_mime_parse keeps no name with a byte
 * below 0x21, so no other byte folds onto a letter or a hyphen (only
 * CR would onto '-'), and comparing folded words with a lower-case name
 * is msnp_str_ieq's comparison, a word at a time. */
static MSNP_ALWAYS_INLINE uint64_t fold8(const char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w | 0x2020202020202020ull;
}

static MSNP_ALWAYS_INLINE uint64_t word8(const char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* name (n bytes, 8 to 24) against lit, the lower-case name of that
 * length; the last word overlaps the one before when n is no multiple
 * of eight. */
static MSNP_ALWAYS_INLINE int name_is(const char *name, const char *lit, size_t n) {
    if (fold8(name) != word8(lit)) return 0;
    if (n > 16 && fold8(name + 8) != word8(lit + 8)) return 0;
    return fold8(name + n - 8) == word8(lit + n - 8);
}

/* The first four bytes of a name are "Port", in any case. */
static MSNP_ALWAYS_INLINE int port_is(const char *name) {
    uint32_t w;
    memcpy(&w, name, 4);
    return (w | 0x20202020u) == (uint32_t)word8("portport");
}

/* Which field a header name is: by its length first (most lengths are
 * one name's), then by its words. */
static invite_field field_of(msnp_str name) {
    const char *p = name.p;
    switch (name.n) {
    case 4: return port_is(p) ? F_PORT : F_OTHER;
    case 5: return port_is(p) && (p[4] | 0x20) == 'x' ? F_PORTX : F_OTHER;
    case 10:
        if (name_is(p, "ip-address", 10)) return F_IP;
        if (name_is(p, "authcookie", 10)) return F_AUTH_COOKIE;
        if (name_is(p, "session-id", 10)) return F_SESSION_ID;
        return F_OTHER;
    case 11: return name_is(p, "cancel-code", 11) ? F_CANCEL_CODE : F_OTHER;
    case 12:
        if (name_is(p, "context-data", 12)) return F_CONTEXT_DATA;
        if (name_is(p, "request-data", 12)) return F_REQUEST_DATA;
        if (name_is(p, "connectivity", 12)) return F_CONNECTIVITY;
        return F_OTHER;
    case 14:
        if (name_is(p, "portx-internal", 14)) return F_PORTX_INTERNAL;
        if (name_is(p, "sender-connect", 14)) return F_SENDER_CONNECT;
        return F_OTHER;
    case 16:
        if (name_is(p, "application-name", 16)) return F_APP_NAME;
        if (name_is(p, "application-guid", 16)) return F_APP_GUID;
        if (name_is(p, "application-file", 16)) return F_FILE;
        if (name_is(p, "session-protocol", 16)) return F_SESSION_PROTOCOL;
        return F_OTHER;
    case 17: return name_is(p, "invitation-cookie", 17) ? F_COOKIE : F_OTHER;
    case 18:
        if (name_is(p, "invitation-command", 18)) return F_COMMAND;
        if (name_is(p, "launch-application", 18)) return F_LAUNCH_APPLICATION;
        return F_OTHER;
    case 19: return name_is(p, "ip-address-internal", 19) ? F_IP_INTERNAL : F_OTHER;
    case 20: return name_is(p, "application-filesize", 20) ? F_FILE_SIZE : F_OTHER;
    default: return F_OTHER;
    }
}

msnp_invite_status msnp_invite_parse(const char *body, size_t n, msnp_invite *inv, size_t *err_offset) {
    /* everything but the header table, which msnp_mime_parse fills up to
     * its count (it is most of the structure) */
    memset(&inv->mime, 0, offsetof(msnp_mime, h));
    memset((char *)inv + sizeof inv->mime, 0, sizeof *inv - sizeof inv->mime);
    size_t mo = 0;
    if (msnp_mime_parse(body, n, &inv->mime, &mo) != MSNP_MIME_OK) {
        if (err_offset) *err_offset = mo;
        return MSNP_INVITE_EMIME;
    }
    msnp_invite_status st = MSNP_INVITE_OK;
    int have_command = 0;
    for (size_t i = 0; i < inv->mime.count; i++) {
        const msnp_header *h = &inv->mime.h[i];
        msnp_str v = h->value;
        uint64_t num;
        int bad = 0, bad_port = 0, bad_addr = 0;
        switch (field_of(h->name)) {
        case F_COMMAND:
            inv->command_raw = v;
            inv->command = msnp_invite_command_parse(v);
            have_command = 1;
            break;
        case F_APP_NAME: inv->app_name = v; break;
        case F_APP_GUID: inv->app_guid = v; break;
        case F_COOKIE:
            inv->cookie_raw = v;
            if (msnp_str_to_u64(v, UINT64_MAX, &num) == 0) {
                inv->cookie = num;
                inv->has_cookie = 1;
            } else bad = 1;
            break;
        case F_CANCEL_CODE: inv->cancel_code = v; break;
        case F_FILE: inv->file = v; break;
        case F_FILE_SIZE:
            if (msnp_str_to_u64(v, UINT64_MAX, &num) == 0) {
                inv->file_size = num;
                inv->has_file_size = 1;
            } else bad = 1;
            break;
        case F_IP: {
            int hp;
            bad_port = split_addr(v, &inv->ip, &inv->ip_port, &hp) != 0;
            inv->has_ip_port = (uint8_t)(hp != 0);
            inv->ip = msnp_str_trim(inv->ip);
            bad_addr = !bad_port && inv->ip.n && !is_host(inv->ip);
            if (bad_port || bad_addr) { /* left out whole: its :port is no port to connect to */
                inv->ip = MSNP_STR_NULL;
                inv->ip_port = 0;
                inv->has_ip_port = 0;
            }
            break;
        }
        case F_IP_INTERNAL: {
            int hp;
            uint16_t ignored;
            bad_port = split_addr(v, &inv->ip_internal, &ignored, &hp) != 0;
            inv->ip_internal = msnp_str_trim(inv->ip_internal);
            bad_addr = !bad_port && inv->ip_internal.n && !is_host(inv->ip_internal);
            if (bad_port || bad_addr) inv->ip_internal = MSNP_STR_NULL;
            break;
        }
        case F_PORT:
            if (msnp_str_to_u64(v, 65535, &num) == 0 && num) {
                inv->port = (uint16_t)num;
                inv->has_port = 1;
            } else if (msnp_str_to_u64(v, UINT64_MAX, &num) == 0) bad_port = 1;
            else bad = 1;
            break;
        case F_PORTX:
            if (msnp_str_to_u64(v, 65535, &num) == 0 && msnp_portx_decode((uint16_t)num)) {
                inv->portx = (uint16_t)num;
                inv->has_portx = 1;
            } else if (msnp_str_to_u64(v, UINT64_MAX, &num) == 0) bad_port = 1;
            else bad = 1;
            break;
        case F_PORTX_INTERNAL:
            if (msnp_str_to_u64(v, 65535, &num) == 0 && msnp_portx_decode((uint16_t)num)) {
                inv->portx_internal = (uint16_t)num;
                inv->has_portx_internal = 1;
            } else if (msnp_str_to_u64(v, UINT64_MAX, &num) == 0) bad_port = 1;
            else bad = 1;
            break;
        case F_AUTH_COOKIE: inv->auth_cookie = v; break;
        case F_SESSION_PROTOCOL: inv->session_protocol = v; break;
        case F_SESSION_ID: inv->session_id = v; break;
        case F_CONTEXT_DATA: {
            inv->context_data = v;
            int hp;
            msnp_str host;
            uint16_t port = 0;
            split_addr(v, &host, &port, &hp);
            if (hp) {
                inv->context_host = host;
                inv->context_port = port;
                inv->has_context_addr = 1;
            }
            break;
        }
        case F_REQUEST_DATA: inv->request_data = v; break;
        case F_LAUNCH_APPLICATION: inv->launch_application = v; break;
        case F_CONNECTIVITY: inv->connectivity = v; break;
        case F_SENDER_CONNECT: inv->sender_connect = (uint8_t)msnp_str_ieq(v, "TRUE"); break;
        case F_OTHER: break;
        }
        if (bad && st == MSNP_INVITE_OK) {
            st = MSNP_INVITE_EBAD_NUMBER;
            if (err_offset) *err_offset = (size_t)(v.p - body);
        }
        if ((bad_port || bad_addr) && inv->addr_error == MSNP_INVITE_OK) {
            inv->addr_error = bad_port ? MSNP_INVITE_EBAD_PORT : MSNP_INVITE_EBAD_ADDRESS;
            inv->addr_error_offset = (size_t)(v.p - body);
        }
    }
    if (st != MSNP_INVITE_OK) return st;
    if (!have_command) {
        if (err_offset) *err_offset = 0;
        return MSNP_INVITE_ENO_COMMAND;
    }
    return MSNP_INVITE_OK;
}

uint16_t msnp_invite_port(const msnp_invite *inv) {
    if (inv->has_port) return inv->port;
    if (inv->has_ip_port) return inv->ip_port;
    return inv->has_portx ? msnp_portx_decode(inv->portx) : 0;
}

uint16_t msnp_invite_internal_port(const msnp_invite *inv) {
    if (inv->has_portx_internal) return msnp_portx_decode(inv->portx_internal);
    if (inv->has_port) return inv->port;
    return inv->has_portx ? msnp_portx_decode(inv->portx) : 0;
}

/* Voice and video share the SIP GUID; Context-Data's Requested list tells
 * them apart ("Requested:SIP_A,SIP_V" asks for video). */
static msnp_app_kind voice_or_video(const msnp_invite *inv) {
    msnp_str cd = inv->context_data;
    const char *req = NULL;
    /* compared as msnp_str_istarts would, without regard to case: letters
     * with 0x20 set (which folds only a letter's two cases together), the
     * underscore as it is */
    for (size_t i = 0; i + 9 <= cd.n; i++)
        if ((cd.p[i] | 0x20) == 'r' && letters_are(msnp_str_make(cd.p + i + 1, 8), "equested")) {
            req = cd.p + i;
            break;
        }
    if (!req) return MSNP_APP_VOICE;
    const char *end = memchr(req, ';', (size_t)(cd.p + cd.n - req));
    size_t len = end ? (size_t)(end - req) : (size_t)(cd.p + cd.n - req);
    for (size_t i = 0; i + 5 <= len; i++)
        if ((req[i] | 0x20) == 's' && (req[i + 1] | 0x20) == 'i' && (req[i + 2] | 0x20) == 'p' && req[i + 3] == '_' &&
            (req[i + 4] | 0x20) == 'v')
            return MSNP_APP_VIDEO;
    return MSNP_APP_VOICE;
}

static msnp_app_kind refine(msnp_app_kind k, const msnp_invite *inv) {
    return k == MSNP_APP_VOICE ? voice_or_video(inv) : k;
}

msnp_app_kind msnp_invite_classify(const msnp_invite *inv, msnp_classified_by *by) {
    if (by) *by = MSNP_BY_NONE;
    if (inv->command != MSNP_INVITE_INVITE) return MSNP_APP_UNKNOWN;
    int session_app = inv->session_protocol.n > 0 && inv->file.n == 0;
    if (inv->app_guid.n) {
        const msnp_app_info *a = msnp_app_by_guid(inv->app_guid);
        /* A file-transfer GUID on an SM1 session invitation without a file
         * is a known client slip (published voice examples show it): the
         * GUID cannot be trusted there, so the name and headers decide. */
        if (a && !(a->kind == MSNP_APP_FILE_TRANSFER && session_app)) {
            if (by) *by = MSNP_BY_GUID;
            return refine(a->kind, inv);
        }
        if (!a) {
            /* Unknown GUID: only a known name may classify it; never guess. */
            const msnp_app_info *n = inv->app_name.n ? msnp_app_by_name(inv->app_name) : NULL;
            if (n) {
                if (by) *by = MSNP_BY_NAME;
                return refine(n->kind, inv);
            }
            return MSNP_APP_UNKNOWN;
        }
    }
    if (inv->app_name.n) {
        const msnp_app_info *n = msnp_app_by_name(inv->app_name);
        if (n) {
            if (by) *by = MSNP_BY_NAME;
            return refine(n->kind, inv);
        }
    }
    if (inv->file.n || inv->has_file_size) {
        if (by) *by = MSNP_BY_HEADERS;
        return MSNP_APP_FILE_TRANSFER;
    }
    if (msnp_str_ieq(msnp_str_trim(inv->session_protocol), "SM1")) {
        if (by) *by = MSNP_BY_HEADERS;
        return voice_or_video(inv);
    }
    return MSNP_APP_UNKNOWN;
}

static int field(char *dst, size_t cap, size_t *n, const char *name, const char *value) {
    if (!value) return 0;
    /* a value must stay on its line, and the block says charset=UTF-8:
     * no control byte (a CR or LF would start a header of its own), no
     * byte that is not UTF-8 */
    if (!msnp_text_valid(value, strlen(value))) return -1;
    int w = snprintf(dst + *n, cap - *n, "%s: %s\r\n", name, value);
    if (w < 0 || (size_t)w >= cap - *n) return -1;
    *n += (size_t)w;
    return 0;
}

long msnp_invite_build(const msnp_invite_fields *f, char *dst, size_t cap) {
    if (cap == 0 || f->command == MSNP_INVITE_UNKNOWN) return -1;
    size_t n = 0;
    char num[32];
    int rc = 0;
    const char *head = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n";
    size_t hl = strlen(head);
    if (hl >= cap) return -1;
    memcpy(dst, head, hl);
    n = hl;
    rc |= field(dst, cap, &n, "Application-Name", f->app_name);
    rc |= field(dst, cap, &n, "Application-GUID", f->app_guid);
    rc |= field(dst, cap, &n, "Session-Protocol", f->session_protocol);
    rc |= field(dst, cap, &n, "Context-Data", f->context_data);
    rc |= field(dst, cap, &n, "Invitation-Command", msnp_invite_command_name(f->command));
    snprintf(num, sizeof(num), "%llu", (unsigned long long)f->cookie);
    rc |= field(dst, cap, &n, "Invitation-Cookie", num);
    rc |= field(dst, cap, &n, "Session-ID", f->session_id);
    rc |= field(dst, cap, &n, "Cancel-Code", f->cancel_code);
    rc |= field(dst, cap, &n, "Application-File", f->file);
    if (f->has_file_size) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)f->file_size);
        rc |= field(dst, cap, &n, "Application-FileSize", num);
    }
    rc |= field(dst, cap, &n, "Connectivity", f->connectivity);
    rc |= field(dst, cap, &n, "IP-Address", f->ip);
    rc |= field(dst, cap, &n, "IP-Address-Internal", f->ip_internal);
    if (f->port) {
        snprintf(num, sizeof(num), "%u", (unsigned)f->port);
        rc |= field(dst, cap, &n, "Port", num);
        if (f->with_portx) {
            snprintf(num, sizeof(num), "%u", (unsigned)(f->port ^ 0x3141u));
            rc |= field(dst, cap, &n, "PortX", num);
        }
    }
    rc |= field(dst, cap, &n, "AuthCookie", f->auth_cookie);
    if (f->sender_connect) rc |= field(dst, cap, &n, "Sender-Connect", "TRUE");
    rc |= field(dst, cap, &n, "Launch-Application", f->launch_application);
    rc |= field(dst, cap, &n, "Request-Data", f->request_data);
    if (rc) return -1;
    if (cap - n < 3) return -1;
    memcpy(dst + n, "\r\n", 2);
    n += 2;
    dst[n] = '\0';
    return (long)n;
}
