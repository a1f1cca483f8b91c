#!/usr/bin/env python3
"""The codec builds with nothing but a compiler and libcrypto: the whole tree
is configured with a pkg-config that only knows libcrypto, so every other
component is skipped with a message naming what it misses; the codec then
builds, passes its self-check, and installs under /usr (staged in DESTDIR)
with libmsnp.pc naming the multiarch library directory it really used."""

import os
import re
import shutil
import subprocess
import sys
import tempfile


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit("%s failed (%d):\n%s\n%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


def main():
    source = sys.argv[1]
    work = tempfile.mkdtemp(prefix="msnkit-codec-alone-")
    try:
        pcdir = os.path.join(work, "pkgconfig")
        os.mkdir(pcdir)
        have = run(["pkg-config", "--variable=pcfiledir", "libcrypto"]).stdout.strip()
        shutil.copy(os.path.join(have, "libcrypto.pc"), pcdir)
        env = dict(os.environ, PKG_CONFIG_LIBDIR=pcdir)
        env.pop("PKG_CONFIG_PATH", None)
        build = os.path.join(work, "build")
        r = run(["cmake", "-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                 "-DCMAKE_INSTALL_PREFIX=/usr"], env=env)
        messages = r.stdout + r.stderr
        for comp, missing in (("lib/msnc", "libevent"), ("src/msnd", "sqlite3"),
                              ("src/msnc", "jansson"), ("src/msnsniff", "libpcap"),
                              ("tests", "cmocka")):
            pat = r"msnkit: %s skipped, missing: [^\n]*%s" % (re.escape(comp), missing)
            if not re.search(pat, messages):
                raise SystemExit("no message that %s is skipped for %s:\n%s" % (comp, missing, messages))
        run(["cmake", "--build", build, "-j", "2"], env=env)
        selfcheck = run([os.path.join(build, "lib", "msnp", "msnp-selfcheck")])
        print(selfcheck.stdout.splitlines()[0])
        for prog in ("src/msnd/msnd", "src/msnc/msnc", "src/msnsniff/msnsniff"):
            if os.path.exists(os.path.join(build, prog)):
                raise SystemExit("%s was built without its dependencies" % prog)

        dest = os.path.join(work, "dest")
        run(["cmake", "--install", build], env=dict(env, DESTDIR=dest))
        pcs = []
        for root, _dirs, files in os.walk(dest):
            pcs += [os.path.join(root, f) for f in files if f == "libmsnp.pc"]
        if len(pcs) != 1:
            raise SystemExit("libmsnp.pc installed %d times: %s" % (len(pcs), pcs))
        text = open(pcs[0]).read()
        libdir = re.search(r"^libdir=(.*)$", text, re.M).group(1).replace("${prefix}", "/usr")
        if not os.path.exists(os.path.join(dest, libdir.lstrip("/"), "libmsnp.so.0")):
            raise SystemExit("libmsnp.pc says libdir=%s, which has no libmsnp.so.0:\n%s" % (libdir, text))
        if os.path.dirname(os.path.dirname(pcs[0])) != os.path.join(dest, libdir.lstrip("/")):
            raise SystemExit("libmsnp.pc installed in %s, outside its libdir %s" % (pcs[0], libdir))
        print("libdir", libdir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
