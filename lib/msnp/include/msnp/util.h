/* msnp/util.h - URL-encoding of names, address checks, numbers. */
#ifndef MSNP_UTIL_H
#define MSNP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "msnp/str.h"

/* Longest user handle (e-mail) and URL-encoded friendly name (the limits of the protocol's Internet-Draft). */
#define MSNP_MAX_EMAIL 129
#define MSNP_MAX_NAME_ENCODED 387

/* Percent-encode a friendly name so it is one safe parameter: space, %, and
 * every byte outside printable ASCII become %XX (UTF-8 stays UTF-8 bytes,
 * encoded). Returns length, or -1 if it does not fit (NUL-terminated). */
long msnp_url_encode(msnp_str in, char *dst, size_t cap);
/* Decode %XX (invalid escapes are kept literally). Returns length or -1. */
long msnp_url_decode(msnp_str in, char *dst, size_t cap);

/* A plausible user handle: local@domain.tld, printable ASCII without space,
 * one '@', non-empty parts, a dot in the domain, at most MSNP_MAX_EMAIL. */
int msnp_email_valid(msnp_str s);

/* Strict UTF-8 validation (no overlongs, no surrogates). */
int msnp_utf8_valid(const char *p, size_t n);
/* Length (1-4) of the well-formed UTF-8 character at p (n bytes left), 0
 * if none starts there (a stray byte, an overlong form, a surrogate, past
 * U+10FFFF, cut short); its code point in *cp unless cp is NULL. */
size_t msnp_utf8_seq(const char *p, size_t n, uint32_t *cp);
/* How many of the first n bytes of s fit in max bytes without cutting a
 * UTF-8 character in two (n itself when n <= max). */
size_t msnp_utf8_prefix(const char *s, size_t n, size_t max);
/* Text as a display name must be: valid UTF-8 without C0 control
 * characters or DEL. */
int msnp_text_valid(const char *p, size_t n);

/* Split "host:port", or "[v6]:port" / "[v6]" (host without its brackets).
 * Port 1-65535, required when need_port (else *port is left alone when
 * there is none); returns 0 or -1. */
int msnp_split_hostport(msnp_str s, msnp_str *host, uint16_t *port, int need_port);

/* Dotted-quad IPv4 check: four parts of 1-3 digits, 0-255, no leading
 * zero, as inet_pton(AF_INET) reads them. */
int msnp_ipv4_valid(msnp_str s);
/* The same, its four bytes in out (left alone when s is no such address). */
int msnp_ipv4_parse(msnp_str s, uint8_t out[4]);
/* The same, s read as C code that takes it for a string reads it: up to
 * its first NUL, where inet_pton and inet_addr stop too ("10.0.0.1" and
 * a NUL before anything else is 10.0.0.1 to a client that connects). */
int msnp_ipv4_parse_cstr(msnp_str s, uint8_t out[4]);

/* Library version string, e.g. "0.1.0". */
const char *msnp_version_string(void);

/* Run the built-in known-answer checks (MD5 login, challenge, parser
 * round trip). Returns 0 if all pass; writes a report line per check to
 * report (may be NULL). Used by `msnd --self-check`. */
int msnp_self_check(char *report, size_t cap);

#endif
