#!/usr/bin/env python3
"""bench/gate_bench.py end to end, at a small size: every measurement of the
gateway benchmark (passive, inline, passive under SCHED_FIFO, the inline
cost) comes back with figures, including a second run of the same mode,
which once waited on the first run's stats file and failed the whole
benchmark; a mode whose time budget is spent stops there and says so
(one invitation at least); and a run ended by SIGTERM (run.sh's timeout)
removes its namespaces and stops its servers. Needs root (network
namespaces); exit 77 skips otherwise."""
import json
import os
import signal
import subprocess
import sys
import time


def namespaces(prefix):
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    return [line.split()[0] for line in r.stdout.splitlines() if line.startswith(prefix)]


def servers(prefix):
    """The msnd and msngate processes in the namespaces: {pid: name}."""
    found = {}
    for ns in namespaces(prefix):
        r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=30)
        for pid in r.stdout.split():
            try:
                with open("/proc/%s/comm" % pid) as f:
                    name = f.read().strip()
            except OSError:
                continue  # a command of the set-up, gone
            if name in ("msnd", "msngate"):
                found[int(pid)] = name
    return found


def terminated_run(script, build):
    """gate_bench stopped by SIGTERM once its gateway is up: it exits, and
    its three namespaces (gatenet's "mb-PID..-in/gw/out") go with it."""
    p = subprocess.Popen([sys.executable, script, build, "--invitations", "1000", "--mode-seconds", "60"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    prefix = "mb-%d" % (p.pid % 100000)
    try:
        deadline = time.monotonic() + 60
        while len(namespaces(prefix)) < 3:  # bounded by the deadline
            assert p.poll() is None, "gate_bench ended early: %s" % p.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "gate_bench made no gateway in 60 s"
            time.sleep(0.1)
        # msnd (outside) and the first msngate (on the gateway) start: a
        # loaded machine under the sanitizers may take far more than a
        # fixed pause would allow, so they are waited for by name
        deadline = time.monotonic() + 60
        running = {}
        while set(running.values()) != {"msnd", "msngate"}:  # bounded by the deadline
            assert p.poll() is None, "gate_bench ended early: %s" % p.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "no msnd and msngate in gate_bench's namespaces: %s" % running
            time.sleep(0.1)
            running = servers(prefix)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(60)
    finally:
        if p.poll() is None:  # a check above failed: gate_bench still cleans up after itself
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        p.stderr.close()
    left = namespaces(prefix)
    for ns in left:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
    alive = [pid for pid in running if os.path.exists("/proc/%d" % pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert rc == 128 + signal.SIGTERM, rc
    assert left == [], "namespaces left behind: %s" % left
    assert alive == [], "servers left running: %s" % alive


def main():
    if len(sys.argv) != 3:
        print("usage: test_gate_bench.py GATE_BENCH_PY BUILD_DIR", file=sys.stderr)
        return 2
    script, build = sys.argv[1], sys.argv[2]
    if os.geteuid() != 0:
        print("skipped: needs root for network namespaces")
        return 77
    r = subprocess.run([sys.executable, script, build, "--invitations", "5", "--rounds", "50", "--seconds", "0.3"],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, "gate_bench exited %d: %s" % (r.returncode, r.stderr[-2000:])
    out = json.loads(r.stdout)
    assert sorted(out) == ["inline", "inline_cost", "passive", "passive_realtime"], sorted(out)
    for mode in ("passive", "inline", "passive_realtime"):
        m = out[mode]
        assert m.get("available", True), "%s: %s" % (mode, m.get("reason"))
        assert m["invitations"] == 5 and m["connected"] == 5, (mode, m)
        assert m["commit_latency_us"]["n"] >= 5, (mode, m["commit_latency_us"])
    assert out["inline"]["first_syn_accepted_pct"] == 100.0, out["inline"]
    ic = out["inline_cost"]
    assert ic.get("available", True), ic.get("reason")
    assert ic["inline"]["stream_queued_packets"] > 0 and ic["inline"]["queue_drops"] == 0, ic["inline"]
    assert "gate_bench:" not in r.stderr, r.stderr
    for mode in ("passive", "inline", "passive_realtime"):
        assert out[mode]["budget_spent"] is False, (mode, out[mode])
    # no time at all: one invitation per mode, and the figures say so
    r = subprocess.run([sys.executable, script, build, "--invitations", "5", "--mode-seconds", "0", "--rounds", "20",
                        "--seconds", "0.2"], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, "gate_bench exited %d: %s" % (r.returncode, r.stderr[-2000:])
    short = json.loads(r.stdout)
    for mode in ("passive", "inline", "passive_realtime"):
        m = short[mode]
        assert m.get("available", True), "%s: %s" % (mode, m.get("reason"))
        assert m["invitations"] == 1 and m["budget_spent"] is True, (mode, m)
    terminated_run(script, build)
    print("ok: %s" % ", ".join("%s %s%%" % (k, out[k]["first_syn_accepted_pct"])
                               for k in ("passive", "inline", "passive_realtime")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
