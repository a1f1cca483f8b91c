#!/usr/bin/env python3
"""Rewrites the KEYS section of man/msnd.ini.5 from the settings table of
src/msnd/config.c (name, kind, help text) and config_defaults() (defaults),
so the page lists exactly the settings msnd has. Run it after adding or
changing a setting, then read the diff: the man_pages test compares the
page with `msnd --help`.

usage: man/update-msnd-ini.py [SOURCE_DIR]"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SECTIONS = {
    "server": ["role", "listen", "ns_listen", "sb_listen", "ns_nodes", "sb_address", "link_listen", "ns_links",
               "ns_peers", "link_secret", "db", "port_file"],
    "log": ["log", "log_file", "log_level", "log_invitations"],
}


def settings(src):
    table = src[src.index("static const opt_def opts[]"):]
    table = table[:table.index("};")]
    # S(name, help), L(name, lo, hi, help), B(name, help), and SC(name,
    # check, want, help): a text setting with a check and the words that
    # say what it wants (a string or a macro of one)
    string = r'"(?:[^"\\]|\\.)*"'
    opts = []
    for m in re.finditer(r'\b(SC|[SLB])\((\w+),(?:\s*\w+,\s*(?:%s|\w+),|\s*[-0-9*L ]+,\s*[-0-9*L ]+,)?\s*"((?:[^"\\]|\\.)*)"\)'
                         % string, table):
        opts.append(("S" if m.group(1) == "SC" else m.group(1), m.group(2), m.group(3)))
    defaults = dict(re.findall(r"c->(\w+) = ([^;]+);", src))
    defaults.update(re.findall(r'snprintf\(c->(\w+), sizeof c->\w+, "([^"]*)"\)', src))
    return opts, defaults


def number(v):
    v = v.split("/*")[0].strip().replace("L", "")
    if re.fullmatch(r"[0-9 *+]+", v):
        return str(eval(v))  # products of constants, e.g. 4 * 1024 * 1024
    return v


def mdoc(text):
    text = text.replace("\\", "\\e")
    return re.sub(r"--([a-z][a-z-]*)", r"\\-\\-\1", text)


def keys(opts, defaults):
    out = []
    for section in ("server", "log", "limits"):
        out += [".Ss [%s]" % section, ".Bl -tag -width Ds"]
        for kind, name, help_ in opts:
            wanted = SECTIONS.get(section)
            mine = name in wanted if wanted else all(name not in v for v in SECTIONS.values())
            if not mine:
                continue
            arg = {"S": "Ar value", "L": "Ar n", "B": "Cm yes | no"}[kind]
            out += [".It Cm %s No = %s" % (name, arg), ".Pq Fl \\-%s" % name.replace("_", "-"),
                    mdoc(help_[0].upper() + help_[1:]) + "."]
            if name in defaults and "default" not in help_:
                v = defaults[name] if kind == "S" else number(defaults[name])
                if kind == "B":
                    v = "yes" if v == "1" else "no"
                out += ["Default:", ".Ql %s ." % v]
        out.append(".El")
    return "\n".join(out) + "\n"


def main():
    with open(os.path.join(ROOT, "src", "msnd", "config.c")) as f:
        opts, defaults = settings(f.read())
    page_path = os.path.join(ROOT, "man", "msnd.ini.5")
    with open(page_path) as f:
        page = f.read()
    start = page.index(".Sh KEYS\n") + len(".Sh KEYS\n")
    end = page.index(".Sh FILES\n")
    page = page[:start] + keys(opts, defaults) + page[end:]
    with open(page_path, "w") as f:
        f.write(page)
    print("%s: %d settings" % (page_path, len(opts)))


if __name__ == "__main__":
    main()
