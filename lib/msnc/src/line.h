/* line.h - one MSNP connection (DS, NS or SB): a bufferevent, the codec's
 * parser and a TrID counter. Private to libmsnc.
 *
 * Lifetime: no callback ever runs inside msnc_line_connect or a send; a
 * failure found there (an address that refuses at once, a peer that stops
 * reading) is reported as "closed" from the event loop. The owner may free
 * the connection from inside its own callbacks; the free is deferred until
 * the callback returns. */
#ifndef MSNC_LINE_H
#define MSNC_LINE_H

#include <stddef.h>
#include <stdint.h>

#include <msnp/msnp.h>

struct event_base;
struct evdns_base;

typedef struct msnc_line msnc_line;

typedef struct msnc_line_callbacks {
    void (*connected)(msnc_line *l, void *arg);
    void (*command)(msnc_line *l, const msnp_cmd *cmd, void *arg);
    /* Connection failed or closed; reason is a short English text. */
    void (*closed)(msnc_line *l, const char *reason, void *arg);
} msnc_line_callbacks;

/* host may be a name or an IPv4 literal (names resolve through dns). */
msnc_line *msnc_line_connect(struct event_base *base, struct evdns_base *dns, const char *host, uint16_t port,
                             const msnc_line_callbacks *cb, void *arg);
void msnc_line_free(msnc_line *l);

/* Send `NAME trid p1 p2 ...` with the next TrID; params end with NULL.
 * Returns the TrID used, or 0 if a parameter was unusable. */
uint32_t msnc_line_send(msnc_line *l, const char *name, ...) __attribute__((sentinel));
/* Same with a payload (MSG, QRY): `NAME trid p1 .. len\r\npayload`. */
uint32_t msnc_line_send_payload(msnc_line *l, const char *name, const void *payload, size_t n, ...)
    __attribute__((sentinel));
/* The same, once more under a TrID already used: a command the server
 * refused (713, too fast) is sent again as it was, so that its answer
 * still matches what was reported for it. Returns trid, or 0. */
uint32_t msnc_line_resend_payload(msnc_line *l, uint32_t trid, const char *name, const void *payload, size_t n,
                                  const char *param);
/* A command without TrID (PNG, OUT). */
void msnc_line_send_bare(msnc_line *l, const char *name);
/* Close after pending output is written (OUT). */
void msnc_line_close_after_flush(msnc_line *l);

/* Fail the line with reason `why` unless the owner calls this again with
 * ms = 0 (or frees the line) within ms milliseconds: handshake timeouts. */
void msnc_line_set_deadline(msnc_line *l, unsigned ms, const char *why);

const char *msnc_line_peer(const msnc_line *l); /* "host:port" as asked */
int msnc_line_fd(const msnc_line *l);

#endif
