"""gatenet - a gateway topology of network namespaces for msngate tests
and benchmarks (stdlib only, needs root).

    inside client   10.13.1.2 --- 10.13.1.1  gateway  10.13.2.1 --- 10.13.2.2  msnd (1863 DS, 1864 NS, 1865 SB)
                                                                   10.13.2.3  outside client

The gateway forwards with policy drop: established/related pass, new
connections pass only to msnd's ports or when their destination is an
element of one of msngate's sets (table inet msngate, declared here with
the same definition msngate gives them). Names carry the PID and a random
suffix; cleanup() removes everything, also after a failure.
"""
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import msntest  # noqa: E402

INSIDE, GW_IN, GW_OUT, SERVER, OUTSIDE = "10.13.1.2", "10.13.1.1", "10.13.2.1", "10.13.2.2", "10.13.2.3"
THIRD = "10.13.2.99"  # exists nowhere: the forged-address tests announce it
INSIDE6, GW_IN6, GW_OUT6, SERVER6 = "fd13:1::2", "fd13:1::1", "fd13:2::1", "fd13:2::2"
DS_PORT, NS_PORT, SB_PORT = 1863, 1864, 1865
CLASSES = ("file_transfer", "voice_video", "whiteboard", "app_sharing", "remote_assistance", "switchboard")
TABLE = "msngate"



def run(argv, check=True, input=None, timeout=30):
    r = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
    return r


def gateway_ruleset(table=TABLE, server=SERVER, server_ports=(DS_PORT, NS_PORT, SB_PORT)):
    sets = []
    accepts = []
    for c in CLASSES:
        for fam, typ, kw in ((4, "ipv4_addr", "ip"), (6, "ipv6_addr", "ip6")):
            sets.append("  set %s_v%d { type %s . inet_proto . inet_service; flags timeout; }" % (c, fam, typ))
            accepts.append("    ct state new %s daddr . meta l4proto . th dport @%s_v%d counter accept" % (kw, c, fam))
    return "\n".join([
        "table inet %s {" % table,
        *sets,
        "  counter refused { }",
        "  chain forward_filter {",
        "    type filter hook forward priority filter; policy drop;",
        "    ct state established,related accept",
        "    ct state invalid drop",
        "    ip daddr %s tcp dport { %s } accept" % (server, ", ".join(str(p) for p in server_ports)),
        "    ip6 daddr %s tcp dport { %s } accept" % (SERVER6, ", ".join(str(p) for p in server_ports)),
        "    meta l4proto ipv6-icmp accept",  # neighbour discovery
        *accepts,
        "    meta l4proto { tcp, udp } counter name refused",
        "  }",
        "}",
    ]) + "\n"


class Topology:
    def __init__(self, tag="mg"):
        sfx = "%d%02d" % (os.getpid() % 100000, random.randrange(100))
        self.ns_in, self.ns_gw, self.ns_out = ("%s-%s-%s" % (tag, sfx, r) for r in ("in", "gw", "out"))
        self.veth = {k: "%s%s%s" % (tag, sfx, k) for k in ("i0", "i1", "o0", "o1")}  # <= 15 chars
        self.made = []

    def nsx(self, ns, argv):
        return ["ip", "netns", "exec", ns] + list(argv)

    def create(self):
        try:
            for ns in (self.ns_in, self.ns_gw, self.ns_out):
                run(["ip", "netns", "add", ns])
                self.made.append(ns)
                run(["ip", "-n", ns, "link", "set", "lo", "up"])
            v = self.veth
            run(["ip", "link", "add", v["i0"], "netns", self.ns_in, "type", "veth", "peer", "name", v["i1"], "netns", self.ns_gw])
            run(["ip", "link", "add", v["o0"], "netns", self.ns_out, "type", "veth", "peer", "name", v["o1"], "netns", self.ns_gw])
            for ns, dev, addrs in ((self.ns_in, v["i0"], [INSIDE + "/24", INSIDE6 + "/64"]),
                                   (self.ns_gw, v["i1"], [GW_IN + "/24", GW_IN6 + "/64"]),
                                   (self.ns_gw, v["o1"], [GW_OUT + "/24", GW_OUT6 + "/64"]),
                                   (self.ns_out, v["o0"], [SERVER + "/24", OUTSIDE + "/24", SERVER6 + "/64"])):
                for a in addrs:
                    # nodad: IPv6 addresses usable at once (no duplicate detection wait)
                    run(["ip", "-n", ns, "addr", "add", a, "dev", dev] + (["nodad"] if ":" in a else []))
                run(["ip", "-n", ns, "link", "set", dev, "up"])
            run(["ip", "-n", self.ns_in, "route", "add", "default", "via", GW_IN])
            run(["ip", "-n", self.ns_out, "route", "add", "10.13.1.0/24", "via", GW_OUT])
            run(["ip", "-n", self.ns_in, "-6", "route", "add", "default", "via", GW_IN6])
            run(["ip", "-n", self.ns_out, "-6", "route", "add", "fd13:1::/64", "via", GW_OUT6])
            run(self.nsx(self.ns_gw, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]))
            run(self.nsx(self.ns_gw, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]))
            run(self.nsx(self.ns_gw, ["nft", "-f", "-"]), input=gateway_ruleset())
        except Exception:
            self.cleanup()
            raise
        return self

    @property
    def gw_inside_dev(self):
        return self.veth["i1"]

    def cleanup(self):
        for ns in self.made:
            # killing what still runs inside is left to the processes' owners;
            # deleting the namespace removes its veth ends and rules
            run(["ip", "netns", "del", ns], check=False)
        self.made = []

    # -- the gateway's sets --
    def elements(self, cls=None):
        """{set name: [(addr, proto, port, timeout_ms or None)]} of msngate's sets."""
        r = run(self.nsx(self.ns_gw, ["nft", "-j", "list", "table", "inet", TABLE]))
        out = {}
        for item in json.loads(r.stdout)["nftables"]:
            s = item.get("set")
            if not s or (cls and not s["name"].startswith(cls)):
                continue
            lst = out.setdefault(s["name"], [])
            for e in s.get("elem", []):
                timeout = None
                if isinstance(e, dict) and "elem" in e:
                    timeout = e["elem"].get("timeout")
                    e = e["elem"]["val"]
                addr, proto, port = e["concat"]
                lst.append((addr, proto, port, timeout))
        return out

    def all_elements(self):
        return [(name,) + x for name, lst in self.elements().items() for x in lst]

    def refused(self):
        r = run(self.nsx(self.ns_gw, ["nft", "-j", "list", "counter", "inet", TABLE, "refused"]))
        for item in json.loads(r.stdout)["nftables"]:
            if "counter" in item:
                return item["counter"]["packets"]
        return 0

    def wait_elements(self, pred, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            els = self.all_elements()
            if pred(els):
                return els
            if time.monotonic() > deadline:
                return els
            time.sleep(0.05)

    def netns(self, ns):
        """Sockets created by this thread inside the block belong to ns."""
        return msntest.in_netns(ns)
