#!/usr/bin/env python3
"""pymsnp - a small MSNP7 server on Python asyncio (standard library only).

The comparison point for msnd in `make bench`: the kind of server a person
writes in an afternoon. It has no dispatch step (clients log in at the NS
directly, as `msnbench --no-dispatch` does) and runs its switchboard on a
second port. Accounts are implicit: PREFIX<i>@DOMAIN with one password, and
user i has the other members of its clique (i // CLIQUE) on its FL, the
same layout `msnbench populate` writes into msnd's database.

Supported: VER, CVR, USR MD5 I/S, SYN (GTC, BLP, LST FL/AL/BL/RL), CHG with
ILN/NLN/FLN to clique members, PNG, OUT, XFR SB; on the switchboard USR,
CAL (RNG to the callee), ANS (IRO, JOI), MSG U/N/A relay with ACK/NAK, BYE.
Nothing is stored.

usage: pymsnp.py --port-file FILE [--host 127.0.0.1] [--prefix bench]
                 [--domain bench.test] [--password benchpw] [--clique 10]
"""
import argparse
import asyncio
import hashlib
import logging
import os
import re
import secrets
import sys

ARGS = None
ONLINE = {}      # email -> NsConn (status != FLN after first CHG)
SESSIONS = {}    # sessid -> Switchboard
COOKIES = {}     # cookie -> (email, sessid or None)
SB_ADDR = ""
NEXT_SESSION = [10000]
EMAIL_RE = None


def clique_of(email):
    m = EMAIL_RE.match(email)
    if not m:
        return []
    i = int(m.group(1))
    g = ARGS.clique
    lo = i // g * g
    return ["%s%d@%s" % (ARGS.prefix, k, ARGS.domain) for k in range(lo, lo + g) if k != i]


def name_of(email):
    return email.split("@")[0]


class Conn:
    def __init__(self, reader, writer):
        self.r = reader
        self.w = writer

    def send(self, line):
        self.w.write(line.encode() + b"\r\n")

    async def lines(self):
        while True:
            line = await self.r.readline()
            if not line:
                return
            line = line.rstrip(b"\r\n").decode("utf-8", "replace")
            if not line:
                continue
            parts = line.split(" ")
            payload = None
            if parts[0] == "MSG" and len(parts) >= 4:
                payload = await self.r.readexactly(int(parts[3]))
            elif parts[0] == "QRY" and len(parts) >= 4:
                payload = await self.r.readexactly(int(parts[3]))
            yield parts, payload


class NsConn(Conn):
    def __init__(self, reader, writer):
        super().__init__(reader, writer)
        self.email = None
        self.status = "FLN"
        self.challenge = None

    def visible(self):
        return self.status not in ("FLN", "HDN")

    def tell_watchers(self, line):
        for c in clique_of(self.email):
            w = ONLINE.get(c)
            if w is not None and w.visible():
                w.send(line)

    async def run(self):
        try:
            async for p, payload in self.lines():
                cmd = p[0]
                t = p[1] if len(p) > 1 else "0"
                if cmd == "VER":
                    self.send("VER %s MSNP7 MSNP6 MSNP5 CVR0" % t)
                elif cmd == "CVR":
                    self.send("CVR %s 5.0.0540 5.0.0540 1.0.0863 http://127.0.0.1/ http://127.0.0.1/" % t)
                elif cmd == "USR" and len(p) >= 5 and p[3] == "I":
                    self.email = p[4].lower()
                    self.challenge = "%d.%d" % (secrets.randbelow(10**10), secrets.randbelow(10**9))
                    self.send("USR %s MD5 S %s" % (t, self.challenge))
                elif cmd == "USR" and len(p) >= 5 and p[3] == "S":
                    want = hashlib.md5((self.challenge + ARGS.password).encode()).hexdigest()
                    if self.email and EMAIL_RE.match(self.email) and p[4].lower() == want:
                        old = ONLINE.get(self.email)
                        if old is not None:
                            old.send("OUT OTH")
                            old.w.close()
                        ONLINE[self.email] = self
                        self.send("USR %s OK %s %s 1" % (t, self.email, name_of(self.email)))
                    else:
                        self.send("911 %s" % t)
                        break
                elif self.email is None or ONLINE.get(self.email) is not self:
                    self.send("302 %s" % t)
                elif cmd == "SYN":
                    contacts = clique_of(self.email)
                    n = len(contacts)
                    self.send("SYN %s 2" % t)
                    self.send("GTC %s 2 A" % t)
                    self.send("BLP %s 2 AL" % t)
                    for lst in ("FL", "AL", "BL", "RL"):
                        if lst in ("FL", "RL") and n:
                            for i, c in enumerate(contacts):
                                self.send("LST %s %s 2 %d %d %s %s%s" % (t, lst, i + 1, n, c, name_of(c),
                                                                       " 0" if lst == "FL" else ""))
                        else:
                            self.send("LST %s %s 2 0 0" % (t, lst))
                elif cmd == "CHG" and len(p) >= 3:
                    first = self.status == "FLN"
                    self.status = p[2]
                    self.send("CHG %s %s" % (t, p[2]))
                    if first:
                        for c in clique_of(self.email):
                            o = ONLINE.get(c)
                            if o is not None and o.visible():
                                self.send("ILN %s %s %s %s" % (t, o.status, c, name_of(c)))
                    if self.status == "HDN":
                        self.tell_watchers("FLN %s" % self.email)
                    else:
                        self.tell_watchers("NLN %s %s %s" % (self.status, self.email, name_of(self.email)))
                elif cmd == "PNG":
                    self.send("QNG")
                elif cmd == "QRY":
                    self.send("QRY %s" % t)
                elif cmd == "XFR" and len(p) >= 3 and p[2] == "SB":
                    cookie = "%d.%d.%d" % (secrets.randbelow(10**8), secrets.randbelow(10**10), secrets.randbelow(10**5))
                    COOKIES[cookie] = (self.email, None)
                    self.send("XFR %s SB %s CKI %s" % (t, SB_ADDR, cookie))
                elif cmd == "OUT":
                    self.send("OUT")
                    break
                else:
                    self.send("200 %s" % t)
                await self.w.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            if self.email and ONLINE.get(self.email) is self:
                del ONLINE[self.email]
                if self.visible():
                    self.status = "FLN"
                    for c in clique_of(self.email):
                        w = ONLINE.get(c)
                        if w is not None:
                            w.send("FLN %s" % self.email)
            self.w.close()


