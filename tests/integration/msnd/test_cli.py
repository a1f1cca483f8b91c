#!/usr/bin/env python3
"""msnd's command line: messages that name the problem, subcommand help
(msnd user, msnd db), aligned --help, options and --config before or
after any subcommand, every bad setting refused by name (exit 2) before
anything is created, the shipped
contrib/msnd.ini, no database created by a typo (and the server's warning
when it makes one, or the store has no account), each start-up error once
with its cause, INI line numbers, passwords from stdin or a terminal with
echo off, --version, and the notification and switchboard ports derived
from --listen (port 0: the system's choice)."""
import os
import pty
import random
import re
import select
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import msntest  # noqa: E402

MSND = None
TMP = None


def run(*argv, input=None):
    return subprocess.run([MSND] + list(argv), input=input, capture_output=True, text=True, timeout=30)


def one_line(text):
    lines = text.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_unknown_option_is_named():
    r = run("--bogus")
    assert r.returncode == 2
    assert one_line(r.stderr) == "msnd: unknown option '--bogus' (see msnd --help)", r.stderr
    r = run("user", "list", "--bogus=1")
    assert one_line(r.stderr) == "msnd: unknown option '--bogus' (see msnd --help)", r.stderr
    r = run("--db")
    assert one_line(r.stderr) == "msnd: option '--db' needs a value", r.stderr
    r = run("--max-line", "12")
    assert r.returncode == 2
    assert one_line(r.stderr).startswith("msnd: option '--max-line': 'max-line' expects a number from 64"), r.stderr
    r = run("stray")
    assert one_line(r.stderr) == "msnd: unexpected argument 'stray' (see msnd --help)", r.stderr


def test_help():
    r = run("user", "--help")
    assert r.returncode == 0, r.stderr
    assert "msnd user add" in r.stdout and "echo off" in r.stdout, r.stdout
    r = run("--help")
    assert r.returncode == 0
    # every description starts in the same column
    cols = set()
    for line in r.stdout.splitlines():
        m = re.match(r"  (--\S+(?: \S+)?)( +)\S", line)
        if m:
            cols.add(len(m.group(1)) + len(m.group(2)))
            assert len(m.group(2)) >= 2, line
    assert len(cols) == 1, cols
    assert "--max-connections-per-address N" in r.stdout


def test_version():
    r = run("--version")
    assert r.returncode == 0 and re.match(r"msnd \d+\.\d+\.\d+ \(libmsnp ", r.stdout), r.stdout


def test_missing_database_is_not_created():
    db = os.path.join(TMP, "typo.db")
    for argv in (["user", "list"], ["user", "del", "a@b.com"], ["user", "add", "a@b.com", "pw"]):
        r = run(*argv, "--db", db)
        assert r.returncode == 1, (argv, r.stderr)
        assert one_line(r.stderr) == ("msnd: database %s: No such file or directory (check --db; "
                                      "`msnd user add --create` makes a new one)" % db), r.stderr
        assert not os.path.exists(db)
    r = run("user", "add", "--create", "--db", db, "a@b.com", "pw")
    assert r.returncode == 0, r.stderr
    assert os.path.exists(db)


def test_database_in_a_missing_directory_names_the_directory():
    """A new database whose directory does not exist (a service's state
    directory before its first start): the directory is what to make,
    said by `user add --create` and by the server."""
    missing = os.path.join(TMP, "no-such-state-dir")
    db = os.path.join(missing, "msnd.db")
    for argv in (["user", "add", "--create", "a@b.com", "pw"], ["--listen", "127.0.0.1:0"]):
        r = run(*argv, "--db", db)
        assert r.returncode == 1, (argv, r.stderr)
        assert "msnd: cannot create %s: directory %s does not exist (check --db" % (db, missing) in r.stderr, \
            (argv, r.stderr)
        assert not os.path.exists(missing)


def test_database_made_by_root_belongs_to_the_directory_owner():
    """root making a new database in the service user's directory (the
    operator's `msnd user add --create` in /var/lib/msnd) gives the file to
    that user: a root-owned file there stopped the service with "Permission
    denied". A database that exists, or one in root's directory, keeps its
    owner."""
    if os.geteuid() != 0:
        print("skipped (needs root): test_database_made_by_root_belongs_to_the_directory_owner")
        return
    os.chmod(TMP, 0o711)  # the service's user passes through to its directory
    state = tempfile.mkdtemp(dir=TMP)
    os.chown(state, 65534, 65534)
    db = os.path.join(state, "msnd.db")
    r = run("user", "add", "--create", "--db", db, "a@b.com", "pw")
    assert r.returncode == 0, r.stderr
    for name in os.listdir(state):  # the database, and any -wal or -shm left
        st = os.stat(os.path.join(state, name))
        assert (st.st_uid, st.st_gid) == (65534, 65534), (name, st.st_uid, st.st_gid)
    assert oct(os.stat(db).st_mode & 0o7777) == "0o600"
    # the service's user can now use it
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", MSND, "user", "list",
                        "--db", db], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("a@b.com\t"), (r.returncode, r.stderr)
    # an existing root-owned file is not given away
    own = os.path.join(state, "own.db")
    assert run("user", "add", "--create", "--db", own, "b@b.com", "pw").returncode == 0
    os.chown(own, 0, 0)
    assert run("user", "add", "--db", own, "c@b.com", "pw").returncode == 0
    assert os.stat(own).st_uid == 0
    # root's own directory: root's file
    mine = tempfile.mkdtemp(dir=TMP)
    assert run("user", "add", "--create", "--db", os.path.join(mine, "m.db"), "a@b.com", "pw").returncode == 0
    assert os.stat(os.path.join(mine, "m.db")).st_uid == 0


CREATED = 'msg="new database created: the file did not exist or was empty"'
NO_ACCOUNTS = 'msg="no accounts: every login fails until one is added: msnd user add --db FILE EMAIL PASSWORD"'


def test_new_or_empty_database_is_reported():
    """The server still makes a --db that does not exist or is empty (0
    bytes), but says so at start, and says when the store holds no account
    (every login would get 911); a store with an account starts quietly."""
    for make in ("missing", "empty", "no accounts", "one account"):
        srv = msntest.MsndServer(MSND, workdir=tempfile.mkdtemp(dir=TMP))
        try:
            if make == "empty":
                open(srv.db, "w").close()
            elif make == "no accounts":
                assert run("db", "init", "--db", srv.db).returncode == 0
            elif make == "one account":
                srv.add_user("a@b.com", "pw")
            srv.start()
            log = srv.log_text()
            assert (CREATED in log) == (make in ("missing", "empty")), (make, log)
            assert ('%s file="%s"\n' % (CREATED, srv.db) in log) == (CREATED in log), log
            assert (NO_ACCOUNTS in log) == (make != "one account"), (make, log)
            assert os.path.getsize(srv.db) > 0
        finally:
            srv.cleanup()


def test_unreachable_database_names_the_setting():
    """A PostgreSQL server nobody listens for: the server and the admin
    commands exit 1 with libpq's reason and the setting to check, and never
    repeat the connection string (it may hold a password)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = "postgresql://msnd:sekrit@127.0.0.1:%d/msnd" % port
    for argv in (["--listen", "127.0.0.1:0"], ["user", "list"], ["db", "init"]):
        r = run(*argv, "--db", url)
        assert r.returncode == 1, (argv, r.returncode, r.stderr)
        line = one_line(r.stderr)
        assert "cannot connect to the database" in line and "Connection refused" in line, (argv, r.stderr)
        assert line.endswith("(check --db)") or line.endswith("(check --db, or db = in the configuration file)"), \
            (argv, r.stderr)
        assert "sekrit" not in r.stderr, (argv, r.stderr)


def test_unusable_database_files_say_what_is_wrong():
    """A --db that is not a database, or damaged past its first page: the
    server and the admin commands exit 1 naming the file and what it is,
    not SQLite's words alone."""
    text = os.path.join(TMP, "notes.db")
    with open(text, "w") as f:
        f.write("not a database, just some text that is long enough to be read as a header\n" * 20)
    damaged = os.path.join(TMP, "damaged.db")
    r = run("user", "add", "--create", "--db", damaged, "a@b.com", "pw")
    assert r.returncode == 0, r.stderr
    size = os.path.getsize(damaged)
    with open(damaged, "r+b") as f:  # every page after the first
        f.seek(4096)
        f.write(b"\xa5" * (size - 4096))
    for db, what in ((text, "is not an SQLite database"), (damaged, "is damaged; restore it from a backup")):
        for argv in (["--listen", "127.0.0.1:0"], ["user", "list"]):
            r = run(*argv, "--db", db)
            assert r.returncode == 1, (argv, r.returncode, r.stderr)
            assert "%s %s" % (db, what) in one_line(r.stderr), (argv, r.stderr)


