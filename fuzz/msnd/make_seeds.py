#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_msnd into fuzz/corpus/msnd/.

Each input is one byte of mode (low three bits: 0 dispatch, 1 notification
before login, 2 notification after login, 3 switchboard, 4-7 the cluster
link listener; the upper five bits: 0 for one write, else the size pattern
of the pieces) followed by what the client sends (see fuzz_msnd.c). The accounts are the harness's
fuzz1@msnkit.test and fuzz2@msnkit.test."""
import os

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus", "msnd")


def crlf(text):
    return text.replace("\n", "\r\n").encode()


def msg(trid, mode, body):
    b = crlf(body)
    return ("MSG %d %s %d\r\n" % (trid, mode, len(b))).encode() + b


def write(name, mode, parts, pieces=0):
    data = bytes([mode | (pieces << 3)])
    for p in parts:
        data += crlf(p) if isinstance(p, str) else p
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


TEXT = ("MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
        "X-MMS-IM-Format: FN=Arial; EF=; CO=0; CS=0; PF=22\n\nhello there")
TYPING = "MIME-Version: 1.0\nContent-Type: text/x-msmsgscontrol\nTypingUser: fuzz1@msnkit.test\n\n\n"
INVITE = ("MIME-Version: 1.0\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\n\n"
          "Application-Name: File Transfer\nApplication-GUID: {5D3E02AB-6190-11d3-BBBB-00C04F795683}\n"
          "Invitation-Command: INVITE\nInvitation-Cookie: 33267\nApplication-File: a.txt\n"
          "Application-FileSize: 10\n\n")


def main():
    os.makedirs(HERE, exist_ok=True)
    write("ds-login", 0, ["VER 1 MSNP7 MSNP6 MSNP5 CVR0\n"
                          "CVR 2 0x0409 winnt 5.1 i386 MSNMSGR 5.0.0544 MSMSGS fuzz1@msnkit.test\n"
                          "USR 3 MD5 I fuzz1@msnkit.test\nOUT\n"])
    write("ds-garbage", 0, ["VER 1 MSNP9\nVER x\n\x00\xff\nUSR\nXFR 2 NS\n" + "A" * 3000 + "\n"], 5)
    write("ns-wrong-password", 1, ["VER 1 MSNP7 CVR0\nUSR 2 MD5 I fuzz1@msnkit.test\n"
                                   "USR 3 MD5 S 00000000000000000000000000000000\nUSR 4 MD5 I fuzz2@msnkit.test\n"])
    write("ns-before-login", 1, ["SYN 1 0\nCHG 2 NLN\nADD 3 FL a@b.c a\nXFR 4 SB\nMSG 5 N 3\nabc"])
    write("ns-lists", 2, ["SYN 5 0\nADD 6 FL fuzz2@msnkit.test Fuzz%20Two\nADD 7 AL fuzz2@msnkit.test Fuzz%20Two\n"
                          "ADD 8 BL fuzz2@msnkit.test x\nREM 9 AL fuzz2@msnkit.test\nADG 10 Work 0\nREG 11 1 Play\n"
                          "ADD 12 FL fuzz2@msnkit.test Fuzz%20Two 1\nREM 13 FL fuzz2@msnkit.test 1\nRMG 14 1\n"
                          "LST 15 RL\nBLP 16 BL\nGTC 17 N\nREA 18 fuzz1@msnkit.test New%20Name\nPRP 19 PHH 555\n"
                          "CHG 20 BSY\nCHG 21 HDN\nCHG 22 NLN\nPNG\n"
                          "QRY 23 msmsgs@msnmsgr.com 32\n0123456789abcdef0123456789abcdefOUT\n"])
    write("ns-hostile", 2, ["ADD 6 FL " + "x" * 400 + "@y.z n\nADD 7 XL a@b.c a\nREM 8 FL\nCHG 9 ZZZ\n"
                            "REA 10 fuzz2@msnkit.test " + "%" * 30 + "\nMSG 11 U 99999\nxyz\nSYN 12 -1\n"
                            "ADG 13 " + "g" * 200 + " 0\nXFR 14 SB\nXFR 15 NS\n"], 3)
    write("sb-chat", 3, ["CAL 2 fuzz2@msnkit.test\n", msg(3, "A", TEXT), msg(4, "U", TYPING), msg(5, "N", TEXT), "OUT\n"])
    write("sb-invite", 3, ["CAL 2 fuzz2@msnkit.test\nCAL 3 nobody@msnkit.test\nCAL 4 fuzz1@msnkit.test\n",
                           msg(5, "N", INVITE), "MSG 6 D 2\r\nhi", "MSG 7 A 0\r\n", "MSG 8 A 5000000\r\n"], 9)
    write("link-switchboard", 4, ["HELLO 1 127.0.0.1:7 -\nAUTH 1 1.2.3 fuzz1@msnkit.test\n"
                                  "RING 2 5 c fuzz1@msnkit.test F fuzz2@msnkit.test\nRING x\n"])
    write("link-peer", 4, ["PEER 1 127.0.0.1:5 - 127.0.0.1:6\nON fuzz1@msnkit.test NLN Fuzz%20One\nSYNCED 1\n"
                           "ON fuzz2@msnkit.test BSY x\nPRIV fuzz1@msnkit.test BSY n *\n"
                           "PRIV fuzz1@msnkit.test AWY n fuzz2@msnkit.test\n"
                           "RING 3 5 c fuzz1@msnkit.test F fuzz2@msnkit.test\nOFF fuzz1@msnkit.test\n"
                           "ON fuzz1@msnkit.test NLN again\nRL fuzz2@msnkit.test ADD 7 fuzz1@msnkit.test F\n"
                           "RL fuzz2@msnkit.test REM 8 fuzz1@msnkit.test\nRL fuzz2@msnkit.test ADD x y\n"], 3)
    write("link-peer-v2", 4, ["PEER 2 127.0.0.1:5 -\nRLBASE 3\nON fuzz1@msnkit.test NLN F 3 fuzz2@msnkit.test\n"
                              "ON fuzz2@msnkit.test BSY x 0 -\nRL fuzz2@msnkit.test REM 8 fuzz1@msnkit.test\n"
                              "ON fuzz1@msnkit.test AWY F 4 FUZZ2@msnkit.test,fuzz1@msnkit.test\n"
                              "ON fuzz1@msnkit.test AWY F 4 a,,b\nRLBASE x\n"], 3)
    write("link-switchboard-v2", 4, ["HELLO 2 127.0.0.1:7 -\nAUTH 1 1.2.3 fuzz1@msnkit.test\n"
                                     "RING 2 5 c fuzz1@msnkit.test F nobody@msnkit.test\n"
                                     "RING 3 5 c fuzz1@msnkit.test F fuzz2@msnkit.test\nAUTH 4 x y\n"])
    write("link-switchboard-v3", 4, ["HELLO 3 127.0.0.1:7 -\nAUTH 1 1.2.3 fuzz1@msnkit.test\n"
                                     "RING 2 5 c fuzz1@msnkit.test F fuzz2@msnkit.test\nRINGEND x y\n"])
    write("link-peer-v3", 4, ["PEER 3 127.0.0.1:5 - 127.0.0.1:6\nRLBASE 0\nON fuzz2@msnkit.test NLN F 0 -\n"
                              "LOGIN fuzz1@msnkit.test 127.0.0.1\nLOGIN nobody@msnkit.test ::1/64\nLOGIN\nLOGIN x y\n"
                              "FAIL - 127.0.0.9\nFAIL fuzz2@msnkit.test 127.0.0.9\nFAIL x y\nFAIL - " + "9" * 70 + "\n"
                              "OFF fuzz2@msnkit.test\n"], 3)
    write("link-peer-v4", 4, ["PEER 4 127.0.0.1:5 - 127.0.0.1:6\nRLBASE 0\nSESSION fuzz1@msnkit.test 0\n"
                              "SESSION fuzz2@msnkit.test 99999999\nSESSION nobody@msnkit.test 5\nSESSION x y\n"
                              "SESSION fuzz1@msnkit.test\nON fuzz1@msnkit.test NLN F 0 -\nSYNCED 1\n"], 3)
    write("link-switchboard-v4", 4, ["HELLO 4 127.0.0.1:7 -\nRING 1 5 c nobody@msnkit.test N fuzz2@msnkit.test\n"
                                     "RING 2 5 c fuzz1@msnkit.test F fuzz2@msnkit.test\nGONE fuzz1@msnkit.test\n"])
    write("link-peer-v6", 4, ["PEER 6 127.0.0.1:5 - 127.0.0.1:6\nRLBASE 0\nON fuzz1@msnkit.test NLN F 0 -\n"
                              "GONE fuzz2@msnkit.test\nGONE x\nGONE\nSYNCED 1\n"], 3)
    write("link-peer-hostile", 4, ["PEER 1 127.0.0.1:5 wrong\nPEER 1 x y z w\nON " + "a" * 3000 + "\n"])


if __name__ == "__main__":
    main()
