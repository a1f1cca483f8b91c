/* msnc/client.h - an MSN Messenger client session (MSNP2-MSNP7).
 *
 * Dispatch -> XFR NS -> notification login (or straight to a notification
 * server), list sync with a local cache, presence, contact lists, keep-alive
 * and reconnection; switchboard chats; invitations. Everything is reported
 * through one msnc_event callback. All calls are made from the event loop
 * thread. */
#ifndef MSNC_CLIENT_H
#define MSNC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <msnp/commands.h>
#include <msnp/invite.h>
#include <msnp/mime.h>

#include "msnc/event.h"

struct event_base;
struct evdns_base;

typedef struct msnc_client msnc_client;

typedef struct msnc_config {
    const char *server; /* "host:port" of a dispatch or notification server */
    const char *email;
    const char *password;
    const char *bind_ip;                    /* local address for secondary connections, advertised in invitations */
    uint16_t ftp_port_first, ftp_port_last; /* 6891-6900 by default; 0/0 = ephemeral */
    const char *download_dir;
    const char *cache_dir;      /* contact-list cache (NULL = no cache) */
    msnp_status initial_status; /* status set after login (default NLN) */
    int max_version;            /* highest MSNP version offered (default 7) */
    int min_version;            /* lowest (default 2) */
    unsigned ping_interval_ms;  /* PNG keep-alive (default 60 s, 0 = default) */
    unsigned invite_timeout_ms;
    unsigned connect_timeout_ms;
    int reconnect;             /* reconnect with back-off after a lost connection */
    unsigned reconnect_max_ms; /* cap of the back-off (default 60 s) */
    unsigned login_timeout_ms; /* login, and a switchboard's handshake, must finish within this
                                  (default 30 s, 0 = default) */
    uint64_t ftp_max_rate;     /* file transfer bandwidth cap, bytes/s (0 = none) */
    int no_incoming;           /* this host cannot accept connections: files we send are
                                  offered with Connectivity: N so the receiver listens */
} msnc_config;

msnc_client *msnc_client_new(struct event_base *base, struct evdns_base *dns, const msnc_config *cfg, msnc_event_cb cb,
                             void *arg);
void msnc_client_free(msnc_client *c);

int msnc_login(msnc_client *c);
/* Send OUT and close everything. */
void msnc_logout(msnc_client *c);
int msnc_is_online(const msnc_client *c);
/* Logged in and settled: the contact lists have come (SYN) and the status
 * sent at login has been answered. Before that msnc_contacts shows partial
 * lists. A login that does not get this far within login_timeout of USR OK
 * fails like a stalled login (the connection is closed). */
int msnc_is_ready(const msnc_client *c);

/* Notification server. Return the TrID used, or 0 if not possible now
 * (not logged in, or MSNC_MAX_REQUESTS commands are still unanswered). */
uint32_t msnc_set_status(msnc_client *c, msnp_status s);
uint32_t msnc_list_add(msnc_client *c, msnp_list list, const char *email, const char *name);
uint32_t msnc_list_remove(msnc_client *c, msnp_list list, const char *email);
uint32_t msnc_rename(msnc_client *c, const char *email, const char *name);
/* Block = leave AL, join BL; allow = the reverse. Returns 0 (sent), 1
 * (nothing to send: the contact is on that list and not on the other) or
 * -1. Decided from the lists as known: a program should wait until the
 * changes it sent for that contact are answered
 * (msnc_pending_list_changes) before asking. */
int msnc_block(msnc_client *c, const char *email);
int msnc_allow(msnc_client *c, const char *email);
/* List changes (ADD, REM) for email sent and not answered yet. */
size_t msnc_pending_list_changes(const msnc_client *c, const char *email);

/* Contact list as known now. Calls fn for each entry of a list. */
typedef void (*msnc_contact_fn)(const char *email, const char *name, const char *status, void *arg);
void msnc_contacts(const msnc_client *c, msnp_list list, msnc_contact_fn fn, void *arg);

