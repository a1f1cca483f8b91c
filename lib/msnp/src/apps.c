/* Applications that text/x-msmsgsinvite can start, with their localised
 * names. Localised Application-Name values are matched as UTF-8 bytes; the
 * GUID, when present, is language-independent and wins. */
#include <stdint.h>
#include <string.h>

#include "msnp/invite.h"

static const msnp_app_info apps[] = {
    {MSNP_APP_FILE_TRANSFER, MSNP_TRANSPORT_TCP, "File Transfer", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}", 6891},
    {MSNP_APP_VOICE, MSNP_TRANSPORT_UDP, "Voice Conversation", "{02D3C01F-BF30-4825-A83A-DE7AF41648AA}", 0},
    {MSNP_APP_NETMEETING, MSNP_TRANSPORT_TCP, "NetMeeting", "{44BBA842-CC51-11CF-AAFA-00AA00B6015C}", 1503},
    {MSNP_APP_WHITEBOARD, MSNP_TRANSPORT_TCP, "Whiteboard", "{1DF57D09-637A-4CA5-91B9-2C3EDAAF62FE}", 0},
    {MSNP_APP_APP_SHARING, MSNP_TRANSPORT_TCP, "Application Sharing", "{F1B1920C-6A3C-4CE7-B18C-AFAB305FD03D}", 0},
    {MSNP_APP_REMOTE_ASSISTANCE, MSNP_TRANSPORT_TCP, "Remote Assistance", "{56B994A7-380F-410B-9985-C809D78C1BDC}",
     3389},
    {MSNP_APP_GAME, MSNP_TRANSPORT_TCP, "Baldur's Gate 2", "{8DAE4336-2B71-11D4-9A6C-006067325E47}", 47624},
};

/* Application-Name spellings (case-insensitive for ASCII). */
static const struct {
    const char *name;
    msnp_app_kind kind;
} names[] = {
    {"File Transfer", MSNP_APP_FILE_TRANSFER},
    {"\xe6\x96\x87\xe4\xbb\xb6\xe4\xbc\xa0\xe8\xbe\x93", MSNP_APP_FILE_TRANSFER}, /* 文件传输 */
    {"Voice Conversation", MSNP_APP_VOICE},
    {"Voice", MSNP_APP_VOICE},
    {"Audio Conversation", MSNP_APP_VOICE},
    {"\xe8\xaf\xad\xe9\x9f\xb3\xe5\xaf\xb9\xe8\xaf\x9d", MSNP_APP_VOICE}, /* 语音对话 */
    {"Video Conversation", MSNP_APP_VIDEO},
    {"Webcam", MSNP_APP_VIDEO},
    {"Whiteboard", MSNP_APP_WHITEBOARD},
    {"\xe7\x99\xbd\xe6\x9d\xbf", MSNP_APP_WHITEBOARD}, /* 白板 */
    {"Application Sharing", MSNP_APP_APP_SHARING},
    {"\xe5\xba\x94\xe7\x94\xa8\xe7\xa8\x8b\xe5\xba\x8f\xe5\x85\xb1\xe4\xba\xab",
     MSNP_APP_APP_SHARING}, /* 应用程序共享 */
    {"Remote Assistance", MSNP_APP_REMOTE_ASSISTANCE},
    {"\xe8\xbf\x9c\xe7\xa8\x8b\xe5\x8d\x8f\xe5\x8a\xa9", MSNP_APP_REMOTE_ASSISTANCE}, /* 远程协助 */
    {"NetMeeting", MSNP_APP_NETMEETING},
};

static const msnp_app_info video = {MSNP_APP_VIDEO, MSNP_TRANSPORT_UDP, "Video Conversation", NULL, 0};

const msnp_app_info *msnp_app_table(size_t *count) {
    if (count) *count = sizeof(apps) / sizeof(apps[0]);
    return apps;
}

static const msnp_app_info *by_kind(msnp_app_kind k) {
    if (k == MSNP_APP_VIDEO) return &video;
    for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++)
        if (apps[i].kind == k) return &apps[i];
    return NULL;
}

/* Every GUID of the table is GUID_LEN bytes between its braces, of
 * upper-case hexadecimal digits and hyphens (the tests check it). */
#define GUID_LEN 36u

static uint64_t load8(const char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* g (GUID_LEN bytes) is the table's GUID t (inside its braces) without
 * regard to case, eight bytes at a time: in a word of t, bit 0x40 is set
 * in the letters (A-F) only, so 0x20 set in both words where t has a
 * letter folds a letter of g of either case onto t's and nothing else,
 * and every other byte compares as it is. The last word overlaps the
 * one before. */
static int guid_is(const char *g, const char *t) {
    static const size_t at[] = {0, 8, 16, 24, GUID_LEN - 8};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        uint64_t tw = load8(t + at[k]), fold = (tw & 0x4040404040404040ull) >> 1;
        if ((load8(g + at[k]) | fold) != (tw | fold)) return 0;
    }
    return 1;
}

const msnp_app_info *msnp_app_by_guid(msnp_str guid) {
    guid = msnp_str_trim(guid);
    if (guid.n >= 2 && guid.p[0] == '{' && guid.p[guid.n - 1] == '}') guid = msnp_str_make(guid.p + 1, guid.n - 2);
    if (guid.n != GUID_LEN) return NULL; /* none of the table's */
    for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++)
        if (guid_is(guid.p, apps[i].guid + 1)) return &apps[i];
    return NULL;
}

const msnp_app_info *msnp_app_by_name(msnp_str name) {
    name = msnp_str_trim(name);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (msnp_str_ieq(name, names[i].name)) return by_kind(names[i].kind);
    return NULL;
}

msnp_transport msnp_app_transport(msnp_app_kind k) {
    switch (k) {
    case MSNP_APP_VOICE:
    case MSNP_APP_VIDEO: return MSNP_TRANSPORT_UDP;
    case MSNP_APP_UNKNOWN:
    case MSNP_APP_OTHER: return MSNP_TRANSPORT_NONE;
    default: return MSNP_TRANSPORT_TCP;
    }
}

#define NAME(s) \
    { s, sizeof(s) - 1 }
msnp_str msnp_app_kind_str(msnp_app_kind k) {
    switch (k) {
    case MSNP_APP_FILE_TRANSFER: return (msnp_str)NAME("file_transfer");
    case MSNP_APP_VOICE: return (msnp_str)NAME("voice");
    case MSNP_APP_VIDEO: return (msnp_str)NAME("video");
    case MSNP_APP_WHITEBOARD: return (msnp_str)NAME("whiteboard");
    case MSNP_APP_APP_SHARING: return (msnp_str)NAME("app_sharing");
    case MSNP_APP_REMOTE_ASSISTANCE: return (msnp_str)NAME("remote_assistance");
    case MSNP_APP_NETMEETING: return (msnp_str)NAME("netmeeting");
    case MSNP_APP_GAME: return (msnp_str)NAME("game");
    case MSNP_APP_OTHER: return (msnp_str)NAME("other");
    case MSNP_APP_UNKNOWN: break;
    }
    return (msnp_str)NAME("unknown");
}

const char *msnp_app_kind_name(msnp_app_kind k) { return msnp_app_kind_str(k).p; }

const char *msnp_transport_name(msnp_transport t) {
    return t == MSNP_TRANSPORT_TCP ? "tcp" : t == MSNP_TRANSPORT_UDP ? "udp" : "none";
}
