#!/usr/bin/env python3
"""bench/migrate-cost.py BUILD_DIR - how long `msnd db migrate` takes
between the two backends, and what it costs msnd and PostgreSQL.

Makes a SQLite store of ACCOUNTS accounts (default 20 000), each with
FL_PER entries (default 5: the next accounts by id, in two groups), as many
AL entries, a group of its own besides group 0 and a phone number, then
copies it SQLite -> PostgreSQL -> SQLite on a throw-away PostgreSQL server
(tests/integration/lib/pgtest.py; root runs it as the postgres user) and
checks that the copy back holds the same rows as the original. Prints one
line per direction: wall seconds, msnd's CPU seconds, PostgreSQL's CPU
seconds (the postmaster and every process under it, those that exited
included, from /proc), rows a second. MSND_BIN measures another msnd (an
older build's). Everything listens on 127.0.0.1."""

import os
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "lib"))
import pgtest  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root_pid):
    """utime + stime (own and reaped children) of root_pid and every
    process below it, in seconds."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read().rsplit(")", 1)[1].split()
                kids.setdefault(int(st[1]), []).append((int(d), st))
            except OSError:
                pass
    total, todo = 0, [root_pid]
    try:
        with open("/proc/%d/stat" % root_pid) as f:
            st = f.read().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in st[11:15])
    except OSError:
        pass
    while todo:
        for pid, st in kids.get(todo.pop(), []):
            total += sum(int(x) for x in st[11:15])
            todo.append(pid)
    return total / TICK


def fill(msnd, path, accounts, fl_per):
    r = subprocess.run([msnd, "db", "init", "--db", path], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("msnd db init: " + r.stderr)
    db = sqlite3.connect(path)
    db.executescript("""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %(a)d)
        INSERT INTO users(id, email, password, name, version, created)
          SELECT i, 'u' || i || '@example.com', 'pw' || i, 'User%%20' || i, 1 + %(k)d * 2, 0 FROM n;
        INSERT INTO groups(owner, gid, name) SELECT id, 0, 'Other%%20Contacts' FROM users;
        INSERT INTO groups(owner, gid, name) SELECT id, 1, 'Friends%%20of%%20' || id FROM users;
        WITH RECURSIVE k(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM k WHERE j < %(k)d)
        INSERT INTO list_entries(owner, list, contact, name)
          SELECT u.id, l.list, (u.id + k.j - 1) %% %(a)d + 1, 'User%%20' || ((u.id + k.j - 1) %% %(a)d + 1)
          FROM users u, k, (SELECT 0 AS list UNION ALL SELECT 1) l ORDER BY u.id, l.list, k.j;
        INSERT INTO fl_groups(owner, contact, gid) SELECT owner, contact, 0 FROM list_entries WHERE list = 0;
        INSERT INTO fl_groups(owner, contact, gid)
          SELECT owner, contact, 1 FROM list_entries WHERE list = 0 AND contact %% 2 = 0;
        INSERT INTO props(owner, key, value) SELECT id, 'PHH', '1%%20555%%20' || id FROM users;
        DELETE FROM changes;
    """ % {"a": accounts, "k": fl_per})
    db.commit()
    db.close()


def rows_of(path):
    db = sqlite3.connect(path)
    out = {}
    for t, cols in (("users", "id, email, password, name, version, blp, gtc"),
                    ("list_entries", "owner, list, contact, name"),
                    ("groups", "owner, gid, name"), ("fl_groups", "owner, contact, gid"),
                    ("props", "owner, key, value")):
        out[t] = db.execute("SELECT %s FROM %s ORDER BY %s" % (cols, t, cols)).fetchall()
    # the order of each list, as msnd reads it (insertion order)
    out["order"] = db.execute("SELECT owner, list, contact FROM list_entries ORDER BY owner, list, rowid").fetchall()
    db.close()
    return out


def migrate(msnd, pg_pid, src, dst, label):
    """Wall seconds, msnd's CPU seconds, PostgreSQL's CPU seconds."""
    pg_before = tree_cpu(pg_pid)
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen([msnd, "db", "migrate", "--from", src, "--to", dst],
                             stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)  # its rusage: Popen.wait would reap it without
        p.returncode = status
        wall = time.monotonic() - t0
        if status != 0:
            err.seek(0)
            raise SystemExit("%s: msnd db migrate failed: %s" % (label, err.read().decode(errors="replace")))
    time.sleep(0.2)  # the server process of its connection reaped
    return wall, ru.ru_utime + ru.ru_stime, tree_cpu(pg_pid) - pg_before


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    msnd = os.environ.get("MSND_BIN") or os.path.join(build, "src", "msnd", "msnd")
    accounts = int(os.environ.get("ACCOUNTS", "20000"))
    fl_per = int(os.environ.get("FL_PER", "5"))
    work = tempfile.mkdtemp(prefix="msnkit-migrate-")
    pg = pgtest.PgServer().start()
    try:
        src = os.path.join(work, "src.db")
        back = os.path.join(work, "back.db")
        fill(msnd, src, accounts, fl_per)
        want = rows_of(src)
        nrows = sum(len(v) for k, v in want.items() if k != "order")
        url = pg.createdb("migrate_bench")
        print("msnd db migrate, %d accounts, %d rows (%s)" % (accounts, nrows, msnd))
        with open(os.path.join(pg.data, "postmaster.pid")) as f:
            pg_pid = int(f.readline())
        for label, a, b in (("sqlite -> postgresql", src, url), ("postgresql -> sqlite", url, back)):
            wall, own, pg_cpu = migrate(msnd, pg_pid, a, b, label)
            print("%-22s %7.2f s wall, msnd %6.2f s CPU, PostgreSQL %6.2f s CPU, %9.0f rows/s"
                  % (label, wall, own, pg_cpu, nrows / wall))
        got = rows_of(back)
        for t in want:
            if want[t] != got[t]:
                raise SystemExit("the copy back differs from the original in %s" % t)
        print("the copy back holds every row of the original, lists in their order")
    finally:
        pg.cleanup()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
