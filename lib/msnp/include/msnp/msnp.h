/* msnp/msnp.h - libmsnp, the MSN Messenger protocol codec (MSNP2-MSNP7).
 *
 * Pure: bytes in, items out; items in, bytes out. No sockets, no clocks, no
 * globals. Include this header for everything. */
#ifndef MSNP_MSNP_H
#define MSNP_MSNP_H

#include "msnp/auth.h"
#include "msnp/commands.h"
#include "msnp/errors.h"
#include "msnp/invite.h"
#include "msnp/mime.h"
#include "msnp/msnftp.h"
#include "msnp/parser.h"
#include "msnp/str.h"
#include "msnp/util.h"
#include "msnp/writer.h"

#define MSNP_VERSION_MAJOR 0
#define MSNP_VERSION_MINOR 1
#define MSNP_VERSION_PATCH 0

#endif
