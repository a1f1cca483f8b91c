/* msnc/invites.h - text/x-msmsgsinvite negotiations and the secondary
 * connections they lead to (MSNFTP, voice/video UDP, whiteboard, app
 * sharing and remote assistance TCP).
 *
 * The manager does not know switchboards: it is handed invitation bodies
 * received on a chat and sends its answers through ops->send. The exact
 * message sequences are documented in docs/msnc.md. */
#ifndef MSNC_INVITES_H
#define MSNC_INVITES_H

#include <stddef.h>
#include <stdint.h>

#include <msnp/invite.h>

#include "msnc/event.h"

struct event_base;

typedef struct msnc_invites msnc_invites;

typedef struct msnc_invite_ops {
    /* Send a complete MSG payload (MIME headers + invitation fields) of
     * the invitation `cookie` on a chat. Returns 0 (sent or waiting for
     * someone to join: msnc_invites_unsent tells if it never goes), or -1
     * if that chat is gone or cannot take it. */
    int (*send)(int chat, uint64_t cookie, const char *payload, size_t len, void *arg);
    /* Voice and video answer on a second switchboard with the same peer:
     * return such a chat other than `chat`, or `chat` itself if none. */
    int (*other_chat)(int chat, const char *peer, void *arg);
    void (*event)(const msnc_event *ev, void *arg);
} msnc_invite_ops;

typedef struct msnc_invite_config {
    const char *email;       /* our account, for MSNFTP USR */
    const char *bind_ip;     /* advertised in IP-Address and bound locally */
    uint16_t ftp_port_first; /* MSNFTP listening range (0/0 = ephemeral) */
    uint16_t ftp_port_last;
    const char *download_dir;
    unsigned invite_timeout_ms;  /* waiting for the peer to answer (0 = 120 s) */
    unsigned connect_timeout_ms; /* waiting for the secondary connection (0 = 30 s) */
    unsigned ftp_idle_ms;        /* MSNFTP silence (0 = 60 s) */
    uint64_t ftp_max_rate;       /* bytes per second, 0 = unlimited */
    int no_incoming;             /* we cannot accept connections: file INVITEs carry
                                    Connectivity: N and the receiver listens */
} msnc_invite_config;

msnc_invites *msnc_invites_new(struct event_base *base, const msnc_invite_config *cfg, const msnc_invite_ops *ops,
                               void *arg);
/* Ends every invitation still running and keeps the manager for the next
 * ones (a logout): a running transfer is cancelled inside MSNFTP and
 * reported as transfer_failed (cancelled, local); any other invitation is
 * cancelled toward its peer (CANCEL OUTBANDCANCEL) and reported as
 * invite_cancelled (OUTBANDCANCEL, local). */
void msnc_invites_end_all(msnc_invites *m);
/* Ends every invitation toward its peers, without events (the user is
 * gone), then the manager itself. */
void msnc_invites_free(msnc_invites *m);
void msnc_invites_set_email(msnc_invites *m, const char *email);

/* Start an invitation on chat to peer. Returns the Invitation-Cookie, or 0
 * with err filled. */
uint64_t msnc_invites_send_file(msnc_invites *m, int chat, const char *peer, const char *path, char *err,
                                size_t errcap);
/* cookie 0 = pick a random one. */
uint64_t msnc_invites_start(msnc_invites *m, int chat, const char *peer, msnp_app_kind kind, uint64_t cookie, char *err,
                            size_t errcap);
/* A fresh random Invitation-Cookie. */
uint64_t msnc_invites_new_cookie(void);

/* An invitation body (the payload after its outer MIME headers). */
void msnc_invites_on_message(msnc_invites *m, int chat, const char *from, const char *body, size_t n);

/* Decide on an incoming invitation, or cancel any invitation or transfer.
 * cookie 0 means the most recent incoming one (cancel: the most recent
 * one, sent or received). Return 0 or -1 (unknown). */
int msnc_invites_accept(msnc_invites *m, uint64_t cookie);
int msnc_invites_decline(msnc_invites *m, uint64_t cookie);
int msnc_invites_cancel(msnc_invites *m, uint64_t cookie);

/* A message of invitation `cookie` that waited for someone to join the
 * chat will never be sent (code: the call's error, 0 if the chat closed):
 * the invitation ends (invite_cancelled, FAIL), as its peer never hears of it. */
void msnc_invites_unsent(msnc_invites *m, uint64_t cookie, int code);

/* Chat `chat` has closed: every invitation of it still waiting for an
 * answer (to send or to come) ends (invite_cancelled, FAIL, local), since
 * its answer can no longer arrive; transfers and secondary connections
 * already under way go on. */
void msnc_invites_chat_closed(msnc_invites *m, int chat);

/* Number of invitations not finished yet (for orderly shutdown). */
size_t msnc_invites_active(const msnc_invites *m);

#endif
