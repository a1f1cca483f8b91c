/* dns.h - host names from DNS answers in the capture, so that switchboard
 * or peer addresses written as names can be matched to flows. */
#ifndef SN_DNS_H
#define SN_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "context.h"

/* A UDP payload from port 53. Records A/AAAA answers (and the names that
 * led to them through CNAMEs). Returns the number of addresses learned.
 * A name answered with several addresses (round robin) resolves to the
 * first of them in the response, the one a client tries first, whether a
 * prediction waiting for the name came before or after the response; a
 * later response for the name replaces it. Every address is known by name
 * (sn_dns_name_of). */
size_t sn_dns_observe(sn_ctx *c, const uint8_t *p, size_t n);
/* Address a host name resolved to in the capture (the first of the latest
 * response for it), or NULL. */
const sn_addr *sn_dns_lookup(sn_ctx *c, const char *name, size_t n);
/* A name that resolved to this address in the capture (the latest), or NULL. */
const char *sn_dns_name_of(sn_ctx *c, const sn_addr *a);
void sn_dns_free(sn_ctx *c);

#endif
