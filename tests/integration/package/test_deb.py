#!/usr/bin/env python3
"""The Debian packages, end to end.

1. dpkg-buildpackage -us -uc -b on a copy of the source tree (nocheck: the
   tests run in the build tree already); lintian reports no error.
2. The packages install; msnkit-server created its system user and private
   directories, shipped its unit and configuration.
3. The service runs: under systemd when it is PID 1, otherwise the unit's own
   ExecStart command line run as the unit's User. Both on loopback ports of
   the test's choosing (flags after the unit's, which win over the INI).
4. The packaged msnc logs in to it with an account made by the packaged
   `msnd user add`, and a wrong password is refused.
5. msnkit-gateway: msngate runs (--version, --help), its unit is installed
   neither enabled nor started and runs the packaged msngate with the
   packaged configuration (a conffile), its guide and example rule set are
   where the unit and the guide name them, and nft accepts the rule set
   (check mode, nothing is loaded). msngate itself is not started here: it
   needs a gateway in namespaces (the msngate tests). msnkit-tools:
   msnsniff's unit (one instance per interface) runs the packaged
   program, and its log rotation is a conffile.
6. Purging removes the programs, the configuration and the data directory.

Installing packages changes the machine: the packages are purged at the end
whatever happens, and a lock keeps two runs of this test apart."""

import fcntl
import glob
import json
import os
import pwd
import re
import select
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

PACKAGES = ["msnkit-server", "msnkit-tools", "msnkit-gateway", "libmsnp0", "libmsnp-dev",
            "libmsnc-dev"]
UNIT = "/lib/systemd/system/msnd.service"
GATE_UNIT = "/lib/systemd/system/msngate.service"
GATE_DOCS = "/usr/share/doc/msnkit-gateway"
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300", "--no-install-recommends"]


def run(cmd, timeout=600, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if r.returncode != 0:
        raise SystemExit("%s failed (%d):\n%s\n%s" % (" ".join(cmd), r.returncode,
                                                     r.stdout[-4000:], r.stderr[-4000:]))
    return r


def copy_source(src, dst):
    # The tree as a fresh checkout would have it: no build directories.
    def ignore(d, names):
        if os.path.abspath(d) == os.path.abspath(src):
            return [n for n in names if n.startswith(("build", "obj-", ".git"))]
        return []
    shutil.copytree(src, dst, ignore=ignore, symlinks=True)


def build(work, source):
    tree = os.path.join(work, "msnkit")
    copy_source(source, tree)
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2")
    run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree, env=env)
    debs = {}
    for p in PACKAGES:
        found = glob.glob(os.path.join(work, "%s_*.deb" % p))
        if len(found) != 1:
            raise SystemExit("package %s: %s" % (p, found))
        debs[p] = found[0]
    changes = glob.glob(os.path.join(work, "*.changes"))
    # lintian leaves files of its own in $TMPDIR (mldbm-elf-*): here, in
    # the test's directory, removed at the end
    scratch = os.path.join(work, "lintian-tmp")
    os.mkdir(scratch)
    r = subprocess.run(["lintian", "--allow-root", "--tag-display-limit", "0"] + changes,
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, TMPDIR=scratch))
    print(r.stdout, end="")
    errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
    if errors:
        raise SystemExit("lintian errors:\n" + "\n".join(errors))
    return debs


def wait_for_file(path, proc=None, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            time.sleep(0.1)  # written whole: msnd writes it once, then renames or closes
            return open(path).read()
        if proc is not None and proc.poll() is not None:
            raise SystemExit("msnd exited with %d before listening" % proc.returncode)
        time.sleep(0.1)
    raise SystemExit("no %s after %d s" % (path, seconds))


def msnc_login(addr, email, password):
    """The packaged msnc in batch mode: its events until logged_in (or the
    end), then end of input, which logs it out. Returns (exit code, events)."""
    env = dict(os.environ, MSNC_PASSWORD=password)
    p = subprocess.Popen(["/usr/bin/msnc", "--batch", "--no-reconnect", "-s", addr, "-u", email],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, text=True)
    events = []
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], 0.5)
            if not ready:
                if p.poll() is not None:
                    break
                continue
            line = p.stdout.readline()
            if not line:
                break
            ev = json.loads(line)
            events.append(ev)
            if ev["event"] in ("logged_in", "login_failed"):
                break
        p.stdin.close()
        p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    for line in p.stdout:
        events.append(json.loads(line))
    return p.returncode, events


