/* msnp/parser.h - incremental, zero-copy MSNP stream parser.
 *
 * One parser serves the server, the client, the analyzer and the load
 * generator. It never allocates and never reads past the bytes it is given.
 *
 * Usage: keep the unconsumed bytes of a connection in one contiguous buffer
 * (an evbuffer pulled up, a reassembly window, a file). Call msnp_parse() on
 * the buffer:
 *   > 0  one complete item is in *out; that many bytes were consumed. The
 *        views in *out point into buf and stay valid until the caller drops
 *        those bytes.
 *   = 0  the buffer holds no complete item yet; append more and call again
 *        with the SAME unconsumed bytes at the front. The parser remembers how
 *        far it has already scanned, so feeding one byte at a time stays
 *        linear.
 *   < 0  a framing error; *err says what and at which stream offset. A
 *        line that was whole but malformed (lower-case command, control
 *        byte, too many parameters) can be stepped over with
 *        msnp_parse_bad_line(); otherwise the stream cannot be
 *        resynchronised by the parser alone: servers close the connection,
 *        the analyzer calls msnp_parser_resync().
 *
 * Framing rules (MSNP2-7):
 *   - a line ends with CRLF; a bare LF is accepted (never written);
 *   - the command is three upper-case letters, or three digits for an
 *     error reply (`911 6`);
 *   - parameters are separated by spaces (runs of spaces are tolerated);
 *   - payload commands carry the payload byte count as their last
 *     parameter (decimal, leading zeros allowed), and exactly that many
 *     bytes follow the line:
 *       MSG  (client `MSG trid U|N|A|D len`, server `MSG email name len`)
 *       QRY  (client form only: `QRY trid client-id len`; the server's
 *             `QRY trid` answer has no payload)
 *       IPG, NOT (server to client, `NOT len`)
 *   - empty lines (stray CRLF some clients send after a payload) are
 *     skipped and counted as consumed. */
#ifndef MSNP_PARSER_H
#define MSNP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "msnp/str.h"

#define MSNP_MAX_PARAMS 24

/* Whose bytes are being parsed. It decides which commands carry a TrID. */
typedef enum msnp_role {
    MSNP_FROM_CLIENT = 0, /* a server reading what a client sent */
    MSNP_FROM_SERVER = 1, /* a client reading what a server sent */
    MSNP_FROM_UNKNOWN = 2 /* an analyzer that has not learnt the direction */
} msnp_role;

typedef enum msnp_parse_status {
    MSNP_OK = 0,
    MSNP_ELINE_TOO_LONG = -1,   /* no LF within max_line bytes */
    MSNP_EBAD_COMMAND = -2,     /* command is not 3 upper-case letters/digits */
    MSNP_ETOO_MANY_PARAMS = -3, /* more than max_params parameters */
    MSNP_EBAD_LENGTH = -4,      /* payload length missing or not a number */
    MSNP_EPAYLOAD_TOO_BIG = -5, /* payload length above max_payload */
    MSNP_ECONTROL_CHAR = -6     /* NUL, lone CR or other control byte in a line */
} msnp_parse_status;

/* A TrID slot that is not a number is not a framing error: the item is
 * returned with has_trid = 0 and the handler answers 200 or closes. */

typedef struct msnp_parse_error {
    msnp_parse_status status;
    uint64_t offset;  /* stream offset (bytes since parser start) of the bad byte */
    const char *what; /* static English description */
} msnp_parse_error;

typedef struct msnp_parser_limits {
    size_t max_line;    /* bytes in one command line, CRLF included */
    size_t max_payload; /* bytes in one payload */
    size_t max_params;  /* <= MSNP_MAX_PARAMS */
} msnp_parser_limits;

/* Defaults: 4096-byte lines, 64 KiB payloads, MSNP_MAX_PARAMS params.
 * msnp_parser_init takes max_line and max_payload up to LONG_MAX / 2 each
 * (larger values are lowered to it) and max_line of at least 8.
 * Protocol-level limits such as the switchboard's 1664-byte message cap are
 * the caller's business: the parser still frames the oversized message so
 * the caller can refuse it and keep the connection. */
