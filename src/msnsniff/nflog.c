/* nflog.c - prompt delivery for NFLOG captures (nflog.h). */
#include "nflog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

/* One config request for group: hand each packet over at once (queue
 * threshold 1; the flush timeout, in hundredths of a second, then never
 * holds one). No acknowledgement is asked for: libpcap reads the socket
 * and passes over messages that are not packets, an error report too. */
static int send_config(int fd, uint16_t group) {
    struct {
        struct nlmsghdr nh;
        struct nfgenmsg g;
        struct nlattr qthresh;
        uint32_t qthresh_v;
        struct nlattr timeout;
        uint32_t timeout_v;
    } m;
    memset(&m, 0, sizeof m);
    m.nh.nlmsg_len = sizeof m;
    m.nh.nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
    m.nh.nlmsg_flags = NLM_F_REQUEST;
    m.g.nfgen_family = AF_UNSPEC;
    m.g.version = NFNETLINK_V0;
    m.g.res_id = htons(group);
    m.qthresh.nla_len = sizeof m.qthresh + sizeof m.qthresh_v;
    m.qthresh.nla_type = NFULA_CFG_QTHRESH;
    m.qthresh_v = htonl(1);
    m.timeout.nla_len = sizeof m.timeout + sizeof m.timeout_v;
    m.timeout.nla_type = NFULA_CFG_TIMEOUT;
    m.timeout_v = htonl(1);
    struct sockaddr_nl to;
    memset(&to, 0, sizeof to);
    to.nl_family = AF_NETLINK;
    ssize_t n;
    do n = sendto(fd, &m, sizeof m, 0, (struct sockaddr *)&to, sizeof to);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof m ? 0 : -1;
}

int sn_nflog_prompt(int fd, const char *device, char *err, size_t errcap) {
    const char *s = device + strlen("nflog");
    if (*s == '\0') return send_config(fd, 0) == 0 ? 0 : (snprintf(err, errcap, "%s", strerror(errno)), -1);
    if (*s != ':') {
        snprintf(err, errcap, "not an nflog device name");
        return -1;
    }
    s++;
    for (unsigned k = 0; *s && k < 32; k++) { /* bounded: libpcap takes 32 groups at most */
        char *end;
        long g = strtol(s, &end, 0);
        if (end == s || g < 0 || g > 65535) break;
        if (send_config(fd, (uint16_t)g) != 0) {
            snprintf(err, errcap, "group %ld: %s", g, strerror(errno));
            return -1;
        }
        s = end;
        if (*s != ',') break;
        s++;
    }
    return 0;
}
