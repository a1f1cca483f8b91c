/* Protocol transcripts used by the codec tests: the source analysis's
 * examples in their real upper-case form, and the protocol reference's. Each
 * is canonical (single spaces, CRLF), so serialize(parse(x)) == x. */
#ifndef MSNKIT_TEST_TRANSCRIPTS_H
#define MSNKIT_TEST_TRANSCRIPTS_H

#include "msnp/msnp.h"

typedef struct transcript {
    const char *name;
    msnp_role role; /* whose bytes */
    const char *bytes;
} transcript;

#define IM_PAYLOAD \
    "MIME-Version: 1.0\r\n" \
    "Content-Type: text/plain; charset=UTF-8\r\n" \
    "X-MMS-IM-Format: FN=Microsoft%20Sans%20Serif; EF=I; CO=000000; CS=0; PF=22\r\n" \
    "\r\n" \
    "hello! how are you?"

/* 157 bytes: the length the source analysis gives for this message. */
#define IM_PAYLOAD_LEN "157"

#define FT_INVITE \
    "MIME-Version: 1.0\r\n" \
    "Content-Type: text/x-msmsgsinvite; charset=UTF-8\r\n" \
    "\r\n" \
    "Application-Name: File Transfer\r\n" \
    "Application-GUID: {5D3E02AB-6190-11D3-BBBB-00C04F795683}\r\n" \
    "Invitation-Command: INVITE\r\n" \
    "Invitation-Cookie: 33267\r\n" \
    "Application-File: readme.txt\r\n" \
    "Application-FileSize: 60904\r\n" \
    "\r\n"

#define FT_ACCEPT_RECEIVER \
    "MIME-Version: 1.0\r\n" \
    "Content-Type: text/x-msmsgsinvite; charset=UTF-8\r\n" \
    "\r\n" \
    "Invitation-Command: ACCEPT\r\n" \
    "Invitation-Cookie: 33267\r\n" \
    "Launch-Application: FALSE\r\n" \
    "Request-Data: IP-Address:\r\n"

#define FT_ACCEPT_SENDER \
    "MIME-Version: 1.0\r\n" \
    "Content-Type: text/x-msmsgsinvite; charset=UTF-8\r\n" \
    "\r\n" \
    "Invitation-Command: ACCEPT\r\n" \
    "Invitation-Cookie: 33267\r\n" \
    "IP-Address: 10.44.102.65\r\n" \
    "Port: 6891\r\n" \
    "AuthCookie: 93301\r\n" \
    "Launch-Application: FALSE\r\n" \
    "Request-Data: IP-Address:\r\n" \
    "\r\n"

/* The source's voice invitation: localised name 语音对话, and (a slip in the
 * source) the file-transfer GUID. */
#define VOICE_INVITE_ZH \
    "MIME-Version: 1.0\r\n" \
    "Content-Type: text/x-msmsgsinvite; charset=UTF-8\r\n" \
    "\r\n" \
    "Application-Name: \xe8\xaf\xad\xe9\x9f\xb3\xe5\xaf\xb9\xe8\xaf\x9d\r\n" \
    "Application-GUID: {5D3E02AB-6190-11D3-BBBB-00C04F795683}\r\n" \
    "Session-Protocol: SM1\r\n" \
    "Context-Data: Requested:SIP_A,; Capabilities:SIP_A,SIP_V\r\n" \
    "Invitation-Command: INVITE\r\n" \
    "Invitation-Cookie: 1147452\r\n" \
    "Session-ID: {C4E9035F-CCEB-40F0-8F17-135FB734073B}\r\n" \
    "\r\n"

#define WHITEBOARD_CONTEXT \
    "MIME-Version: 1.0\r\n" \
    "Content-Type: text/x-msmsgsinvite; charset=UTF-8\r\n" \
    "\r\n" \
    "Invitation-Command: CONTEXT\r\n" \
    "Invitation-Cookie: 7391\r\n" \
    "Context-Data:10.1.1.211:13374\r\n" \
    "\r\n"

