#!/usr/bin/env python3
"""msnd's memory under clients that never log in: many connections from one
address pipeline INF and never read the replies. With the default limits
the server keeps only a few kilobytes of output per connection before
login, so its resident memory (VmHWM, the peak, from /proc) barely moves;
a real user still logs in afterwards. Labelled slow: RSS is meaningless
under AddressSanitizer, which keeps freed memory in quarantine.

It runs in a network namespace of its own with the kernel's TCP send
buffers capped at 64 KiB: on loopback they otherwise grow to 4 MiB per
connection and would hold the replies in the kernel instead of in msnd
(needs root, as CI has; otherwise skipped with exit code 77)."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import login  # noqa: E402

CONNECTIONS = 48
BYTES_EACH = 1 << 20          # of pipelined "INF n" lines per connection
# The replies to that much input are about as large; at 4 MiB per
# connection (the logged-in limit) the server would hold ~48 MiB.
# Before login it may hold 16 KiB each: well under 1 MiB in all.
GROWTH_LIMIT = 16 << 20


def vm(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


def flood(addr, source):
    """Open the connections and send every byte, reading nothing."""
    line_block = b"".join(b"INF %d\r\n" % (i % 90000 + 10) for i in range(4096))
    socks = []
    for _ in range(CONNECTIONS):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A small receive window: the replies pile up in msnd, not in our
        # kernel buffers.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.bind((source, 0))
        s.connect(addr)
        s.sendall(b"VER 1 MSNP7\r\n")
        s.setblocking(False)
        socks.append([s, 0])
    deadline = time.monotonic() + 120
    active = list(socks)
    while active and time.monotonic() < deadline:
        progress = False
        for entry in list(active):
            s, sent = entry
            if sent >= BYTES_EACH:
                active.remove(entry)
                continue
            try:
                n = s.send(line_block[sent % len(line_block):])
            except BlockingIOError:
                continue
            except OSError:  # closed by the server: that is allowed
                active.remove(entry)
                continue
            entry[1] += n
            progress = True
        if not progress:
            time.sleep(0.01)
    return [e[0] for e in socks]


def test_unauthenticated_pipelining(srv):
    pid = srv.proc.pid
    before = vm(pid, "VmRSS")
    socks = flood(srv.ns, "127.0.0.2")
    # Let msnd work through what is still buffered in its sockets.
    time.sleep(1.0)
    peak = vm(pid, "VmHWM")
    grew = peak - before
    print("rss before %.1f MiB, peak %.1f MiB" % (before / 1048576, peak / 1048576))
    assert grew < GROWTH_LIMIT, "msnd grew by %.1f MiB" % (grew / 1048576)
    log = srv.log_text()
    assert "output limit before login" in log, log[-3000:]
    for s in socks:
        s.close()
    # The owner of an account, from another address, is not affected.
    c = login(srv, "alice@example.com", source="127.0.0.3")
    c.close()


@harness.with_args("--max-output-total", "262144", "--max-commands-per-second", "0")
def test_global_output_budget(srv):
    # Four logged-in clients pipeline PNG and never read: each may queue
    # 4 MiB, but all together only 256 KiB; once that is used up, those
    # holding 64 KiB or more are dropped. A fifth client is served.
    clients = []
    for email in ("example@passport.com", "name_123@hotmail.com", "alice@example.com", "bob@example.com"):
        c = login(srv, email, via_ds=False)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        clients.append(c)
    pid = srv.proc.pid
    before = vm(pid, "VmRSS")
    block = b"PNG\r\n" * 8192
    for c in clients:
        c.sock.setblocking(False)
    sent = [0] * len(clients)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(0 <= n < (1 << 20) for n in sent):
        progress = False
        for i, c in enumerate(clients):
            if sent[i] >= (1 << 20) or sent[i] < 0:
                continue
            try:
                sent[i] += c.sock.send(block[sent[i] % len(block):])
                progress = True
            except BlockingIOError:
                pass
            except OSError:
                sent[i] = -1  # dropped by the server
        if not progress:
            time.sleep(0.01)
    time.sleep(0.5)
    grew = vm(pid, "VmHWM") - before
    log = srv.log_text()
    assert "global output budget used up" in log, log[-3000:]
    assert grew < GROWTH_LIMIT, "msnd grew by %.1f MiB" % (grew / 1048576)
    for c in clients:
        c.sock.close()
    login(srv, "carol@example.com", source="127.0.0.3").close()


def in_own_netns():
    """Re-run this script in a new network namespace; True when already there."""
    if os.environ.get("MSND_TEST_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        with open("/proc/sys/net/ipv4/tcp_wmem", "w") as f:
            f.write("4096 16384 65536")
        return True
    if os.geteuid() != 0:
        print("SKIP: needs root for a network namespace")
        sys.exit(77)
    env = dict(os.environ, MSND_TEST_NETNS="1")
    r = subprocess.run(["unshare", "--net", "--", sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env=env)
    sys.exit(r.returncode)


if __name__ == "__main__":
    in_own_netns()
    sys.exit(harness.run([test_unauthenticated_pipelining, test_global_output_budget], sys.argv[1]))
