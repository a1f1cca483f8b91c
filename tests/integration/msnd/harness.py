"""Tiny runner shared by the msnd integration scripts: each test function
gets a fresh msnd (temp dir, temp database, ephemeral ports) with the
users it names, and the log is printed when it fails.

The database is SQLite, or PostgreSQL when MSND_TEST_DB=postgresql (one
throw-away server per test process, a fresh database per test; see
tests/integration/lib/pgtest.py). A test about one backend only says so
with @backend_only("sqlite") and is reported as skipped on the other.

MSND_TEST_TOPOLOGY=cluster runs each test on a cluster instead: a DS, three
notification nodes and two switchboard processes, each in a network
namespace of its own, on PostgreSQL (tests/integration/lib/netcluster.py)."""
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import msntest  # noqa: E402
import pgtest  # noqa: E402

USERS = [
    ("example@passport.com", "password", "my screen name"),
    ("name_123@hotmail.com", "secret123", "name_123"),
    ("alice@example.com", "alicepw", "Alice"),
    ("bob@example.com", "bobpw", "Bob"),
    ("carol@example.com", "carolpw", "Carol"),
]
PASSWORDS = {u[0]: u[1] for u in USERS}


def login(srv, email, **kw):
    return msntest.login(srv, email, PASSWORDS[email], **kw)


def online(srv, email, status="NLN", **kw):
    """Log in, SYN and CHG; returns the client after the CHG echo (ILNs left unread)."""
    c = login(srv, email, **kw)
    t = c.trid()
    c.send_line("SYN %d 0" % t)
    while True:
        cmd = c.read_cmd()
        if cmd.name == "LST" and cmd.args[1] == "RL" and (cmd.args[3] == "0" or cmd.args[3] == cmd.args[4]):
            break
    t = c.trid()
    c.send_line("CHG %d %s" % (t, status))
    while True:
        cmd = c.read_cmd()
        # Another node's notice (ADD 0 RL for an earlier ADD, say) may come
        # first: unsolicited lines carry no trid of ours.
        if cmd.name in ("NLN", "FLN") or (cmd.name != "CHG" and cmd.args and cmd.args[0] == "0"):
            continue
        assert cmd.line == "CHG %d %s" % (t, status), cmd
        return c


def presence_within(c, email, secs):
    """The NLN/FLN lines about email that c is sent within secs."""
    got = []
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            cmd = c.read_cmd(max(0.05, end - time.monotonic()))
        except (TimeoutError, OSError):
            break
        if cmd.name in ("NLN", "FLN") and email in cmd.args:
            got.append(cmd.line)
    return got


def run(tests, msnd, args=()):
    if msntest.topology() == "cluster" and os.geteuid() != 0:
        print("skipped: the cluster topology needs root (network namespaces)")
        return 77
    failed = 0
    # Accounts are created once and the database file copied for each test:
    # `msnd user add` per test would dominate the run time under sanitizers.
    template = msntest.new_server(msnd, users=USERS)
    for fn in tests:
        only = getattr(fn, "backend", None)
        if only and only != pgtest.backend():
            print("skip %s (%s only)" % (fn.__name__, only))
            continue
        srv = msntest.new_server(msnd, args=list(args) + list(getattr(fn, "args", ())))
        srv.copy_db_from(template)
        try:
            started = time.monotonic()
            srv.start()
            fn(srv)
            print("ok   %s (%.1f s)" % (fn.__name__, time.monotonic() - started))
        except Exception:
            failed += 1
            print("FAIL %s" % fn.__name__)
            traceback.print_exc()
            print("---- msnd log (tail) ----")
            print(srv.log_text()[-5000:])
        finally:
            rc = srv.stop()
            srv.cleanup()
            if rc not in (0, None):
                failed += 1
                print("FAIL %s: msnd exited with %s" % (fn.__name__, rc))
                print(srv.stderr_text()[-3000:])
    template.cleanup()
    print("%d of %d failed" % (failed, len(tests)) if failed else "all %d passed" % len(tests))
    return 1 if failed else 0


def backend_only(name):
    def deco(fn):
        fn.backend = name
        return fn
    return deco


def with_args(*a):
    def deco(fn):
        fn.args = a
        return fn
    return deco
