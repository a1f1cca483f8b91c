#!/usr/bin/env python3
"""msnd --log syslog: the lines reach syslog's socket with facility daemon
and the priority of their level. The test runs in a mount namespace of
its own with a tmpfs on /dev holding its own /dev/log socket (needs root,
as CI has; otherwise skipped with exit code 77), so nothing reaches the
machine's syslog."""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import msntest  # noqa: E402


def private_dev():
    """A fresh /dev with null and a syslog socket we read."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=755", "msnd-test-dev", "/dev"], check=True)
    os.mknod("/dev/null", 0o666 | 0o020000, os.makedev(1, 3))
    os.chmod("/dev/null", 0o666)
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind("/dev/log")
    return log


def main(msnd):
    log = private_dev()
    tmp = tempfile.mkdtemp(prefix="msnd-syslog-")
    try:
        check(msnd, log, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(msnd, log, tmp):
    db = os.path.join(tmp, "msnd.db")
    r = subprocess.run([msnd, "user", "add", "--create", "--db", db, "s@b.com", "pw"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # Read the socket all along, as a syslog daemon does: a full queue
    # would make msnd wait in syslog(3).
    got = []
    stop = threading.Event()

    def reader():
        log.settimeout(0.2)
        while not stop.is_set():
            try:
                got.append(log.recv(8192).decode("utf-8", "replace"))
            except socket.timeout:
                pass

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    pf = os.path.join(tmp, "ports")
    proc = subprocess.Popen([msnd, "--listen", "127.0.0.1:0", "--db", db, "--port-file", pf, "--log", "syslog"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(pf):
            assert proc.poll() is None and time.monotonic() < deadline, "msnd did not start"
            time.sleep(0.02)
        ports = dict(l.strip().split("=") for l in open(pf))
        # six wrong passwords: the fifth starts a throttle (a warning)
        for i in range(6):
            c = msntest.Client(msntest.addr_of(ports["ns"]))
            c.send_line("VER 1 MSNP7")
            c.expect("VER")
            c.send_line("USR 2 MD5 I s@b.com")
            p = c.read_cmd()
            if p.name == "USR":
                c.send_line("USR 3 MD5 S 00000000000000000000000000000000")
                c.read_cmd()
            c.close()
        deadline = time.monotonic() + 10
        while not any("login throttle started" in g for g in got):
            assert time.monotonic() < deadline, got
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(10)
        stop.set()
        t.join()
    # daemon (3) * 8 + info (6) = 30, + warning (4) = 28
    assert any(re.match(r'<30>.*msnd\[%d\]: level=info msg="ready"' % proc.pid, g) for g in got), got
    assert any(re.match(r'<28>.*msnd\[%d\]: level=warn msg="login throttle started" peer=127\.0\.0\.1:' % proc.pid, g)
               for g in got), got
    # no time stamp field (syslog has its own); snapshots= is not one
    assert not any(re.search(r"(^|[\s>])ts=", g) for g in got), got
    assert proc.stderr.read() == b""  # nothing on stderr: everything went to syslog
    print("all 1 passed")


if __name__ == "__main__":
    if os.environ.get("MSND_TEST_MNTNS") != "1":
        if os.geteuid() != 0:
            print("SKIP: needs root for a mount namespace")
            sys.exit(77)
        env = dict(os.environ, MSND_TEST_MNTNS="1")
        sys.exit(subprocess.run(["unshare", "--mount", "--propagation", "private", "--", sys.executable,
                                 os.path.abspath(__file__)] + sys.argv[1:], env=env).returncode)
    main(os.path.abspath(sys.argv[1]))
