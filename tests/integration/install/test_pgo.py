#!/usr/bin/env python3
"""A release build of msnsniff with its profile, as a user or packager
starts one:

- Flags of the user's own: CFLAGS in the environment at configure time and
  -DCMAKE_C_FLAGS_RELEASE. The training tree compiles with the same flags,
  or the counts do not fit the code (-Wcoverage-mismatch, an error with
  -Werror); the environment of the later builds has no CFLAGS. Changing the
  flags trains again (seen in the build's plan); a build with nothing
  changed does no work.
- The Ninja generator (make's is the main build's). The training tree is
  made by the same generator as the release tree: the ids GCC gives static
  functions in the counts include the object file's path as the compiler
  is given it, relative to the target's folder with make and to the tree
  with Ninja, so counts made by a make tree do not fit a Ninja tree
  (-Werror: "Missing counts for called function").
- The build directory is reached through a symbolic link, and the build is
  started from another directory: GCC then sees the resolved path of the
  directory it compiles in (ninja does not set $PWD), which must still be
  the one -fprofile-prefix-path names.

Without ninja the make generator is used (the check of a build with nothing
changed then looks for a second training only)."""

import os
import shutil
import subprocess
import sys
import tempfile


def run(cmd, env_extra=None):
    env = dict(os.environ)
    env.pop("PWD", None)
    env.pop("CFLAGS", None)
    env.update(env_extra or {})
    r = subprocess.run(cmd, capture_output=True, text=True, cwd="/", env=env)
    if r.returncode != 0:
        raise SystemExit("%s failed (%d):\n%s\n%s" % (" ".join(cmd), r.returncode, r.stdout[-6000:], r.stderr[-6000:]))
    return r


def main():
    source = sys.argv[1]
    ninja = shutil.which("ninja") is not None
    if not ninja:
        print("note: no ninja (scripts/install-deps.sh installs ninja-build); the make generator is used")
    work = tempfile.mkdtemp(prefix="msnkit-pgo-")
    try:
        os.mkdir(os.path.join(work, "real"))
        os.symlink(os.path.join(work, "real"), os.path.join(work, "link"))
        tree = os.path.join(work, "link", "build")
        r = run(["cmake", "-G", "Ninja" if ninja else "Unix Makefiles", "-S", source, "-B", tree,
                 "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG",
                 "-DMSNKIT_COMPONENTS=lib/msnp;src/msnsniff;bench"],
                {"CFLAGS": "-fstack-protector-strong -D_FORTIFY_SOURCE=2"})
        if "msnsniff with profile-guided optimisation" not in r.stdout:
            print("SKIP: this compiler builds msnsniff without its profile:\n" + r.stdout)
            return 0
        sniff = os.path.join(tree, "src", "msnsniff", "msnsniff")

        def build():
            r = run(["cmake", "--build", tree, "-j", "2", "--target", "msnsniff"])
            return r.stdout + r.stderr

        def build_nothing_changed(after):
            out = build()
            if "Training msnsniff" in out or (ninja and "no work to do" not in out):
                raise SystemExit("a build with nothing changed after %s did work again:\n%s" % (after, out[-4000:]))

        out = build()
        if "Training msnsniff" not in out:
            raise SystemExit("the first build did not train msnsniff:\n" + out[-4000:])
        print(run([sniff, "--version"]).stdout.strip())
        build_nothing_changed("the first build")

        # New flags train again, and configuring again with the same ones
        # does not. What a build would do is enough to see it: its plan
        # (-n, to ninja and to make alike), from a tree that does not check
        # its own configuration first (a dry run stops there with Ninja).
        def plan(flags):
            run(["cmake", "-DCMAKE_SUPPRESS_REGENERATION=ON", "-DCMAKE_C_FLAGS_RELEASE=" + flags, tree])
            r = run(["cmake", "--build", tree, "--target", "msnsniff", "--", "-n"])
            return r.stdout + r.stderr

        out = plan("-O2 -DNDEBUG")
        if "Training msnsniff" in out or "Building C object" in out:
            raise SystemExit("configuring again with the same flags would build again:\n" + out[-4000:])
        out = plan("-O2 -DNDEBUG -fno-plt")
        if "Training msnsniff" not in out:
            raise SystemExit("new flags would not train msnsniff again:\n" + out[-4000:])
        print("ok: msnsniff built with its profile by %s under the user's flags, and trained again when they "
              "change" % ("Ninja" if ninja else "make"))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