class Switchboard:
    def __init__(self, sessid):
        self.id = sessid
        self.members = {}  # email -> SbConn


class SbConn(Conn):
    def __init__(self, reader, writer):
        super().__init__(reader, writer)
        self.email = None
        self.sb = None

    async def run(self):
        try:
            async for p, payload in self.lines():
                cmd = p[0]
                t = p[1] if len(p) > 1 else "0"
                if cmd == "USR" and len(p) >= 4 and self.sb is None:
                    entry = COOKIES.pop(p[3], None)
                    if entry is None or entry[0] != p[2].lower():
                        self.send("911 %s" % t)
                        break
                    self.email = entry[0]
                    NEXT_SESSION[0] += 1
                    self.sb = Switchboard(str(NEXT_SESSION[0]))
                    SESSIONS[self.sb.id] = self.sb
                    self.sb.members[self.email] = self
                    self.send("USR %s OK %s %s" % (t, self.email, name_of(self.email)))
                elif cmd == "ANS" and len(p) >= 5 and self.sb is None:
                    entry = COOKIES.pop(p[3], None)
                    sb = SESSIONS.get(p[4])
                    if entry is None or sb is None or entry[0] != p[2].lower() or entry[1] != p[4]:
                        self.send("911 %s" % t)
                        break
                    self.email, self.sb = entry[0], sb
                    others = list(sb.members.items())
                    for i, (e, _) in enumerate(others):
                        self.send("IRO %s %d %d %s %s" % (t, i + 1, len(others), e, name_of(e)))
                    self.send("ANS %s OK" % t)
                    for _, o in others:
                        o.send("JOI %s %s" % (self.email, name_of(self.email)))
                    sb.members[self.email] = self
                elif self.sb is None:
                    self.send("911 %s" % t)
                    break
                elif cmd == "CAL" and len(p) >= 3:
                    callee = p[2].lower()
                    ns = ONLINE.get(callee)
                    if ns is None or not ns.visible():
                        self.send("217 %s" % t)
                    else:
                        cookie = "%d.%d.%d" % (secrets.randbelow(10**8), secrets.randbelow(10**10), secrets.randbelow(10**5))
                        COOKIES[cookie] = (callee, self.sb.id)
                        self.send("CAL %s RINGING %s" % (t, self.sb.id))
                        ns.send("RNG %s %s CKI %s %s %s" % (self.sb.id, SB_ADDR, cookie, self.email, name_of(self.email)))
                elif cmd == "MSG" and payload is not None:
                    others = [o for e, o in self.sb.members.items() if e != self.email]
                    head = ("MSG %s %s %d\r\n" % (self.email, name_of(self.email), len(payload))).encode()
                    for o in others:
                        o.w.write(head + payload)
                    mode = p[2]
                    if mode == "A" and others:
                        self.send("ACK %s" % t)
                    elif mode in ("A", "N") and not others:
                        self.send("NAK %s" % t)
                elif cmd == "OUT":
                    break
                else:
                    self.send("200 %s" % t)
                await self.w.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            if self.sb is not None and self.sb.members.get(self.email) is self:
                del self.sb.members[self.email]
                for o in self.sb.members.values():
                    o.send("BYE %s" % self.email)
                if not self.sb.members:
                    SESSIONS.pop(self.sb.id, None)
            self.w.close()


async def main():
    global ARGS, SB_ADDR, EMAIL_RE
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--prefix", default="bench")
    ap.add_argument("--domain", default="bench.test")
    ap.add_argument("--password", default="benchpw")
    ap.add_argument("--clique", type=int, default=10)
    ARGS = ap.parse_args()
    # clients that vanish mid-write are normal under load; do not log each one
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    EMAIL_RE = re.compile(r"^%s(\d+)@%s$" % (re.escape(ARGS.prefix), re.escape(ARGS.domain)))
    ns = await asyncio.start_server(lambda r, w: NsConn(r, w).run(), ARGS.host, 0, backlog=4096)
    sb = await asyncio.start_server(lambda r, w: SbConn(r, w).run(), ARGS.host, 0, backlog=4096)
    ns_port = ns.sockets[0].getsockname()[1]
    sb_port = sb.sockets[0].getsockname()[1]
    SB_ADDR = "%s:%d" % (ARGS.host, sb_port)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("ns=%s:%d\nsb=%s\n" % (ARGS.host, ns_port, SB_ADDR))
    os.rename(tmp, ARGS.port_file)
    async with ns, sb:
        await asyncio.gather(ns.serve_forever(), sb.serve_forever())


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