extern const msnp_parser_limits msnp_default_limits;

typedef struct msnp_cmd {
    char name[4];     /* NUL-terminated command, e.g. "MSG", "911" */
    uint32_t code;    /* MSNP_CODE('M','S','G'); see msnp/commands.h */
    uint8_t is_error; /* numeric error reply */
    uint8_t has_trid; /* argv[0] is a TrID for this command/direction */
    uint8_t has_payload;
    uint8_t trid_digits; /* if has_trid: the digits it was written with, leading zeros
                            included (1-20), so that a reply can echo it exactly */
    uint32_t trid;       /* valid if has_trid */
    size_t argc;         /* parameters after the command name */
    msnp_str argv[MSNP_MAX_PARAMS];
    msnp_str payload; /* valid if has_payload (may be empty) */
    msnp_str line;    /* the command line without its line ending */
    uint64_t offset;  /* stream offset of the first byte of this item */
    size_t size;      /* bytes consumed: line, line ending and payload */
} msnp_cmd;

typedef struct msnp_parser {
    msnp_parser_limits limits;
    msnp_role role;
    uint64_t offset; /* stream offset of the next unconsumed byte */
    size_t scanned;  /* bytes of the pending line already searched for LF */
    size_t line_end; /* 0, or length of the pending line incl. its LF */
    size_t payload;  /* payload bytes expected after line_end */
    size_t skip;     /* empty-line bytes in front of the pending line */
} msnp_parser;

void msnp_parser_init(msnp_parser *p, msnp_role role, const msnp_parser_limits *limits);

/* See the top of this file. */
long msnp_parse(msnp_parser *p, const char *buf, size_t len, msnp_cmd *out, msnp_parse_error *err);

/* After msnp_parse failed on a line it had found whole - MSNP_EBAD_COMMAND
 * (`ver 1 MSNP7`), MSNP_ETOO_MANY_PARAMS or MSNP_ECONTROL_CHAR - what follows
 * is still framed: this consumes that line as an item of no known command
 * (code 0) and returns its size. When the line's second token is a TrID
 * (digits, at most 4294967295) *out has it as its one parameter, so a server
 * answers `200 TrID` and goes on, as for an unknown command. A refused line
 * of a payload command (`MSG 1 N\x01 11`) is consumed with its payload
 * (has_payload and payload set): msnp_parse reports such a line only once
 * the payload is in, and reports a framing error (MSNP_EBAD_LENGTH,
 * MSNP_EPAYLOAD_TOO_BIG) instead when its length cannot be read. Returns 0
 * after any other error (nothing consumed): the framing is lost. */
long msnp_parse_bad_line(msnp_parser *p, const char *buf, size_t len, const msnp_parse_error *err, msnp_cmd *out);

/* After a framing error or a gap in the stream: find the start of the next
 * plausible command line in buf (just after an LF, or at 0 if buf itself
 * starts with one), reset the parser and return how many bytes to drop,
 * or len if none was found. The analyzer uses it; servers just close. */
size_t msnp_parser_resync(msnp_parser *p, const char *buf, size_t len);

/* Tell the parser that n bytes were skipped without parsing (a capture gap),
 * so reported offsets stay true stream offsets. Resets the pending line. */
void msnp_parser_skip(msnp_parser *p, uint64_t n);

const char *msnp_parse_status_str(msnp_parse_status s);

/* True if a command of this name carries a payload (MSG, QRY with 3 params,
 * IPG, NOT). argc is the number of parameters. msnp_parse also frames the
 * payload commands of MSNP8 and later (UBX, UUX, ADL, ...) whose last
 * parameter is a number (docs/codec.md). */
int msnp_is_payload_command(uint32_t code, size_t argc);

#endif
