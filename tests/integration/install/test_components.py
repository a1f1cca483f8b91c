#!/usr/bin/env python3
"""MSNKIT_COMPONENTS (configure only, in a temporary directory): components
are added in their dependency order whatever the order of the list; a
component left out for want of another names it and says to add it (not
`make deps`, which installs packages); a name that is no component is
reported; the profile-guided build says what it lacks, and takes the
build type in any case, as CMake does."""

import os
import shutil
import subprocess
import sys
import tempfile

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def configure(source, tree, components, build_type="Release"):
    r = subprocess.run(["cmake", "-S", source, "-B", tree, "-DCMAKE_BUILD_TYPE=" + build_type,
                        "-DMSNKIT_COMPONENTS=" + components], capture_output=True, text=True)
    out = r.stdout + r.stderr
    if r.returncode != 0:
        raise SystemExit("configuring %s failed:\n%s" % (components, out[-6000:]))
    return out


def main():
    source = sys.argv[1]
    work = tempfile.mkdtemp(prefix="msnkit-components-")
    try:
        tree = os.path.join(work, "a")
        out = configure(source, tree, "src/msnsniff;lib/msnp")
        check("msnkit: src/msnsniff skipped" not in out, "src/msnsniff listed before lib/msnp is built:\n" + out)
        check(os.path.isdir(os.path.join(tree, "src", "msnsniff", "CMakeFiles", "msnsniff.dir")),
              "msnsniff is a target of the tree")
        if "GNU" in open(os.path.join(tree, "CMakeCache.txt")).read():
            check("bench/gen-capture, and bench is not built" in out,
                  "the profile-guided build says it needs bench:\n" + out)

        tree = os.path.join(work, "b")
        out = configure(source, tree, "src/msnd;lib/msnpp")
        check("msnkit: MSNKIT_COMPONENTS names lib/msnpp, which is not a component" in " ".join(out.split()),
              "a name that is no component is reported:\n" + out)
        check("msnkit: src/msnd skipped, missing: lib/msnp (add it to MSNKIT_COMPONENTS)\n" in out,
              "msnd without the codec says to add lib/msnp:\n" + out)
        check("make deps" not in out, "no `make deps` advice when no package is missing:\n" + out)

        # CMake takes a build type in any case (CMAKE_C_FLAGS_RELEASE applies
        # to "release"): so does the analyzer's optimisation
        tree = os.path.join(work, "c")
        out = configure(source, tree, "lib/msnp;src/msnsniff;bench", "release")
        if "GNU" in open(os.path.join(tree, "CMakeCache.txt")).read():
            check("msnsniff with profile-guided optimisation" in out,
                  "a build type of \"release\" gets the analyzer's profile:\n" + out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("ok: MSNKIT_COMPONENTS in any order, with its mistakes reported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
