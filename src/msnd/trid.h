/* trid.h - the TrID a reply carries.
 *
 * A reply echoes the client's TrID as the client wrote it: `VER 007` is
 * answered `VER 007`, not `VER 7`, since a client may match replies to its
 * requests by the text. The parser checks the TrID as a number and keeps
 * how many digits it had (msnp_cmd.trid_digits); a reply sent later (after
 * the store's or another node's answer) keeps both in an msnd_trid. */
#ifndef MSND_TRID_H
#define MSND_TRID_H

#include <stdint.h>

#include <msnp/parser.h>

typedef struct msnd_trid {
    uint32_t value;
    uint8_t digits; /* written with at least this many digits, zeros in front; 0: no TrID */
} msnd_trid;

/* The TrID of a client's command, to echo (a command without one: 0). */
static inline msnd_trid trid_of(const msnp_cmd *cmd) {
    msnd_trid t = {cmd->trid, cmd->has_trid ? cmd->trid_digits : 1};
    return t;
}

/* A TrID of the server's own (`CHL 0`, `ADD 0 RL`). */
static inline msnd_trid trid_num(uint32_t value) {
    msnd_trid t = {value, 1};
    return t;
}

/* A line without TrID (`QNG`, `NLN`). */
static inline msnd_trid trid_none(void) {
    msnd_trid t = {0, 0};
    return t;
}

#endif