def exec_start():
    text = open(UNIT).read()
    user = re.search(r"^User=(\S+)$", text, re.M).group(1)
    cmd = shlex.split(re.search(r"^ExecStart=(.*)$", text, re.M).group(1))
    return user, cmd


def check_gateway(with_systemd):
    """msnkit-gateway's files, its program runs, its unit fits them."""
    version = run(["/usr/sbin/msngate", "--version"], timeout=30).stdout
    assert re.match(r"msngate \d+\.\d+\.\d+ \(libmsnp ", version), version
    usage = run(["/usr/sbin/msngate", "--help"], timeout=30).stdout
    assert "--config" in usage, usage
    unit = open(GATE_UNIT).read()
    cmd = shlex.split(re.search(r"^ExecStart=(.*)$", unit, re.M).group(1))
    assert cmd[0] == "/usr/sbin/msngate", cmd
    config = cmd[cmd.index("--config") + 1]
    assert config == "/etc/msngate.ini", cmd
    assert "[msngate]" in open(config).read().split(), config
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "msnkit-gateway"]).stdout.split()
    assert config in conffiles, conffiles
    doc = re.search(r"^Documentation=file:(\S+)$", unit, re.M).group(1)
    assert doc == GATE_DOCS + "/msngate.md" and os.path.isfile(doc), doc
    assert os.path.exists("/usr/share/man/man8/msngate.8.gz")
    ruleset = os.path.join(GATE_DOCS, "msngate.nft")
    assert "table inet msngate" in open(ruleset).read(), ruleset
    # check mode: parsed and validated by the kernel, not committed
    run(["nft", "-c", "-f", ruleset], timeout=60)
    if with_systemd:
        state = subprocess.run(["systemctl", "is-enabled", "msngate.service"],
                               capture_output=True, text=True).stdout.strip()
        assert state == "disabled", state
        state = subprocess.run(["systemctl", "is-active", "msngate.service"],
                               capture_output=True, text=True).stdout.strip()
        assert state == "inactive", state


def check_tools():
    """msnkit-tools' service files: msnsniff's unit, one instance per
    interface, runs the packaged program; its log rotation is a conffile."""
    unit = open("/lib/systemd/system/msnsniff@.service").read()
    cmd = shlex.split(re.search(r"^ExecStart=(.*)$", unit, re.M).group(1))
    assert cmd == ["/usr/bin/msnsniff", "-i", "%i", "-q", "--append", "-o", "/var/log/msnsniff/%i.jsonl"], cmd
    rotate = "/etc/logrotate.d/msnsniff"
    assert "/var/log/msnsniff/*.jsonl" in open(rotate).read(), rotate
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "msnkit-tools"]).stdout.split()
    assert rotate in conffiles, conffiles