def test_database_that_cannot_be_written_is_refused():
    """SQLite reads a database it cannot write (its -wal or -shm left by
    another user, root say) without a word: the server started "ready" and
    refused every change with 501. It exits 1 at start naming the files,
    as the admin commands do."""
    cases = []
    db = os.path.join(TMP, "shm.db")  # any user: a -shm SQLite can open for reading alone
    assert run("user", "add", "--create", "--db", db, "a@b.com", "pw").returncode == 0
    os.mkdir(db + "-shm")
    cases.append((db, None))
    if os.geteuid() == 0:  # the real thing: msnd as nobody, a -wal left by root
        d = os.path.join(TMP, "nobody")
        os.mkdir(d)
        db = os.path.join(d, "wal.db")
        assert run("user", "add", "--create", "--db", db, "a@b.com", "pw").returncode == 0
        c = sqlite3.connect(db)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("UPDATE users SET name = name")
        c.commit()
        with open(db + "-wal", "ab"):
            pass
        os.chmod(db + "-wal", 0o644)  # root's (a crashed root process leaves it)
        for f in (d, db, db + "-shm"):
            if os.path.exists(f):
                os.chown(f, 65534, 65534)
        cases.append((db, lambda: (os.setgid(65534), os.setuid(65534))))
        os.chmod(TMP, 0o755)
    for db, as_user in cases:
        for argv in (["--listen", "127.0.0.1:0"], ["user", "add", "b@b.com", "pw"]):
            try:
                r = subprocess.run([MSND] + argv + ["--db", db], capture_output=True, text=True, timeout=5,
                                   preexec_fn=as_user)
            except subprocess.TimeoutExpired:
                raise AssertionError("%s: msnd started on a database it cannot write" % db)
            assert r.returncode == 1, (db, argv, r.returncode, r.stderr)
            assert "readonly database on %s or its -wal or -shm" % db in one_line(r.stderr), (db, argv, r.stderr)
        if as_user:
            c.close()


def test_config_before_or_after_the_subcommand():
    db = os.path.join(TMP, "cfg.db")
    assert run("user", "add", "--create", "--db", db, "c@b.com", "pw", "Cee").returncode == 0
    ini = os.path.join(TMP, "cfg.ini")
    with open(ini, "w") as f:
        f.write("[server]\ndb = %s\n" % db)
    for argv in (["--config", ini, "user", "list"], ["user", "--config", ini, "list"],
                 ["user", "list", "--config=" + ini]):
        r = run(*argv)
        assert r.returncode == 0 and r.stdout == "c@b.com\tCee\n", (argv, r.stdout, r.stderr)


def test_ini_errors_carry_line_numbers():
    ini = os.path.join(TMP, "bad.ini")
    with open(ini, "w") as f:
        f.write("[server]\nrole = all\nmax_line = 7\n")
    r = run("--config", ini)
    assert r.returncode == 2
    assert one_line(r.stderr).startswith("msnd: %s:3: 'max_line' expects a number" % ini), r.stderr
    with open(ini, "w") as f:
        f.write("[server]\n\nnot a setting line\n")
    r = run("--config", ini)
    assert one_line(r.stderr) == "msnd: %s:3: not a 'key = value' line or a [section]" % ini, r.stderr
    with open(ini, "w") as f:
        f.write("[server]\nlisten_everywhere = 1\n")
    r = run("--config", ini)
    assert one_line(r.stderr) == "msnd: %s:2: unknown setting 'listen_everywhere'" % ini, r.stderr
    # config = FILE was taken and ignored: no file is included
    with open(ini, "w") as f:
        f.write("[server]\nconfig = %s\n" % os.path.join(TMP, "other.ini"))
    r = run("--config", ini, "--listen", "127.0.0.1:0", "--db", os.path.join(TMP, "c.db"))
    assert r.returncode == 2, r.stderr
    assert one_line(r.stderr) == "msnd: %s:2: 'config' is an option, not a setting of the file" % ini, r.stderr
    r = run("--config", os.path.join(TMP, "absent.ini"))
    assert one_line(r.stderr) == "msnd: cannot open config file %s: No such file or directory" % \
        os.path.join(TMP, "absent.ini"), r.stderr
    # a line past libinih's 200 bytes is read whole: a database path of 300
    longdir = os.path.join(TMP, *(["d" * 60] * 5))
    os.makedirs(longdir)
    longdb = os.path.join(longdir, "l.db")
    assert run("user", "add", "--create", "--db", longdb, "l@b.com", "pw", "Ell").returncode == 0
    with open(ini, "w") as f:
        f.write("[server]\ndb = %s\n" % longdb)
    r = run("--config", ini, "user", "list")
    assert r.returncode == 0 and r.stdout == "l@b.com\tEll\n", (r.stdout, r.stderr)
    with open(ini, "w") as f:
        f.write("[server]\n; %s\n" % ("x" * 70000))
    r = run("--config", ini)
    assert r.returncode == 2 and one_line(r.stderr) == "msnd: %s:2: line longer than 65536 bytes" % ini, r.stderr
    # an indented line is a setting of its own, not the value of the one
    # above it (log_file would have become "log_level = loud")
    with open(ini, "w") as f:
        f.write("[log]\nlog_file = %s\n    log_level = loud\n" % os.path.join(TMP, "m.log"))
    r = run("--config", ini)
    assert r.returncode == 2, r.stderr
    assert one_line(r.stderr) == "msnd: %s:3: 'log_level' expects debug, info, warn or error, not 'loud'" % ini, \
        r.stderr
    # a file that is a pipe (--config <(...), /dev/stdin) is read once: it
    # was rewound for a second reading that found nothing, so none of its
    # settings applied and this bad one started a server
    r = run("--config", "/dev/stdin", "--listen", "127.0.0.1:0", "--db", os.path.join(TMP, "pipe.db"),
            input="[limits]\nmax_line = 7\n")
    assert r.returncode == 2, r.stderr
    assert one_line(r.stderr).startswith("msnd: /dev/stdin:2: 'max_line' expects a number"), r.stderr
    # a NUL byte would cut the line short in silence (max_line 100, not 1000)
    with open(ini, "wb") as f:
        f.write(b"[limits]\nmax_line = 100\x000\n")
    r = run("--config", ini)
    assert r.returncode == 2 and one_line(r.stderr) == "msnd: %s:2: a NUL byte (not a text file?)" % ini, r.stderr
    # settings given as words are checked as they are read too
    for line, want in (("log_level = loud", "debug, info, warn or error"),
                       ("role = ds,xx", "all, or a comma list of ds, ns, sb"),
                       ("listen = garbage", "a numeric IP and a port"),
                       ("ns_listen = 127.0.0.1:99999", "a numeric IP and a port"),
                       ("sb_listen = localhost:1865", "a numeric IP and a port"),
                       ("ns_nodes = 10.0.0.1:1864,bad", "up to 16 host:port ([IPv6]:port), comma-separated"),
                       # handed to clients, who split at the last ':': the
                       # host ":" on port 1
                       ("ns_nodes = ::1", "up to 16 host:port ([IPv6]:port), comma-separated"),
                       ("sb_address = fe80::1", "host:port ([IPv6]:port)"),
                       ("ns_links = " + ",".join("10.0.0.%d:1900" % i for i in range(17)),
                        "up to 16 numeric IPs with ports, comma-separated"),
                       ("sb_address = sb.example.com", "host:port ([IPv6]:port)")):
        with open(ini, "w") as f:
            f.write("[server]\n%s\n" % line)
        r = run("--config", ini)
        key, _, value = line.partition(" = ")
        assert r.returncode == 2, (line, r.stderr)
        assert one_line(r.stderr) == "msnd: %s:2: '%s' expects %s, not '%s'" % (ini, key, want, value), r.stderr


