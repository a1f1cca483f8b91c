/* msnp/writer.h - serializing commands and messages.
 *
 * Writers format into a caller-supplied buffer and return the number of
 * bytes written, or -1 if the buffer is too small or a parameter would break
 * framing (empty, or containing a space, CR, LF or NUL). Nothing is written
 * past cap; on error the buffer contents are unspecified. Lines always end
 * in CRLF. */
#ifndef MSNP_WRITER_H
#define MSNP_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "msnp/parser.h"
#include "msnp/str.h"

/* `NAME [trid] p1 p2 ...\r\n`. has_trid = 0 omits the TrID; n > 0 writes it
 * with at least n digits (up to 20), zeros in front: 1 is the plain number,
 * and a parsed command's trid_digits echoes its TrID as it was written
 * (`VER 007` is answered `VER 007`). The same holds for the writers below. */
long msnp_write_cmd(char *dst, size_t cap, const char *name, int has_trid, uint32_t trid, const msnp_str *params,
                    size_t nparams);

/* `NAME [trid] p1 ... <len>\r\n<payload>`: the length is computed. */
long msnp_write_payload_cmd(char *dst, size_t cap, const char *name, int has_trid, uint32_t trid,
                            const msnp_str *params, size_t nparams, const void *payload, size_t payload_len);

/* Convenience: parameters as a NULL-terminated list of C strings.
 * msnp_writef(buf, cap, "USR", 1, 5, "OK", email, name, NULL) */
long msnp_writev(char *dst, size_t cap, const char *name, int has_trid, uint32_t trid, ...);

/* `NNN trid\r\n` */
long msnp_write_error(char *dst, size_t cap, int code, uint32_t trid);

/* Re-serialize a parsed command exactly: the payload length parameter is
 * recomputed from the payload, so serialize(parse(x)) == x for any x written
 * with single spaces and CRLF. */
long msnp_write_parsed(char *dst, size_t cap, const msnp_cmd *cmd);

/* A parameter is safe if non-empty and free of space, tab, CR, LF, NUL
 * and the other control bytes (below 0x20, DEL): the bytes msnp_parse
 * refuses in a line. The writers refuse (-1) a parameter that is not. */
int msnp_param_is_safe(msnp_str s);

#endif
