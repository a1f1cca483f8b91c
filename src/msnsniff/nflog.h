/* nflog.h - prompt delivery for a live capture on Linux NFLOG groups.
 *
 * The kernel hands logged packets to a listener in batches: up to 100
 * packets or one second by default (nfnetlink_log), unless the logging
 * rule sets its own queue threshold. A capture on nflog:N then sees its
 * packets up to a second late, and a stop loses those still batched.
 * msnsniff asks for each packet at once on the groups libpcap bound for
 * it, over libpcap's own netlink socket (a config request for the
 * instance that socket owns; nothing else is changed). */
#ifndef SN_NFLOG_H
#define SN_NFLOG_H

#include <stddef.h>

/* device: "nflog" or "nflog:G[,G...]" as libpcap takes it; fd: the
 * capture's netlink socket. Returns 0, or -1 with err set. */
int sn_nflog_prompt(int fd, const char *device, char *err, size_t errcap);

#endif
