/* MSNP2-7 error codes: names and explanations. */
#include "msnp/errors.h"

#include <stddef.h>

static const struct {
    int code;
    const char *name, *text;
} table[] = {
    {200, "ERR_SYNTAX_ERROR", "syntax error or unknown command"},
    {201, "ERR_INVALID_PARAMETER", "invalid parameter"},
    {205, "ERR_INVALID_USER", "no such user"},
    {206, "ERR_FQDN_MISSING", "domain name missing from the user handle"},
    {207, "ERR_ALREADY_LOGIN", "already logged in"},
    {208, "ERR_INVALID_USERNAME", "invalid user name"},
    {209, "ERR_INVALID_FRIENDLY_NAME", "invalid friendly name"},
    {210, "ERR_LIST_FULL", "list is full"},
    {215, "ERR_ALREADY_THERE", "already on the list or in the session"},
    {216, "ERR_NOT_ON_LIST", "not on the list"},
    {217, "ERR_USER_NOT_ONLINE", "user is offline or not accepting"},
    {218, "ERR_ALREADY_IN_THE_MODE", "already in that mode"},
    {219, "ERR_ALREADY_IN_OPPOSITE_LIST", "already on the opposite list"},
    {223, "ERR_TOO_MANY_GROUPS", "too many groups"},
    {224, "ERR_INVALID_GROUP", "invalid group"},
    {225, "ERR_USER_NOT_IN_GROUP", "user is not in that group"},
    {229, "ERR_GROUP_NAME_TOO_LONG", "group name too long"},
    {230, "ERR_CANNOT_REMOVE_GROUP_ZERO", "group 0 cannot be removed"},
    {280, "ERR_SWITCHBOARD_FAILED", "switchboard failed"},
    {281, "ERR_NOTIFY_XFR_FAILED", "transfer to the switchboard failed"},
    {300, "ERR_REQUIRED_FIELDS_MISSING", "required parameter missing"},
    {301, "ERR_TOO_MANY_HITS", "too many search results"},
    {302, "ERR_NOT_LOGGED_IN", "not logged in"},
    {500, "ERR_INTERNAL_SERVER", "internal server error"},
    {501, "ERR_DB_SERVER", "database server error"},
    {502, "ERR_COMMAND_DISABLED", "command disabled"},
    {510, "ERR_FILE_OPERATION", "file operation failed"},
    {520, "ERR_MEMORY_ALLOC", "memory allocation failed"},
    {540, "ERR_CHALLENGE_FAILED", "wrong challenge response"},
    {600, "ERR_SERVER_BUSY", "server is busy"},
    {601, "ERR_SERVER_UNAVAILABLE", "server is unavailable"},
    {602, "ERR_PEER_NS_DOWN", "peer notification server down"},
    {603, "ERR_DB_CONNECT", "database connection failed"},
    {604, "ERR_SERVER_GOING_DOWN", "server is going down"},
    {707, "ERR_CREATE_CONNECTION", "could not create connection"},
    {710, "ERR_BAD_CVR_PARAMETERS", "bad CVR parameters"},
    {711, "ERR_BLOCKING_WRITE", "write is blocking"},
    {712, "ERR_SESSION_OVERLOAD", "session is overloaded"},
    {713, "ERR_USER_TOO_ACTIVE", "too many commands too fast"},
    {714, "ERR_TOO_MANY_SESSIONS", "too many sessions"},
    {715, "ERR_NOT_EXPECTED", "command not expected now"},
    {717, "ERR_BAD_FRIEND_FILE", "bad friend file"},
    {800, "ERR_NAME_CHANGE_TOO_FAST", "friendly name changes too rapidly"},
    {910, "ERR_SERVER_TOO_BUSY", "server too busy"},
    {911, "ERR_AUTHENTICATION_FAILED", "authentication failed"},
    {913, "ERR_NOT_ALLOWED_WHEN_OFFLINE", "not allowed while appearing offline"},
    {920, "ERR_NOT_ACCEPTING_NEW_USERS", "not accepting new users"},
    {923, "ERR_KIDS_PASSPORT", "Kids Passport without parental consent"},
    {924, "ERR_PASSPORT_NOT_VERIFIED", "Passport account not yet verified"},
};

static size_t find(int code) {
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].code == code) return i;
    return (size_t)-1;
}

const char *msnp_error_name(int code) {
    size_t i = find(code);
    return i == (size_t)-1 ? NULL : table[i].name;
}

const char *msnp_error_text(int code) {
    size_t i = find(code);
    return i == (size_t)-1 ? "unknown error" : table[i].text;
}
