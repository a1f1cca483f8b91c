/* client_int.h - state shared by client.c (notification server), sb.c
 * (switchboards) and lists.c (contact lists and their cache). */
#ifndef MSNC_CLIENT_INT_H
#define MSNC_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <msnp/msnp.h>

#include "line.h"
#include "msnc/client.h"
#include "msnc/invites.h"

#define MAX_PARTICIPANTS 16
#define MAX_QUEUED MSNC_MAX_HELD
/* Lines sent with ack mode A whose ACK or NAK has not come yet, per chat:
 * the window of lines in flight. Lines beyond it wait in the chat's queue
 * and go out as answers come; a switchboard that answers none of them for
 * the handshake timeout is given up (the chat closes). */
#define MAX_UNACKED MSNC_MAX_IN_FLIGHT
/* A line the switchboard refused as too fast (713) is sent again after a
 * pause, at most this many times. */
#define MAX_RATE_REFUSALS 8
/* A chat's queue: MAX_QUEUED new messages, and room for every line of the
 * window to come back refused as too fast. */
#define QUEUE_CAP (MAX_QUEUED + MAX_UNACKED)
/* Each chat is a connection the server (or anyone who can make it send
 * RNG) decides to open: bounded per client and per other party. */
#define MAX_CHATS 32
#define MAX_CHATS_PER_PEER 8

typedef struct contact {
    struct contact *next;
    char email[MSNP_MAX_EMAIL + 1];
    char name[MSNP_MAX_NAME_ENCODED + 1]; /* URL-encoded, as on the wire */
    char groups[256];                     /* group ids, "0,3,7" */
    unsigned lists;                       /* 1u << msnp_list */
    msnp_status status;                   /* FLN unless seen online */
} contact;

typedef enum chat_state { CH_XFR, CH_CONNECTING, CH_AUTH, CH_READY, CH_CLOSED } chat_state;

typedef struct queued_msg {
    char *payload;
    size_t len;
    char mode;
    char *text;        /* a line of text the user typed, or NULL */
    uint64_t cookie;   /* a message of this invitation, or 0 */
    uint32_t trid;     /* a line refused as too fast, to send again under its TrID; 0 for a new one */
    unsigned refusals; /* how often the switchboard refused it as too fast */
} queued_msg;

typedef struct unacked_msg {
    uint32_t trid;
    char *text;    /* as in its message_sent event */
    char *payload; /* kept to send it again if the switchboard refuses it as too fast */
    size_t len;
    unsigned refusals;
} unacked_msg;

typedef struct chat {
    struct chat *next;
    struct msnc_client *client;
    int id;
    chat_state state;
    int incoming;
    msnc_line *line;
    uint32_t xfr_trid;
    char *cookie; /* as the server sent them, whole (up to its line limit) */
    char *sessid;
    char participants[MAX_PARTICIPANTS][MSNP_MAX_EMAIL + 1];
    size_t nparticipants;
    char pending_cal[MAX_PARTICIPANTS][MSNP_MAX_EMAIL + 1];
    size_t npending;
    size_t calls_out; /* CALs sent and not yet answered (RINGING or an error) */
    int call_error;   /* the error that answered the last call with nobody here; 0 once one rings or someone joins */
    char last_peer[MSNP_MAX_EMAIL + 1];
    queued_msg queue[QUEUE_CAP];
    size_t nqueued;
    unacked_msg unacked[MAX_UNACKED]; /* oldest first */
    size_t nunacked;
    /* The switchboard refused a line as too fast (713): one line in flight
     * at a time until everything has been answered, and nothing sent until
     * the pause timer has run. */
    int throttled;
    unsigned pause_ms;
    struct event *pause_timer;
    int pausing;
    /* Voice/video: INVITE on target_chat once this (second) chat has its peer. */
    msnp_app_kind deferred_kind;
    int deferred_target;
    uint64_t deferred_cookie;
    /* A call that rang (or was never answered) with nobody joining holds
     * what waits for a join for ever: this bounds it (login_timeout). */
    struct event *join_timer;
} chat;

/* A command sent to the notification server that the server answers
 * under its TrID (ADD, REM, CHG, REA): the reply carries the same command
 * name, an error reply the bare code. */
typedef struct ns_request {
    uint32_t trid;
    uint32_t code; /* MSNP_ADD, MSNP_REM, MSNP_CHG or MSNP_REA */
    uint64_t sent_ms;
    msnp_list list; /* of a list change; MSNP_LIST_INVALID otherwise */
    char email[MSNP_MAX_EMAIL + 1];
    char what[16]; /* "ADD FL", "CHG BSY", "REA": said when it goes unanswered */
} ns_request;

