#!/usr/bin/env python3
"""The manual pages: groff renders each without a warning (man --warnings),
and each documents the options its program really has: every option the
program's usage text lists is in its pages, and every option the pages name
is one the program lists (msnd: or a key of msnd.ini, which are the same
settings).

Arguments: PROGRAM=PATH=PAGE, one per page."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

# Usage texts: what each program prints about its options.
HELP_ARGS = {
    "msnd": [["--help"], ["user", "--help"], ["db", "--help"]],
    "msnc": [["--help"], ["ftp-send"], ["ftp-recv"]],
    "msnsniff": [["--help"]],
    "msngate": [["--help"]],
}
IGNORED_SECTIONS = {"EXAMPLES", "SEE ALSO", "ENVIRONMENT", "FILES", "EXIT STATUS"}
LONG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")
SHORT = re.compile(r"(?<![\w-])-([a-zA-Z])(?![\w-])")


def render(page):
    env = dict(os.environ, MANWIDTH="200", LANG="C.UTF-8")
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", page], capture_output=True,
                       text=True, env=env, timeout=60)
    return r.returncode, r.stdout, r.stderr


def usage_text(path, prog):
    text = ""
    for args in HELP_ARGS.get(prog, [["--help"]]):
        r = subprocess.run([path] + args, capture_output=True, text=True, timeout=30)
        text += r.stdout + r.stderr
    return text


def ini_page_regenerates(page):
    root = os.path.join(os.path.dirname(os.path.abspath(page)), "..")
    script = os.path.join(root, "man", "update-msnd-ini.py")
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "man"))
        os.makedirs(os.path.join(d, "src", "msnd"))
        shutil.copy(page, os.path.join(d, "man", "msnd.ini.5"))
        shutil.copy(os.path.join(root, "src", "msnd", "config.c"), os.path.join(d, "src", "msnd", "config.c"))
        r = subprocess.run([sys.executable, script, d], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            return ["update-msnd-ini.py failed: %s" % r.stderr]
        with open(page) as f, open(os.path.join(d, "man", "msnd.ini.5")) as g:
            if f.read() != g.read():
                return ["msnd.ini.5: man/update-msnd-ini.py writes another KEYS section than the page has "
                        "(run it and read the diff)"]
    return []


def main():
    failures = []
    pages = {}
    paths = {}
    for arg in sys.argv[1:]:
        prog, path, page = arg.split("=", 2)
        paths[prog] = path
        rc, out, err = render(page)
        name = os.path.basename(page)
        if rc != 0 or err.strip():
            failures.append("%s: man --warnings: rc=%d\n%s" % (name, rc, err))
        if "NAME" not in out or len(out) < 500:
            failures.append("%s: rendered to almost nothing" % name)
        # Rendered text, hyphenation at line ends undone. Only the sections
        # that document the program's own options are compared: EXAMPLES and
        # the like name other commands' options too.
        text = out.replace("\u2010\n", "").replace("\u2010", "-")
        kept, keep = [], True
        for line in text.splitlines():
            if re.match(r"^[A-Z][A-Z -]+$", line):
                keep = line.strip() not in IGNORED_SECTIONS
            if keep:
                kept.append(line)
        pages.setdefault(prog, []).append("\n".join(kept))

    for prog, texts in pages.items():
        usage = usage_text(paths[prog], prog)
        documented = "\n".join(texts)
        want_long = set(LONG.findall(usage))
        want_short = set(SHORT.findall(usage))
        if not want_long:
            failures.append("%s: no options found in its usage text:\n%s" % (prog, usage))
        have_long = set(LONG.findall(documented))
        have_short = set(SHORT.findall(documented))
        for o in sorted(want_long - have_long):
            failures.append("%s: --%s is in the usage text but not in the man page" % (prog, o))
        for o in sorted(want_short - have_short):
            failures.append("%s: -%s is in the usage text but not in the man page" % (prog, o))
        for o in sorted(have_long - want_long):
            failures.append("%s: the man page names --%s, which the program does not list" % (prog, o))
        for o in sorted(have_short - want_short):
            failures.append("%s: the man page names -%s, which the program does not list" % (prog, o))

    # msnd.ini(5)'s keys are written by man/update-msnd-ini.py from msnd's
    # settings table: run on a copy, it gives the page as it is (a setting
    # it cannot read would be left out of the page it writes)
    for arg in sys.argv[1:]:
        prog, _, page = arg.split("=", 2)
        if prog == "msnd" and os.path.basename(page) == "msnd.ini.5":
            failures += ini_page_regenerates(page)

    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("man pages ok:", ", ".join(sorted(pages)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
