/* msnp/commands.h - command codes, status codes and list names.
 *
 * A command name is packed into a 32-bit code so handlers can switch on it
 * without string compares: MSNP_CODE('M','S','G'). */
#ifndef MSNP_COMMANDS_H
#define MSNP_COMMANDS_H

#include <stdint.h>

#include "msnp/str.h"

#define MSNP_CODE(a, b, c) \
    (((uint32_t)(unsigned char)(a) << 16) | ((uint32_t)(unsigned char)(b) << 8) | (uint32_t)(unsigned char)(c))

enum {
    MSNP_ACK = MSNP_CODE('A', 'C', 'K'),
    MSNP_ADD = MSNP_CODE('A', 'D', 'D'),
    MSNP_ADG = MSNP_CODE('A', 'D', 'G'),
    MSNP_ANS = MSNP_CODE('A', 'N', 'S'),
    MSNP_BLP = MSNP_CODE('B', 'L', 'P'),
    MSNP_BPR = MSNP_CODE('B', 'P', 'R'),
    MSNP_BYE = MSNP_CODE('B', 'Y', 'E'),
    MSNP_CAL = MSNP_CODE('C', 'A', 'L'),
    MSNP_CCL = MSNP_CODE('C', 'C', 'L'),
    MSNP_CHG = MSNP_CODE('C', 'H', 'G'),
    MSNP_CHL = MSNP_CODE('C', 'H', 'L'),
    MSNP_CVQ = MSNP_CODE('C', 'V', 'Q'),
    MSNP_CVR = MSNP_CODE('C', 'V', 'R'),
    MSNP_FIL = MSNP_CODE('F', 'I', 'L'),
    MSNP_FLN = MSNP_CODE('F', 'L', 'N'),
    MSNP_FND = MSNP_CODE('F', 'N', 'D'),
    MSNP_GTC = MSNP_CODE('G', 'T', 'C'),
    MSNP_ILN = MSNP_CODE('I', 'L', 'N'),
    MSNP_IMS = MSNP_CODE('I', 'M', 'S'),
    MSNP_INF = MSNP_CODE('I', 'N', 'F'),
    MSNP_IPG = MSNP_CODE('I', 'P', 'G'),
    MSNP_IRO = MSNP_CODE('I', 'R', 'O'),
    MSNP_JOI = MSNP_CODE('J', 'O', 'I'),
    MSNP_LSG = MSNP_CODE('L', 'S', 'G'),
    MSNP_LST = MSNP_CODE('L', 'S', 'T'),
    MSNP_MSG = MSNP_CODE('M', 'S', 'G'),
    MSNP_NAK = MSNP_CODE('N', 'A', 'K'),
    MSNP_NLN = MSNP_CODE('N', 'L', 'N'),
    MSNP_NOT = MSNP_CODE('N', 'O', 'T'),
    MSNP_OUT = MSNP_CODE('O', 'U', 'T'),
    MSNP_PNG = MSNP_CODE('P', 'N', 'G'),
    MSNP_PRP = MSNP_CODE('P', 'R', 'P'),
    MSNP_QNG = MSNP_CODE('Q', 'N', 'G'),
    MSNP_QRY = MSNP_CODE('Q', 'R', 'Y'),
    MSNP_REA = MSNP_CODE('R', 'E', 'A'),
    MSNP_REG = MSNP_CODE('R', 'E', 'G'),
    MSNP_REM = MSNP_CODE('R', 'E', 'M'),
    MSNP_RMG = MSNP_CODE('R', 'M', 'G'),
    MSNP_RNG = MSNP_CODE('R', 'N', 'G'),
    MSNP_SDC = MSNP_CODE('S', 'D', 'C'),
    MSNP_SND = MSNP_CODE('S', 'N', 'D'),
    MSNP_SYN = MSNP_CODE('S', 'Y', 'N'),
    MSNP_TFR = MSNP_CODE('T', 'F', 'R'),
    MSNP_URL = MSNP_CODE('U', 'R', 'L'),
    MSNP_USR = MSNP_CODE('U', 'S', 'R'),
    MSNP_VER = MSNP_CODE('V', 'E', 'R'),
    MSNP_XFR = MSNP_CODE('X', 'F', 'R')
};

/* Does this command carry a TrID as its first parameter when sent in the
 * given direction? (0 = from client, 1 = from server; see msnp_role.)
 * Server notifications NLN FLN RNG JOI BYE QNG OUT IPG NOT and the relayed
 * MSG have none; client PNG and OUT have none; everything else does. */
int msnp_command_has_trid(uint32_t code, int from_server);

/* Protocol versions. MSNP_VERSION_NONE means no common version. */
typedef enum msnp_version {
    MSNP_VERSION_NONE = 0,
    MSNP2 = 2,
    MSNP3 = 3,
    MSNP4 = 4,
    MSNP5 = 5,
    MSNP6 = 6,
    MSNP7 = 7
} msnp_version;

/* "MSNP7" -> 7; anything else (CVR0, MSNP8, junk) -> MSNP_VERSION_NONE. */
msnp_version msnp_version_parse(msnp_str s);

/* Presence status. */
typedef enum msnp_status {
    MSNP_STATUS_INVALID = -1,
    MSNP_STATUS_FLN = 0, /* offline */
    MSNP_STATUS_NLN,     /* online */
    MSNP_STATUS_BSY,     /* busy */
    MSNP_STATUS_IDL,     /* idle */
    MSNP_STATUS_BRB,     /* be right back */
    MSNP_STATUS_AWY,     /* away */
    MSNP_STATUS_PHN,     /* on the phone */
    MSNP_STATUS_LUN,     /* out to lunch */
    MSNP_STATUS_HDN      /* appear offline */
} msnp_status;

msnp_status msnp_status_parse(msnp_str s);
const char *msnp_status_code(msnp_status s);        /* "NLN" */
const char *msnp_status_description(msnp_status s); /* "online" */

/* Contact lists. */
typedef enum msnp_list {
    MSNP_LIST_INVALID = -1,
    MSNP_LIST_FL = 0, /* forward: my contacts */
    MSNP_LIST_AL,     /* allow */
    MSNP_LIST_BL,     /* block */
    MSNP_LIST_RL      /* reverse: who has me on FL (server-maintained) */
} msnp_list;

msnp_list msnp_list_parse(msnp_str s);
const char *msnp_list_code(msnp_list l);

#endif
