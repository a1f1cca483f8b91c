/* localnets.c - the gateway's directly connected networks (localnets.h). */
#include "localnets.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void clear_host_bits(sn_addr *a, unsigned prefix) {
    unsigned bytes = a->family == 4 ? 4u : 16u;
    for (unsigned i = 0; i < bytes; i++) {
        unsigned keep = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;
        a->b[i] = (uint8_t)(a->b[i] & (uint8_t)(0xFFu << (8 - keep)));
    }
}

static unsigned prefix_of(const struct sockaddr *mask) {
    const uint8_t *m;
    size_t n;
    if (mask->sa_family == AF_INET) {
        m = (const uint8_t *)&((const struct sockaddr_in *)(const void *)mask)->sin_addr;
        n = 4;
    } else {
        m = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)mask)->sin6_addr;
        n = 16;
    }
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++)
        for (int b = 7; b >= 0; b--) {
            if (!(m[i] >> b & 1u)) return bits;
            bits++;
        }
    return bits;
}

static int to_addr(const struct sockaddr *sa, sn_addr *out) {
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        memcpy(out->b, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        out->family = 4;
    } else if (sa->sa_family == AF_INET6) {
        memcpy(out->b, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        out->family = 6;
    } else {
        return -1;
    }
    return 0;
}

/* Loopback (127/8, ::1) and link-local (169.254/16, fe80::/10) networks
 * say nothing about the sides of a router. */
static int ignored(const sn_addr *a) {
    if (a->family == 4) return a->b[0] == 127 || (a->b[0] == 169 && a->b[1] == 254);
    static const uint8_t loop6[16] = {[15] = 1};
    return memcmp(a->b, loop6, 16) == 0 || (a->b[0] == 0xFE && (a->b[1] & 0xC0u) == 0x80);
}

void localnets_refresh(localnets *l, uint64_t now_us, uint64_t max_age_us) {
    if (l->loaded_us && now_us - l->loaded_us < max_age_us) return;
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) != 0) return;
    size_t n = 0;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) n++;
    localnet *v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        freeifaddrs(ifs);
        return;
    }
    size_t k = 0;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || !i->ifa_netmask || i->ifa_addr->sa_family != i->ifa_netmask->sa_family) continue;
        localnet x;
        if (to_addr(i->ifa_addr, &x.net) != 0 || ignored(&x.net)) continue;
        x.prefix = (uint8_t)prefix_of(i->ifa_netmask);
        if (x.prefix == 0) continue; /* a default route's worth of network says nothing */
        clear_host_bits(&x.net, x.prefix);
        v[k++] = x;
    }
    freeifaddrs(ifs);
    free(l->v);
    l->v = v;
    l->n = k;
    l->loaded_us = now_us ? now_us : 1;
}

static int in_net(const localnet *net, const sn_addr *a) {
    if (a->family != net->net.family) return 0;
    sn_addr m = *a;
    clear_host_bits(&m, net->prefix);
    return memcmp(m.b, net->net.b, 16) == 0;
}

int localnets_same(const localnets *l, const sn_addr *a, const sn_addr *b) {
    for (size_t i = 0; i < l->n; i++)
        if (in_net(&l->v[i], a) && in_net(&l->v[i], b)) return 1;
    return 0;
}

void localnets_free(localnets *l) {
    free(l->v);
    memset(l, 0, sizeof *l);
}
