"""msnbench's open loop against a real msnd on 127.0.0.1.

Checks what the generator reports about itself, which the latency figures in
BENCHMARKS.md rest on: every scheduled message is sent once, its send lag is
recorded, it is relayed intact and its latency measured; bursts match the
closed loop's messages per write; the open-loop timer does not tick while
nothing is due."""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

MSND, BENCH = sys.argv[1], sys.argv[2]


def start_msnd(tmp, db):
    ports = os.path.join(tmp, "ports")
    log = open(os.path.join(tmp, "msnd.log"), "w")
    p = subprocess.Popen([MSND, "--listen", "127.0.0.1:0", "--db", db, "--port-file", ports, "--log-level", "error",
                          "--max-commands-per-second", "0", "--max-connections-per-address", "0",
                          "--max-connections", "0"], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        if os.path.exists(ports) and os.path.getsize(ports) > 0:
            break
        time.sleep(0.05)
    else:
        p.kill()
        raise SystemExit("msnd did not start")
    addr = dict(l.strip().split("=", 1) for l in open(ports) if "=" in l)
    return p, addr["ds"]


def unique_keys(pairs):
    """A JSON object whose keys are all different: with a key twice, a
    reader keeps one of the values and silently loses the other."""
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    assert not dup, "key(s) %s twice in one object" % dup
    return dict(pairs)


def bench(args):
    out = subprocess.run([BENCH] + args + ["--json"], capture_output=True, text=True, timeout=90)
    if out.returncode != 0:
        raise AssertionError("msnbench %s failed: %s" % (args[0], out.stderr[-2000:]))
    return json.loads(out.stdout, object_pairs_hook=unique_keys)


def check_open(o, what):
    n = o["issued"]
    assert n > 0, "%s: nothing issued" % what
    assert o["send_lag"]["count"] == n, "%s: send lag recorded for %d of %d" % (what, o["send_lag"]["count"], n)
    assert 0 <= o["late_over_1ms"] <= n, what
    assert o["client_sends"] > 0 and o["client_recvs"] > 0, what


# Whether this process may count another's system calls (msnbench
# --count-syscalls): root, and the tracepoint's id in tracefs.
CAN_COUNT = os.geteuid() == 0 and any(os.path.exists(p + "/events/raw_syscalls/sys_enter/id")
                                      for p in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"))


def check_syscalls(d, what, lo, hi, min_ops):
    """The counted window after the measured ones: its operations, and the
    server's system calls per operation within [lo, hi]."""
    sc = d["syscalls"]
    if not CAN_COUNT:
        assert sc["available"] is False and sc["reason"], (what, sc)
        print("%s: system calls not counted here: %s" % (what, sc["reason"]))
        return
    assert sc["ops"] >= min_ops, (what, sc)
    assert sc["server_syscalls"] > 0, (what, sc)
    assert lo <= sc["per_op"] <= hi, (what, sc)
    assert abs(sc["per_op"] - sc["server_syscalls"] / sc["ops"]) < 0.01, (what, sc)
    print("%s: %.2f server system calls per operation (%d operations)" % (what, sc["per_op"], sc["ops"]))


def main():
    with tempfile.TemporaryDirectory(prefix="msnbench-test.") as tmp:
        db = os.path.join(tmp, "msnd.db")
        subprocess.run([MSND, "user", "add", "--create", "--db", db, "seed@bench.test", "seedpw"], check=True,
                       stdout=subprocess.DEVNULL)
        bench(["populate", "--db", db, "--users", "200", "--clique", "10"])
        srv, addr = start_msnd(tmp, db)
        try:
            common = ["--server", addr, "--server-pid", str(srv.pid), "--duration", "0.6"]
            sb = bench(["sb"] + common + ["--users", "40", "--pairs", "20", "--window", "4", "--fractions", "0.05",
                                          "--unbatched-fractions", "0.1", "--count-syscalls", "0.3"])
            assert sb["pairs_ready"] == 20, sb["pairs_ready"]
            assert sb["corrupt"] == 0 and sb["naks"] == 0 and sb["sb_errors"] == 0, sb
            assert 1 <= sb["open"][0]["burst"] <= 4, sb["open"][0]["burst"]
            assert sb["open_unbatched"][0]["burst"] == 1
            for o in sb["open"] + sb["open_unbatched"]:
                check_open(o, "sb")
                if o["skipped"] == 0:
                    # every scheduled MSG was ACKed and timed (the drain waits for all ACKs)
                    assert o["latency"]["count"] == o["issued"], (o["latency"]["count"], o["issued"])
            # a one-MSG-per-write phase writes at most once per message
            u = sb["open_unbatched"][0]
            assert u["client_sends"] <= u["issued"] + 20, (u["client_sends"], u["issued"])
            # each relayed MSG costs the server a read and writes, shared by
            # the MSGs that arrive together: well under one call per MSG at
            # window 4, never none
            check_syscalls(sb, "sb", 0.01, 3, 1000)

            pr = bench(["presence"] + common + ["--users", "200", "--clique", "10", "--inflight", "8",
                                                "--fractions", "0.002", "--count-syscalls", "0.3"])
            o = pr["open"][0]
            check_open(o, "presence")
            print("presence open: %d issued, %d loop passes" % (o["issued"], o["client_loop_passes"]))
            # A few dozen changes in 0.6 s: the loop wakes for them, their
            # notifications and the 10 ms housekeeping tick, a few hundred
            # times; a free-running 0.1 ms tick would add thousands.
            assert o["client_loop_passes"] < 1500 + 20 * o["issued"], (o["client_loop_passes"], o["issued"])
            # the counted window is the closed loop again, after the open
            # one: it keeps 8 changes going (hundreds in 0.3 s), each a CHG
            # read and its echo and NLNs to nine watchers written
            check_syscalls(pr, "presence", 0.5, 40, 100)

            # logins: the server's CPU, and apart the kernel's share of it
            lg = bench(["login"] + common + ["--users", "200", "--concurrency", "8", "--count-syscalls", "0.3"])
            assert lg["logins"] > 0 and lg["errors"]["logins_failed"] == 0, lg
            assert 0 <= lg["server_sys_cpu_s"] <= lg["server_cpu_s"] + 0.01, lg
            assert lg["server_cpu_s"] > 0, lg
            # the measured window's CPU, not the run's (warm-up and counted
            # window too): one thread cannot use more than the window's length
            assert lg["server_cpu_s"] <= lg["seconds"] + 0.05, lg
            assert lg["server_cpu_s"] <= lg["run_server_cpu_s"] + 0.01, lg
            # a login through the DS and the NS: accept, reads and writes on
            # both, close; the NS alone takes 17 on loopback
            check_syscalls(lg, "login", 10, 80, 50)
            # without --count-syscalls nothing is counted, nor said
            assert "syscalls" not in bench(["login"] + common + ["--users", "200", "--concurrency", "8",
                                                                  "--duration", "0.2"])

            # list writes: every ADD/REM answered, none refused, each timed
            ls = bench(["lists"] + common + ["--users", "200", "--clique", "10", "--inflight", "8"])
            c = ls["closed"]
            assert c["count"] > 0 and ls["write_errors"] == 0 and ls["unanswered"] == 0, ls
            assert c["latency"]["count"] == c["count"], (c["latency"]["count"], c["count"])
            assert c["server_cpu_s"] >= 0, c
            # a second run starts from what the first left: each user sees
            # in its SYN whether its contact is on the FL, so nothing is refused
            ls = bench(["lists"] + common + ["--users", "200", "--clique", "10", "--inflight", "8"])
            assert ls["closed"]["count"] > 0 and ls["write_errors"] == 0 and ls["unanswered"] == 0, ls
        finally:
            srv.terminate()
            srv.wait(timeout=10)
        # what the store holds afterwards: the cliques, plus for some users
        # the one contact of the next clique that its last write left there
        con = sqlite3.connect(db)
        rows = con.execute("SELECT o.email, c.email FROM list_entries e JOIN users o ON o.id = e.owner"
                           " JOIN users c ON c.id = e.contact WHERE e.list = 0").fetchall()
        con.close()
        idx = lambda email: int(email.split("@")[0][len("bench"):])
        extra = [(idx(o), idx(c)) for o, c in rows if idx(o) // 10 != idx(c) // 10]
        assert all(c == (o + 10) % 200 for o, c in extra), extra[:5]
        assert 0 < len(extra) <= 200 and len(rows) == 200 * 9 + len(extra), (len(rows), len(extra))
    print("ok")


main()
