#!/usr/bin/env python3
"""`cmake --install` of a finished build into a staging directory (DESTDIR):
every file a user or a package needs lands where the build says it does,
the systemd unit names installed paths, the pkg-config files point at the
installed libraries, and small programs build and run against the installed
libmsnp (shared) and libmsnc (static) through pkg-config alone."""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def staged(dest, path):
    return os.path.join(dest, path.lstrip("/"))


MSNP_PROGRAM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <msnp/msnp.h>

int main(void) {
    const char in[] = "VER 1 MSNP7 MSNP6 CVR0\r\n";
    msnp_parser p;
    msnp_cmd cmd;
    msnp_parse_error err;
    msnp_parser_init(&p, MSNP_FROM_CLIENT, &msnp_default_limits);
    long n = msnp_parse(&p, in, sizeof in - 1, &cmd, &err);
    Dl_info info;
    if (!dladdr((void *)msnp_parse, &info)) return 2;
    printf("%s %ld %s %zu\n%s\n", msnp_version_string(), n, cmd.name, cmd.argc, info.dli_fname);
    return n == (long)(sizeof in - 1) && strcmp(cmd.name, "VER") == 0 ? 0 : 1;
}
"""

MSNC_PROGRAM = r"""
#include <stdio.h>
#include <event2/event.h>
#include <msnc/client.h>
#include <msnc/addr.h>

