/* msnp/auth.h - MD5 login and CHL/QRY challenge answers. */
#ifndef MSNP_AUTH_H
#define MSNP_AUTH_H

#include <stddef.h>

#include "msnp/str.h"

#define MSNP_MD5_HEX_LEN 32

/* Lower-case hex MD5 of data; out gets 32 chars + NUL. */
void msnp_md5_hex(const void *data, size_t n, char out[MSNP_MD5_HEX_LEN + 1]);

/* USR MD5 S answer: md5hex(challenge + password). */
void msnp_login_response(msnp_str challenge, msnp_str password, char out[MSNP_MD5_HEX_LEN + 1]);

/* Constant-time comparison of two 32-char hex answers (case-insensitive). */
int msnp_md5_hex_equal(msnp_str a, msnp_str b);

/* The MSNP6/7 challenge: QRY payload = md5hex(challenge + key(client_id)).
 * Known ids: msmsgs@msnmsgr.com (Q1P7W2E4J9R8U3S5) and the later PROD ids.
 * Returns 0, or -1 for an unknown client id. */
int msnp_chl_response(msnp_str challenge, msnp_str client_id, char out[MSNP_MD5_HEX_LEN + 1]);

/* The id every MSNP6/7 client uses. */
#define MSNP_CHL_CLIENT_ID "msmsgs@msnmsgr.com"

/* Cryptographically random bytes (OpenSSL RAND). Returns 0 or -1. */
int msnp_random_bytes(void *buf, size_t n);

#endif
