/* msnp/invite.h - text/x-msmsgsinvite invitations and the application table.
 *
 * Invitations set up every secondary connection (file transfer, voice,
 * video, whiteboard, application sharing, remote assistance). Their body is
 * a header block; msnp_invite_parse() picks out the fields that matter and
 * keeps the full header list for the rest. */
#ifndef MSNP_INVITE_H
#define MSNP_INVITE_H

#include <stddef.h>
#include <stdint.h>

#include "msnp/mime.h"
#include "msnp/str.h"

typedef enum msnp_invite_command {
    MSNP_INVITE_UNKNOWN = 0,
    MSNP_INVITE_INVITE,
    MSNP_INVITE_ACCEPT,
    MSNP_INVITE_CANCEL,
    MSNP_INVITE_CONTEXT
} msnp_invite_command;

const char *msnp_invite_command_name(msnp_invite_command c);
/* The same name with its length, for writers that would measure it. */
msnp_str msnp_invite_command_str(msnp_invite_command c);
msnp_invite_command msnp_invite_command_parse(msnp_str s);

typedef enum msnp_app_kind {
    MSNP_APP_UNKNOWN = 0,
    MSNP_APP_FILE_TRANSFER,
    MSNP_APP_VOICE,
    MSNP_APP_VIDEO,
    MSNP_APP_WHITEBOARD,
    MSNP_APP_APP_SHARING,
    MSNP_APP_REMOTE_ASSISTANCE,
    MSNP_APP_NETMEETING,
    MSNP_APP_GAME,
    MSNP_APP_OTHER
} msnp_app_kind;

typedef enum msnp_transport { MSNP_TRANSPORT_NONE = 0, MSNP_TRANSPORT_TCP, MSNP_TRANSPORT_UDP } msnp_transport;

const char *msnp_app_kind_name(msnp_app_kind k);   /* "file_transfer" ... */
msnp_str msnp_app_kind_str(msnp_app_kind k);       /* the same name with its length */
const char *msnp_transport_name(msnp_transport t); /* "tcp" / "udp" / "none" */

typedef struct msnp_app_info {
    msnp_app_kind kind;
    msnp_transport transport;
    const char *name;      /* English Application-Name */
    const char *guid;      /* canonical upper-case GUID with braces, or NULL */
    uint16_t default_port; /* usual port, 0 if none */
} msnp_app_info;

/* Lookup by GUID (case-insensitive, braces optional). NULL if unknown. */
const msnp_app_info *msnp_app_by_guid(msnp_str guid);
/* Lookup by Application-Name: English and the localised names (UTF-8). */
const msnp_app_info *msnp_app_by_name(msnp_str name);
/* The whole table, for docs and tests. */
const msnp_app_info *msnp_app_table(size_t *count);

typedef enum msnp_classified_by { MSNP_BY_NONE = 0, MSNP_BY_GUID, MSNP_BY_NAME, MSNP_BY_HEADERS } msnp_classified_by;

typedef enum msnp_invite_status {
    MSNP_INVITE_OK = 0,
    MSNP_INVITE_EMIME = -1,       /* body is not a header block */
    MSNP_INVITE_ENO_COMMAND = -2, /* no Invitation-Command */
    MSNP_INVITE_EBAD_NUMBER = -3, /* a numeric field (cookie, size, port) is not a number */
    /* not returned by msnp_invite_parse: set in msnp_invite.addr_error */
    MSNP_INVITE_EBAD_PORT = -4,   /* a port of 0 or above 65535 (Port, PortX, IP-Address's :port) */
    MSNP_INVITE_EBAD_ADDRESS = -5 /* IP-Address(-Internal) neither an IP address nor a host name */
} msnp_invite_status;

