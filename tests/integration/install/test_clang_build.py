#!/usr/bin/env python3
"""The whole tree builds with clang as a release build, warnings as errors
(clang warns of things GCC does not: a file without its last newline, a
string literal split where a comma may be missing, a variable a
non-returning call leaves unset), and its programs run: the link-time
optimised analyzer core links into its unit tests too."""

import os
import shutil
import subprocess
import sys
import tempfile


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit("%s failed (%d):\n%s\n%s" % (" ".join(cmd), r.returncode, r.stdout[-8000:], r.stderr[-8000:]))
    return r


def main():
    source = sys.argv[1]
    clang = shutil.which("clang")
    if not clang:
        print("SKIP: no clang (scripts/install-deps.sh installs it)")
        return 0
    work = tempfile.mkdtemp(prefix="msnkit-clang-")
    try:
        tree = os.path.join(work, "build")
        # Ninja when installed: CMake's makefiles start a cmake process for
        # every file compiled (the release tree is make's already)
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        run(["cmake", "-S", source, "-B", tree, "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_C_COMPILER=" + clang] + gen)
        run(["cmake", "--build", tree, "-j", "2"])
        for prog in ("src/msnd/msnd", "src/msnc/msnc", "src/msnsniff/msnsniff", "src/msngate/msngate"):
            path = os.path.join(tree, prog)
            if os.path.exists(path):
                print(run([path, "--version"]).stdout.strip())
        print(run([os.path.join(tree, "lib", "msnp", "msnp-selfcheck")]).stdout.splitlines()[0])
        tests = os.path.join(tree, "tests", "unit", "msnsniff")
        for t in ("test_pipeline", "test_reasm"):
            run([os.path.join(tests, t)])
        run([os.path.join(tree, "tests", "unit", "msnp", "test_msnp_parser")])
        print("ok: built with %s" % run([clang, "--version"]).stdout.splitlines()[0])
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
