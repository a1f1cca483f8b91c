/* detect.h - is this TCP stream MSNP, MSNFTP, or something else?
 *
 * Decided by content, on any port: the first complete line must be an
 * MSNP command (a known three-letter name or a numeric error, then a
 * space), or `VER MSNFTP` for file transfers. Cheap rejections come first
 * so other traffic costs a few byte compares. */
#ifndef SN_DETECT_H
#define SN_DETECT_H

#include <stddef.h>
#include <stdint.h>

typedef enum sn_detect_result {
    SN_DETECT_MORE = 0, /* no complete first line yet */
    SN_DETECT_MSNP,
    SN_DETECT_MSNFTP,
    SN_DETECT_NO
} sn_detect_result;

/* Look at the line starting at p. *side is set to 1 if the line can only
 * come from a server, 0 if only from a client, -1 if either. */
sn_detect_result sn_detect_line(const uint8_t *p, size_t n, int *side);

/* Longest first line examined before giving up. */
#define SN_DETECT_MAX_LINE 1024u

#endif