def test_startup_errors_once_with_cause():
    db = os.path.join(TMP, "start.db")
    assert run("user", "add", "--create", "--db", db, "s@b.com", "pw").returncode == 0
    r = run("--db", db, "--listen", "127.0.0.1:0", "--log-file", TMP)  # a directory
    assert r.returncode == 1
    assert one_line(r.stderr) == "msnd: cannot open log file %s: Is a directory" % TMP, r.stderr
    if os.geteuid() == 0:
        # as another user, in this test's private (0700) directory
        r = subprocess.run([MSND, "--db", db, "--log-file", os.path.join(TMP, "x.log")], capture_output=True,
                           text=True, timeout=30, preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
        assert r.returncode == 1
        assert one_line(r.stderr) == "msnd: cannot open log file %s: Permission denied" % \
            os.path.join(TMP, "x.log"), r.stderr
    # a port in use: said once on stderr (which is also the log here)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    r = run("--db", db, "--listen", "127.0.0.1:%d" % port)
    busy.close()
    assert r.returncode == 1
    errors = [l for l in r.stderr.splitlines() if "cannot listen" in l]
    assert len(errors) == 1, r.stderr
    assert errors[0] == "msnd: cannot listen on 127.0.0.1:%d for ds: Address already in use" % port, r.stderr
    # a --listen that is not an address is said to be one, not blamed on
    # deriving the other roles' ports from it; one that leaves no room
    # for them asks for them (both configuration errors: exit 2)
    r = run("--db", db, "--listen", "127.0.0.1:99999")
    assert r.returncode == 2
    assert one_line(r.stderr) == ("msnd: option '--listen': 'listen' expects a numeric IP and a port, "
                                  "not '127.0.0.1:99999'"), r.stderr
    r = run("--db", db, "--listen", "127.0.0.1:65535")
    assert r.returncode == 2
    assert "give --ns-listen and --sb-listen" in one_line(r.stderr), r.stderr
    # a node's switchboard on a wildcard address, with peers that would ring
    # their callees with it (RNG ... 0.0.0.0:port), and no --sb-address
    # (the role list with blanks after its commas, as the address lists take)
    for roles in ("ns,sb", "ns, sb"):
        r = run("--db", db, "--role", roles, "--listen", "127.0.0.1:0", "--sb-listen", "0.0.0.0:0", "--link-listen",
                "127.0.0.1:0", "--ns-peers", "127.0.0.1:9")
        assert r.returncode == 2
        assert re.search(r"msnd: with --ns-peers, a switchboard bound to a wildcard address \(0\.0\.0\.0:\d+\) "
                         r"needs --sb-address host:port", r.stderr), (roles, r.stderr)


def test_password_from_stdin():
    db = os.path.join(TMP, "pw.db")
    r = run("user", "add", "--create", "--db", db, "p@b.com", input="from-stdin\n")
    assert r.returncode == 0, r.stderr
    srv = msntest.MsndServer(MSND, workdir=tempfile.mkdtemp(dir=TMP))
    shutil.copyfile(db, srv.db)
    try:
        srv.start()
        msntest.login(srv, "p@b.com", "from-stdin").close()
    finally:
        srv.cleanup()
    r = run("user", "passwd", "--db", db, "p@b.com", input="")
    assert r.returncode == 2 and "no password given" in r.stderr, r.stderr


def test_password_prompt_on_a_terminal_has_echo_off():
    db = os.path.join(TMP, "tty.db")
    master, slave = pty.openpty()
    p = subprocess.Popen([MSND, "user", "add", "--create", "--db", db, "t@b.com"], stdin=slave, stdout=slave,
                         stderr=slave, close_fds=True)
    os.close(slave)
    seen = b""

    def read_until(token, deadline):
        nonlocal seen
        while token not in seen:
            assert time.monotonic() < deadline, seen
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    seen += os.read(master, 1024)
                except OSError:
                    break

    deadline = time.monotonic() + 20
    read_until(b"Password for t@b.com: ", deadline)
    os.write(master, b"typed-secret\n")
    read_until(b"Again: ", deadline)
    os.write(master, b"typed-secret\n")
    assert p.wait(20) == 0
    try:
        while True:
            r, _, _ = select.select([master], [], [], 0.2)
            if not r:
                break
            chunk = os.read(master, 1024)
            if not chunk:
                break
            seen += chunk
    except OSError:
        pass
    os.close(master)
    assert b"typed-secret" not in seen, seen
    r = run("user", "list", "--db", db)
    assert "t@b.com" in r.stdout


def test_interrupted_password_prompt_gives_the_echo_back():
    """Ctrl-C (or a SIGTERM) at the password prompt ended msnd with the
    terminal's echo still off: the shell went on not showing what was
    typed. The settings are put back; the signal still ends msnd."""
    import termios
    for sig in (signal.SIGINT, signal.SIGTERM):
        db = os.path.join(TMP, "int.db")
        master, slave = pty.openpty()
        assert termios.tcgetattr(slave)[3] & termios.ECHO
        p = subprocess.Popen([MSND, "user", "add", "--create", "--db", db, "t@b.com"], stdin=slave, stdout=slave,
                             stderr=slave)
        try:
            seen = b""
            deadline = time.monotonic() + 20
            while b"Password for t@b.com: " not in seen:
                assert time.monotonic() < deadline and p.poll() is None, seen
                r, _, _ = select.select([master], [], [], 0.5)
                if r:
                    seen += os.read(master, 1024)
            assert not termios.tcgetattr(slave)[3] & termios.ECHO  # asking, echo off
            p.send_signal(sig)
            assert p.wait(10) == -sig, p.returncode
            assert termios.tcgetattr(slave)[3] & termios.ECHO, "echo left off after %s" % sig.name
            assert not os.path.exists(db)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(master)
            os.close(slave)


def test_friendly_names_are_text():
    # `user add` stores what REA would accept from a client (209 otherwise):
    # a name with an escape sequence would reach every contact's screen
    db = os.path.join(TMP, "names.db")
    assert run("user", "add", "--create", "--db", db, "a@b.com", "pw").returncode == 0
    for name in ("Name\x1b[2J", "Tab\there", os.fsdecode(b"Bad\xff")):
        r = run("user", "add", "--db", db, "n@b.com", "pw", name)
        assert r.returncode == 2, (name, r.stderr)
        assert one_line(r.stderr) == "msnd: the friendly name must be UTF-8 text without control characters"
    r = run("user", "add", "--db", db, "z@b.com", "pw", "Zoë", "Smith")
    assert r.returncode == 0, r.stderr
    # the limit is the encoded length, and the message says so
    assert run("user", "add", "--db", db, "e1@b.com", "pw", "é" * 64 + "abc").returncode == 0  # 384 + 3
    r = run("user", "add", "--db", db, "e2@b.com", "pw", "é" * 64 + "a b")  # 384 + 5
    assert r.returncode == 2 and "at most 387 bytes URL-encoded" in one_line(r.stderr), r.stderr
    # refused before anything is made: no new database left by --create,
    # no password asked for
    fresh = os.path.join(TMP, "fresh.db")
    for name, why in (("Name\x1b[2J", "must be UTF-8 text without control characters"),
                      ("é" * 300, "is too long: at most 387 bytes URL-encoded, as clients get it (a space, % or "
                                  "non-ASCII byte takes 3)")):
        r = run("user", "add", "--create", "--db", fresh, "n@b.com", "-", name, input="pw\n")
        assert r.returncode == 2 and one_line(r.stderr) == "msnd: the friendly name %s" % why, r.stderr
        assert not os.path.exists(fresh), name
    # one stored by other means (an older msnd, a database edited by hand)
    # is listed as text, never as the bytes a terminal would obey
    with sqlite3.connect(db) as c:
        c.execute("UPDATE users SET name = ? WHERE email = 'a@b.com'", ("Evil%1B%5D0%3Bowned%07",))
    r = subprocess.run([MSND, "user", "list", "--db", db], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert b"\x1b" not in r.stdout and b"\x07" not in r.stdout, r.stdout
    assert b"a@b.com\tEvil^[]0;owned^G\n" in r.stdout, r.stdout
    assert "z@b.com\tZoë Smith\n".encode() in r.stdout, r.stdout


def free_port_triple():
    """A port P with P, P+1 and P+2 free, below the ephemeral range."""
    for _ in range(200):
        p = random.randrange(20000, 30000)
        socks = []
        try:
            for k in range(3):
                s = socket.socket()
                s.bind(("127.0.0.1", p + k))
                socks.append(s)
            return p
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free ports")


def test_ports_derived_from_listen():
    db = os.path.join(TMP, "ports.db")
    assert run("user", "add", "--create", "--db", db, "q@b.com", "pw").returncode == 0
    procs = []
    try:
        for i in range(2):
            for attempt in range(5):
                p = free_port_triple()
                pf = os.path.join(TMP, "ports%d" % i)
                log = os.path.join(TMP, "derived%d.log" % i)
                proc = subprocess.Popen([MSND, "--listen", "127.0.0.1:%d" % p, "--db", db, "--port-file", pf,
                                         "--log-file", log], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
                deadline = time.monotonic() + 10
                while not os.path.exists(pf) and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.02)
                if os.path.exists(pf):
                    break
                proc.kill()
                proc.wait()
            else:
                raise AssertionError("msnd did not start")
            procs.append(proc)
            with open(pf) as f:
                ports = dict(l.strip().split("=") for l in f)
            assert ports == {"ds": "127.0.0.1:%d" % p, "ns": "127.0.0.1:%d" % (p + 1),
                             "sb": "127.0.0.1:%d" % (p + 2)}, ports
            with open(log) as f:
                text = f.read()
            assert 'msg="notification port derived from --listen" addr=127.0.0.1:%d' % (p + 1) in text, text
            assert 'msg="switchboard port derived from --listen" addr=127.0.0.1:%d' % (p + 2) in text, text
        assert all(proc.poll() is None for proc in procs)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)


def test_ipv6_listeners_are_written_in_brackets():
    # "::1:1864" would read as one IPv6 address: the port file and the log
    # write the address as --listen takes it.
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        print("     (no IPv6 loopback here: not run)")
        return
    db = os.path.join(TMP, "ports6.db")
    assert run("user", "add", "--create", "--db", db, "q@b.com", "pw").returncode == 0
    pf = os.path.join(TMP, "ports6")
    log = os.path.join(TMP, "ports6.log")
    proc = subprocess.Popen([MSND, "--listen", "[::1]:0", "--ns-listen", "[::1]:0", "--sb-listen", "[::1]:0",
                             "--db", db, "--port-file", pf, "--log-file", log, "--log-level", "debug"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(pf) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if not os.path.exists(pf):
            raise AssertionError("msnd did not start: " + (proc.stderr.read().decode() if proc.poll() is not None else ""))
        with open(pf) as f:
            ports = dict(l.strip().split("=") for l in f)
        assert set(ports) == {"ds", "ns", "sb"}, ports
        peers = []
        for role, addr in ports.items():
            assert re.fullmatch(r"\[::1\]:[1-9][0-9]*", addr), (role, addr)
            host, _, port = addr.rpartition(":")
            with socket.create_connection((host.strip("[]"), int(port)), timeout=5) as s:
                if role != "sb":  # the switchboard speaks only after USR/ANS
                    s.sendall(b"VER 1 MSNP7 CVR0\r\n")
                    assert s.recv(100).startswith(b"VER 1 MSNP7"), role
                    peers.append("[::1]:%d" % s.getsockname()[1])
        with open(log) as f:
            text = f.read()
        for role, addr in ports.items():
            assert 'msg="listening" role=%s addr=%s' % (role, addr) in text, text
        # the clients' addresses too, once the connections are logged
        deadline = time.monotonic() + 5
        while not all("peer=%s " % p in text for p in peers) and time.monotonic() < deadline:
            time.sleep(0.05)
            with open(log) as f:
                text = f.read()
        for p in peers:
            assert "peer=%s " % p in text, (p, text)
        # and the referrals to them: XFR NS from the dispatch server, XFR SB
        srv = types.SimpleNamespace(ds=msntest.addr_of(ports["ds"]), ns=msntest.addr_of(ports["ns"]))
        ds = msntest.Client(srv.ds)
        ds.send_line("VER 1 MSNP7 CVR0")
        ds.expect("VER")
        ds.send_line("USR 2 MD5 I q@b.com")
        assert ds.expect("XFR").args[2] == ports["ns"]
        ds.close()
        ns = msntest.login(srv, "q@b.com", "pw")
        ns.send_line("XFR 9 SB")
        assert ns.expect("XFR").args[2] == ports["sb"]
        ns.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def start_logging(db, extra, stderr_file, env=None):
    pf = os.path.join(TMP, "log-ports")
    if os.path.exists(pf):
        os.unlink(pf)
    proc = subprocess.Popen([MSND, "--listen", "127.0.0.1:0", "--db", db, "--port-file", pf] + extra,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr_file, env=env)
    deadline = time.monotonic() + 10
    while not os.path.exists(pf):
        assert proc.poll() is None and time.monotonic() < deadline, "msnd did not start"
        time.sleep(0.02)
    with open(pf) as f:
        ports = dict(l.strip().split("=") for l in f)
    return proc, ports


def test_journal_lines_carry_priorities():
    # Started by systemd, stderr is the journal stream named in
    # JOURNAL_STREAM: lines carry <N> priorities and no timestamp.
    db = os.path.join(TMP, "j.db")
    assert run("user", "add", "--create", "--db", db, "j@b.com", "pw").returncode == 0
    path = os.path.join(TMP, "journal")
    with open(path, "wb") as err:
        st = os.fstat(err.fileno())
        env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        proc, ports = start_logging(db, [], err, env)
        # a refused login: a warning
        for _ in range(6):
            c = msntest.Client(msntest.addr_of(ports["ns"]))
            c.send_line("VER 1 MSNP7")
            c.expect("VER")
            c.send_line("USR 2 MD5 I j@b.com")
            r = c.read_cmd()
            if r.name == "USR":
                c.send_line("USR 3 MD5 S 00000000000000000000000000000000")
                c.read_cmd()
            c.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    with open(path) as f:
        lines = f.read().splitlines()
    assert lines and all(re.match(r"<[3467]>level=(debug|info|warn|error) msg=", l) for l in lines), lines
    assert any(l.startswith('<6>level=info msg="ready"') for l in lines), lines
    assert any(l.startswith('<4>level=warn msg="login throttle started"') for l in lines), lines
    # no time stamp field (the journal has its own); a field that merely
    # ends in "ts", as snapshots= does, is not one
    assert not any(re.search(r"(^|[\s>])ts=", l) for l in lines), lines
    # the same msnd with stderr elsewhere (JOURNAL_STREAM inherited but not
    # ours) writes plain logfmt lines
    with open(path + "2", "wb") as err:
        proc, _ = start_logging(db, [], err, env)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    with open(path + "2") as f:
        lines = f.read().splitlines()
    assert lines and all(l.startswith("ts=") for l in lines), lines


def test_sighup_without_a_log_file_says_so():
    """SIGHUP (systemctl reload) with the log on the journal or stderr:
    nothing is reopened, and msnd says that rather than "log reopened",
    with what reloading does not do."""
    db = os.path.join(TMP, "h.db")
    path = os.path.join(TMP, "hup-stderr")
    with open(path, "wb") as err:
        proc, _ = start_logging(db, [], err)
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "SIGHUP" not in open(path).read():
            assert time.monotonic() < deadline, open(path).read()
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    text = open(path).read()
    assert 'msg="SIGHUP: no log file to reopen" hint="the settings are read at start only: restart msnd to ' \
           'change them"' in text, text
    assert "log reopened" not in text, text


def test_log_auto_prefers_the_log_file():
    """--log auto with --log-file under systemd (stderr the journal stream):
    the lines go to the file, none to the journal; --help says so."""
    db = os.path.join(TMP, "lf.db")
    assert run("user", "add", "--create", "--db", db, "j@b.com", "pw").returncode == 0
    path, logfile = os.path.join(TMP, "journal"), os.path.join(TMP, "msnd.log")
    with open(path, "wb") as err:
        st = os.fstat(err.fileno())
        env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        proc, _ = start_logging(db, ["--log-file", logfile], err, env)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    with open(path) as f:
        assert f.read() == ""
    with open(logfile) as f:
        assert 'level=info msg="ready"' in f.read()
    line = [l for l in run("--help").stdout.splitlines() if l.strip().startswith("--log ")]
    assert len(line) == 1 and "auto (--log-file if given, else the journal under systemd, else stderr)" in line[0], line


def test_sighup_reopens_the_log_file_once():
    db = os.path.join(TMP, "h.db")
    assert run("user", "add", "--create", "--db", db, "h@b.com", "pw").returncode == 0
    log = os.path.join(TMP, "msnd.log")
    proc, ports = start_logging(db, ["--log-file", log, "--log-level", "debug"], subprocess.DEVNULL)
    try:
        os.rename(log, log + ".1")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not os.path.exists(log):
            assert time.monotonic() < deadline, "no new log file after SIGHUP"
            time.sleep(0.02)
        c = msntest.Client(msntest.addr_of(ports["ns"]))
        c.send_line("VER 1 MSNP7")
        c.expect("VER")
        c.close()
        deadline = time.monotonic() + 10
        while "connection freed" not in open(log).read():
            assert time.monotonic() < deadline, open(log).read()
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    new = open(log).read()
    old = open(log + ".1").read()
    assert new.count('msg="log reopened"') == 1, new
    assert "connection accepted" in new and "connection accepted" not in old, (old, new)
    assert 'msg="ready"' in old and 'msg="ready"' not in new


def test_log_file_that_cannot_be_reopened_is_named():
    """SIGHUP when the log's directory has gone (rotation gone wrong): msnd
    writes on to the file it has open, and the line says which file it
    could not open and that it did so."""
    db = os.path.join(TMP, "r.db")
    assert run("user", "add", "--create", "--db", db, "r@b.com", "pw").returncode == 0
    logdir = os.path.join(TMP, "logs")
    os.mkdir(logdir)
    log = os.path.join(logdir, "msnd.log")
    proc, _ = start_logging(db, ["--log-file", log], subprocess.DEVNULL)
    try:
        os.rename(logdir, logdir + ".old")
        proc.send_signal(signal.SIGHUP)
        old = os.path.join(logdir + ".old", "msnd.log")
        deadline = time.monotonic() + 10
        while "cannot reopen" not in open(old).read():
            assert time.monotonic() < deadline and proc.poll() is None, open(old).read()
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    lines = [l for l in open(old).read().splitlines() if "cannot reopen" in l]
    assert len(lines) == 1, lines
    assert ('level=warn msg="cannot reopen log file: writing on to the file open before" file="%s" '
            'error="No such file or directory"' % log) in lines[0], lines
    assert 'msg="stopped"' in open(old).read()


def test_signals_as_soon_as_the_port_file_is_there():
    # The port file says msnd is ready: a supervisor or script may signal it
    # the moment the file appears. SIGHUP must then reopen the log, not
    # kill msnd by its default action (the file was once written before
    # the handlers were in place), and SIGTERM must stop it cleanly.
    db = os.path.join(TMP, "s.db")
    assert run("user", "add", "--create", "--db", db, "s@b.com", "pw").returncode == 0
    pf = os.path.join(TMP, "sig-ports")
    for i in range(25):
        if os.path.exists(pf):
            os.unlink(pf)
        proc = subprocess.Popen([MSND, "--listen", "127.0.0.1:0", "--db", db, "--port-file", pf],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(pf):  # no sleep: signal as early as a watcher could
                assert proc.poll() is None and time.monotonic() < deadline, "msnd did not start"
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.05)
            assert proc.poll() is None, "trial %d: msnd ended (%s) on a SIGHUP sent when its port file appeared" % (
                i, proc.returncode)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0, "trial %d: exit status %s after SIGTERM" % (i, proc.returncode)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_signals_as_soon_as_a_port_accepts():
    # A supervisor or test may take an accepting port for "ready" and stop
    # msnd at once: its signal handlers must be in place before any port
    # accepts (they once came after the listeners, and a SIGTERM in between
    # ended msnd by the default action, without its clean stop). strace
    # holds msnd for 0.3 s after each listen(2): a port accepts meanwhile,
    # and the signal is delivered as msnd goes on.
    strace = shutil.which("strace")
    if not strace:
        print("     (no strace here: not run; scripts/install-deps.sh installs it)")
        return
    db = os.path.join(TMP, "sa.db")
    assert run("user", "add", "--create", "--db", db, "sa@b.com", "pw").returncode == 0
    p = free_port_triple()
    proc = subprocess.Popen([strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace=listen",
                             "-e", "inject=listen:delay_exit=300000",
                             MSND, "--listen", "127.0.0.1:%d" % p, "--db", db],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            # LeakSanitizer does not run under ptrace (a sanitizer build)
                            env=dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"))
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "msnd did not start"
            try:
                socket.create_connection(("127.0.0.1", p), timeout=1).close()
                break
            except OSError:
                time.sleep(0.01)
        with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
            msnd = int(f.read().split()[0])
        os.kill(msnd, signal.SIGTERM)
        # strace ends as its traced process did: 0 after a clean stop
        assert proc.wait(30) == 0, "exit status %s after a SIGTERM sent when the port accepted: %s" % (
            proc.returncode, proc.stderr.read()[-2000:])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_port_file_is_removed_at_a_clean_stop():
    # A port file left behind gives whoever waits for the next one the
    # addresses of a server that is gone; one another process wrote over
    # it meanwhile is that process's and stays.
    db = os.path.join(TMP, "pf.db")
    assert run("user", "add", "--create", "--db", db, "p@b.com", "pw").returncode == 0
    pf = os.path.join(TMP, "pf-ports")
    for replace in (False, True):
        proc = subprocess.Popen([MSND, "--listen", "127.0.0.1:0", "--db", db, "--port-file", pf],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(pf):
                assert proc.poll() is None and time.monotonic() < deadline, "msnd did not start"
                time.sleep(0.02)
            if replace:
                with open(pf + ".other", "w") as f:
                    f.write("ds=127.0.0.1:1\n")
                os.rename(pf + ".other", pf)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, (proc.returncode, err)
        if replace:
            assert open(pf).read() == "ds=127.0.0.1:1\n", "another process's port file was removed"
            os.unlink(pf)
        else:
            assert not os.path.exists(pf), "the port file stayed after a clean stop"


def test_connection_limit_fits_the_descriptor_limit():
    import resource
    db = os.path.join(TMP, "fd.db")
    assert run("user", "add", "--create", "--db", db, "f@b.com", "pw").returncode == 0
    log = os.path.join(TMP, "fd.log")

    def small_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))

    pf = os.path.join(TMP, "fd-ports")
    proc = subprocess.Popen([MSND, "--listen", "127.0.0.1:0", "--db", db, "--port-file", pf, "--log-file", log],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=small_nofile)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(pf):
            assert proc.poll() is None and time.monotonic() < deadline, "msnd did not start"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    text = open(log).read()
    assert ('msg="descriptor limit below max-connections, lowering it" max_connections=10000 nofile=300 '
            'using=236') in text, text


def test_descriptor_limit_too_low_to_start_is_named():
    """With a limit on open files too low for the listeners and the
    database, start failed at whatever ran out first, named as something
    else: SQLite's "the directory must be writable"."""
    import resource
    db = os.path.join(TMP, "fd.db")
    assert run("user", "add", "--create", "--db", db, "f@b.com", "pw").returncode == 0
    for limit in (8, 31):
        r = subprocess.run([MSND, "--listen", "127.0.0.1:0", "--db", db], capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)))
        assert r.returncode == 1, (limit, r.returncode, r.stderr)
        assert one_line(r.stderr) == (
            "msnd: the limit on open files is %d (hard limit %d), too low: msnd needs at least 32, for its "
            "listeners, the database files, the log and a few connections (raise it: ulimit -n, or LimitNOFILE= "
            "in the systemd unit)" % (limit, limit)), r.stderr


def test_db_help():
    for argv in (["db", "--help"], ["db", "-h"], ["db", "init", "--help"], ["db", "migrate", "--help"]):
        r = run(*argv)
        assert r.returncode == 0, (argv, r.returncode, r.stderr)
        assert "msnd db init --db DB" in r.stdout and "msnd db migrate --from DB --to DB" in r.stdout, r.stdout
        assert r.stderr == "", r.stderr
    r = run("db")
    assert r.returncode == 2 and "msnd db init" in r.stderr, r.stderr
    r = run("--help")
    assert r.returncode == 0 and "msnd db init|migrate" in r.stdout, r.stdout


CONTRIB_INI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "contrib", "msnd.ini")


