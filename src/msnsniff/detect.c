/* detect.c - content-based protocol detection. */
#include "detect.h"

#include <string.h>

/* side: 1 server only, 0 client only, -1 either */
static const struct {
    char name[4];
    int side;
} known[] = {
    {"VER", -1}, {"CVR", -1}, {"INF", -1}, {"USR", -1}, {"XFR", -1}, {"CHG", -1}, {"SYN", -1}, {"MSG", -1}, {"ANS", -1},
    {"CAL", -1}, {"JOI", 1},  {"IRO", 1},  {"RNG", 1},  {"NLN", 1},  {"ILN", 1},  {"FLN", 1},  {"CHL", 1},  {"QRY", -1},
    {"PNG", 0},  {"QNG", 1},  {"OUT", -1}, {"BYE", 1},  {"ACK", 1},  {"NAK", 1},  {"LST", 1},  {"ADD", -1}, {"REM", -1},
    {"REA", -1}, {"BLP", -1}, {"GTC", -1}, {"LSG", -1}, {"URL", -1}, {"BPR", 1},  {"ADG", -1}, {"RMG", -1}, {"REG", -1},
    {"FND", -1}, {"SND", -1}, {"PRP", -1}, {"IPG", 1},  {"NOT", 1},
};

sn_detect_result sn_detect_line(const uint8_t *p, size_t n, int *side) {
    *side = -1;
    /* cheap rejections on the first bytes */
    for (size_t i = 0; i < 3 && i < n; i++) {
        uint8_t c = p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return SN_DETECT_NO;
    }
    if (n >= 4 && p[3] != ' ') return SN_DETECT_NO;
    size_t lim = n < SN_DETECT_MAX_LINE ? n : SN_DETECT_MAX_LINE;
    const uint8_t *lf = memchr(p, '\n', lim);
    if (!lf) return n >= SN_DETECT_MAX_LINE ? SN_DETECT_NO : SN_DETECT_MORE;
    size_t len = (size_t)(lf - p);
    if (len > 0 && p[len - 1] == '\r') len--;
    if (len < 5) return SN_DETECT_NO;
    for (size_t i = 4; i < len; i++)
        if (p[i] < 0x20 || p[i] == 0x7F) return SN_DETECT_NO;
    if (len >= 10 && memcmp(p, "VER MSNFTP", 10) == 0) return SN_DETECT_MSNFTP;
    if (p[0] >= '0' && p[0] <= '9') {
        if (!(p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' && p[4] >= '0' && p[4] <= '9'))
            return SN_DETECT_NO;
        *side = 1;
        return SN_DETECT_MSNP;
    }
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
        if (memcmp(p, known[k].name, 3) != 0) continue;
        *side = known[k].side;
        if (memcmp(p, "MSG ", 4) == 0) {
            /* server form "MSG email name len" vs client "MSG trid ack len" */
            *side = (p[4] >= '0' && p[4] <= '9') ? 0 : 1;
        } else if (memcmp(p, "VER ", 4) == 0) {
            if (!(p[4] >= '0' && p[4] <= '9')) return SN_DETECT_NO;
        }
        return SN_DETECT_MSNP;
    }
    return SN_DETECT_NO;
}
