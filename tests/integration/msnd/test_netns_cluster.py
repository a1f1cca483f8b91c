#!/usr/bin/env python3
"""A cluster across machines: DS, three notification nodes, two switchboard
processes and PostgreSQL, each in a network namespace of its own, joined by
a bridge (in one more namespace) and reached by the test through a veth
pair. Runs as root; every name carries this process's id and everything is
removed at the end, also when the test fails.

Checked: login through the DS to the node the e-mail hash picks; lists and
RL across nodes; presence across nodes; a switchboard process with a chat
and an invitation between users of different nodes; kill -9 of one node
(its users go offline for the others as soon as the peer links notice, and
every write it acknowledged is in the database); PostgreSQL stopped for
5 s (clear 501s, nothing crashes, service resumes); 20 ms latency on the
database link (a delaying relay: the kernel has no netem) leaves other
users' PNG round trips alone."""
import os
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import delayproxy  # noqa: E402
import msntest  # noqa: E402
import netcluster  # noqa: E402

USERS = [("u%d@example.com" % i, "pw%d" % i, "User%d" % i) for i in range(1, 9)]
IM = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nhello across machines"
INVITE = (b"MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n"
          b"Application-Name: File Transfer\r\nApplication-GUID: {5D3E02AB-6190-11D3-BBBB-00C04F795683}\r\n"
          b"Invitation-Command: INVITE\r\nInvitation-Cookie: 4242\r\nApplication-File: a.txt\r\n"
          b"Application-FileSize: 3\r\n\r\n")
ip = netcluster.ip
ROOT_IP = netcluster.ROOT_IP


class Entry:
    ds = None
    ns = None


def login(email):
    e = Entry()
    e.ds = (ip("ds"), 1863)
    pw = dict((u[0], u[1]) for u in USERS)[email]
    c = msntest.login(e, email, pw, timeout=10)
    t = c.trid()
    c.send_line("SYN %d 0" % t)
    while True:
        cmd = c.read_cmd()
        if cmd.name == "LST" and cmd.args[1] == "RL" and (cmd.args[3] == "0" or cmd.args[3] == cmd.args[4]):
            break
    t = c.trid()
    c.send_line("CHG %d NLN" % t)
    while True:
        cmd = c.read_cmd()
        if cmd.name == "CHG":
            break
    return c


def reply(c, t, limit=50):
    """The reply to trid t (unsolicited lines from other nodes skipped)."""
    for _ in range(limit):
        cmd = c.read_cmd()
        if cmd.args and cmd.args[0] == str(t):
            return cmd
    raise AssertionError("no reply to %d" % t)


