#!/usr/bin/env python3
"""A release build with flags of the user's own (CFLAGS in the environment
at configure time, -DCMAKE_C_FLAGS_RELEASE) builds msnsniff with its
profile: the training tree compiles with the same flags, or the counts do
not fit the code (-Wcoverage-mismatch, an error with -Werror). Changing the
flags later trains again."""

import os
import shutil
import subprocess
import sys
import tempfile


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit("%s failed (%d):\n%s\n%s" % (" ".join(cmd), r.returncode, r.stdout[-6000:], r.stderr[-6000:]))
    return r


def build(tree):
    r = run(["cmake", "--build", tree, "-j", "2", "--target", "msnsniff"])
    return r.stdout + r.stderr


def main():
    source = sys.argv[1]
    work = tempfile.mkdtemp(prefix="msnkit-pgo-flags-")
    try:
        tree = os.path.join(work, "build")
        env = dict(os.environ, CFLAGS="-fstack-protector-strong -D_FORTIFY_SOURCE=2")
        r = run(["cmake", "-S", source, "-B", tree, "-DCMAKE_BUILD_TYPE=Release",
                 "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG", "-DMSNKIT_COMPONENTS=lib/msnp;src/msnsniff;bench"],
                env=env)
        if "msnsniff with profile-guided optimisation" not in r.stdout:
            print("SKIP: this compiler builds msnsniff without its profile:\n" + r.stdout)
            return 0
        out = build(tree)  # the environment of a later `make` has no CFLAGS
        if "Training msnsniff" not in out:
            raise SystemExit("the first build did not train msnsniff:\n" + out[-4000:])
        sniff = os.path.join(tree, "src", "msnsniff", "msnsniff")
        version = run([sniff, "--version"]).stdout
        print(version.strip())

        run(["cmake", "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG -fno-plt", tree])
        out = build(tree)
        if "Training msnsniff" not in out:
            raise SystemExit("new flags did not train msnsniff again:\n" + out[-4000:])
        out = build(tree)
        if "Training msnsniff" in out:
            raise SystemExit("a build with nothing changed trained msnsniff again:\n" + out[-4000:])
        run([sniff, "--version"])
        print("ok: msnsniff built with its profile under other flags, and trained again when they changed")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
