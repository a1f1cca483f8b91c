/* scenario.h - the example MSN sessions of the public protocol
 * documentation (hypothetic.org) as synthesized captures.
 *
 * One scenario replays, with the examples' own addresses and values:
 *   - DNS answers for the dispatch server and a switchboard host name;
 *   - dispatch login (VER/INF/USR, XFR NS 64.4.12.132:1863);
 *   - notification login (MD5 challenge 1013928519.693957190, USR OK,
 *     CHG NLN, ILN), XFR SB 64.4.12.193:1863 CKI 16925950.1016955577.17693;
 *   - a chat switchboard (USR/CAL/JOI, "hello! how are you?", a reply,
 *     typing), a whiteboard invitation named 白板 with CONTEXT
 *     Context-Data 10.1.1.211:13374 and the TCP connection it predicts;
 *   - a file transfer switchboard (cookie 33267, readme.txt, 60904 bytes,
 *     IP-Address 10.44.102.65, Port 6891, AuthCookie 93301) and the MSNFTP
 *     transfer itself;
 *   - a voice call over two switchboards (语音对话, SM1) and its UDP flow;
 *   - application sharing (应用程序共享) invited then cancelled, remote
 *     assistance (远程协助) accepted but never connected (a miss);
 *   - an incoming call (RNG with a host name, ANS, IRO, BYE);
 *   - the other user's notification connection picked up mid-stream on
 *     port 443, and unrelated HTTP and binary traffic.
 * The segmentation policy and framing options turn it into the torture
 * variants; the bytes of every TCP stream stay the same. */
#ifndef SN_SCENARIO_H
#define SN_SCENARIO_H

#include <stddef.h>

#include "synth.h"

typedef struct sn_scenario_opts {
    msnsynth_opts synth;
    msnsynth_seg_policy policy; /* applied to every TCP connection */
    int ipv6;                   /* IPv6 transport (payload addresses unchanged) */
} sn_scenario_opts;

/* Size of the file the scenario transfers, and its content byte i. */
#define SN_SCENARIO_FILE_SIZE 60904u
unsigned char sn_scenario_file_byte(size_t i);

/* Write the scenario to path; 0 or -1. */
int sn_scenario_write(const char *path, const sn_scenario_opts *o);

/* Parse mkcapture-style options (see mkcapture.c) into o; returns the
 * index of the first non-option argument, or -1 on a bad option. */
int sn_scenario_parse_args(int argc, char **argv, sn_scenario_opts *o);

#endif