def wait_for(c, pred, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            cmd = c.read_cmd(timeout=max(0.1, deadline - time.monotonic()))
        except (TimeoutError, OSError):
            break
        if pred(cmd):
            return cmd
    raise AssertionError("never saw " + what)


def run(msnd):
    workdir = os.path.dirname(os.path.abspath(__file__))
    import tempfile
    workdir = tempfile.mkdtemp(prefix="msntest-netns-")
    net = netcluster.Net()
    pg = None
    proxy = None
    nodes = {}
    clients = []
    try:
        net.up()
        pg = netcluster.NetPg()
        pg.start()
        pg.sql("postgres", "CREATE DATABASE msnd")
        # The nodes reach the database through a relay in the test's
        # namespace, so its latency can be changed (no netem here).
        proxy = delayproxy.DelayProxy((ip("pg"), 5432), delay_ms=0, listen=(ROOT_IP, 0)).start()
        db = "postgresql://postgres@%s:%d/msnd" % (ROOT_IP, proxy.port)
        for u in USERS:
            r = subprocess.run([msnd, "user", "add", u[0], u[1], u[2], "--db", pg.url("msnd")],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
        links = ["%s:1870" % ip(n) for n in ("ns1", "ns2", "ns3")]
        nodes["ds"] = netcluster.Node("ds", ["--role", "ds", "--listen", "%s:1863" % ip("ds"),
                                  "--ns-nodes", ",".join("%s:1864" % ip(n) for n in ("ns1", "ns2", "ns3"))], workdir)
        for n in ("ns1", "ns2", "ns3"):
            peers = [x for x in links if not x.startswith(ip(n) + ":")]
            nodes[n] = netcluster.Node(n, ["--role", "ns", "--listen", "%s:1864" % ip(n), "--link-listen", "%s:1870" % ip(n),
                                "--ns-peers", ",".join(peers), "--db", db,
                                "--max-commands-per-second", "0"], workdir)
        for n in ("sb1", "sb2"):
            nodes[n] = netcluster.Node(n, ["--role", "sb", "--listen", "%s:1865" % ip(n), "--ns-links", ",".join(links)],
                            workdir)
        for n in ("ns1", "ns2", "ns3", "ds", "sb1", "sb2"):
            nodes[n].start(msnd)
        for n, port in (("ns1", 1864), ("ns2", 1864), ("ns3", 1864), ("ds", 1863), ("sb1", 1865), ("sb2", 1865)):
            nodes[n].wait_port(port)
        # the peer links are up once each node has synced with both others
        deadline = time.monotonic() + 20
        for n in ("ns1", "ns2", "ns3"):
            while nodes[n].tail().count("notification peer in sync") < 2:
                assert time.monotonic() < deadline, "peers never linked: " + nodes[n].tail()
                time.sleep(0.1)
        # sb processes linked to every node
        for n in ("ns1", "ns2", "ns3"):
            while "switchboard linked" not in open(nodes[n].log).read() and time.monotonic() < deadline:
                time.sleep(0.1)

        # ---- login: everyone through the DS; where did each land? ----
        where = {}
        for u in USERS:
            c = login(u[0])
            c.email = u[0]
            clients.append(c)
            where[u[0]] = c.addr[0]
        spread = set(where.values())
        assert len(spread) >= 2, where
        print("   users per node: %s" % {h: sorted(e for e in where if where[e] == h) for h in spread})
        by_email = {c.email: c for c in clients}
        # two users on different nodes
        a = clients[0]
        b = next(c for c in clients if where[c.email] != where[a.email])
        # ---- lists and RL across nodes ----
        t = a.trid()
        a.send_line("ADD %d FL %s %s" % (t, b.email, b.email))
        r = reply(a, t)
        assert r.name == "ADD", r
        wait_for(b, lambda x: x.name == "ADD" and x.args[1] == "RL" and a.email in x.args, "ADD RL at " + b.email)
        t = b.trid()
        b.send_line("ADD %d FL %s %s" % (t, a.email, a.email))
        assert reply(b, t).name == "ADD"
        # ---- presence across nodes ----
        t = b.trid()
        b.send_line("CHG %d BSY" % t)
        wait_for(a, lambda x: x.name == "NLN" and x.args[0] == "BSY" and x.args[1] == b.email, "NLN BSY")
        # ---- switchboard process, chat and invitation across nodes ----
        t = a.trid()
        a.send_line("XFR %d SB" % t)
        x = reply(a, t)
        assert x.name == "XFR", x
        host, _, port = x.args[2].rpartition(":")
        sb = msntest.Client((host, int(port)), 10)
        t = sb.trid()
        sb.send_line("USR %d %s %s" % (t, a.email, x.args[4]))
        assert sb.expect("USR").args[1] == "OK"
        sb.email = a.email
        assert sb.addr[0] in (ip("sb1"), ip("sb2")), sb.addr
        t = sb.trid()
        sb.send_line("CAL %d %s" % (t, b.email))
        assert reply(sb, t).name == "CAL"
        rng = wait_for(b, lambda x: x.name == "RNG", "RNG")
        sb_b = msntest.join_by_ring(Entry(), b, rng)
        wait_for(sb, lambda x: x.name == "JOI", "JOI")
        t = sb.trid()
        sb.send_msg(t, "A", IM)
        m = wait_for(sb_b, lambda x: x.name == "MSG", "MSG")
        assert m.payload == IM, m
        t = sb.trid()
        sb.send_msg(t, "N", INVITE)
        m = wait_for(sb_b, lambda x: x.name == "MSG", "invitation")
        assert m.payload == INVITE
        sb.close()
        sb_b.close()

        # ---- 20 ms on the database link: PNG of others unaffected ----
        proxy.delay_ms = 20
        writer = a
        idle = next(c for c in clients if c is not a and where[c.email] == where[a.email])  \
            if any(c is not a and where[c.email] == where[a.email] for c in clients) else b
        overlapped, rtts = 0, []
        for i in range(10):
            t = writer.trid()
            writer.send_line("REA %d %s Name%%20%d" % (t, writer.email, i))
            done = False
            while not done:
                started = time.monotonic()
                idle.send_line("PNG")
                wait_for(idle, lambda x: x.name == "QNG", "QNG")
                rtts.append((time.monotonic() - started) * 1000.0)
                time.sleep(0.002)
                import select
                if writer.buf or select.select([writer.sock], [], [], 0)[0]:
                    r = writer.read_cmd()
                    if r.args and r.args[0] == str(t):
                        assert r.name == "REA", r
                        done = True
                else:
                    overlapped += 1
        rtts.sort()
        print("   20 ms database link: %d PNG answered while a REA waited; PNG p50 %.2f ms p99 %.2f ms"
              % (overlapped, rtts[len(rtts) // 2], rtts[int(len(rtts) * 0.99)]))
        assert overlapped >= 10, overlapped
        proxy.delay_ms = 0

        # ---- PostgreSQL stopped for 5 s ----
        pg.stop()
        t = a.trid()
        a.send_line("REA %d %s Down" % (t, a.email))
        assert reply(a, t).line == "501 %d" % t
        a.send_line("PNG")
        wait_for(a, lambda x: x.name == "QNG", "QNG while the database is down")
        time.sleep(5)
        pg.start()
        # every node reconnects on its own schedule: each answers a write
        # again (a's node may be back while b's still waits to retry)
        deadline = time.monotonic() + 15
        for c in [next(c for c in clients if where[c.email] == h) for h in sorted(set(where.values()))]:
            while True:
                t = c.trid()
                c.send_line("REA %d %s Back" % (t, c.email))
                r = reply(c, t)
                if r.name == "REA":
                    break
                assert r.line == "501 %d" % t, r
                assert time.monotonic() < deadline, "no reconnect on %s" % where[c.email]
                time.sleep(0.5)
        for n, node in nodes.items():
            assert node.proc.poll() is None, "%s died: %s" % (n, node.tail())

        # ---- kill -9 one node: its users go offline elsewhere; acked writes stay ----
        victim_host = where[b.email]
        victim = next(n for n in ("ns1", "ns2", "ns3") if ip(n) == victim_host)
        # b writes, gets the acknowledgement, and the node dies at once
        acked = []
        for k, c in enumerate(clients):
            if where[c.email] != victim_host or c.email == b.email:
                continue
            t = b.trid()
            b.send_line("ADD %d AL %s x" % (t, c.email))
            r = reply(b, t)
            assert r.name == "ADD", r
            acked.append(c.email)
        t = b.trid()
        b.send_line("REA %d %s Acked" % (t, b.email))
        r = reply(b, t)
        assert r.name == "REA", r
        nodes[victim].proc.kill()
        nodes[victim].proc.wait(10)
        killed_at = time.monotonic()
        wait_for(a, lambda x: x.name == "FLN" and x.args[0] == b.email, "FLN of the killed node's user", timeout=15)
        print("   FLN %.2f s after kill -9 of %s" % (time.monotonic() - killed_at, victim))
        assert pg.sql("msnd", "SELECT name FROM users WHERE email = '%s'" % b.email) == "Acked"
        for e in acked:
            n = pg.sql("msnd", "SELECT count(*) FROM list_entries l JOIN users o ON o.id = l.owner JOIN users c "
                       "ON c.id = l.contact WHERE o.email = '%s' AND c.email = '%s' AND l.list = 1" % (b.email, e))
            assert n == "1", (e, n)
        for n, node in nodes.items():
            if n != victim:
                assert node.proc.poll() is None, "%s died: %s" % (n, node.tail())
        return 0
    except Exception:
        traceback.print_exc()
        for n, node in nodes.items():
            print("---- %s ----\n%s" % (n, node.tail()))
        return 1
    finally:
        for c in clients:
            try:
                c.close()
            except OSError:
                pass
        for node in nodes.values():
            node.stop()
        if proxy:
            proxy.stop()
        if pg:
            pg.cleanup()
        net.down()
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: needs root (network namespaces)")
        sys.exit(77)
    rc = run(os.path.abspath(sys.argv[1]))
    print("all passed" if rc == 0 else "FAILED")
    sys.exit(rc)