int main(void) {
    struct event_base *base = event_base_new();
    if (!base) return 2;
    int a = msnc_ipv4_unicast("127.0.0.1"), b = msnc_ipv4_unicast("224.0.0.1");
    printf("%d %d\n", a, b);
    event_base_free(base);
    return a == 1 && b == 0 ? 0 : 1;
}
"""


def pkg_config(dest, libdir, *args):
    env = dict(os.environ)
    # Only the staged files, with the staging directory in front of every path.
    env["PKG_CONFIG_PATH"] = staged(dest, os.path.join(libdir, "pkgconfig"))
    env["PKG_CONFIG_SYSROOT_DIR"] = dest
    r = subprocess.run(["pkg-config", *args], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("pkg-config %s failed: %s" % (" ".join(args), r.stderr))
    return shlex.split(r.stdout)


def build_and_run(a, dest, work, name, source, pkg, extra_env=None):
    src = os.path.join(work, name + ".c")
    exe = os.path.join(work, name)
    with open(src, "w") as f:
        f.write(source)
    flags = pkg_config(dest, a.libdir, "--cflags", "--libs", pkg)
    cmd = [a.cc, "-std=c11", "-Wall", "-Werror", *shlex.split(a.cflags), src, "-o", exe, *flags]
    r = subprocess.run(cmd, capture_output=True, text=True)
    check(r.returncode == 0, "build against %s: %s\n%s" % (pkg, " ".join(cmd), r.stderr))
    if r.returncode != 0:
        return None
    env = dict(os.environ)
    env.update(extra_env or {})
    r = subprocess.run([exe], capture_output=True, text=True, env=env, timeout=30)
    check(r.returncode == 0, "%s runs: rc=%d %s %s" % (name, r.returncode, r.stdout, r.stderr))
    return r.stdout


def moved_prefix(a):
    """`cmake --install --prefix DIR` puts every file under DIR, the
    configuration and the units too, unless the tree was configured to put
    them outside its prefix (/etc for the prefix /usr). Staged, so that a
    file going astray lands in the staging directory, not on the system."""
    dest = tempfile.mkdtemp(prefix="msnkit-install-moved-")
    try:
        moved = "/opt/msnkit-moved"
        env = dict(os.environ, DESTDIR=dest)
        r = subprocess.run(["cmake", "--install", a.build, "--prefix", moved], env=env, capture_output=True, text=True)
        check(r.returncode == 0, "cmake --install --prefix: " + r.stderr)
        outside = [d for d in (a.sysconfdir, a.unitdir) if not d.startswith(a.prefix.rstrip("/") + "/")]
        n = 0
        for root, _dirs, files in os.walk(dest):
            for f in files:
                path = "/" + os.path.relpath(os.path.join(root, f), dest)
                n += 1
                check(any(path.startswith(p.rstrip("/") + "/") for p in [moved] + outside),
                      "cmake --install --prefix %s put a file outside it: %s" % (moved, path))
        check(n > 0, "cmake --install --prefix installed nothing")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    for opt in ("source", "build", "cc", "cflags", "programs", "prefix", "bindir", "sbindir", "libdir",
                "includedir", "sysconfdir", "docdir", "mandir", "unitdir"):
        ap.add_argument("--" + opt, default="")
    a = ap.parse_args()
    programs = [p for p in a.programs.split(",") if p]

    moved_prefix(a)
    dest = tempfile.mkdtemp(prefix="msnkit-install-")
    try:
        env = dict(os.environ, DESTDIR=dest)
        r = subprocess.run(["cmake", "--install", a.build], env=env, capture_output=True, text=True)
        check(r.returncode == 0, "cmake --install: " + r.stderr)
        if r.returncode != 0:
            return 1
        # Nothing outside the prefix but the configuration file and the unit.
        allowed = [a.prefix, a.sysconfdir, a.unitdir]
        for root, _dirs, files in os.walk(dest):
            for f in files:
                path = "/" + os.path.relpath(os.path.join(root, f), dest)
                check(any(path.startswith(p.rstrip("/") + "/") for p in allowed),
                      "installed outside the prefix: " + path)

        expect = {
            os.path.join(a.includedir, "msnp/msnp.h"),
            os.path.join(a.includedir, "msnp/parser.h"),
            os.path.join(a.libdir, "libmsnp.a"),
            os.path.join(a.libdir, "libmsnp.so.0"),
            os.path.join(a.libdir, "libmsnp.so"),
            os.path.join(a.libdir, "pkgconfig/libmsnp.pc"),
            os.path.join(a.docdir, "LICENSE"),
            os.path.join(a.docdir, "README.md"),
            os.path.join(a.docdir, "codec.md"),
            os.path.join(a.docdir, "architecture.md"),
        }
        man = {"msnc": ["man1/msnc.1"], "msnsniff": ["man8/msnsniff.8"],
               "msnd": ["man8/msnd.8", "man5/msnd.ini.5"], "msngate": ["man8/msngate.8"]}
        for prog, pages in man.items():
            for page in pages:
                if prog in programs and os.path.exists(os.path.join(a.source, "man", os.path.basename(page))):
                    expect.add(os.path.join(a.mandir, page))
        if "msnc" in programs:
            expect |= {os.path.join(a.bindir, "msnc"), os.path.join(a.docdir, "msnc.md"),
                       os.path.join(a.includedir, "msnc/client.h"),
                       os.path.join(a.includedir, "msnc/event.h"),
                       os.path.join(a.libdir, "libmsnc.a"),
                       os.path.join(a.libdir, "pkgconfig/libmsnc.pc")}
        if "msnsniff" in programs:
            expect |= {os.path.join(a.bindir, "msnsniff"), os.path.join(a.docdir, "msnsniff.md"),
                       os.path.join(a.docdir, "msnsniff-events.schema.json"),
                       os.path.join(a.unitdir, "msnsniff@.service"),
                       os.path.join(a.sysconfdir, "logrotate.d", "msnsniff")}
        if "msnd" in programs:
            expect |= {os.path.join(a.sbindir, "msnd"), os.path.join(a.docdir, "msnd.md"),
                       os.path.join(a.sysconfdir, "msnd.ini"),
                       os.path.join(a.sysconfdir, "logrotate.d", "msnd"),
                       os.path.join(a.unitdir, "msnd.service")}
        if "msngate" in programs:
            expect |= {os.path.join(a.sbindir, "msngate"), os.path.join(a.docdir, "msngate.md"),
                       os.path.join(a.sysconfdir, "msngate.ini"),
                       os.path.join(a.unitdir, "msngate.service")}
        for path in sorted(expect):
            check(os.path.exists(staged(dest, path)), "installed: " + path)
        for prog in ("msnc", "msnsniff"):
            if prog in programs:
                check(os.access(staged(dest, os.path.join(a.bindir, prog)), os.X_OK), prog + " executable")

        # Every header the libraries install compiles on its own.
        for sub in ("msnp", "msnc"):
            d = staged(dest, os.path.join(a.includedir, sub))
            if not os.path.isdir(d):
                continue
            for h in sorted(os.listdir(d)):
                r = subprocess.run([a.cc, "-std=c11", "-Wall", "-Werror", "-fsyntax-only",
                                    "-I", staged(dest, a.includedir), "-x", "c", "-"],
                                   input="#include <%s/%s>\n" % (sub, h), capture_output=True, text=True)
                check(r.returncode == 0, "header %s/%s compiles alone: %s" % (sub, h, r.stderr))

        # Each unit starts the installed daemon with the installed configuration.
        for daemon in ("msnd", "msngate"):
            if daemon not in programs:
                continue
            unit = open(staged(dest, os.path.join(a.unitdir, daemon + ".service"))).read()
            m = re.search(r"^ExecStart=(\S+) --config (\S+)", unit, re.M)
            check(m is not None, "ExecStart line in %s.service:\n%s" % (daemon, unit))
            if m:
                check(m.group(1) == os.path.join(a.sbindir, daemon), "unit runs " + m.group(1))
                check(m.group(2) == os.path.join(a.sysconfdir, daemon + ".ini"), "unit reads " + m.group(2))
                check(os.path.exists(staged(dest, m.group(2))), "the unit's configuration is installed: " + m.group(2))
            check(not re.search(r"@[A-Z_]+@", unit), "%s.service has no unexpanded @VAR@" % daemon)
            # each may listen on (or capture at) an address of its own: it
            # starts once the network is up, not merely configured
            check(re.search(r"^After=.*\bnetwork-online\.target\b", unit, re.M) is not None and
                  re.search(r"^Wants=.*\bnetwork-online\.target\b", unit, re.M) is not None,
                  "%s.service starts after network-online.target" % daemon)

        # msnd's log_file example lies in the unit's log directory, which the
        # installed rotation moves away, telling msnd (SIGHUP) to open it again
        if "msnd" in programs:
            unit = open(staged(dest, os.path.join(a.unitdir, "msnd.service"))).read()
            ini = open(staged(dest, os.path.join(a.sysconfdir, "msnd.ini"))).read()
            rotate = open(staged(dest, os.path.join(a.sysconfdir, "logrotate.d", "msnd"))).read()
            m = re.search(r"^;?\s*log_file\s*=\s*(\S+)$", ini, re.M)
            check(m is not None and m.group(1).startswith("/var/log/msnd/") and m.group(1).endswith(".log"),
                  "msnd.ini's log_file example lies in /var/log/msnd:\n" + ini)
            check("LogsDirectory=msnd" in unit and "ExecReload=/bin/kill -HUP $MAINPID" in unit,
                  "msnd.service makes its log directory and reloads with SIGHUP:\n" + unit)
            check("/var/log/msnd/*.log {" in rotate and "systemctl reload msnd.service" in rotate,
                  "the log rotation covers msnd's log_file and reloads the unit:\n" + rotate)

        # The installed msngate.ini asks for SCHED_FIFO (priority 10); the
        # unit keeps CAP_SYS_NICE out of its bounding set, so only an
        # RLIMIT_RTPRIO of 10 or more lets msngate have it.
        if "msngate" in programs:
            unit = open(staged(dest, os.path.join(a.unitdir, "msngate.service"))).read()
            ini = open(staged(dest, os.path.join(a.sysconfdir, "msngate.ini"))).read()
            if re.search(r"^realtime\s*=\s*(yes|1|true|on)\s*$", ini, re.M):
                caps = re.search(r"^CapabilityBoundingSet=(.*)$", unit, re.M)
                rtprio = re.search(r"^LimitRTPRIO=(\d+)$", unit, re.M)
                check((caps is None or "CAP_SYS_NICE" in caps.group(1)) or (rtprio and int(rtprio.group(1)) >= 10),
                      "msngate.ini says realtime = yes: msngate.service must allow SCHED_FIFO priority 10 "
                      "(LimitRTPRIO=10 or CAP_SYS_NICE)")

        # msnsniff's unit, one instance per interface, runs the installed
        # program on its instance's interface into the file that the
        # installed log rotation moves away and tells it to open again
        if "msnsniff" in programs:
            unit = open(staged(dest, os.path.join(a.unitdir, "msnsniff@.service"))).read()
            # --append: a restart after a failure adds to the events file
            # %i, not %I: unescaping would make the "-" of br-lan a "/"
            check(re.search(r"^ExecStart=%s -i %%i -q --append -o /var/log/msnsniff/%%i\.jsonl$"
                            % re.escape(os.path.join(a.bindir, "msnsniff")), unit, re.M) is not None,
                  "ExecStart line in msnsniff@.service:\n" + unit)
            check("LogsDirectory=msnsniff" in unit and "ExecReload=/bin/kill -HUP $MAINPID" in unit,
                  "msnsniff@.service makes its log directory and reloads with SIGHUP")
            check(not re.search(r"@[A-Z_]+@", unit), "msnsniff@.service has no unexpanded @VAR@")
            rotate = open(staged(dest, os.path.join(a.sysconfdir, "logrotate.d", "msnsniff"))).read()
            check("/var/log/msnsniff/*.jsonl {" in rotate and "systemctl reload 'msnsniff@*.service'" in rotate,
                  "the log rotation covers the unit's files and reloads it:\n" + rotate)

        # pkg-config: the -L and -I directories are the staged install
        # directories, and hold what they should.
        flags = pkg_config(dest, a.libdir, "--cflags", "--libs", "libmsnp")
        check("-L" + staged(dest, a.libdir) in flags, "libmsnp.pc libdir: %s" % flags)
        check("-I" + staged(dest, a.includedir) in flags, "libmsnp.pc includedir: %s" % flags)
        version = pkg_config(dest, a.libdir, "--modversion", "libmsnp")

        work = tempfile.mkdtemp(prefix="prog-", dir=dest)
        out = build_and_run(a, dest, work, "use_msnp", MSNP_PROGRAM, "libmsnp",
                            {"LD_LIBRARY_PATH": staged(dest, a.libdir)})
        if out is not None:
            lines = out.splitlines()
            check(lines[0] == "%s 24 VER 4" % version[0], "msnp program output: " + out)
            # The program ran with the installed shared library, not another copy.
            check(os.path.realpath(lines[1]) == os.path.realpath(staged(dest, os.path.join(a.libdir, "libmsnp.so.0"))),
                  "libmsnp loaded from " + lines[1])
        if "msnc" in programs:
            out = build_and_run(a, dest, work, "use_msnc", MSNC_PROGRAM, "libmsnc",
                                {"LD_LIBRARY_PATH": staged(dest, a.libdir)})
            check(out is None or out.strip() == "1 0", "msnc program output: %r" % out)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("install tree ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