typedef enum ns_state { NS_IDLE, NS_VER, NS_INF, NS_USR_I, NS_USR_S, NS_ONLINE } ns_state;

struct msnc_client {
    struct event_base *base;
    struct evdns_base *dns;
    msnc_config cfg;
    char *server, *email, *password, *bind_ip, *download_dir, *cache_dir;
    msnc_event_cb cb;
    void *arg;

    msnc_line *ns;
    ns_state state;
    int version;
    int hops; /* XFR NS redirections during this login */
    int user_logout;
    int no_reconnect;
    int ever_logged_in;
    unsigned backoff_ms;
    struct event *reconnect_timer;
    struct event *ping_timer;
    int pings_unanswered;
    uint32_t usr_trid;

    char self_name[MSNP_MAX_NAME_ENCODED + 1];
    msnp_status status, wanted_status;

    /* Commands sent whose answer has not come yet, oldest first: a
     * program must know when what it asked for is done (or will never be),
     * and an error answering a list change names its contact and list. */
    ns_request requests[MSNC_MAX_REQUESTS];
    size_t nrequests;
    struct event *request_timer; /* the oldest request's login_timeout */

    contact *contacts;
    uint32_t list_version; /* of the lists held whole; 0 while a SYN fills them, or once they
                            * changed in ways we were not told (set_version) */
    uint32_t sync_version; /* what that SYN announced: list_version once it ends */
    int cache_warned;      /* the list cache could not be written: said once */
    char gtc[4], blp[4];
    int syncing;
    /* The login is complete once the lists have come and the status sent
     * after USR OK has been answered: until then the lists shown would be
     * partial, so msnc_is_ready is false. */
    uint32_t login_chg_trid; /* that CHG, while unanswered */
    int ready;
    int in_login_call; /* msnc_login is running: report failures later */

    chat *chats;
    int next_chat_id;

    msnc_invites *invites;
};

/* client.c */
void msnc_client_emit(msnc_client *c, msnc_event *ev);
void msnc_client_emit_text(msnc_client *c, msnc_event_type t, const char *text);

/* Copy a protocol field whole into dst, or refuse it: a warning naming the
 * line (`what` says which field) and -1. Nothing is ever cut. */
int msnc_client_field(msnc_client *c, const msnp_cmd *cmd, msnp_str s, char *dst, size_t cap, const char *what);
/* A warning event: why, then the server's line as received. */
void msnc_client_warn_line(msnc_client *c, const msnp_cmd *cmd, const char *why);
unsigned msnc_client_handshake_ms(const msnc_client *c);
/* The lists have come or the first status was answered: the login is
 * complete when both have. */
void msnc_client_login_progress(msnc_client *c);

/* lists.c */
contact *msnc_lists_find(const msnc_client *c, const char *email);
contact *msnc_lists_get(msnc_client *c, const char *email);
void msnc_lists_clear(msnc_client *c);
void msnc_lists_free(msnc_client *c);
void msnc_lists_load_cache(msnc_client *c);
void msnc_lists_save_cache(msnc_client *c);
/* Handle list-related NS commands; returns 1 if handled. */
int msnc_lists_on_command(msnc_client *c, const msnp_cmd *cmd);
void msnc_lists_on_presence(msnc_client *c, const msnp_cmd *cmd);
void msnc_url_decode(msnp_str in, char *dst, size_t cap);

/* sb.c */
void msnc_sb_on_xfr(msnc_client *c, const msnp_cmd *cmd);
void msnc_sb_on_rng(msnc_client *c, const msnp_cmd *cmd);
int msnc_sb_on_ns_error(msnc_client *c, const msnp_cmd *cmd); /* 1 if it was an XFR SB error */
/* report: each message still waiting for a join, and each line not yet
 * acknowledged, is a message_failed event. */
void msnc_sb_free_all(msnc_client *c, int report);
/* Logging out: what still waits in a chat's queue will not be sent (lines
 * are message_failed, invitations that never left invite_cancelled FAIL). */
void msnc_sb_fail_waiting(msnc_client *c);
/* The notification connection is gone: chats still waiting for XFR SB end. */
void msnc_sb_ns_lost(msnc_client *c);
int msnc_sb_send_invite_payload(int chat, uint64_t cookie, const char *payload, size_t len, void *arg);
int msnc_sb_other_chat(int chat, const char *peer, void *arg);

#endif