typedef struct msnp_invite {
    msnp_mime mime; /* all header lines of the body */
    msnp_invite_command command;
    msnp_str command_raw;
    msnp_str app_name; /* Application-Name (raw UTF-8) */
    msnp_str app_guid;
    msnp_str cookie_raw; /* Invitation-Cookie as written */
    uint64_t cookie;     /* parsed cookie, if has_cookie */
    msnp_str cancel_code;
    msnp_str file;           /* Application-File */
    uint64_t file_size;      /* Application-FileSize, if has_file_size */
    msnp_str ip;             /* IP-Address without any ":port" */
    uint16_t ip_port;        /* the ":port" of IP-Address, if has_ip_port */
    msnp_str ip_internal;    /* IP-Address-Internal (without port) */
    uint16_t port;           /* Port */
    uint16_t portx;          /* PortX, as written (obfuscated) */
    uint16_t portx_internal; /* PortX-Internal, as written */
    msnp_str auth_cookie;
    msnp_str session_protocol; /* SM1 */
    msnp_str session_id;
    msnp_str context_data;
    msnp_str context_host; /* Context-Data "host:port" split, if it is one */
    uint16_t context_port;
    msnp_str request_data;
    msnp_str launch_application;
    msnp_str connectivity;
    uint8_t sender_connect; /* Sender-Connect: TRUE */
    uint8_t has_cookie, has_file_size, has_ip_port, has_port, has_portx, has_portx_internal, has_context_addr;
    /* An announced address or port that is none (MSNP_INVITE_EBAD_PORT,
     * MSNP_INVITE_EBAD_ADDRESS; MSNP_INVITE_OK if all are fine) and the
     * offset of the first such value. The message is still read: the field
     * is left out (ip, ip_internal NULL; has_port, has_portx... 0), so a
     * client can answer CANCEL FAIL and an analyzer predicts nothing there. */
    msnp_invite_status addr_error;
    size_t addr_error_offset;
} msnp_invite;

/* Parse an invitation body (the MSG payload's body, after the outer headers). */
msnp_invite_status msnp_invite_parse(const char *body, size_t n, msnp_invite *out, size_t *err_offset);
const char *msnp_invite_status_str(msnp_invite_status s);

/* PortX is Port XOR 0x3141 (official clients obfuscate the port this way). */
static inline uint16_t msnp_portx_decode(uint16_t portx) { return (uint16_t)(portx ^ 0x3141u); }

/* The port to connect to at the address an ACCEPT announces (IP-Address):
 * Port if present, else IP-Address's ":port", else PortX decoded; 0 when
 * none is written (a client has nowhere to connect; an analyzer expects
 * any port of the address). Port comes first because it is the field
 * clients read first: when IP-Address also carries a different ":port",
 * the peer connects to Port, and an analyzer must predict that one.
 * msnp_invite_parse has already refused ports of 0 or above 65535, so a
 * non-zero result is one to use. */
uint16_t msnp_invite_port(const msnp_invite *inv);

/* The port to connect to at IP-Address-Internal: PortX-Internal decoded,
 * else Port, else PortX decoded; 0 when none is written. IP-Address's
 * ":port" is not used: it belongs to the outside address, which a NAT may
 * map to another port than the one listening inside, while Port and PortX
 * name the listening port itself. */
uint16_t msnp_invite_internal_port(const msnp_invite *inv);

/* Classify: GUID first, then Application-Name (English or localised), then
 * headers (Session-Protocol SM1 -> voice, Application-File -> file
 * transfer). Voice vs video: a voice GUID whose Context-Data requests SIP_V
 * is video. Returns the kind and sets *by (if not NULL). Only INVITEs name
 * the application; for other commands this returns MSNP_APP_UNKNOWN. */
msnp_app_kind msnp_invite_classify(const msnp_invite *inv, msnp_classified_by *by);
msnp_transport msnp_app_transport(msnp_app_kind k);

/* Building an invitation. Fields left NULL / 0 are omitted. The full MSG
 * payload (MIME-Version, Content-Type: text/x-msmsgsinvite; charset=UTF-8,
 * empty line, fields, empty line) is written. */
typedef struct msnp_invite_fields {
    msnp_invite_command command;
    const char *app_name;
    const char *app_guid;
    uint64_t cookie;
    const char *session_protocol;
    const char *session_id;
    const char *context_data;
    const char *file;
    uint64_t file_size;
    int has_file_size;
    const char *ip; /* with or without ":port" */
    const char *ip_internal;
    uint16_t port;  /* 0: omitted */
    int with_portx; /* also write PortX = Port ^ 0x3141 */
    const char *auth_cookie;
    const char *cancel_code;
    const char *launch_application; /* "FALSE" */
    const char *request_data;       /* "IP-Address:" */
    const char *connectivity;
    int sender_connect;
} msnp_invite_fields;

/* Writes the payload and a NUL after it, so cap must leave room for the
 * NUL (unlike the command writers, which write no NUL). Returns the
 * payload's length without the NUL, or -1 when it does not fit, the
 * command is unknown, or a value holds a control byte (C0 or DEL) or is
 * not UTF-8. */
long msnp_invite_build(const msnp_invite_fields *f, char *dst, size_t cap);

#endif