def test_contrib_ini_loads_and_lists_every_limit():
    db = os.path.join(TMP, "contrib.db")
    assert run("user", "add", "--create", "--db", db, "k@b.com", "pw", "Kay").returncode == 0
    r = run("--config", CONTRIB_INI, "--db", db, "user", "list")
    assert r.returncode == 0 and r.stdout == "k@b.com\tKay\n", (r.stdout, r.stderr)
    # "the installed copy lists the limits at their defaults" (msnd.ini(5)):
    # every numeric setting of --help is a key of the file, set or commented.
    with open(CONTRIB_INI) as f:
        keys = set(re.findall(r"^;? ?([a-z_]+) = ", f.read(), re.M))
    helptext = run("--help").stdout
    numeric = set(m.replace("-", "_") for m in re.findall(r"^  --([a-z-]+) N\b", helptext, re.M))
    assert len(numeric) >= 30, numeric
    assert numeric <= keys, sorted(numeric - keys)


def test_ephemeral_derived_ports_say_so():
    db = os.path.join(TMP, "eph.db")
    assert run("user", "add", "--create", "--db", db, "e@b.com", "pw").returncode == 0
    log = os.path.join(TMP, "eph.log")
    proc, ports = start_logging(db, ["--log-file", log], subprocess.DEVNULL)
    try:
        with open(log) as f:
            text = f.read()
        for what, role in (("notification", "ns"), ("switchboard", "sb")):
            assert ('msg="%s port derived from --listen" addr=127.0.0.1:0 '
                    'rule="--listen port 0: chosen by the system (ephemeral)"' % what) in text, text
            assert not ports[role].endswith(":0"), ports
        assert "--listen port + " not in text, text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_config_directory_is_refused():
    """--config naming a directory is a configuration error (exit 2 with
    the reason), not an empty file that leaves every setting at its
    default."""
    d = os.path.join(TMP, "msnd.ini.d")
    os.mkdir(d)
    r = subprocess.run([MSND, "--config", d, "--listen", "127.0.0.1:0", "--db", os.path.join(TMP, "d.db")],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=5)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert one_line(r.stderr) == "msnd: cannot read config file %s: Is a directory" % d, r.stderr
    assert not os.path.exists(os.path.join(TMP, "d.db"))