/* Chats (switchboard sessions). */
/* Open a new chat with email (XFR SB, then CAL). Returns chat id > 0, or 0. */
int msnc_chat_open(msnc_client *c, const char *email);
/* Existing chat whose only other participant is email, or 0. */
int msnc_chat_find(const msnc_client *c, const char *email);
/* CAL one more person into a chat (multi-party). */
int msnc_chat_invite(msnc_client *c, int chat, const char *email);
/* Send a text message (ack mode A). fmt may be NULL. Returns TrID or 0. */
uint32_t msnc_chat_send(msnc_client *c, int chat, const char *text, const msnp_imformat *fmt);
int msnc_chat_typing(msnc_client *c, int chat);
void msnc_chat_leave(msnc_client *c, int chat);
/* Every chat, oldest first: id, its participants (comma-separated) and whether it is ready. */
typedef void (*msnc_chat_fn)(int chat, const char *participants, int ready, void *arg);
void msnc_chats(const msnc_client *c, msnc_chat_fn fn, void *arg);
/* First other participant of a chat (NULL if none). */
const char *msnc_chat_peer(const msnc_client *c, int chat);
/* The error code that answered a chat's last call while nobody is in it
 * (217: not online), 0 when there is none: a line typed there calls
 * again. */
int msnc_chat_call_error(const msnc_client *c, int chat);

/* Invitations in a chat. Return the Invitation-Cookie, or 0 (err filled). */
uint64_t msnc_send_file(msnc_client *c, int chat, const char *path, char *err, size_t errcap);
/* Voice and video open a second switchboard first (see docs/msnc.md). */
uint64_t msnc_invite_app(msnc_client *c, int chat, msnp_app_kind kind, char *err, size_t errcap);
int msnc_invite_accept(msnc_client *c, uint64_t cookie); /* 0 = latest incoming */
int msnc_invite_decline(msnc_client *c, uint64_t cookie);
int msnc_invite_cancel(msnc_client *c, uint64_t cookie);

/* Invitations and transfers not finished yet. */
size_t msnc_active_invitations(const msnc_client *c);
/* Messages waiting for a chat to open or for someone to join it; each
 * ends as message_sent or message_failed. A voice or video invitation
 * waiting for its second chat counts as one: it is sent, or ends as
 * invite_cancelled FAIL. Every such wait is bounded (login_timeout for
 * the switchboard and for someone to join). */
size_t msnc_waiting_messages(const msnc_client *c);
/* Lines sent (message_sent) whose ACK or NAK has not come yet; each ends as
 * ack, nak, or message_failed (status "unacknowledged") when its chat ends
 * first. */
size_t msnc_unacked_messages(const msnc_client *c);
/* Lines held back in chats someone is in: MSNC_MAX_IN_FLIGHT lines of the
 * chat are already out without an answer, or the switchboard refused
 * lines as too fast (713) and msnc pauses. They go out as answers come. A
 * chat holds at most MSNC_MAX_HELD messages waiting; a program reading
 * lines from a fast source stops reading while this count is high. */
size_t msnc_paced_messages(const msnc_client *c);
#define MSNC_MAX_IN_FLIGHT 64
#define MSNC_MAX_HELD 32
/* Status, name and list commands sent whose answer has not come yet. Each
 * ends as its reply (status, name, list events), a server_error naming its
 * TrID, or MSNC_EV_UNANSWERED: no answer within login_timeout, the
 * connection ended first, or msnc_logout. At most MSNC_MAX_REQUESTS are
 * outstanding; a program sending commands from a fast source stops while
 * this count is near it. */
size_t msnc_pending_requests(const msnc_client *c);
#define MSNC_MAX_REQUESTS 64

/* Connections the library has closed still send their last lines (OUT,
 * BYE, CCL) and wait for the peer to close, for up to 5 s. msnc_lingering
 * counts them; a program about to free its event base closes what is left
 * with msnc_close_lingering. */
size_t msnc_lingering(const struct event_base *base);
void msnc_close_lingering(struct event_base *base);

const char *msnc_self_email(const msnc_client *c);
msnp_status msnc_self_status(const msnc_client *c);

#endif
