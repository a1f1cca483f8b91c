#!/usr/bin/env python3
"""Seeds for fuzz_msnc_client: what servers send a logged-in client, on the
notification connection and (after the \\0SB\\0 marker) on a switchboard.
Written to fuzz/corpus/msnc_client/; the first byte picks the write size.

usage: make_client_seeds.py [OUTDIR]"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "corpus", "msnc_client")
UUID = "8f3a6f6e-3c1b-4d9a-9e2f-5b7c1d0e4a21"


def msg(email, name, payload):
    payload = payload.encode() if isinstance(payload, str) else payload
    return b"MSG %s %s %d\r\n" % (email.encode(), name.encode(), len(payload)) + payload


def text(t):
    return "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nX-MMS-IM-Format: FN=Arial; EF=B; CO=ff\r\n\r\n" + t


def invite(fields):
    body = "".join("%s: %s\r\n" % kv for kv in fields)
    return "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n" + body + "\r\n"


NS = {
    "presence": b"ILN 7 NLN bob@example.com Bob\r\nNLN BSY bob@example.com Bobby 268435456\r\nFLN bob@example.com\r\n",
    "lists": b"SYN 8 5\r\nGTC 8 5 A\r\nBLP 8 5 AL\r\nLSG 8 5 1 1 0 Friends 0\r\n"
             b"LST 8 FL 5 1 1 bob@example.com Bob 0\r\nLST 8 AL 5 1 1 bob@example.com Bob\r\n"
             b"LST 8 BL 5 0 0\r\nLST 8 RL 5 1 1 bob@example.com Bob\r\n",
    "rl-no-version": b"ADD 0 RL bob@example.com Bob\r\nREM 0 RL bob@example.com\r\nADD 0 RL 12 carol@example.com Carol\r\n",
    "rng-uuid": b"RNG %s 127.0.0.1:1 CKI 1795046311.27813 carol@example.com Carol\r\n" % UUID.encode(),
    "rng-broadcast": b"RNG 5 255.255.255.255:1863 CKI 1.1 bob@example.com Bob\r\n" * 3,
    "chl": b"CHL 0 29409134351025259292\r\n" * 20 + b"QNG 50\r\n",
    "out-ssd": b"OUT SSD\r\n",
    "out-oth": b"OUT OTH\r\n",
    "hostile-fields": b"ADD 0 RL 1 " + b"a" * 300 + b"@example.com x\r\nNLN NLN " + b"b" * 200 +
                      b"@x.com n\r\nZZZ 0 unknown\r\nREA 9 3 alice@example.com " + b"%41" * 200 + b"\r\n",
    "notices": msg("Hotmail", "Hotmail", "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsprofile\r\n\r\n") +
               b"NOT 5\r\nhello",
    "errors": b"911 0\r\n207 9\r\n500 10\r\nXFR 11 SB 127.0.0.1:1 CKI 1.1\r\n",
}

SB = {
    "chat": msg("bob@example.com", "Bob", text("hello \x1b]0;title\x07 \u4f60\u597d")) +
            b"ACK 1\r\nNAK 2\r\n" + msg("bob@example.com", "Bob", "MIME-Version: 1.0\r\nContent-Type: "
                                          "text/x-msmsgscontrol\r\nTypingUser: bob@example.com\r\n\r\n\r\n"),
    "self-joi": b"JOI alice@example.com Alice\r\nJOI carol@example.com Carol\r\nBYE carol@example.com\r\n"
                b"BYE bob@example.com\r\n",
    "invite-file": msg("bob@example.com", "Bob", invite([
        ("Application-Name", "File Transfer"), ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"),
        ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "777"), ("Application-File", "a.bin"),
        ("Application-FileSize", "100")])) +
        msg("bob@example.com", "Bob", invite([("Invitation-Command", "CANCEL"), ("Invitation-Cookie", "777"),
                                              ("Cancel-Code", "REJECT")])),
    "invite-whiteboard": msg("bob@example.com", "Bob", invite([
        ("Application-Name", "Whiteboard"), ("Application-GUID", "{1DF57D09-637A-4CA5-91B9-2C3EDAAF62FE}"),
        ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "42"), ("Session-ID", "{" + UUID + "}")])),
    "garbage": b"MSG bob@example.com Bob 5\r\nxx\r\nMSG bob 99999999\r\n\x00\xff\r\n",
    "out": b"OUT\r\n",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    n = 0
    for mode, (name, data) in enumerate(sorted(NS.items())):
        with open(os.path.join(OUT, "ns-" + name), "wb") as f:
            f.write(bytes([mode % 8]) + data)
        n += 1
    for mode, (name, data) in enumerate(sorted(SB.items())):
        with open(os.path.join(OUT, "sb-" + name), "wb") as f:
            f.write(bytes([(mode + 3) % 8]) + b"\0SB\0" + data)
        n += 1
    with open(os.path.join(OUT, "both"), "wb") as f:
        f.write(b"\x07" + NS["presence"] + b"\0SB\0" + SB["chat"])
    print("%d seeds in %s" % (n + 1, OUT))


if __name__ == "__main__":
    main()