def test_user_commands_take_the_sqlite_prefix():
    """--db sqlite:PATH names the same file for every user command as for
    the server."""
    path = os.path.join(TMP, "pre.db")
    db = "sqlite:" + path
    assert run("user", "add", "--create", "--db", db, "a@b.com", "pw", "Ay").returncode == 0
    assert os.path.exists(path)
    for argv, out in ((["list"], "a@b.com\tAy\n"), (["add", "b@b.com", "pw", "Bee"], ""),
                      (["passwd", "a@b.com", "pw2"], ""), (["del", "a@b.com"], ""), (["list"], "b@b.com\tBee\n")):
        r = run("user", *argv, "--db", db)
        assert r.returncode == 0 and r.stdout == out, (argv, r.returncode, r.stdout, r.stderr)
    missing = os.path.join(TMP, "missing.db")
    r = run("user", "list", "--db", "sqlite:" + missing)
    assert r.returncode == 1 and "No such file or directory" in r.stderr, r.stderr
    assert not os.path.exists(missing)


def test_empty_database_file_is_made_private():
    """An empty file that is there already (touch, an installer) becomes the
    database with mode 0600, as one msnd creates; a database that holds
    accounts keeps the mode its owner gave it."""
    db = os.path.join(TMP, "empty.db")
    open(db, "w").close()
    os.chmod(db, 0o644)
    r = run("user", "add", "--db", db, "a@b.com", "pw")
    assert r.returncode == 0, r.stderr
    assert os.stat(db).st_mode & 0o7777 == 0o600, oct(os.stat(db).st_mode)
    os.chmod(db, 0o640)
    assert run("user", "list", "--db", db).returncode == 0
    assert os.stat(db).st_mode & 0o7777 == 0o640, oct(os.stat(db).st_mode)


