/* predict.h - prediction rules: pure functions from parsed commands and
 * invitations to the connections they announce (sn_expect_proto), and
 * the origin check that decides whether an announced address may become
 * a pinhole. No state, no I/O: the stages call them, resolve host names
 * from the traffic's DNS, and add the results to the expectation table.
 *
 *   XFR NS addr          -> the client connects to addr (notification)
 *   XFR SB addr CKI c    -> the client connects to addr, logs in with c
 *   RNG sid addr CKI c   -> the same, answering a call (switchboard)
 *   invitation message   -> the sender listens at IP-Address (port:
 *                           msnp_invite_port: Port, else its ":port", else
 *                           PortX), IP-Address-Internal (msnp_invite_internal_port:
 *                           PortX-Internal, else Port, else PortX),
 *                           Context-Data host:port; the other user connects */
#ifndef SN_PREDICT_H
#define SN_PREDICT_H

#include <stddef.h>
#include <stdint.h>

#include <msnp/msnp.h>

#include "addr.h"
#include "context.h"
#include "expect.h"

/* Most connections one invitation message announces. */
#define SN_PREDICT_MAX 3

sn_app_class sn_app_class_of(msnp_app_kind k);
/* The transport of an application's connections (sn_transport): SN_TR_ANY
 * when the application is unknown. */
uint8_t sn_app_transport(msnp_app_kind k);

/* One invitation message as the correlator knows it. */
typedef struct sn_predict_invite {
    uint64_t invitation; /* id: group and invitation of the predictions */
    const char *cookie;
    size_t cookie_len; /* strlen(cookie) */
    msnp_app_kind app;
    const char *sender; /* announcer: listens at the addresses */
    const char *peer;   /* the other user, who connects ("" if unknown) */
    uint64_t flow;      /* where the message was seen */
    uint64_t session;   /* its switchboard session, 0 if unknown */
} sn_predict_invite;

/* The predictions of one invitation message into out[]; returns how many.
 * addr is set for address literals, family 0 for host names (the caller
 * resolves those). out[] points into inv's bytes and at in's strings, and
 * is used while they are. */
size_t sn_predict_invitation(const sn_predict_invite *in, const msnp_invite *inv, sn_expect_proto out[SN_PREDICT_MAX]);

/* A server's XFR NS / XFR SB / RNG line on the connection of `user`
 * (flow): 1 and *out filled, else 0. *out points into cmd (its address
 * and cookie) and at user, and is used while they are. */
int sn_predict_referral(const msnp_cmd *cmd, const char *user, uint64_t flow, sn_expect_proto *out);

/* The addresses an announcer is known by. */
typedef struct sn_origin {
    /* its switchboard connection's client end, when the message was seen
     * leaving it; not the server's end: an address of the server would
     * let a client open the server's ports to its peer */
    const sn_addr *sb_client;
    const sn_addr *ns_client; /* its notification connection's client end, if logged in on one seen */
} sn_origin;

/* Origin check of an announced address (family 0: a host name):
 *   0                 it is one of the known addresses (verified);
 *   SN_XF_UNCHECKED   nothing is known of the announcer, or a host name;
 *   SN_XF_NAT         a private address (RFC 1918, RFC 6598, link-local,
 *                     unique local) while the announcer is seen from a
 *                     public one: the inside of a NAT;
 *   SN_XF_FORGED      anything else: a third host. */
unsigned sn_origin_check(const sn_addr *announced, const sn_origin *o);
int sn_addr_is_private(const sn_addr *a);
/* Whether the policy lets a prediction with these flags become a pinhole. */
int sn_policy_allows(sn_announce_policy p, unsigned flags);

#endif
