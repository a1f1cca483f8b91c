/* msnc/ftp.h - MSNFTP file transfer over a direct TCP connection.
 *
 * Normally the sender listens (first free port of a range, 6891-6900 by
 * default) and serves exactly one authenticated receiver; the receiver
 * connects, proves itself with the AuthCookie from the invitation and
 * stores the file under a temporary name that is renamed only once every
 * byte has arrived and the size matches.
 *
 * Reverse connection (invitation `Sender-Connect: TRUE`): the receiver
 * listens and the sender connects, but the MSNFTP roles stay: the receiver
 * still sends VER/USR/TFR/BYE and the sender still checks the AuthCookie in
 * USR and sends FIL and the data. Each side sends its `VER MSNFTP` as soon
 * as the TCP connection exists when it is the reverse case, and tolerates
 * the peer's VER arriving before or after its own.
 *
 * A connecting side may be given two addresses (IP-Address and
 * IP-Address-Internal): both are tried at once and the first TCP
 * connection that completes is used.
 *
 * A transfer object frees itself right after its `finished` callback; do
 * not touch it afterwards. */
#ifndef MSNC_FTP_H
#define MSNC_FTP_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef struct msnc_ftp msnc_ftp;

typedef enum msnc_ftp_result {
    MSNC_FTP_OK = 0,
    MSNC_FTP_CANCELLED,      /* we cancelled */
    MSNC_FTP_PEER_CANCELLED, /* CCL, BYE 2164261682 or sender's 01 00 00 */
    MSNC_FTP_REFUSED,        /* the sender refused our AuthCookie/e-mail */
    MSNC_FTP_PEER_DISK_FULL, /* receiver answered BYE 2147942405 */
    MSNC_FTP_LOCAL_IO,       /* we could not read / write / create the file */
    MSNC_FTP_PROTOCOL,       /* the peer broke MSNFTP */
    MSNC_FTP_NETWORK,        /* connect failed or connection lost */
    MSNC_FTP_TIMEOUT         /* nobody connected, or the peer went silent */
} msnc_ftp_result;

const char *msnc_ftp_result_name(msnc_ftp_result r); /* "ok", "peer_cancelled" ... */

typedef struct msnc_ftp_callbacks {
    /* Transfer authenticated and size known (after FIL). */
    void (*started)(msnc_ftp *t, uint64_t size, void *arg);
    /* Bytes so far (a sender's: those the connection took, not those framed
     * into its output buffer); called at most once per network read or write. */
    void (*progress)(msnc_ftp *t, uint64_t done, uint64_t size, void *arg);
    /* Something worth telling but not fatal (a refused intruder). */
    void (*notice)(msnc_ftp *t, const char *text, void *arg);
    /* The end. path: final file on success (receiver) or the sent file.
     * bye_code: the MSNFTP BYE code exchanged, 0 if none. */
    void (*finished)(msnc_ftp *t, msnc_ftp_result r, const char *detail, const char *path, uint64_t bytes,
                     uint32_t bye_code, void *arg);
    /* The MSNFTP connection in use ("ip:port" of both ends): when the TCP
     * connect completes (connecting side) or when the peer has identified
     * itself (listening side). Optional. */
    void (*connected)(msnc_ftp *t, const char *local, const char *peer, void *arg);
} msnc_ftp_callbacks;

typedef struct msnc_ftp_send_opts {
    const char *path;    /* file to send */
    const char *bind_ip; /* address to listen on (e.g. 127.0.0.2) */
    uint16_t port_first; /* range to try; 0/0 = ephemeral port */
    uint16_t port_last;
    const char *expect_email;   /* receiver e-mail to require, NULL = any */
    const char *auth_cookie;    /* what the receiver must present */
    unsigned accept_timeout_ms; /* wait for the receiver (0 = 30 s) */
    unsigned idle_timeout_ms;   /* silence during the transfer (0 = 60 s) */
    uint16_t block_size;        /* payload bytes per block (0 = 2045) */
    uint64_t max_rate;          /* bytes per second, 0 = unlimited */
    /* Reverse connection: connect to the receiver instead of listening.
     * connect_alt_host (IP-Address-Internal) is tried at the same time. */
    const char *connect_host;
    uint16_t connect_port;
    const char *connect_alt_host;
    uint16_t connect_alt_port;
    /* The size the invitation offered (Application-FileSize), when
     * has_offered_size is set: FIL announces it and that many bytes are
     * sent. A file that has shrunk since the offer then fails here as
     * MSNC_FTP_LOCAL_IO, which it is, instead of being refused by the
     * receiver for a FIL that differs from the invitation (which reached
     * this side as the receiver's cancel). Unset: the file's size when
     * opened. */
    int has_offered_size;
    uint64_t offered_size;
} msnc_ftp_send_opts;

typedef struct msnc_ftp_recv_opts {
    const char *host; /* sender address (IPv4 literal); unused when listening */
    uint16_t port;
    const char *alt_host; /* second address (IP-Address-Internal), tried at once; NULL = none */
    uint16_t alt_port;
    const char *bind_ip; /* local source address, NULL = any */
    const char *email;   /* our e-mail for USR */
    const char *auth_cookie;
    const char *dir;          /* download directory */
    const char *filename;     /* name offered by the sender (sanitised here) */
    uint64_t expected_size;   /* Application-FileSize; UINT64_MAX = unknown */
    unsigned idle_timeout_ms; /* 0 = 60 s */
    uint64_t max_rate;        /* bytes per second, 0 = unlimited */
    /* Reverse connection: listen on bind_ip (first free port of the range,
     * 0/0 = ephemeral) and wait accept_timeout_ms (0 = 30 s) for the sender. */
    int listen;
    uint16_t port_first, port_last;
    unsigned accept_timeout_ms;
} msnc_ftp_recv_opts;

/* Open the file and start listening (or connecting). NULL on failure with err filled. */
msnc_ftp *msnc_ftp_send_start(struct event_base *base, const msnc_ftp_send_opts *o, const msnc_ftp_callbacks *cb,
                              void *arg, char *err, size_t errcap);
/* Start connecting (or listening). NULL on failure with err filled. */
msnc_ftp *msnc_ftp_recv_start(struct event_base *base, const msnc_ftp_recv_opts *o, const msnc_ftp_callbacks *cb,
                              void *arg, char *err, size_t errcap);

uint16_t msnc_ftp_port(const msnc_ftp *t); /* listening port (whichever side listens) */
int msnc_ftp_is_sender(const msnc_ftp *t);
uint64_t msnc_ftp_size(const msnc_ftp *t);
/* Cancel: the receiver sends CCL, the sender the 01 00 00 marker. The
 * finished callback runs (with MSNC_FTP_CANCELLED) before this returns. */
void msnc_ftp_cancel(msnc_ftp *t);

/* Make a peer-supplied file name safe: no directories, no control bytes,
 * no leading dot; empty -> "file". Returns dst. */
char *msnc_ftp_safe_name(const char *in, char *dst, size_t cap);

#endif
