#!/usr/bin/env python3
"""gate_bench - msngate on the namespace gateway (tests/integration/msngate/gatenet.py):

1. pinholes in time: N file-transfer invitations from a raw client inside
   (Carol) to a raw client outside (Dave) through a real msnd; Dave
   connects to the announced address:port the moment he reads the ACCEPT
   (the closest a peer can be). Per mode (passive, inline): msngate's
   commit latency (packet arrival -> element acknowledged by the kernel,
   p50/p99) and the share of connections whose FIRST SYN the gateway let
   through (the gateway's drop counter, and connect times under 0.5 s: a
   dropped SYN is retransmitted after 1 s). Each mode stops early when
   its time budget is spent (a busy or slow host, where many first SYNs
   are dropped and each costs a second): the figures are then over the
   invitations made, and "budget_spent" says so.
2. inline cost: round trips of MSNP PNG/QNG over a queued control port
   (p50/p99, with and without msngate inline) and a bulk stream of small
   writes (packets/s queued through msngate, bytes/s against no queue).

usage: gate_bench.py BUILD_DIR [--invitations N] [--mode-seconds S] [--seconds S]   (root)
Prints one JSON object.
"""
import argparse
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "msngate"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "lib"))
import gatenet  # noqa: E402
import msntest  # noqa: E402
from gatenet import INSIDE, OUTSIDE, SERVER, DS_PORT, NS_PORT, SB_PORT  # noqa: E402

CAROL, DAVE = "carol@example.com", "dave@example.com"
HEAD = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n"


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))] if v else None