def main():
    source = sys.argv[1]
    if os.geteuid() != 0:
        print("skipped: installing packages needs root")
        return 77
    for tool in ("dpkg-buildpackage", "lintian", "apt-get", "runuser"):
        if shutil.which(tool) is None:
            print("skipped: %s is missing (make deps installs it)" % tool)
            return 77
    with_systemd = os.path.isdir("/run/systemd/system")

    work = tempfile.mkdtemp(prefix="msnkit-deb-")
    lock = open("/run/lock/msnkit-package-test.lock", "w")
    msnd = None
    try:
        debs = build(work, source)
        fcntl.flock(lock, fcntl.LOCK_EX)
        run(APT + ["install"] + [debs[p] for p in PACKAGES], timeout=900,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))

        # What the packages put in place.
        user = pwd.getpwnam("msnd")
        for d in ("/var/lib/msnd", "/var/log/msnd"):
            st = os.stat(d)
            assert st.st_uid == user.pw_uid and stat.S_IMODE(st.st_mode) == 0o700, (d, st)
        for f in ("/usr/sbin/msnd", "/usr/bin/msnc", "/usr/bin/msnsniff", "/etc/msnd.ini", UNIT,
                  "/usr/include/msnp/msnp.h", "/usr/include/msnc/client.h"):
            assert os.path.exists(f), f
        # msnd's log_file rotation is a conffile of msnkit-server
        conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "msnkit-server"]).stdout.split()
        assert "/etc/logrotate.d/msnd" in conffiles, conffiles
        version = run(["pkg-config", "--modversion", "libmsnp", "libmsnc"]).stdout.split()
        assert len(version) == 2, version

        check_gateway(with_systemd)
        check_tools()

        unit_user, cmd = exec_start()
        assert unit_user == "msnd", unit_user
        assert cmd[0] == "/usr/sbin/msnd", cmd
        db = re.search(r"^db\s*=\s*(\S+)", open("/etc/msnd.ini").read(), re.M).group(1)
        # the first account creates the database (with --create where msnd asks for it)
        usage = subprocess.run(["/usr/sbin/msnd", "user", "--help"], capture_output=True, text=True)
        create = ["--create"] if "--create" in usage.stdout + usage.stderr else []
        run(["runuser", "-u", "msnd", "--", "/usr/sbin/msnd", "user", "add", "--db", db] + create +
            ["alice@msnkit.test", "wonderland", "Alice"])

        ports = "/var/lib/msnd/test-ports-%d" % os.getpid()
        loopback = ["--listen", "127.0.0.1:0", "--ns-listen", "127.0.0.1:0",
                    "--sb-listen", "127.0.0.1:0", "--port-file", ports]
        if with_systemd:
            dropin = "/run/systemd/system/msnd.service.d"
            os.makedirs(dropin, exist_ok=True)
            with open(os.path.join(dropin, "zz-msnkit-test.conf"), "w") as f:
                f.write("[Service]\nExecStart=\nExecStart=%s\n" % " ".join(cmd + loopback))
            run(["systemctl", "daemon-reload"])
            run(["systemctl", "restart", "msnd.service"])
        else:
            msnd = subprocess.Popen(["runuser", "-u", unit_user, "--"] + cmd + loopback,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        addrs = dict(l.split("=", 1) for l in wait_for_file(ports, msnd).split())
        print("msnd listening:", addrs)

        rc, events = msnc_login(addrs["ds"], "alice@msnkit.test", "wonderland")
        names = [e["event"] for e in events]
        assert rc == 0 and "logged_in" in names, (rc, events)
        rc, events = msnc_login(addrs["ds"], "alice@msnkit.test", "not the password")
        assert rc == 2 and any(e["event"] == "login_failed" and e.get("code") == 911 for e in events), \
            (rc, events)

        # msnd runs as its user: the database (and the log file, when the INI
        # names one) belong to it.
        assert os.stat(db).st_uid == user.pw_uid, db
        log = re.search(r"^log_file\s*=\s*(\S+)", open("/etc/msnd.ini").read(), re.M)
        if log:
            assert os.stat(log.group(1)).st_uid == user.pw_uid, log.group(1)
        print("packages built, installed, service ran, login ok")
    finally:
        if msnd is not None and msnd.poll() is None:
            msnd.send_signal(signal.SIGTERM)
            try:
                msnd.wait(timeout=20)
            except subprocess.TimeoutExpired:
                msnd.kill()
                msnd.wait()
        if with_systemd:
            subprocess.run(["systemctl", "stop", "msnd.service"], capture_output=True)
            shutil.rmtree("/run/systemd/system/msnd.service.d", ignore_errors=True)
        installed = [p for p in PACKAGES if subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True).stdout.endswith(" installed")]
        if installed:
            run(APT + ["purge"] + installed, timeout=900, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        shutil.rmtree(work, ignore_errors=True)
        lock.close()

    for f in ("/usr/sbin/msnd", "/usr/bin/msnc", "/etc/msnd.ini", "/etc/logrotate.d/msnd", UNIT, "/var/lib/msnd",
              "/usr/include/msnp", "/usr/sbin/msngate", "/etc/msngate.ini", GATE_UNIT, GATE_DOCS):
        assert not os.path.exists(f), "left after purge: " + f
    return 0


if __name__ == "__main__":
    sys.exit(main())
