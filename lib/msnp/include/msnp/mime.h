/* msnp/mime.h - MIME header blocks of MSG payloads and invitation bodies.
 *
 * An MSG payload is `Name: value` lines, an empty line, then a body. The
 * body of a text/x-msmsgsinvite message is itself such a header block.
 * Header names are matched case-insensitively; duplicates are kept in order;
 * folded (continued) values are accepted. All results are views. */
#ifndef MSNP_MIME_H
#define MSNP_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "msnp/str.h"

#define MSNP_MIME_MAX_HEADERS 48

typedef struct msnp_header {
    msnp_str name;
    msnp_str value; /* trimmed; for folded values spans the continuation lines */
    uint8_t folded;
} msnp_header;

typedef struct msnp_mime {
    size_t count;
    msnp_header h[MSNP_MIME_MAX_HEADERS];
    msnp_str body;     /* bytes after the empty line (may be empty) */
    uint8_t has_blank; /* an empty line ended the headers */
} msnp_mime;

typedef enum msnp_mime_status {
    MSNP_MIME_OK = 0,
    MSNP_MIME_ENOCOLON = -1,  /* header line without ':' */
    MSNP_MIME_ETOO_MANY = -2, /* more than MSNP_MIME_MAX_HEADERS */
    MSNP_MIME_EBAD_NAME = -3, /* empty name or control/space in name */
    MSNP_MIME_ECONTROL = -4   /* NUL in the header block */
} msnp_mime_status;

/* Parse a header block. On error, *err_offset (if not NULL) is the offset
 * of the offending byte within p. A block with no empty line is accepted
 * (has_blank = 0, body empty): invitation bodies are often cut that way. */
msnp_mime_status msnp_mime_parse(const char *p, size_t n, msnp_mime *out, size_t *err_offset);
const char *msnp_mime_status_str(msnp_mime_status s);

/* First header of that name (case-insensitive), or NULL. */
const msnp_header *msnp_mime_get(const msnp_mime *m, const char *name);
/* Next header of the same name after prev, or NULL. */
const msnp_header *msnp_mime_get_next(const msnp_mime *m, const msnp_header *prev);
/* Value of the first header of that name, or an empty view with p == NULL. */
msnp_str msnp_mime_value(const msnp_mime *m, const char *name);
/* msnp_mime_value with the name's length given (a literal's sizeof - 1):
 * a message's headers are looked up by name several times, and each
 * lookup measured its name again. */
msnp_str msnp_mime_value_n(const msnp_mime *m, const char *name, size_t n);

/* Copy a (possibly folded) value with line breaks replaced by one space.
 * Returns bytes written (NUL-terminated, truncated to cap-1). */
size_t msnp_header_unfold(const msnp_header *h, char *dst, size_t cap);

/* Split `type/subtype; a=b; charset=UTF-8`: type is the media type
 * (trimmed), charset the charset parameter if any. */
void msnp_content_type_split(msnp_str value, msnp_str *type, msnp_str *charset);

/* The MSNP content types. */
typedef enum msnp_content_kind {
    MSNP_CT_NONE = 0, /* no Content-Type header */
    MSNP_CT_OTHER,
    MSNP_CT_TEXT_PLAIN,    /* instant message */
    MSNP_CT_CONTROL,       /* text/x-msmsgscontrol (TypingUser) */
    MSNP_CT_PROFILE,       /* text/x-msmsgsprofile */
    MSNP_CT_INITIAL_EMAIL, /* text/x-msmsgsinitialemailnotification */
    MSNP_CT_EMAIL,         /* text/x-msmsgsemailnotification */
    MSNP_CT_ACTIVE_EMAIL,  /* text/x-msmsgsactivemailnotification */
    MSNP_CT_INVITE         /* text/x-msmsgsinvite */
} msnp_content_kind;

msnp_content_kind msnp_content_kind_of(const msnp_mime *m);
const char *msnp_content_kind_name(msnp_content_kind k);

/* X-MMS-IM-Format: FN=<font>; EF=<BIUS>; CO=<bbggrr>; CS=<hex>; PF=<hex>[; RL=1] */
#define MSNP_EF_BOLD 1u
#define MSNP_EF_ITALIC 2u
#define MSNP_EF_UNDERLINE 4u
#define MSNP_EF_STRIKE 8u

typedef struct msnp_imformat {
    char font[64];         /* URL-decoded font name ("" when absent or refused) */
    unsigned effects;      /* MSNP_EF_* */
    uint32_t color_bgr;    /* CO as written: 0x0000ff is red */
    unsigned charset;      /* CS (hex) */
    unsigned pitch_family; /* PF (as written, decimal digits read as hex) */
    uint8_t rtl;           /* RL=1 */
    uint8_t has_font, has_effects, has_color, has_charset, has_pf;
} msnp_imformat;

/* Lenient: unknown keys are ignored, bad numbers leave has_* at 0. A font
 * name longer than font[] or decoding to a NUL byte (`FN=A%00B`) is
 * refused: has_font 0 and font "" (or an earlier FN's).
 * Returns 0, or -1 if the value is not a key=value list at all. */
int msnp_imformat_parse(msnp_str value, msnp_imformat *out);
/* Write the value (no header name) in the official order FN EF CO CS PF;
 * FN only when has_font. */
long msnp_imformat_write(const msnp_imformat *f, char *dst, size_t cap);
/* RGB (0xRRGGBB) for display. */
uint32_t msnp_imformat_rgb(const msnp_imformat *f);

#endif