def test_link_secret_is_one_word():
    """The link secret travels as one word of a link line: one with a space
    or a control character is refused as the configuration is read (exit
    2, naming the setting, not repeating the secret)."""
    ini = os.path.join(TMP, "secret.ini")
    for secret in ("two words", "tab\there"):
        with open(ini, "w") as f:
            f.write("[server]\nlink_secret = %s\n" % secret)
        for argv, want in ((["--config", ini], "msnd: %s:2: 'link_secret' expects " % ini),
                           (["--link-secret", secret], "msnd: option '--link-secret': 'link-secret' expects ")):
            r = subprocess.run([MSND] + argv + ["--listen", "127.0.0.1:0", "--db", os.path.join(TMP, "s.db")],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=5)
            assert r.returncode == 2, (argv, r.returncode, r.stderr)
            line = one_line(r.stderr)
            assert line == want + "one word (no spaces or control characters)", (argv, line)
    assert not os.path.exists(os.path.join(TMP, "s.db"))


def help_settings():
    """(name, kind) of every setting --help lists: N (a number), VALUE (a
    word, an address, a path) or '' (yes or no)."""
    out = run("--help").stdout
    found = re.findall(r"^  --([a-z-]+)(?: (N|VALUE))?  ", out, re.M)
    return [(name, kind) for name, kind in found if name != "config"]


