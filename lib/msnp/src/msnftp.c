/* MSNFTP block headers and BYE codes. */
#include "msnp/msnftp.h"

const char *msnftp_bye_text(uint32_t code) {
    switch (code) {
    case MSNFTP_BYE_SENT_OK: return "file sent";
    case MSNFTP_BYE_RECEIVED_OK: return "file received";
    case MSNFTP_BYE_DISK_FULL: return "receiver out of disk space";
    case MSNFTP_BYE_CANCELLED: return "receiver cancelled";
    case MSNFTP_BYE_TIMEOUT: return "transfer timed out";
    default: return "unknown BYE code";
    }
}

int msnftp_block_decode(const unsigned char *p, size_t n, msnftp_block *out) {
    if (n < MSNFTP_BLOCK_HEADER) return 0;
    if (p[0] > 1) return -1;
    out->cancel = p[0] == 1;
    out->len = (uint16_t)(p[1] | (p[2] << 8));
    return MSNFTP_BLOCK_HEADER;
}

void msnftp_block_encode(unsigned char out[3], uint16_t len) {
    out[0] = 0;
    out[1] = (unsigned char)(len & 0xff);
    out[2] = (unsigned char)(len >> 8);
}

void msnftp_cancel_encode(unsigned char out[3]) {
    out[0] = 1;
    out[1] = 0;
    out[2] = 0;
}
