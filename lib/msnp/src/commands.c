/* Command, status and list tables. */
#include "msnp/commands.h"

int msnp_command_has_trid(uint32_t code, int from_server) {
    switch (code) {
    case MSNP_PNG: /* client keep-alive */ return 0;
    case MSNP_OUT: /* both directions: `OUT`, `OUT OTH` */ return 0;
    case MSNP_NLN:
    case MSNP_FLN:
    case MSNP_RNG:
    case MSNP_JOI:
    case MSNP_BYE:
    case MSNP_QNG:
    case MSNP_IPG:
    case MSNP_NOT:
    case MSNP_BPR: return 0; /* server notifications */
    case MSNP_MSG: /* client `MSG trid A len`; server `MSG email name len` */ return !from_server;
    /* MSNFTP lines carry no TrID either. */
    case MSNP_FIL:
    case MSNP_TFR:
    case MSNP_CCL: return 0;
    default: return 1;
    }
}

msnp_version msnp_version_parse(msnp_str s) {
    if (s.n == 5 && msnp_str_istarts(s, "MSNP") && s.p[4] >= '2' && s.p[4] <= '7') return (msnp_version)(s.p[4] - '0');
    return MSNP_VERSION_NONE;
}

static const char *const status_codes[] = {"FLN", "NLN", "BSY", "IDL", "BRB", "AWY", "PHN", "LUN", "HDN"};
static const char *const status_text[] = {"offline", "online",       "busy",         "idle",          "be right back",
                                          "away",    "on the phone", "out to lunch", "appear offline"};

msnp_status msnp_status_parse(msnp_str s) {
    for (int i = 0; i < 9; i++)
        if (msnp_str_eq(s, status_codes[i])) return (msnp_status)i;
    return MSNP_STATUS_INVALID;
}

const char *msnp_status_code(msnp_status s) {
    return (s >= MSNP_STATUS_FLN && s <= MSNP_STATUS_HDN) ? status_codes[s] : "???";
}

const char *msnp_status_description(msnp_status s) {
    return (s >= MSNP_STATUS_FLN && s <= MSNP_STATUS_HDN) ? status_text[s] : "invalid";
}

static const char *const list_codes[] = {"FL", "AL", "BL", "RL"};

msnp_list msnp_list_parse(msnp_str s) {
    for (int i = 0; i < 4; i++)
        if (msnp_str_eq(s, list_codes[i])) return (msnp_list)i;
    return MSNP_LIST_INVALID;
}

const char *msnp_list_code(msnp_list l) { return (l >= MSNP_LIST_FL && l <= MSNP_LIST_RL) ? list_codes[l] : "??"; }
