/* msnc/event.h - what the client library reports to its user.
 *
 * Every observable change (login, presence, a message, an invitation, a
 * transfer's progress) is delivered as one msnc_event to a single callback.
 * Strings in an event are borrowed and valid only during the callback. */
#ifndef MSNC_EVENT_H
#define MSNC_EVENT_H

#include <stdint.h>

#include <msnp/mime.h>

typedef enum msnc_event_type {
    MSNC_EV_CONNECTING = 0,      /* text = "ds"/"ns", peer = address */
    MSNC_EV_LOGGED_IN,           /* email, name, version */
    MSNC_EV_LOGIN_FAILED,        /* code, text */
    MSNC_EV_DISCONNECTED,        /* text = reason */
    MSNC_EV_RECONNECTING,        /* delay_ms */
    MSNC_EV_SYNCED,              /* count = contacts in FL, version = list version */
    MSNC_EV_STATUS,              /* status: own status confirmed */
    MSNC_EV_PRESENCE,            /* email, name, status (FLN when offline) */
    MSNC_EV_LIST,                /* list, email, name, text = "added"/"removed" */
    MSNC_EV_ADDED_BY,            /* email, name: someone put us on their FL */
    MSNC_EV_REMOVED_BY,          /* email */
    MSNC_EV_NAME,                /* email, name: a display name changed */
    MSNC_EV_SERVER_ERROR,        /* code, trid, text: an error reply */
    MSNC_EV_CHAT_OPEN,           /* chat, text = "outgoing"/"incoming", email = inviter */
    MSNC_EV_CHAT_JOIN,           /* chat, email, name */
    MSNC_EV_CHAT_LEAVE,          /* chat, email */
    MSNC_EV_CHAT_CLOSED,         /* chat, text = reason */
    MSNC_EV_MESSAGE,             /* chat, email, name, text, format */
    MSNC_EV_MESSAGE_SENT,        /* chat, trid, text */
    MSNC_EV_TYPING,              /* chat, email */
    MSNC_EV_ACK,                 /* chat, trid */
    MSNC_EV_NAK,                 /* chat, trid */
    MSNC_EV_MESSAGE_FAILED,      /* chat, text (never sent), code (0: the chat closed), count (lines
                                    already waiting, when it could not wait too); or status =
                                    "unacknowledged", trid: sent, but no ACK/NAK came before the chat
                                    ended (it may not have arrived) */
    MSNC_EV_INVITE,              /* incoming: chat, email, cookie, app, file, size */
    MSNC_EV_INVITE_SENT,         /* chat, cookie, app, file, size */
    MSNC_EV_INVITE_ACCEPTED,     /* cookie, app, email (who accepted) */
    MSNC_EV_INVITE_CANCELLED,    /* cookie, app, text = Cancel-Code, local = 1 if we cancelled */
    MSNC_EV_SECONDARY_LISTEN,    /* cookie, app, transport, local */
    MSNC_EV_SECONDARY_CONNECTED, /* cookie, app, transport, local, peer */
    MSNC_EV_TRANSFER_START,      /* cookie, file, size, text = "send"/"receive" */
    MSNC_EV_TRANSFER_PROGRESS,   /* cookie, bytes, size */
    MSNC_EV_TRANSFER_DONE,       /* cookie, file (final path on receive), bytes */
    MSNC_EV_TRANSFER_FAILED,     /* cookie, text = reason, code = MSNFTP BYE code if any */
    MSNC_EV_WARNING,             /* text */
    MSNC_EV_INFO,                /* text */
    MSNC_EV_UNANSWERED           /* trid, text = the command ("ADD FL", "CHG BSY", "REA"), email (the
                                    contact; own for REA), list (list changes), status = "timeout" (none
                                    within login_timeout), "disconnected" (the connection ended first)
                                    or "logout": it may or may not have been done */
} msnc_event_type;

typedef struct msnc_event {
    msnc_event_type type;
    int chat; /* switchboard session id, 0 if none */
    const char *email;
    const char *name;
    const char *status;
    const char *list;
    const char *text;
    const char *app; /* msnp_app_kind_name() */
    const char *file;
    const char *transport; /* "tcp" / "udp" */
    const char *local;     /* ip:port */
    const char *peer;      /* ip:port */
    const msnp_imformat *format;
    uint64_t cookie;
    uint64_t size;
    uint64_t bytes;
    uint64_t count;
    uint32_t trid;
    int code;
    int version;
    int local_side; /* the local user caused it */
    /* invite_cancelled: an invitation this side sent or accepted ended
     * without taking place, neither by the user's choice nor by the
     * peer's answer (never sent, no answer in time, no secondary
     * connection, an unusable answer). Not written out: it lets a
     * program count it as a failure. */
    int failed;
    unsigned delay_ms;
} msnc_event;

typedef void (*msnc_event_cb)(const msnc_event *ev, void *arg);

const char *msnc_event_type_name(msnc_event_type t); /* "logged_in" */

#endif
