#!/usr/bin/env python3
"""A release build with the Ninja generator builds msnsniff with its
profile. The training tree is made by the same generator as the release
tree: the ids GCC gives static functions in the counts include the object
file's path as the compiler is given it, relative to the target's folder
with make and to the tree with Ninja, so counts made by a make tree do not
fit a Ninja tree (-Werror: "Missing counts for called function").

The build directory is reached through a symbolic link, and the build is
started from another directory: GCC then sees the resolved path of the
directory it compiles in (ninja does not set $PWD), which must still be the
one -fprofile-prefix-path names."""

import os
import shutil
import subprocess
import sys
import tempfile


def run(cmd, **kw):
    env = dict(os.environ)
    env.pop("PWD", None)
    r = subprocess.run(cmd, capture_output=True, text=True, cwd="/", env=env, **kw)
    if r.returncode != 0:
        raise SystemExit("%s failed (%d):\n%s\n%s" % (" ".join(cmd), r.returncode, r.stdout[-6000:], r.stderr[-6000:]))
    return r


def main():
    source = sys.argv[1]
    if not shutil.which("ninja"):
        print("SKIP: no ninja (scripts/install-deps.sh installs ninja-build)")
        return 0
    work = tempfile.mkdtemp(prefix="msnkit-pgo-ninja-")
    try:
        os.mkdir(os.path.join(work, "real"))
        os.symlink(os.path.join(work, "real"), os.path.join(work, "link"))
        tree = os.path.join(work, "link", "build")
        r = run(["cmake", "-G", "Ninja", "-S", source, "-B", tree, "-DCMAKE_BUILD_TYPE=Release",
                 "-DMSNKIT_COMPONENTS=lib/msnp;src/msnsniff;bench"])
        if "msnsniff with profile-guided optimisation" not in r.stdout:
            print("SKIP: this compiler builds msnsniff without its profile:\n" + r.stdout)
            return 0
        r = run(["cmake", "--build", tree, "-j", "2", "--target", "msnsniff"])
        if "Training msnsniff" not in r.stdout:
            raise SystemExit("the build did not train msnsniff:\n" + r.stdout[-4000:])
        print(run([os.path.join(tree, "src", "msnsniff", "msnsniff"), "--version"]).stdout.strip())
        r = run(["cmake", "--build", tree, "-j", "2", "--target", "msnsniff"])
        if "no work to do" not in r.stdout:
            raise SystemExit("a build with nothing changed did work again:\n" + r.stdout[-4000:])
        print("ok: msnsniff built with its profile by Ninja")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
