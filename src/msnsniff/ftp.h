/* ftp.h - MSNFTP transfers: VER MSNFTP, USR, FIL, TFR, data blocks, BYE
 * or CCL; with --extract the file is carved to disk and its size checked
 * against FIL and the invitation's Application-FileSize. */
#ifndef SN_FTP_H
#define SN_FTP_H

#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "flow.h"

typedef struct sn_ftp sn_ftp;

sn_ftp *sn_ftp_new(sn_ctx *c, const sn_flow *f);
/* Bytes of one direction; returns how many were consumed. */
size_t sn_ftp_data(sn_ctx *c, sn_ftp *t, const sn_flow *f, int dir, const uint8_t *p, size_t n);
void sn_ftp_gap(sn_ctx *c, sn_ftp *t, const sn_flow *f, int dir, uint64_t lost);
/* Emit the file event (once) and free. */
void sn_ftp_close(sn_ctx *c, sn_ftp *t, const sn_flow *f);

#endif
