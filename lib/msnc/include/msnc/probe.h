/* msnc/probe.h - the secondary connection of voice, video, whiteboard,
 * application sharing and remote assistance sessions.
 *
 * msnc does not carry media, T.120 or RDP. After an invitation agrees on an
 * address, one side listens (TCP) or binds (UDP), the other connects and the
 * two exchange one small probe each way, so the connection really happens
 * on the wire:   connector: "MSNKIT-PROBE <cookie>\r\n"
 *                listener:  "MSNKIT-PROBE-OK <cookie>\r\n"
 * A probe reports exactly once (connected or failed) and then frees itself. */
#ifndef MSNC_PROBE_H
#define MSNC_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include <msnp/invite.h>

struct event_base;

typedef struct msnc_probe msnc_probe;

typedef struct msnc_probe_callbacks {
    void (*connected)(msnc_probe *p, const char *local, const char *peer, void *arg);
    void (*failed)(msnc_probe *p, const char *why, void *arg);
} msnc_probe_callbacks;

/* Listen (TCP) or bind (UDP) on bind_ip, ephemeral port unless port != 0. */
msnc_probe *msnc_probe_listen(struct event_base *base, msnp_transport tr, const char *bind_ip, uint16_t port,
                              uint64_t cookie, unsigned timeout_ms, const msnc_probe_callbacks *cb, void *arg,
                              char *err, size_t errcap);
/* Connect (TCP) or send to (UDP) ip:port, from bind_ip if not NULL. */
msnc_probe *msnc_probe_connect(struct event_base *base, msnp_transport tr, const char *bind_ip, const char *ip,
                               uint16_t port, uint64_t cookie, unsigned timeout_ms, const msnc_probe_callbacks *cb,
                               void *arg, char *err, size_t errcap);

uint16_t msnc_probe_port(const msnc_probe *p);
/* Stop without reporting. */
void msnc_probe_cancel(msnc_probe *p);

#endif