class Bench:
    def __init__(self, build, work):
        self.build = build
        self.work = work
        self.topo = gatenet.Topology("mb").create()
        self.procs = []
        self.gates = 0  # msngate processes started, for their stats files' names
        self.gate_procs = []

    def stop_gates(self):
        """Ends the msngate processes still running (after a failed run)."""
        for p in self.gate_procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.gate_procs = []

    def close(self):
        self.stop_gates()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.topo.cleanup()

    def start_msnd(self):
        d = os.path.join(self.work, "msnd")
        os.makedirs(d)
        srv = msntest.MsndServer(os.path.join(self.build, "src/msnd/msnd"),
                                 users=[(CAROL, "carolpw", "Carol"), (DAVE, "davepw", "Dave")], workdir=d)
        argv = self.topo.nsx(self.topo.ns_out, [srv.msnd, "--listen", "%s:%d" % (SERVER, DS_PORT), "--ns-listen",
                                                "%s:%d" % (SERVER, NS_PORT), "--sb-listen", "%s:%d" % (SERVER, SB_PORT),
                                                "--db", srv.db, "--port-file", srv.port_file, "--log-level", "error",
                                                "--max-commands-per-second", "0"])
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        deadline = time.monotonic() + 10
        while not os.path.exists(srv.port_file):
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("msnd did not start")
            time.sleep(0.02)
        srv.ds, srv.ns = (SERVER, DS_PORT), (SERVER, NS_PORT)
        self.srv = srv

    def start_gate(self, mode, extra=()):
        # a file of its own per msngate started: gate_stats waits for the
        # file's report counter to pass what it held before the signal, and
        # a second run of a mode (passive, then passive --realtime) would
        # otherwise find the first run's higher count and wait for ever
        self.gates += 1
        stats = os.path.join(self.work, "stats-%d-%s.json" % (self.gates, mode))
        argv = [os.path.join(self.build, "src/msngate/msngate"), "--mode", mode, "--stats-interval", "0",
                "--stats-file", stats] + list(extra)
        argv += ["-i", "any", "--direction", "in"] if mode == "passive" else ["--control-ports", "%d,%d" % (DS_PORT, NS_PORT)]
        p = subprocess.Popen(self.topo.nsx(self.topo.ns_gw, argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        self.gate_procs.append(p)
        line = p.stderr.readline()
        if "mode" not in line:
            raise RuntimeError("msngate did not start: %s %s" % (line, p.stderr.read()))
        threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
        return p, stats

    @staticmethod
    def gate_stats(p, path):
        def report_no():
            try:
                with open(path) as f:
                    return json.load(f)["report"]
            except (OSError, ValueError, KeyError):
                return 0
        before = report_no()
        p.send_signal(10)  # SIGUSR1: msngate rewrites the file, "report" + 1
        for _ in range(200):
            try:
                with open(path) as f:
                    st = json.load(f)
                if st["report"] > before:
                    return st
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        raise RuntimeError("no stats")

    def raw_pair(self):
        t = self.topo
        with t.netns(t.ns_in):
            c = msntest.login(self.srv, CAROL, "carolpw")
        with t.netns(t.ns_out):
            d = msntest.login(self.srv, DAVE, "davepw")
        for x in (c, d):
            x.send_line("CHG %d NLN 0" % x.trid())
            while x.read_cmd().name != "CHG":
                pass
        with t.netns(t.ns_in):
            csb = msntest.open_switchboard(self.srv, c)
        csb.send_line("CAL %d %s" % (csb.trid(), DAVE))
        rng = d.expect("RNG")
        with t.netns(t.ns_out):
            dsb = msntest.join_by_ring(self.srv, d, rng)
        while csb.read_cmd().name != "JOI":
            pass
        return [c, d, csb, dsb]

    def invitations(self, mode, n, budget, extra=()):
        gate, stats_path = self.start_gate(mode, extra)
        clients = self.raw_pair()
        csb, dsb = clients[2], clients[3]
        refused0 = self.topo.refused()
        connect_s = []
        t = self.topo
        stop_at = time.monotonic() + budget
        for i in range(n):
            if i and time.monotonic() > stop_at:  # one invitation at least
                break
            cookie = 100000 + i
            with t.netns(t.ns_in):
                lsock = socket.socket()
                lsock.bind((INSIDE, 0))
                lsock.listen(4)
            port = lsock.getsockname()[1]
            csb.send_msg(csb.trid(), "N", HEAD + "Application-Name: File Transfer\r\n"
                         "Application-GUID: {5D3E02AB-6190-11D3-BBBB-00C04F795683}\r\nInvitation-Command: INVITE\r\n"
                         "Invitation-Cookie: %d\r\nApplication-File: x.bin\r\nApplication-FileSize: 10\r\n\r\n" % cookie)
            dsb.expect("MSG")
            dsb.send_msg(dsb.trid(), "N", HEAD + "Invitation-Command: ACCEPT\r\nInvitation-Cookie: %d\r\n"
                         "Launch-Application: FALSE\r\nRequest-Data: IP-Address:\r\n\r\n" % cookie)
            csb.expect("MSG")
            csb.send_msg(csb.trid(), "N", HEAD + "Invitation-Command: ACCEPT\r\nInvitation-Cookie: %d\r\n"
                         "IP-Address: %s\r\nPort: %d\r\nAuthCookie: 4242\r\nLaunch-Application: FALSE\r\n"
                         "Request-Data: IP-Address:\r\n\r\n" % (cookie, INSIDE, port))
            with t.netns(t.ns_out):
                s = socket.socket()
            dsb.expect("MSG")
            t0 = time.monotonic()
            s.setblocking(False)
            s.connect_ex((INSIDE, port))
            _, w, _ = select.select([], [s], [], 5.0)
            el = time.monotonic() - t0
            ok = bool(w) and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            connect_s.append(el if ok else None)
            s.close()
            lsock.close()
        refused = self.topo.refused() - refused0
        st = self.gate_stats(gate, stats_path)
        for c in clients:
            c.close()
        gate.terminate()
        gate.wait(15)
        done = [x for x in connect_s if x is not None]
        fast = [x for x in done if x < 0.5]
        n_asked, n = n, len(connect_s)
        return {
            "invitations": n,
            "budget_spent": n < n_asked,
            "connected": len(done),
            "first_syn_accepted_pct": round(100.0 * (n - min(refused, n)) / n, 2),
            "connect_under_500ms_pct": round(100.0 * len(fast) / n, 2),
            "gateway_refused_packets": refused,
            "commit_latency_us": st["commit_latency_us"],
            "elements_added": st["elements_added"],
            "commit_errors": st["commit_errors"],
            "queue_latency_us": st["queue_latency_us"],
        }

    # -- inline cost --------------------------------------------------------
    def echo_server(self):
        t = self.topo
        with t.netns(t.ns_out):
            ls = socket.socket()
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((OUTSIDE, DS_PORT))
            ls.listen(8)
        gatenet.run(t.nsx(t.ns_gw, ["nft", "add", "rule", "inet", gatenet.TABLE, "forward_filter", "ip", "daddr",
                                    OUTSIDE, "tcp", "dport", str(DS_PORT), "accept"]))

        def serve():
            while True:
                try:
                    c, _ = ls.accept()
                except OSError:
                    return
                threading.Thread(target=handle, args=(c,), daemon=True).start()

        def handle(c):
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = b""
            while True:
                try:
                    d = c.recv(65536)
                except OSError:
                    break
                if not d:
                    break
                buf += d
                if buf.startswith(b"PNG\r\n"):  # ping mode: answer each
                    n = buf.count(b"PNG\r\n")
                    buf = b""
                    c.sendall(b"QNG 60\r\n" * n)
                elif len(buf) > 1 << 20:
                    buf = b""
            c.close()

        threading.Thread(target=serve, daemon=True).start()
        self.echo = ls

    def cost(self, label, rounds, seconds, mark=lambda: None):
        t = self.topo
        with t.netns(t.ns_in):
            s = socket.create_connection((OUTSIDE, DS_PORT), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rtt = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            s.sendall(b"PNG\r\n")
            got = b""
            while not got.endswith(b"\r\n"):
                got += s.recv(100)
            rtt.append((time.perf_counter() - t0) * 1e6)
        s.close()
        with t.netns(t.ns_in):
            b = socket.create_connection((OUTSIDE, DS_PORT), timeout=5)
        b.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        chunk = b"MSG 1 N 20\r\n" + b"x" * 20  # never PNG: the sink only reads
        sent = 0
        before = mark()
        end = time.monotonic() + seconds
        t0 = time.monotonic()
        while time.monotonic() < end:
            b.sendall(chunk)
            sent += len(chunk)
        el = time.monotonic() - t0
        b.close()
        after = mark()
        extra = {}
        if before and after:
            q = after["queued"] - before["queued"]
            extra = {"stream_queued_packets": q, "stream_queued_packets_per_s": int(q / el),
                     "queue_drops": after["queue_drops"] + after["queue_user_drops"] + after["recv_enobufs"],
                     "queue_latency_us": after["queue_latency_us"]}
        return {**extra, "label": label, "rtt_us_p50": round(pct(rtt, 50), 1), "rtt_us_p99": round(pct(rtt, 99), 1),
                "stream_bytes_per_s": int(sent / el), "stream_seconds": round(el, 2)}

    def inline_cost(self, rounds, seconds):
        self.echo_server()
        base = self.cost("no queue", rounds, seconds)
        gate, stats_path = self.start_gate("inline")
        q = self.cost("msngate inline", rounds, seconds, lambda: self.gate_stats(gate, stats_path))
        gate.terminate()
        gate.wait(15)
        return {"base": base, "inline": q,
                "added_rtt_us_p50": round(q["rtt_us_p50"] - base["rtt_us_p50"], 1),
                "added_rtt_us_p99": round(q["rtt_us_p99"] - base["rtt_us_p99"], 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--invitations", type=int, default=1000)
    ap.add_argument("--mode-seconds", type=float, default=100.0)
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print(json.dumps({"available": False, "reason": "needs root (network namespaces)"}))
        return 0
    # bench/run.sh bounds this run with timeout(1), whose SIGTERM would end
    # Python without its finally blocks: the namespaces, msnd and msngate
    # would stay behind. As an exception, it runs them.
    def terminated(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, terminated)
    work = tempfile.mkdtemp(prefix="msngate-bench-")
    b = Bench(os.path.abspath(a.build), work)
    out = {}
    try:
        b.start_msnd()
        runs = [("passive", lambda: b.invitations("passive", a.invitations, a.mode_seconds)),
                ("inline", lambda: b.invitations("inline", a.invitations, a.mode_seconds)),
                ("passive_realtime", lambda: b.invitations("passive", a.invitations, a.mode_seconds, ("--realtime",))),
                ("inline_cost", lambda: b.inline_cost(a.rounds, a.seconds))]
        for name, run in runs:
            # one measurement failing is reported as such; the others stand
            try:
                out[name] = run()
            except Exception as e:  # noqa: BLE001 - any failure becomes the entry's reason
                out[name] = {"available": False, "reason": "%s: %s" % (type(e).__name__, e)}
                print("gate_bench: %s: %s" % (name, out[name]["reason"]), file=sys.stderr)
                b.stop_gates()
    finally:
        b.close()
        subprocess.run(["rm", "-rf", work])
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