static const transcript transcripts[] = {
    {"seed dispatch, client side", MSNP_FROM_CLIENT,
     "VER 0 MSNP7 MSNP6 MSNP5 MSNP4 CVR0\r\n"
     "INF 1\r\n"
     "USR 2 MD5 I example@passport.com\r\n"},
    {"seed dispatch, server side", MSNP_FROM_SERVER,
     "VER 0 MSNP7 MSNP6 MSNP5 MSNP4 CVR0\r\n"
     "INF 1 MD5\r\n"
     "XFR 2 NS 64.4.12.132:1863 0\r\n"},
    {"seed notification login, client side", MSNP_FROM_CLIENT,
     "VER 3 MSNP7 MSNP6 MSNP5 MSNP4 CVR0\r\n"
     "INF 4\r\n"
     "USR 5 MD5 I example@passport.com\r\n"
     "USR 6 MD5 S 23e54a439a6a17d15025f4c6cbd0f6b5\r\n"
     "CHG 7 NLN\r\n"
     "XFR 10 SB\r\n"
     "PNG\r\n"
     "QRY 11 msmsgs@msnmsgr.com 32\r\n3b6666b60157322b6fc6e41a115968f5"
     "OUT\r\n"},
    {"seed notification login, server side", MSNP_FROM_SERVER,
     "VER 3 MSNP7 MSNP6 MSNP5 MSNP4 CVR0\r\n"
     "INF 4 MD5\r\n"
     "USR 5 MD5 S 1013928519.693957190\r\n"
     "USR 6 OK example@passport.com my%20screen%20name 1\r\n"
     "CHG 7 NLN\r\n"
     "ILN 7 NLN name_123@hotmail.com name_123\r\n"
     "NLN BSY other@hotmail.com Other%20Person\r\n"
     "FLN other@hotmail.com\r\n"
     "CHL 0 11111111111111111111\r\n"
     "QRY 11\r\n"
     "XFR 10 SB 64.4.12.193:1863 CKI 16925950.1016955577.17693\r\n"
     "RNG 11752013 207.46.108.38:1863 CKI 849102291.520491113 alice@hotmail.com Alice\r\n"
     "911 12\r\n"
     "QNG\r\n"
     "OUT OTH\r\n"},
    {"seed switchboard, caller side", MSNP_FROM_CLIENT,
     "USR 1 example@passport.com 16925950.1016955577.17693\r\n"
     "CAL 2 name_123@hotmail.com\r\n"
     "MSG 3 A " IM_PAYLOAD_LEN "\r\n" IM_PAYLOAD "MSG 4 N 277\r\n" FT_INVITE "OUT\r\n"},
    {"seed switchboard, server side", MSNP_FROM_SERVER,
     "USR 1 OK example@passport.com mike\r\n"
     "CAL 2 RINGING 11752099\r\n"
     "JOI name_123@hotmail.com name_123\r\n"
     "ACK 3\r\n"
     "MSG name_123@hotmail.com name_123 " IM_PAYLOAD_LEN "\r\n" IM_PAYLOAD "IRO 1 1 2 me@x.com My%20Name\r\n"
     "ANS 1 OK\r\n"
     "NAK 4\r\n"
     "BYE name_123@hotmail.com\r\n"},
    {"file transfer invitation exchange", MSNP_FROM_SERVER,
     "MSG example@passport.com tim 179\r\n" FT_ACCEPT_RECEIVER "MSG example@passport.com tim 238\r\n" FT_ACCEPT_SENDER},
    {"voice and whiteboard invitations", MSNP_FROM_CLIENT,
     "MSG 4 N 352\r\n" VOICE_INVITE_ZH "MSG 5 N 158\r\n" WHITEBOARD_CONTEXT},
    {"lists and sync", MSNP_FROM_SERVER,
     "SYN 8 6\r\n"
     "GTC 8 6 A\r\n"
     "BLP 8 6 AL\r\n"
     "LST 8 FL 6 1 1 anotheruser@hotmail.com another%20user\r\n"
     "BPR 6 anotheruser@hotmail.com PHH 1%20(222)%203333\r\n"
     "LST 8 AL 6 1 1 anotheruser@hotmail.com another%20user\r\n"
     "LST 8 BL 6 0 0\r\n"
     "LST 8 RL 6 1 1 anotheruser@hotmail.com another%20user\r\n"
     "ADD 0 RL 7 bob@x.com Bob\r\n"
     "NOT 5\r\n<x/>\n"
     "MSG Hotmail Hotmail 0\r\n"},
};

#define N_TRANSCRIPTS (sizeof(transcripts) / sizeof(transcripts[0]))

#endif
