#!/usr/bin/env python3
"""Where a test suite's CPU goes: runs a build tree's CTest tests N at a
time, as `ctest -j N` would (costliest first, RESOURCE_LOCKs honoured),
each in a cgroup of its own, and prints each test's wall time and the CPU
used by everything it started (servers it daemonized included, which
ctest's own timing and `time` miss), then the totals.

    scripts/test-cpu.py build -j 4                  # the Release suite
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \\
      scripts/test-cpu.py build-asan -j 4 -LE '^(slow|unsanitized)$'

Arguments after -j N go to `ctest --show-only` (-R, -L, -LE...). Needs
root (it makes cgroups: cgroup v1's cpuacct hierarchy, or cgroup v2). A
test's output is not shown: run it with ctest to see why it failed."""

import json
import os
import subprocess
import sys
import time

V1 = "/sys/fs/cgroup/cpuacct"
V2 = "/sys/fs/cgroup"


def cgroup_root():
    if os.path.exists(os.path.join(V1, "cpuacct.usage")):
        return os.path.join(V1, "msnkit-test-cpu-%d" % os.getpid()), 1
    if os.path.exists(os.path.join(V2, "cgroup.controllers")):
        return os.path.join(V2, "msnkit-test-cpu-%d" % os.getpid()), 2
    raise SystemExit("test-cpu: no cgroup v1 cpuacct hierarchy nor cgroup v2 under /sys/fs/cgroup")


def usage(cg, version):
    """(user, system) seconds of everything that ran in cg."""
    if version == 1:
        read = lambda f: int(open(os.path.join(cg, f)).read()) / 1e9  # noqa: E731
        return read("cpuacct.usage_user"), read("cpuacct.usage_sys")
    stat = dict(l.split() for l in open(os.path.join(cg, "cpu.stat")))
    return int(stat["user_usec"]) / 1e6, int(stat["system_usec"]) / 1e6


def tests_of(tree, ctest_args):
    info = json.loads(subprocess.check_output(["ctest", "--show-only=json-v1"] + ctest_args, cwd=tree))
    tests = []
    for t in info["tests"]:
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        if props.get("DISABLED") or "command" not in t:
            continue
        tests.append({"name": t["name"], "cmd": t["command"], "cwd": props.get("WORKING_DIRECTORY", tree),
                      "env": props.get("ENVIRONMENT", []), "timeout": float(props.get("TIMEOUT", 1500)),
                      "locks": set(props.get("RESOURCE_LOCK", [])), "cost": float(props.get("COST", 0)),
                      "skip": props.get("SKIP_RETURN_CODE")})
    tests.sort(key=lambda t: -t["cost"])  # stable: definition order among equals, as ctest
    return tests


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    tree, jobs = os.path.abspath(args[0]), 4
    rest = args[1:]
    if rest[:1] == ["-j"] and len(rest) > 1:
        jobs, rest = int(rest[1]), rest[2:]
    root, version = cgroup_root()
    os.makedirs(root)
    pending, running, held, done = tests_of(tree, rest), [], set(), []
    start = time.monotonic()
    try:
        while pending or running:
            for t in list(pending):
                if len(running) >= jobs:
                    break
                if t["locks"] & held:
                    continue
                pending.remove(t)
                t["cg"] = os.path.join(root, t["name"])
                os.mkdir(t["cg"])
                env = dict(os.environ)
                env.update(e.partition("=")[::2] for e in t["env"])

                def enter(cg=t["cg"]):
                    with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                        f.write(str(os.getpid()))
                t["proc"] = subprocess.Popen(t["cmd"], cwd=t["cwd"], env=env, preexec_fn=enter,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                t["start"] = time.monotonic()
                held |= t["locks"]
                running.append(t)
            time.sleep(0.1)
            for t in list(running):
                rc = t["proc"].poll()
                if rc is None and time.monotonic() - t["start"] > t["timeout"]:
                    t["proc"].kill()
                    rc = t["proc"].wait()
                if rc is None:
                    continue
                wall = time.monotonic() - t["start"]
                user, system = usage(t["cg"], version)
                skipped = t["skip"] is not None and rc == int(t["skip"])
                done.append((t["name"], wall, user, system, "skipped" if skipped else rc))
                print("%-44s %7.1f s wall %7.1f s CPU (user %6.1f, system %6.1f)%s" %
                      (t["name"], wall, user + system, user, system,
                       "" if rc == 0 else "  skipped (exit %d)" % rc if skipped else "  exit %d" % rc),
                      flush=True)
                running.remove(t)
                held -= t["locks"]
    finally:
        for t in running:
            t["proc"].kill()
            t["proc"].wait()
        # a cgroup still holding a process (a server a test left behind) stays, named
        for d in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            path = os.path.join(root, d)
            if os.path.isdir(path):
                try:
                    os.rmdir(path)
                except OSError:
                    print("test-cpu: %s still holds processes: %s" % (d, open(os.path.join(path, "cgroup.procs"))
                                                                      .read().split()), file=sys.stderr)
        try:
            os.rmdir(root)
        except OSError:
            pass
    cpu = sum(u + s for _, _, u, s, _ in done)
    wall = time.monotonic() - start
    print("total: %d tests, %.1f s wall, %.1f s CPU (user %.1f, system %.1f), %.0f %% of %d CPUs; %d failed, "
          "%d skipped" % (len(done), wall, cpu, sum(d[2] for d in done), sum(d[3] for d in done),
                          100 * cpu / wall / (os.cpu_count() or 1), os.cpu_count() or 1,
                          sum(1 for d in done if d[4] not in (0, "skipped")),
                          sum(1 for d in done if d[4] == "skipped")))
    print("by CPU:")
    for name, w, u, s, rc in sorted(done, key=lambda d: -(d[2] + d[3]))[:15]:
        print("  %-42s %7.1f s CPU %7.1f s wall" % (name, u + s, w))
    return 1 if any(d[4] != 0 for d in done) else 0


if __name__ == "__main__":
    sys.exit(main())
