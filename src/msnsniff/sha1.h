/* sha1.h - SHA-1 (FIPS 180-4) of a buffer in memory.
 *
 * The Community ID of every flow event is a SHA-1 of at most 40 bytes.
 * Through libcrypto's EVP interface each one cost about 5 500
 * instructions (looking the algorithm up, a context allocated and freed,
 * locks), a sixth of writing the whole event; this digest of one short
 * buffer needs no context and costs about 1 500. Not for
 * anything that needs a collision-resistant hash: Community ID only
 * names flows. */
#ifndef SN_SHA1_H
#define SN_SHA1_H

#include <stddef.h>
#include <stdint.h>

void sn_sha1(const void *data, size_t n, uint8_t digest[20]);

#endif
