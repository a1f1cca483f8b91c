#include "msnc/event.h"

const char *msnc_event_type_name(msnc_event_type t) {
    switch (t) {
    case MSNC_EV_CONNECTING: return "connecting";
    case MSNC_EV_LOGGED_IN: return "logged_in";
    case MSNC_EV_LOGIN_FAILED: return "login_failed";
    case MSNC_EV_DISCONNECTED: return "disconnected";
    case MSNC_EV_RECONNECTING: return "reconnecting";
    case MSNC_EV_SYNCED: return "synced";
    case MSNC_EV_STATUS: return "status";
    case MSNC_EV_PRESENCE: return "presence";
    case MSNC_EV_LIST: return "list";
    case MSNC_EV_ADDED_BY: return "added_by";
    case MSNC_EV_REMOVED_BY: return "removed_by";
    case MSNC_EV_NAME: return "name";
    case MSNC_EV_SERVER_ERROR: return "server_error";
    case MSNC_EV_CHAT_OPEN: return "chat_open";
    case MSNC_EV_CHAT_JOIN: return "chat_join";
    case MSNC_EV_CHAT_LEAVE: return "chat_leave";
    case MSNC_EV_CHAT_CLOSED: return "chat_closed";
    case MSNC_EV_MESSAGE: return "message";
    case MSNC_EV_MESSAGE_SENT: return "message_sent";
    case MSNC_EV_TYPING: return "typing";
    case MSNC_EV_ACK: return "ack";
    case MSNC_EV_NAK: return "nak";
    case MSNC_EV_MESSAGE_FAILED: return "message_failed";
    case MSNC_EV_INVITE: return "invite";
    case MSNC_EV_INVITE_SENT: return "invite_sent";
    case MSNC_EV_INVITE_ACCEPTED: return "invite_accepted";
    case MSNC_EV_INVITE_CANCELLED: return "invite_cancelled";
    case MSNC_EV_SECONDARY_LISTEN: return "secondary_listen";
    case MSNC_EV_SECONDARY_CONNECTED: return "secondary_connected";
    case MSNC_EV_TRANSFER_START: return "transfer_start";
    case MSNC_EV_TRANSFER_PROGRESS: return "transfer_progress";
    case MSNC_EV_TRANSFER_DONE: return "transfer_done";
    case MSNC_EV_TRANSFER_FAILED: return "transfer_failed";
    case MSNC_EV_WARNING: return "warning";
    case MSNC_EV_INFO: return "info";
    case MSNC_EV_UNANSWERED: return "unanswered";
    }
    return "unknown";
}
