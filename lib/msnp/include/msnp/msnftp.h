/* msnp/msnftp.h - the MSNFTP file transfer protocol (TCP, ports 6891-6900).
 *
 * Command lines (VER MSNFTP, USR email cookie, FIL size, TFR, BYE code, CCL)
 * have no TrID; parse them with msnp_parse() and MSNP_FROM_UNKNOWN. After
 * TFR the sender's direction carries blocks: [flag][len lo][len hi] + data,
 * flag 0 = data, 1 = sender cancelled. */
#ifndef MSNP_MSNFTP_H
#define MSNP_MSNFTP_H

#include <stddef.h>
#include <stdint.h>

#define MSNFTP_PORT_FIRST 6891
#define MSNFTP_PORT_LAST 6900
#define MSNFTP_BLOCK_HEADER 3
#define MSNFTP_BLOCK_MAX 2045 /* what the official client sends; readers accept up to 65535 */

#define MSNFTP_BYE_SENT_OK 16777987u     /* 0x01000303 */
#define MSNFTP_BYE_RECEIVED_OK 16777989u /* 0x01000305 */
#define MSNFTP_BYE_DISK_FULL 2147942405u /* 0x80070005 */
#define MSNFTP_BYE_CANCELLED 2164261682u /* 0x81000332 */
#define MSNFTP_BYE_TIMEOUT 2164261694u   /* 0x8100033E */

const char *msnftp_bye_text(uint32_t code);

typedef struct msnftp_block {
    int cancel;   /* flag byte 1: the sender aborted */
    uint16_t len; /* payload bytes that follow the header */
} msnftp_block;

/* Decode a block header. Returns 3 on success, 0 if fewer than 3 bytes,
 * -1 if the flag byte is neither 0 nor 1. */
int msnftp_block_decode(const unsigned char *p, size_t n, msnftp_block *out);
/* Write a data block header for len bytes (len <= 65535). */
void msnftp_block_encode(unsigned char out[3], uint16_t len);
/* The sender's cancel marker 01 00 00. */
void msnftp_cancel_encode(unsigned char out[3]);

#endif