def test_configuration_errors_create_nothing():
    """A --listen that cannot be listened on (empty, or leaving no room for
    the ports derived from it), and settings that contradict each other,
    are configuration errors: exit 2, one line naming the option, before
    the database or the log file is made."""
    db = os.path.join(TMP, "never.db")
    log = os.path.join(TMP, "never.log")
    cases = [
        (["--listen", ""], "msnd: option '--listen': 'listen' expects a numeric IP and a port, not ''"),
        (["--listen", "127.0.0.1:65535"], "msnd: cannot derive the other roles' ports from --listen "
                                          "'127.0.0.1:65535' (give --ns-listen and --sb-listen)"),
        (["--listen", "127.0.0.1:0", "--role", "ns,sb", "--ns-peers", "127.0.0.1:9"],
         "msnd: --ns-peers needs --link-listen (the peers dial it to tell their users' presence)"),
        (["--listen", "0.0.0.0:1863", "--role", "ns,sb", "--link-listen", "127.0.0.1:0", "--ns-peers", "127.0.0.1:9"],
         "msnd: with --ns-peers, a switchboard bound to a wildcard address (0.0.0.0:1864) needs --sb-address "
         "host:port: the other nodes ring callees with it"),
        (["--listen", "127.0.0.1:0", "--log", "stderr"], "msnd: --log-file goes with --log auto, not --log stderr"),
    ]
    for argv, want in cases:
        r = subprocess.run([MSND] + argv + ["--db", db, "--log-file", log], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2, (argv, r.returncode, r.stderr)
        assert one_line(r.stderr) == want, (argv, r.stderr)
        assert not os.path.exists(db), (argv, "database created")
        assert not os.path.exists(log), (argv, "log file created")


def test_port_or_log_file_on_the_database_is_refused():
    """A --port-file naming the database was renamed over it (the accounts
    gone at the next stop), a --log-file appended to it: a configuration
    error, exit 2, with the database left as it was."""
    db = os.path.join(TMP, "keep.db")
    assert run("user", "add", "--create", "--db", db, "k@b.com", "pw", "Kay").returncode == 0
    with open(db, "rb") as f:
        before = f.read()
    rel = os.path.relpath(db)  # another spelling of the same file
    for argv in (["--port-file", db], ["--port-file", rel], ["--log-file", db], ["--port-file", db + "-wal"],
                 ["--log-file", db + "-shm"], ["--db", "sqlite:" + db, "--port-file", db]):
        dbarg = [] if "--db" in argv else ["--db", db]
        try:
            r = subprocess.run([MSND, "--listen", "127.0.0.1:0"] + dbarg + argv, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=5)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s: msnd started" % argv)
        assert r.returncode == 2, (argv, r.returncode, r.stderr)
        flag, path = argv[-2], argv[-1]
        given = argv[1] if "--db" in argv else db
        assert one_line(r.stderr) == ("msnd: %s %s is the database --db %s (or its -wal or -shm): give it another "
                                      "file" % (flag, path, given)), (argv, r.stderr)
        with open(db, "rb") as f:
            assert f.read() == before, argv
        assert run("user", "list", "--db", db).stdout == "k@b.com\tKay\n", argv
    # the port file renamed over the log file: the log gone
    log = os.path.join(TMP, "keep.log")
    with open(log, "w") as f:
        f.write("earlier lines\n")
    for port_file in (log, os.path.relpath(log)):
        r = subprocess.run([MSND, "--listen", "127.0.0.1:0", "--db", db, "--log-file", log, "--port-file", port_file],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=5)
        assert r.returncode == 2, (port_file, r.returncode, r.stderr)
        assert one_line(r.stderr) == ("msnd: --port-file %s is the --log-file %s: the port file would replace the "
                                      "log; give it another file" % (port_file, log)), r.stderr
        with open(log) as f:
            assert f.read() == "earlier lines\n", port_file


def test_port_file_on_a_device_or_fifo_is_refused():
    """The port file is written under another name and renamed over its
    own, which msnd unlinks at exit: on a FIFO or a device (--port-file
    /dev/null) that replaced it with a regular file and then removed it.
    Refused with exit 2, the FIFO and the device left as they were. The
    device is a copy of /dev/null's made here (as root), never the
    machine's own: a regression must not take that away."""
    db = os.path.join(TMP, "p.db")
    run("user", "add", "--create", "--db", db, "k@b.com", "pw")
    fifo = os.path.join(TMP, "fifo")
    os.mkfifo(fifo)
    cases = [(fifo, "a FIFO"), (TMP, "a directory")]
    null = os.path.join(TMP, "null")
    if os.geteuid() == 0:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        cases.insert(1, (null, "a character device"))
    for path, what in cases:
        try:
            r = subprocess.run([MSND, "--listen", "127.0.0.1:0", "--ns-listen", "127.0.0.1:0", "--sb-listen",
                                "127.0.0.1:0", "--db", db, "--port-file", path], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=5)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s: msnd started" % path)
        assert r.returncode == 2, (path, r.returncode, r.stderr)
        assert one_line(r.stderr) == ("msnd: --port-file %s is not a regular file (%s): msnd writes a new port "
                                      "file over the name and removes it at exit; name a file, or leave "
                                      "--port-file out" % (path, what)), r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    if os.geteuid() == 0:
        assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert sorted(os.listdir(TMP)) == sorted(["fifo", "p.db"] + (["null"] if os.geteuid() == 0 else [])), \
        os.listdir(TMP)


def test_every_bad_value_names_the_option_or_line():
    """Whatever the setting, a value it cannot take is refused with exit 2,
    naming the option (command line) or the file and line (INI), and saying
    what it expects; the settings that always have a value (the roles, the
    address to listen on, the database, the log) refuse an empty one too,
    while an empty optional one still means "not set"."""
    ini = os.path.join(TMP, "values.ini")
    never = os.path.join(TMP, "never.db")

    def refused(*argv):
        # a server to be, should the value be taken: on an ephemeral port,
        # its database in TMP (the setting under test comes last and wins)
        r = subprocess.run([MSND, "--listen", "127.0.0.1:0", "--db", never] + list(argv), cwd=TMP,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
        assert r.returncode == 2, (argv, r.returncode, r.stderr)
        assert not os.path.exists(never), (argv, "database created")
        return one_line(r.stderr)

    wants = {"role": "all, or a comma list of ds, ns, sb", "listen": "a numeric IP and a port",
             "db": "an SQLite file, sqlite:FILE or a postgresql:// URI", "log": "auto, stderr, journal or syslog",
             "log-level": "debug, info, warn or error"}
    for name, want in wants.items():
        line = refused("--" + name, "")
        assert line == "msnd: option '--%s': '%s' expects %s, not ''" % (name, name, want), line
    for setting, want in (("log = jurnal", "auto, stderr, journal or syslog"), ("role =", wants["role"]),
                          ("db = sqlite:", wants["db"])):
        with open(ini, "w") as f:
            f.write("[server]\nrole = all\n%s\n" % setting)
        key, _, value = setting.partition(" =")
        line = refused("--config", ini)
        assert line == "msnd: %s:3: '%s' expects %s, not '%s'" % (ini, key, want, value.strip()), line
    # beyond Linux's longest keepalive idle (32767 s) the kernel's 2 hours
    # stayed, in silence
    line = refused("--tcp-keepalive", "40000")
    assert line == "msnd: option '--tcp-keepalive': 'tcp-keepalive' expects a number from 0 to 32767, not '40000'", \
        line
    settings = help_settings()
    assert len(settings) >= 40, settings
    for name, kind in settings:
        key = name.replace("-", "_")
        bad = "x" * 5000 if kind == "VALUE" else "twelve" if kind == "N" else "maybe"
        line = refused("--%s=%s" % (name, bad))
        assert line.startswith("msnd: option '--%s': '%s' expects " % (name, name)), line
        with open(ini, "w") as f:
            f.write("[server]\n%s = %s\n" % (key, bad))
        line = refused("--config", ini)
        assert line.startswith("msnd: %s:2: '%s' expects " % (ini, key)), line
    db = os.path.join(TMP, "v.db")
    assert run("user", "add", "--create", "--db", db, "v@b.com", "pw", "Vee").returncode == 0
    r = run("user", "list", "--db", db, "--ns-peers", "", "--sb-address", "", "--port-file", "", "--ns-listen", "")
    assert r.returncode == 0 and r.stdout == "v@b.com\tVee\n", (r.returncode, r.stdout, r.stderr)


def test_options_before_or_after_every_subcommand():
    """--db, --config and the other options work before a subcommand as
    after it, for `msnd db` as for `msnd user`; an option a subcommand has
    no use for is refused by name."""
    db = os.path.join(TMP, "pre.db")
    ini = os.path.join(TMP, "pre.ini")
    with open(ini, "w") as f:
        f.write("[server]\ndb = sqlite:%s\n" % db)
    for argv in (["--db", "sqlite:" + db, "db", "init"], ["db", "--db", db, "init"], ["db", "init", "--db=" + db],
                 ["--config", ini, "db", "init"], ["db", "--config", ini, "init"]):
        r = run(*argv)
        assert r.returncode == 0 and r.stdout == "schema ready (sqlite)\n", (argv, r.returncode, r.stderr)
    for argv in (["--db", db, "user", "add", "a@b.com", "pw", "Ay"], ["--config", ini, "user", "list"],
                 ["user", "--db", db, "list"]):
        r = run(*argv)
        assert r.returncode == 0, (argv, r.returncode, r.stderr)
    copy = os.path.join(TMP, "copy.db")
    r = run("--from", db, "--to", copy, "db", "migrate")
    assert r.returncode == 0 and r.stdout.startswith("copied and checked: users 1,"), (r.stdout, r.stderr)
    assert run("user", "list", "--db", copy).stdout == "a@b.com\tAy\n"
    for argv, want in ((["--from", db, "user", "list", "--db", db], "msnd: option '--from' is for `msnd db migrate`"),
                       (["--to", copy, "db", "init", "--db", db], "msnd: option '--to' is for `msnd db migrate`"),
                       (["--from", db, "--listen", "127.0.0.1:0"], "msnd: option '--from' is for `msnd db migrate`"),
                       (["--create", "db", "init", "--db", db], "msnd: --create is for `msnd user add`"),
                       (["db", "init"], "msnd: db init: which database? (--db DB, or db = in the --config file)"),
                       (["--role", "", "db", "init", "--db", db],
                        "msnd: option '--role': 'role' expects all, or a comma list of ds, ns, sb, not ''")):
        r = run(*argv)
        assert r.returncode == 2, (argv, r.returncode, r.stderr)
        assert one_line(r.stderr) == want, (argv, r.stderr)
    r = run("--help", "db")
    assert r.returncode == 0 and "msnd db migrate --from DB --to DB" in r.stdout, r.stdout


def test_migrate_from_a_missing_file_is_refused():
    """A typo in --from was made into a new, empty store (the file left
    behind) and "copied" with exit 0: the target then held no account."""
    db = os.path.join(TMP, "real.db")
    assert run("user", "add", "--create", "--db", db, "a@b.com", "pw").returncode == 0
    empty = os.path.join(TMP, "empty.db")
    open(empty, "w").close()
    for src, want in ((os.path.join(TMP, "rael.db"), "%s: No such file or directory (check --from)"),
                      ("sqlite:" + os.path.join(TMP, "rael.db"), "%s: No such file or directory (check --from)"),
                      (empty, "%s is empty, not a database (check --from)")):
        to = os.path.join(TMP, "to.db")
        r = run("db", "migrate", "--from", src, "--to", to)
        assert r.returncode == 1 and r.stdout == "", (src, r.returncode, r.stdout, r.stderr)
        file = src[7:] if src.startswith("sqlite:") else src
        assert one_line(r.stderr) == "msnd db: source: " + want % file, r.stderr
        assert not os.path.exists(to), src
    assert sorted(os.listdir(TMP)) == ["empty.db", "real.db"], os.listdir(TMP)
    assert os.path.getsize(empty) == 0
    r = run("db", "migrate", "--from", db, "--to", os.path.join(TMP, "to.db"))
    assert r.returncode == 0 and r.stdout.startswith("copied and checked: users 1,"), (r.stdout, r.stderr)


def test_migrate_shows_its_progress_on_a_terminal_only():
    """A copy says how far it is on a terminal (a line rewritten in place,
    gone before the result); into a file or a pipe it says nothing but the
    result, as before."""
    src = os.path.join(TMP, "big.db")
    assert run("db", "init", "--db", src).returncode == 0
    db = sqlite3.connect(src)
    db.executescript("""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
        INSERT INTO users(id, email, password, name, created) SELECT i, 'u' || i || '@b.com', 'pw', 'U', 0 FROM n;
        INSERT INTO list_entries(owner, list, contact, name) SELECT id, 1, id % 20000 + 1, 'U' FROM users;
    """)
    db.commit()
    db.close()
    master, slave = pty.openpty()
    p = subprocess.Popen([MSND, "db", "migrate", "--from", src, "--to", os.path.join(TMP, "tty-copy.db")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, close_fds=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while p.poll() is None or select.select([master], [], [], 0)[0]:
        assert time.monotonic() < deadline, seen
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    out = p.stdout.read().decode()
    p.stdout.close()
    os.close(master)
    assert p.wait(10) == 0, seen
    assert out.startswith("copied and checked: users 20000, list entries 20000,"), out
    lines = [l for l in seen.decode().split("\r") if l.strip()]
    assert lines and lines[0].startswith("msnd db: copying: ") and "of 20000 accounts" in lines[0], seen
    assert re.search(r"\(\d+ %\)\x1b\[K$", lines[0]), seen
    assert seen.endswith(b"\r\x1b[K"), seen  # the line cleared before the result
    r = run("db", "migrate", "--from", src, "--to", os.path.join(TMP, "pipe-copy.db"))
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_migrate_refuses_fields_too_long_to_read():
    """An e-mail address, password or friendly name longer than msnd takes
    (a file edited by hand) reads as empty: it was copied as empty with
    "copied and checked", the value gone (and the account unusable) in the
    target."""
    db = os.path.join(TMP, "src.db")
    for e in ("a@b.com", "c@d.com"):
        assert run("user", "add", "--create", "--db", db, e, "pw").returncode == 0
    # each change stays: the later fields are checked first
    for column, value, want in (("name", "n" * 388, "its friendly name is longer than 387 bytes or empty"),
                                ("password", "p" * 300, "its password is longer than 255 bytes or empty"),
                                ("email", "e" * 140 + "@d.com", "its e-mail address is longer than 129 bytes or empty")):
        conn = sqlite3.connect(db)
        uid = conn.execute("SELECT id FROM users WHERE email = 'c@d.com'").fetchone()[0]
        conn.execute("UPDATE users SET %s = ? WHERE id = ?" % column, (value, uid))
        conn.commit()
        conn.close()
        to = os.path.join(TMP, "to-%s.db" % column)
        r = run("db", "migrate", "--from", db, "--to", to)
        assert r.returncode == 1 and r.stdout == "", (r.returncode, r.stdout, r.stderr)
        assert one_line(r.stderr) == "msnd db: migration failed, nothing copied: source account #%d: %s " \
            "(fix it in the source and try again)" % (uid, want), r.stderr
        assert sqlite3.connect(to).execute("SELECT count(*) FROM users").fetchone()[0] == 0


def test_demo_script_runs_again_with_many_accounts():
    """scripts/run-demo.sh (make run) a second time, once the demo database
    lists more than a pipe buffer's worth of accounts: it finds the demo
    account and goes on to the server instead of adding it again."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts", "run-demo.sh")
    build = os.path.join(TMP, "build")
    os.makedirs(os.path.join(build, "src", "msnd"))
    fake = os.path.join(build, "src", "msnd", "msnd")
    with open(fake, "w") as f:  # the user commands run; the server itself only says it was reached
        f.write('#!/bin/sh\nif [ "$1" = user ]; then exec "%s" "$@"; fi\necho SERVER "$@"\n' % MSND)
    os.chmod(fake, 0o755)
    env = dict(os.environ, MSNKIT_DEMO_DIR=os.path.join(TMP, "demo"), MSNKIT_PORT="1")

    def demo():
        return subprocess.run(["bash", script, build], env=env, capture_output=True, text=True, timeout=30)

    r = demo()
    assert r.returncode == 0 and "SERVER --listen 127.0.0.1:1" in r.stdout, (r.returncode, r.stdout, r.stderr)
    db = os.path.join(TMP, "demo", "msnd.db")
    name = "A rather long friendly name to make the list longer than one buffer"
    for i in range(80):  # listed after demo@: 80 * 90 bytes
        assert run("user", "add", "--db", db, "user%02d@msnkit.test" % i, "pw", name).returncode == 0
    assert len(run("user", "list", "--db", db).stdout) > 6000
    for _ in range(2):
        r = demo()
        assert r.returncode == 0 and "SERVER --listen 127.0.0.1:1" in r.stdout, (r.returncode, r.stdout, r.stderr)


TESTS = [test_unknown_option_is_named, test_help, test_version, test_missing_database_is_not_created,
         test_database_made_by_root_belongs_to_the_directory_owner,
         test_new_or_empty_database_is_reported,
         test_unusable_database_files_say_what_is_wrong, test_database_that_cannot_be_written_is_refused,
         test_config_before_or_after_the_subcommand,
         test_ini_errors_carry_line_numbers,
         test_startup_errors_once_with_cause, test_password_from_stdin,
         test_password_prompt_on_a_terminal_has_echo_off, test_interrupted_password_prompt_gives_the_echo_back,
         test_friendly_names_are_text, test_ports_derived_from_listen,
         test_database_in_a_missing_directory_names_the_directory,
         test_ipv6_listeners_are_written_in_brackets,
         test_journal_lines_carry_priorities, test_log_auto_prefers_the_log_file,
         test_sighup_reopens_the_log_file_once, test_sighup_without_a_log_file_says_so,
         test_log_file_that_cannot_be_reopened_is_named,
         test_signals_as_soon_as_the_port_file_is_there, test_signals_as_soon_as_a_port_accepts,
         test_port_file_is_removed_at_a_clean_stop,
         test_connection_limit_fits_the_descriptor_limit,
         test_descriptor_limit_too_low_to_start_is_named,
         test_db_help, test_contrib_ini_loads_and_lists_every_limit, test_ephemeral_derived_ports_say_so,
         test_config_directory_is_refused, test_user_commands_take_the_sqlite_prefix,
         test_empty_database_file_is_made_private, test_link_secret_is_one_word,
         test_configuration_errors_create_nothing, test_port_or_log_file_on_the_database_is_refused,
         test_port_file_on_a_device_or_fifo_is_refused,
         test_every_bad_value_names_the_option_or_line,
         test_options_before_or_after_every_subcommand, test_migrate_from_a_missing_file_is_refused,
         test_demo_script_runs_again_with_many_accounts, test_migrate_refuses_fields_too_long_to_read,
         test_migrate_shows_its_progress_on_a_terminal_only]

if __name__ == "__main__":
    MSND = os.path.abspath(sys.argv[1])
    failed = 0
    for fn in TESTS:
        TMP = tempfile.mkdtemp(prefix="msnd-cli-")
        try:
            fn()
            print("ok   %s" % fn.__name__)
        except Exception:
            failed += 1
            print("FAIL %s" % fn.__name__)
            traceback.print_exc()
        finally:
            shutil.rmtree(TMP, ignore_errors=True)
    print("%d of %d failed" % (failed, len(TESTS)) if failed else "all %d passed" % len(TESTS))
    sys.exit(1 if failed else 0)
