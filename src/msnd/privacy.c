/* Presence and privacy rules; see privacy.h. */
#include "privacy.h"

int privacy_may_see(int owner_blp_allow, int viewer_in_owner_al, int viewer_in_owner_bl) {
    if (viewer_in_owner_bl) return 0;
    if (viewer_in_owner_al) return 1;
    return owner_blp_allow != 0;
}

int privacy_status_visible(msnp_status st) {
    return st != MSNP_STATUS_FLN && st != MSNP_STATUS_HDN && st != MSNP_STATUS_INVALID;
}

msnp_status privacy_status_for(msnp_status owner_status, int allowed) {
    if (!allowed || !privacy_status_visible(owner_status)) return MSNP_STATUS_FLN;
    return owner_status;
}

int privacy_status_settable(msnp_status st) { return st != MSNP_STATUS_FLN && st != MSNP_STATUS_INVALID; }
