#!/usr/bin/env python3
"""msnd on PostgreSQL only: a slow database link delays only the requests
that need the database (the database is reached through a relay that adds
latency: the test kernels have no netem qdisc), and `msnd db migrate`
copies a SQLite store into PostgreSQL."""
import contextlib
import os
import random
import re
import select
import socket
import sqlite3
import struct
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import delayproxy  # noqa: E402
import msntest  # noqa: E402
import pgtest  # noqa: E402
from harness import USERS, PASSWORDS, presence_within  # noqa: E402

MSND = None


def online(srv, email):
    c = msntest.login(srv, email, PASSWORDS[email])
    t = c.trid()
    c.send_line("SYN %d 0" % t)
    while True:
        cmd = c.read_cmd()
        if cmd.name == "LST" and cmd.args[1] == "RL" and (cmd.args[3] == "0" or cmd.args[3] == cmd.args[4]):
            break
    t = c.trid()
    c.send_line("CHG %d NLN" % t)
    while c.read_cmd().name != "CHG":
        pass
    return c


@contextlib.contextmanager
def two_online_behind_relay(args=()):
    """msnd on the shared PostgreSQL server, reached through a relay that adds
    latency when asked (proxy.delay_ms), without a command rate limit (and
    with args), with alice and bob online: yields (srv, proxy, alice, bob).
    msnd's log is printed when the block fails."""
    pg = pgtest.shared()
    template = msntest.MsndServer(MSND, users=USERS)
    proxy = delayproxy.DelayProxy(("127.0.0.1", pg.port), delay_ms=0).start()
    srv = msntest.MsndServer(MSND, args=["--max-commands-per-second", "0"] + list(args))
    try:
        srv.copy_db_from(template)
        srv.db = pg.url(srv.db_name, port=proxy.port)
        srv.start()
        yield srv, proxy, online(srv, "alice@example.com"), online(srv, "bob@example.com")
    except Exception:
        print(srv.log_text()[-4000:])
        raise
    finally:
        srv.cleanup()
        proxy.stop()
        template.cleanup()


def has_input(c):
    return bool(c.buf) or bool(select.select([c.sock], [], [], 0)[0])


def pings_while_busy(busy, idle, delay_ms, proxy, requests):
    """busy sends `requests` database writes one after another; idle pings
    the whole time. Returns (QNGs received while a write of busy was still
    unanswered, idle round trips in ms)."""
    proxy.delay_ms = delay_ms
    overlapped, rtts = 0, []
    for i in range(requests):
        t = busy.trid()
        busy.send_line("REA %d %s Name%%20%d" % (t, busy.email, i))
        answered = False
        while not answered:
            started = time.monotonic()
            idle.send_line("PNG")
            while True:
                cmd = idle.read_cmd()
                if cmd.name == "QNG":
                    break
            rtts.append((time.monotonic() - started) * 1000.0)
            time.sleep(0.002)  # a ping every few ms is plenty and keeps the loop bounded
            if has_input(busy):
                r = busy.read_cmd()
                assert r.name == "REA" and r.args[0] == str(t), r
                answered = True
            else:
                overlapped += 1
    return overlapped, rtts


def test_slow_database_delays_only_its_requests():
    pg = pgtest.shared()
    # the idle user pings back to back: no command rate limit
    with two_online_behind_relay() as (srv, proxy, busy, idle):
        # 20 ms each way, as a database in another room would be
        overlapped, rtts = pings_while_busy(busy, idle, 20, proxy, 10)
        rtts.sort()
        print("   20 ms link: %d PNG answered while a REA waited for the database; PNG p50 %.2f ms, "
              "p99 %.2f ms (%d round trips)" % (overlapped, rtts[len(rtts) // 2], rtts[int(len(rtts) * 0.99)],
                                                len(rtts)))
        # The event loop never waited for the database: the idle user's
        # pings were answered while the busy user's writes were in flight.
        assert overlapped >= 10, overlapped
        # a crawling link: still no effect on PNG
        overlapped, rtts = pings_while_busy(busy, idle, 300, proxy, 1)
        assert overlapped >= 5, overlapped
        proxy.delay_ms = 0
        name = pg.sql(srv.db_name, "SELECT name FROM users WHERE email = 'alice@example.com'")
        assert name == "Name%200", name


def test_one_listen_connection_when_commands_arrive_together():
    # A fresh msnd opens its LISTEN connection when a command first asks
    # whether the store changed. Commands arriving together each ask while
    # the connection is being made (the first one's fiber waits for the
    # server): one attempt must serve them all, not one connection each.
    pg = pgtest.shared()
    srv = msntest.MsndServer(MSND, users=USERS, args=["--max-commands-per-second", "0"])
    try:
        srv.start()
        clients = []
        for email, password, _name in USERS:
            c = msntest.Client(srv.ns)
            c.send_line("VER 1 MSNP7 CVR0")
            c.expect("VER")
            c.send_line("USR 2 MD5 I %s" % email)
            ch = c.expect("USR")
            clients.append((c, msntest.md5_login_response(ch.args[3], password)))
        for c, answer in clients:  # back to back: read in the same event-loop pass
            c.send_line("USR 3 MD5 S %s" % answer)
        for c, _ in clients:
            assert c.expect("USR").args[1] == "OK"
            c.expect("MSG")
        for c, _ in clients:
            c.send_line("SYN 4 0")
            c.send_line("CHG 5 NLN")
        for c, _ in clients:
            while c.read_cmd().name != "CHG":
                pass
        deadline = time.monotonic() + 5
        while True:
            n = int(pg.sql(srv.db_name, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                        " AND query = 'LISTEN msnd_store'"))
            if n >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert n == 1, "%d connections listening" % n
        for c, _ in clients:
            c.close()
    except Exception:
        print(srv.log_text()[-4000:])
        raise
    finally:
        srv.cleanup()


def test_input_while_a_command_waits():
    # A command waiting for the database pauses its connection's input: what
    # the client sends meanwhile is read and answered after it, in order,
    # and a client that hangs up while its command waits leaves the command
    # to finish (its write lands) and nothing behind.
    pg = pgtest.shared()
    with two_online_behind_relay() as (srv, proxy, busy, other):
        proxy.delay_ms = 30  # each statement of a write waits 60 ms
        t1 = busy.trid()
        busy.send_line("REA %d alice@example.com First" % t1)
        time.sleep(0.1)  # the REA waits for the database now
        t2 = busy.trid()
        busy.send_line("PNG")
        busy.send_line("REA %d alice@example.com Second" % t2)
        got = []
        while len(got) < 3:
            cmd = busy.read_cmd()
            if cmd.name in ("REA", "QNG"):
                got.append((cmd.name, cmd.args[0] if cmd.name == "REA" else ""))
        assert got == [("REA", str(t1)), ("QNG", ""), ("REA", str(t2))], got
        # hanging up while a write waits
        t3 = busy.trid()
        busy.send_line("REA %d alice@example.com Third" % t3)
        time.sleep(0.05)
        busy.close()
        deadline = time.monotonic() + 10
        while pg.sql(srv.db_name, "SELECT name FROM users WHERE email = 'alice@example.com'") != "Third":
            assert time.monotonic() < deadline, "the write of a client that hung up did not land"
            time.sleep(0.05)
        proxy.delay_ms = 0
        # once the write is done the hang-up is seen; the server goes on
        while "user=alice@example.com" not in "".join(l for l in srv.log_text().splitlines() if "logged out" in l):
            assert time.monotonic() < deadline, "the hang-up was not seen"
            time.sleep(0.05)
        other.send_line("PNG")
        other.expect("QNG")
        other.close()


def drop_and_reuse(srv, client):
    """Close client's connection at once (a reset, as a lost link), then
    open three others that reuse the memory its session held, so a
    use-after-free of that session reads another's. Returns them."""
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    others = [msntest.Client(srv.ns) for _ in range(3)]
    for c in others:
        c.send_line("VER 1 MSNP7")
    return others


def test_callee_leaving_while_a_ring_waits():
    # CAL reads the database before it rings; a callee whose session ends
    # meanwhile is not rung (its connection is gone): the caller gets 217,
    # as for anyone offline, and the server goes on.
    with two_online_behind_relay() as (srv, proxy, caller, callee):
        sb = msntest.open_switchboard(srv, caller)
        proxy.delay_ms = 300
        t = sb.trid()
        sb.send_line("CAL %d bob@example.com" % t)
        time.sleep(0.1)  # the CAL waits for the database now
        others = drop_and_reuse(srv, callee)
        time.sleep(1.0)
        proxy.delay_ms = 0
        sb.expect_error(217, t)
        caller.send_line("PNG")
        caller.expect("QNG")
        assert srv.proc.poll() is None


def test_shutdown_while_a_ring_waits():
    # CAL reads the database before it rings; a shutdown meanwhile closes
    # the caller's switchboard session, the last one in it, and the session
    # is gone when the reads are done: the server still exits cleanly.
    with two_online_behind_relay() as (srv, proxy, caller, callee):
        sb = msntest.open_switchboard(srv, caller)
        proxy.delay_ms = 100
        t = sb.trid()
        sb.send_line("CAL %d bob@example.com" % t)
        time.sleep(0.1)  # the CAL waits for the database now
        proxy.delay_ms = 0
        proc = srv.proc
        assert srv.stop() == 0, srv.stderr_text()[-3000:]
        srv.proc = proc  # for cleanup


def test_watcher_leaving_while_a_block_is_told():
    # ADD BL reads the database again after its write to tell the contact
    # FLN; a contact whose session ends meanwhile is not written to (its
    # connection is gone), and the server goes on.
    pg = pgtest.shared()
    with two_online_behind_relay() as (srv, proxy, watcher, owner):
        t = watcher.trid()
        watcher.send_line("ADD %d FL bob@example.com bob" % t)
        msntest.read_until(watcher, "ILN")
        proxy.delay_ms = 150  # each read after the write: 300 ms
        t = owner.trid()
        owner.send_line("ADD %d BL alice@example.com alice" % t)
        deadline = time.monotonic() + 10
        q = ("SELECT count(*) FROM list_entries e JOIN users o ON o.id = e.owner JOIN users c ON c.id = e.contact"
             " WHERE o.email = 'bob@example.com' AND c.email = 'alice@example.com' AND e.list = 2")
        while pg.sql(srv.db_name, q) != "1":
            assert time.monotonic() < deadline, "the block was not written"
            time.sleep(0.02)
        time.sleep(0.3)  # the commit is answered: the reads that decide the FLN wait now
        others = drop_and_reuse(srv, watcher)
        time.sleep(1.5)
        proxy.delay_ms = 0
        while owner.read_cmd().line != "ADD %d BL 3 alice@example.com alice" % t:
            pass
        owner.send_line("PNG")
        owner.expect("QNG")
        assert srv.proc.poll() is None


def test_login_timing_out_while_its_password_is_checked():
    # USR S reads the account; a login whose timeout fires meanwhile has
    # been closed, and its answer does not log it in after all: the
    # session would stay listed as online after its connection is freed.
    with two_online_behind_relay(["--login-timeout", "2"]) as (srv, proxy, alice, bob):
        c = msntest.Client(srv.ns)
        t = c.trid()
        c.send_line("VER %d MSNP7 CVR0" % t)
        c.expect("VER")
        t = c.trid()
        c.send_line("USR %d MD5 I carol@example.com" % t)
        ch = c.expect("USR")
        proxy.delay_ms = 1500  # the read answers after the timeout
        t = c.trid()
        c.send_line("USR %d MD5 S %s" % (t, msntest.md5_login_response(ch.args[3], PASSWORDS["carol@example.com"])))
        time.sleep(3.5)
        proxy.delay_ms = 0
        time.sleep(0.5)
        c.close()
        time.sleep(2.5)  # closed and freed
        # carol is not online: a watcher's ADD FL reads her as offline.
        t = alice.trid()
        alice.send_line("ADD %d FL carol@example.com carol" % t)
        r = alice.read_cmd()
        while r.name != "ADD":
            assert r.name != "ILN", r
            r = alice.read_cmd()
        # and she logs in again like anyone else.
        again = online(srv, "carol@example.com")
        again.send_line("PNG")
        again.expect("QNG")
        assert srv.proc.poll() is None


def half_login(srv, email):
    """A client of email's up to its password: (client, USR S line)."""
    c = msntest.Client(srv.ns)
    t = c.trid()
    c.send_line("VER %d MSNP7 CVR0" % t)
    c.expect("VER")
    t = c.trid()
    c.send_line("USR %d MD5 I %s" % (t, email))
    ch = c.expect("USR")
    return c, "USR %d MD5 S %s" % (c.trid(), msntest.md5_login_response(ch.args[3], PASSWORDS[email]))


def session_state(c, secs):
    """"open" when c answers a PNG, "out" when it was sent OUT OTH and
    closed, or what else it got."""
    c.send_line("PNG")
    got = []
    while True:
        try:
            cmd = c.read_cmd(secs)
        except (TimeoutError, OSError):
            return got
        got.append(cmd.line)
        if cmd.name == "QNG":
            return "open"
        if cmd.name == "OUT":
            try:
                c.expect_closed(secs)
            except AssertionError:
                return got
            return "out" if cmd.line == "OUT OTH" else got


def test_login_completing_while_a_duplicate_login_closes_the_old_session():
    # A second login of bob closes bob's session, whose FLN fan-out reads
    # the database (alice's ADD FL made the rows kept out of date, and no
    # login snapshot answers for them); a third login completing meanwhile
    # is closed in turn by the second: one session for the account, not two
    # open with only one of them in the online list.
    with two_online_behind_relay(["--login-cache-mb", "0"]) as (srv, proxy, alice, bob):
        t = alice.trid()
        alice.send_line("ADD %d FL bob@example.com bob" % t)
        msntest.read_until(alice, "ILN")
        # Two database connections ready for logins (overlapping ones use
        # one each): the third's is not held up by connecting.
        proxy.delay_ms = 100
        warm = [half_login(srv, e) for e in ("carol@example.com", "name_123@hotmail.com")]
        for c, line in warm:
            c.send_line(line)
            time.sleep(0.05)
        for c, _ in warm:
            assert c.expect("USR").args[1] == "OK"
            c.close()
        second, second_s = half_login(srv, "bob@example.com")
        third, third_s = half_login(srv, "bob@example.com")
        proxy.delay_ms = 400  # a read: 800 ms
        second.send_line(second_s)
        time.sleep(0.4)  # its account is being read; then the old session's rows
        third.send_line(third_s)
        assert msntest.read_until(bob, "OUT").line == "OUT OTH"
        for c in (second, third):
            assert c.expect("USR").args[1] == "OK"
            c.expect("MSG")
        time.sleep(1.5)
        proxy.delay_ms = 0
        states = [session_state(c, 3) for c in (second, third)]
        assert sorted(map(str, states)) == ["open", "out"], states
        left = second if states[0] == "open" else third
        # and it is the one listed online: a fourth login closes it
        fourth = msntest.login(srv, "bob@example.com", PASSWORDS["bob@example.com"])
        assert session_state(left, 3) == "out"
        fourth.send_line("PNG")
        fourth.expect("QNG")
        assert srv.proc.poll() is None


def test_user_leaving_while_its_status_change_is_told_stays_offline():
    # CHG NLN reads the user's watchers (alice's ADD FL made the rows kept
    # out of date); a session closed meanwhile (here by its challenge
    # timing out) tells its watchers FLN, and the NLN of the CHG must not
    # follow it: alice would show carol online for good.
    with two_online_behind_relay(["--challenge-timeout", "3"]) as (srv, proxy, alice, bob):
        carol = msntest.login(srv, "carol@example.com", PASSWORDS["carol@example.com"], answer_chl=False)
        t = carol.trid()
        carol.send_line("CHG %d HDN" % t)  # its CHL: unanswered, the session closes in 3 s
        msntest.read_until(carol, "CHL")
        started = time.monotonic()
        t = alice.trid()
        alice.send_line("ADD %d FL carol@example.com carol" % t)
        msntest.read_until(alice, "ADD")
        proxy.delay_ms = 1500  # the CHG's read answers after the timeout
        t = carol.trid()
        carol.send_line("CHG %d NLN" % t)
        time.sleep(max(0.0, 3.5 - (time.monotonic() - started)))
        proxy.delay_ms = 0
        got = presence_within(alice, "carol@example.com", 8)
        assert not got or got[-1].startswith("FLN"), got
        t = alice.trid()
        alice.send_line("PNG")
        alice.expect("QNG")
        assert srv.proc.poll() is None


def test_migrate_from_sqlite():
    pg = pgtest.shared()
    src = msntest.MsndServer(MSND)
    src.db_name, src.db = None, os.path.join(src.dir, "msnd.db")  # a SQLite store, whatever the suite's backend
    try:
        for u in USERS:
            src.add_user(*u)
        src.start()
        a = online(src, "alice@example.com")
        for t, line in enumerate(["ADD %d FL bob@example.com Bob", "ADD %d AL bob@example.com Bob",
                                  "ADD %d FL carol@example.com Carol", "ADG %d Friends 0", "ADD %d FL bob@example.com Bob 1",
                                  "ADD %d BL example@passport.com x", "REA %d alice@example.com Alice%%20M",
                                  "PRP %d PHH 555"], start=100):
            a.send_line(line % t)
            r = a.read_cmd()
            while r.args and r.args[0] == "0" or r.name in ("ILN", "NLN"):
                r = a.read_cmd()
            assert r.args[0] == str(t), (line, r)
        a.close()
        src.stop()
        ver = sqlite3.connect(src.db).execute("SELECT version FROM users WHERE email='alice@example.com'").fetchone()[0]
        name, url = pgtest.fresh_db("migrated")
        r = src.run_admin("db", "migrate", "--from", "sqlite:" + src.db, "--to", url)
        assert r.returncode == 0, r.stderr
        assert "users 5" in r.stdout and "list entries 4" in r.stdout, r.stdout
        assert pg.sql(name, "SELECT version FROM users WHERE email = 'alice@example.com'") == str(ver)
        # a second run refuses: the target is not empty
        r = src.run_admin("db", "migrate", "--from", "sqlite:" + src.db, "--to", url)
        assert r.returncode != 0 and "not empty" in r.stderr, (r.returncode, r.stderr)
        # msnd on the copy serves the same lists
        dst = msntest.MsndServer(MSND, args=[])
        dst.db_name, dst.db, dst._db_made = name, url, True
        try:
            dst.start()
            c = msntest.login(dst, "alice@example.com", "alicepw")
            t = c.trid()
            c.send_line("SYN %d 0" % t)
            lines = []
            while True:
                cmd = c.read_cmd()
                lines.append(cmd.line)
                if cmd.name == "LST" and cmd.args[1] == "RL":
                    break
            assert "SYN %d %d" % (t, ver) in lines, lines
            assert "LST %d FL %d 1 2 bob@example.com Bob 0,1" % (t, ver) in lines, lines
            assert "LST %d BL %d 1 1 example@passport.com x" % (t, ver) in lines, lines
            assert any(x.startswith("LSG %d %d 2 2 1 Friends" % (t, ver)) for x in lines), lines
            c.close()
        finally:
            dst.cleanup()
    finally:
        src.cleanup()


def test_database_messages_in_the_log():
    """What the server says beside results reaches msnd's log as a logfmt
    line, never raw on stderr: no "NOTICE: relation ... already exists" at
    each start on an existing database, and a WARNING (raised here by the
    trigger every list write fires) as level=warn with its text."""
    pg = pgtest.shared()
    name, url = pgtest.fresh_db("notices")
    srv = msntest.MsndServer(MSND)
    srv.db_name, srv.db, srv._db_made = name, url, True
    try:
        for u in USERS[:2]:
            srv.add_user(*u)
        r = srv.run_admin("user", "add", "--create", "third@example.com", "thirdpw")
        assert r.returncode == 0 and "NOTICE" not in r.stderr, r.stderr
        srv.start()
        srv.stop()
        srv.start()  # the schema is there now: the start that drew the NOTICE
        pg.sql(name, "CREATE OR REPLACE FUNCTION msnd_notify_entry() RETURNS trigger LANGUAGE plpgsql AS $$"
                     " BEGIN RAISE WARNING 'list \"written\"'; PERFORM pg_notify('msnd_store', ''); RETURN NULL; END $$")
        a = online(srv, USERS[0][0])
        a.send_line("ADD 50 FL %s x" % USERS[1][0])
        cmd = a.read_cmd()
        while cmd.name != "ADD":
            cmd = a.read_cmd()
        assert cmd.args[0] == "50", cmd
        a.close()
        srv.stop()
        err = srv.stderr_text()
        assert "NOTICE" not in err and "WARNING" not in err, err
        log = srv.log_text()
        assert 'level=warn msg="database says" severity=WARNING message="list \'written\'"' in log, log[-3000:]
        assert all(line.startswith("ts=") for line in log.splitlines() if line), log[-3000:]
    finally:
        srv.cleanup()


def test_deleted_account_sweep_waiting_on_the_database_holds_up_nobody():
    """The sweep for deleted accounts (every 2 s after a change) waits for
    the database on a fiber like a command: while its statement waits for a
    lock, every client is served (a PNG is answered at once)."""
    pg = pgtest.shared()
    name, url = pgtest.fresh_db("sweep")
    srv = msntest.MsndServer(MSND)
    srv.db_name, srv.db, srv._db_made = name, url, True
    try:
        for u in USERS[:2]:
            srv.add_user(*u)
        srv.start()
        a = online(srv, USERS[0][0])
        b = online(srv, USERS[1][0])
        with pg.table_locked(name, "users"):
            pg.sql(name, "NOTIFY msnd_store, ''")  # something changed: the next sweep asks
            time.sleep(2.5)  # a sweep is waiting for the lock now
            for c in (a, b):
                started = time.monotonic()
                c.send_line("PNG")
                c.expect("QNG", timeout=2)
                assert time.monotonic() - started < 1.0
        a.close()
        b.close()
        srv.stop()
    finally:
        srv.cleanup()


LOGFMT = re.compile(r'^[a-z_]+=(?:"[^"]*"|[^" ]*)(?: [a-z_]+=(?:"[^"]*"|[^" ]*))*$')


def test_database_errors_are_one_logfmt_value():
    """libpq's messages quote names ("127.0.0.1", a constraint's name): in
    msnd's log they stay one quoted value, so that every line still parses
    as logfmt (the double quotes become single ones)."""
    pg = pgtest.shared()
    name, url = pgtest.fresh_db("quotes")
    srv = msntest.MsndServer(MSND)
    srv.db_name, srv.db, srv._db_made = name, url, True
    try:
        srv.add_user(*USERS[0])
        srv.start()
        a = online(srv, USERS[0][0])
        pg.stop()
        try:
            a.send_line("REA 50 %s Down" % USERS[0][0])
            a.expect_line("501 50")
            a.send_line("REA 51 %s Down" % USERS[0][0])  # a second try: the connect fails
            a.expect_line("501 51")
        finally:
            pg.start()
        a.close()
        srv.stop()
        log = srv.log_text()
        errors = [line for line in log.splitlines() if 'msg="store error"' in line]
        assert any("server at '127.0.0.1'" in line for line in errors), log[-3000:]
        bad = [line for line in log.splitlines() if line and not LOGFMT.match(line)]
        assert not bad, bad
    finally:
        srv.cleanup()


def watching_each_other(srv, db_prefix):
    """srv on a fresh database of its own, started, with alice and bob
    online on each other's lists and bob busy (alice has seen it): (alice,
    bob)."""
    name, url = pgtest.fresh_db(db_prefix)
    srv.db_name, srv.db, srv._db_made = name, url, True
    for u in USERS[2:4]:
        srv.add_user(*u)
    srv.start()
    a = online(srv, "alice@example.com")
    b = online(srv, "bob@example.com")
    for c, other in ((a, "bob@example.com"), (b, "alice@example.com")):
        t = c.trid()
        c.send_line("ADD %d FL %s %s" % (t, other, other))
        while True:
            cmd = c.read_cmd()
            if cmd.name == "ADD" and cmd.args[0] == str(t):
                break
    t = b.trid()
    b.send_line("CHG %d BSY" % t)
    assert msntest.read_until(a, "NLN").args[:2] == ["BSY", "bob@example.com"]
    return a, b


def test_user_leaving_during_an_outage_goes_offline_for_its_watchers():
    """The database away: a user whose status changed (its kept watchers no
    longer current: the LISTEN connection went with the database) and who
    then leaves still reaches its watchers with FLN, from the watchers
    known before, not nobody; the change that kept it visible is not sent
    on rows that may be out of date. A call meanwhile gets 501."""
    pg = pgtest.shared()
    srv = msntest.MsndServer(MSND)
    try:
        a, b = watching_each_other(srv, "outage")
        a.email = "alice@example.com"
        sb = msntest.open_switchboard(srv, a)
        pg.stop()
        try:
            # a call that cannot be decided without the database: 501, not
            # "offline" (217), and the reason in the log
            t = sb.trid()
            sb.send_line("CAL %d bob@example.com" % t)
            sb.expect_line("501 %d" % t)
            t = b.trid()
            b.send_line("CHG %d AWY" % t)
            msntest.read_until(b, "CHG")
            b.close()
            assert msntest.read_until(a, "FLN").args[0] == "bob@example.com"
        finally:
            pg.start()
        sb.close()
        a.close()
        srv.stop()
        assert 'fallback="watchers known before"' in srv.log_text()
        assert 'msg="ring not decided: the database could not be read" caller=alice@example.com' in srv.log_text()
    finally:
        srv.cleanup()


def test_status_changes_during_an_outage_reach_the_watchers_afterwards():
    """Status changes whose watchers cannot be read (the database away) are
    not lost: once they can be read again, the watchers are told the
    user's status as it is then (here BRB, after AWY, HDN and BRB during
    the outage; HDN was told as FLN at once, from the watchers known
    before)."""
    pg = pgtest.shared()
    srv = msntest.MsndServer(MSND)
    try:
        a, b = watching_each_other(srv, "chgoutage")
        pg.stop()
        try:
            seen = []
            for st in ("AWY", "HDN", "BRB"):
                t = b.trid()
                b.send_line("CHG %d %s" % (t, st))
                msntest.read_until(b, "CHG")
                seen += presence_within(a, "bob@example.com", 0.5)
            assert seen == ["FLN bob@example.com"], seen
        finally:
            pg.start()
        got = presence_within(a, "bob@example.com", 6)
        assert got and got[-1] == "NLN BRB bob@example.com Bob", got
        b.close()
        assert msntest.read_until(a, "FLN").args[0] == "bob@example.com"
        a.close()
        srv.stop()
        assert 'retry="when the watchers can be read"' in srv.log_text()
        assert 'msg="presence told after the database came back" user=bob@example.com status=BRB' in srv.log_text()
    finally:
        srv.cleanup()


def test_database_without_accounts_is_reported():
    """A database without msnd's tables gets them, and the log says so;
    with no account in it, the log says every login fails until one is
    added. An account in it: neither."""
    srv = msntest.MsndServer(MSND)
    try:
        srv.start()
        log = srv.log_text()
        assert 'msg="new database created: it held no msnd tables" backend=postgresql\n' in log, log
        assert ('msg="no accounts: every login fails until one is added: msnd user add --db FILE EMAIL PASSWORD" '
                'backend=postgresql\n') in log, log
        assert srv.db not in log and srv.db_name not in log, log
        srv.stop()
        srv.add_user("a@b.com", "pw")
        os.unlink(srv.log_file)
        srv.start()
        log = srv.log_text()
        assert "new database created" not in log and "no accounts" not in log, log
    finally:
        srv.cleanup()


def test_migrate_names_the_row_the_target_refuses():
    """Text PostgreSQL refuses (not UTF-8: a SQLite file edited by hand,
    which msnd itself serves) fails the copy; the message names the row and
    its account, so that it can be fixed, not only PostgreSQL's reason."""
    pg = pgtest.shared()
    src = msntest.MsndServer(MSND)
    try:
        src.db_name, src.db = None, os.path.join(src.dir, "msnd.db")
        for u in USERS:
            src.add_user(*u)
        db = sqlite3.connect(src.db)
        ids = dict(db.execute("SELECT email, id FROM users"))
        db.execute("INSERT INTO list_entries(owner, list, contact, name) VALUES(?, 1, ?, CAST(X'41FF42' AS TEXT))",
                   (ids["alice@example.com"], ids["bob@example.com"]))
        db.commit()
        _, url = pgtest.fresh_db("refused")
        r = src.run_admin("db", "migrate", "--from", "sqlite:" + src.db, "--to", url)
        assert r.returncode != 0 and "nothing copied" in r.stderr, r.stderr
        assert "AL entry bob@example.com of account alice@example.com" in r.stderr, r.stderr
        assert "UTF8" in r.stderr, r.stderr
        db.execute("UPDATE users SET name = CAST(X'43FF' AS TEXT) WHERE email = 'carol@example.com'")
        db.commit()
        _, url = pgtest.fresh_db("refused")
        r = src.run_admin("db", "migrate", "--from", "sqlite:" + src.db, "--to", url)
        assert r.returncode != 0 and "account carol@example.com" in r.stderr, r.stderr
        db.close()
        assert pg.sql(url.rsplit("/", 1)[1], "SELECT count(*) FROM users") == "0"
    finally:
        src.cleanup()


def _rows_of(path):
    """Every row msnd keeps in a SQLite store but the creation times, and
    the order of each list (the order of its rows)."""
    db = sqlite3.connect(path)
    out = {}
    for t, cols in (("users", "id, email, password, name, version, blp, gtc"),
                    ("list_entries", "owner, list, contact, name"), ("groups", "owner, gid, name"),
                    ("fl_groups", "owner, contact, gid"), ("props", "owner, key, value")):
        out[t] = db.execute("SELECT %s FROM %s ORDER BY %s" % (cols, t, cols)).fetchall()
    out["order"] = db.execute("SELECT owner, list, contact FROM list_entries ORDER BY owner, list, rowid").fetchall()
    # each account's RL: the FL entries naming it, in the order they were added
    out["rl_order"] = db.execute("SELECT contact, owner FROM list_entries WHERE list = 0 ORDER BY contact, rowid").fetchall()
    db.close()
    return out


def test_migrate_round_trip_keeps_every_row():
    """SQLite -> PostgreSQL -> SQLite gives back every row as it was: text
    with the bytes PostgreSQL's COPY format escapes (backslash, tab, line
    breaks, "\\N" alone), ids with gaps, list versions near 2^32, both
    privacy settings, several groups per entry, each list and each
    account's RL in its order (neither the order of the contacts' ids nor
    that of the accounts'), over more rows than one COPY
    chunk holds (4096). A row the target refuses in a later chunk is
    still named by its own e-mail address."""
    pg = pgtest.shared()
    work = msntest.MsndServer(MSND)
    try:
        src = os.path.join(work.dir, "src.db")
        work.db_name, work.db = None, src
        assert work.run_admin("db", "init").returncode == 0
        odd = ["back\\slash", "tab\there", "line\nbreak", "\\N", "cr\rlf\r\n", "%20ok", "\\t not a tab"]
        n = 4200  # more accounts than a COPY chunk of 4096
        ids = [7 + 3 * i for i in range(n)]
        db = sqlite3.connect(src)
        db.executemany("INSERT INTO users(id, email, password, name, version, blp, gtc, created) VALUES(?,?,?,?,?,?,?,0)",
                       [(u, "u%d@example.com" % u, "pw\\%d\t" % u, odd[u % len(odd)] + str(u),
                         4294967295 - u if u % 5 == 0 else u, "BL" if u % 2 else "AL", "N" if u % 3 else "A")
                        for u in ids])
        db.executemany("INSERT INTO groups(owner, gid, name) VALUES(?,?,?)",
                       [(u, g, "Other%20Contacts" if g == 0 else odd[(u + g) % len(odd)])
                        for u in ids for g in range(3 if u % 4 == 0 else 1)])
        entries, members = [], []
        for i, u in enumerate(ids):
            # contacts in an order that is not theirs: later ids first
            for k in (5, 1, 3, 2, 4)[:1 + i % 5]:
                c = ids[(i + k) % n]
                entries.append((u, 0, c, odd[(c + k) % len(odd)]))
                members += [(u, c, g) for g in ((0, 1, 2) if u % 4 == 0 and k % 2 else (0,))]
            entries += [(u, 1, ids[(i + 7) % n], "al"), (u, 2, ids[(i + 9) % n], "b\\l")][:i % 3]
        # added in no order of accounts: an RL's order is not its owners' ids
        random.Random(7).shuffle(entries)
        db.executemany("INSERT INTO list_entries(owner, list, contact, name) VALUES(?,?,?,?)", entries)
        db.executemany("INSERT INTO fl_groups(owner, contact, gid) VALUES(?,?,?)", members)
        db.executemany("INSERT INTO props(owner, key, value) VALUES(?,?,?)",
                       [(u, k, odd[u % len(odd)] + k) for u in ids[::3] for k in ("PHH", "MOB")]
                       + [(ids[1], "PHW", "\\N")])  # the whole value is COPY's NULL
        db.commit()
        db.close()
        want = _rows_of(src)
        assert len(want["list_entries"]) > 4096 and len(want["fl_groups"]) > 4096, {k: len(v) for k, v in want.items()}

        name, url = pgtest.fresh_db("roundtrip")
        r = work.run_admin("db", "migrate", "--from", "sqlite:" + src, "--to", url, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "users %d, list entries %d, groups %d, group memberships %d, properties %d" % (
            n, len(entries), len(want["groups"]), len(members), len(want["props"])) in r.stdout, r.stdout
        # PostgreSQL itself holds the bytes and the order
        for code in (9, 10, 13, 92):  # tab, line feed, carriage return, backslash
            has = sum(1 for u in ids if chr(code) in odd[u % len(odd)])
            assert pg.sql(name, "SELECT count(*) FROM users WHERE strpos(name, chr(%d)) > 0" % code) == str(has), code
        for col, other, lst in (("owner", "contact", 0), ("contact", "owner", 0)):  # an FL, an RL
            got = pg.sql(name, "SELECT string_agg(%s::text, ',' ORDER BY seq) FROM list_entries"
                               " WHERE %s = %d AND list = %d" % (other, col, ids[4], lst))
            assert got == ",".join(str(e[2] if col == "owner" else e[0]) for e in entries
                                   if e[0 if col == "owner" else 2] == ids[4] and e[1] == lst), (col, got)
        lone = next(u for u in ids if odd[u % len(odd)] == "\\N")  # a name that is COPY's NULL but for its id
        assert pg.sql(name, "SELECT count(*) FROM users WHERE name = E'\\\\N%d'" % lone) == "1"

        # the foreign keys, dropped for the load, are back as a new store has them
        keys = ("SELECT string_agg(conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid), ';'"
                " ORDER BY conrelid::regclass::text, conname) FROM pg_constraint WHERE contype = 'f'")
        fresh, fresh_url = pgtest.fresh_db("roundtrip")
        r = subprocess.run([MSND, "db", "init", "--db", fresh_url], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert pg.sql(name, keys) == pg.sql(fresh, keys) and "fl_groups_owner_gid_fkey" in pg.sql(name, keys), \
            (pg.sql(name, keys), pg.sql(fresh, keys))

        back = os.path.join(work.dir, "back.db")
        r = work.run_admin("db", "migrate", "--from", url, "--to", "sqlite:" + back, timeout=120)
        assert r.returncode == 0, r.stderr
        got = _rows_of(back)
        for t in want:
            assert got[t] == want[t], (t, [(a, b) for a, b in zip(want[t], got[t]) if a != b][:3],
                                       len(want[t]), len(got[t]))

        # a refused row after the first chunk of accounts: named as itself
        db = sqlite3.connect(src)
        db.execute("UPDATE users SET name = CAST(X'41FF' AS TEXT) WHERE id = ?", (ids[4150],))
        db.commit()
        db.close()
        name, url = pgtest.fresh_db("roundtrip")
        r = work.run_admin("db", "migrate", "--from", "sqlite:" + src, "--to", url, timeout=120)
        assert r.returncode != 0, r.stdout
        assert "target refused the account u%d@example.com (fix it in the source" % ids[4150] in r.stderr, r.stderr
        assert "UTF8" in r.stderr and "CONTEXT" not in r.stderr, r.stderr
        assert pg.sql(name, "SELECT count(*) FROM users") == "0"

        # a membership of a group the account does not have (a file edited
        # by hand: SQLite checks foreign keys only when asked): refused when
        # the keys are made again, in PostgreSQL's words, which name it;
        # nothing is left, the keys included
        db = sqlite3.connect(src)
        db.execute("UPDATE users SET name = 'fixed' WHERE id = ?", (ids[4150],))
        owner, contact = db.execute("SELECT owner, contact FROM list_entries WHERE list = 0 LIMIT 1").fetchone()
        db.execute("INSERT INTO fl_groups(owner, contact, gid) VALUES(?, ?, 77)", (owner, contact))
        db.commit()
        db.close()
        r = work.run_admin("db", "migrate", "--from", "sqlite:" + src, "--to", url, timeout=120)
        assert r.returncode != 0, r.stdout
        assert "fl_groups_owner_gid_fkey" in r.stderr and "(%d, 77)" % owner in r.stderr, r.stderr
        assert pg.sql(name, "SELECT count(*) FROM users") == "0" and pg.sql(name, keys) == pg.sql(fresh, keys)
    finally:
        work.cleanup()


def test_migrate_into_tables_another_role_owns():
    """A target whose tables were made by another role, msnd's own role
    only given the right to write them: the load cannot drop their foreign
    keys (only an owner may), so it keeps them and checks every row against
    them; the copy is made, and the keys are still there."""
    pg = pgtest.shared()
    work = msntest.MsndServer(MSND)
    role = pgtest.unique_name("writer")
    try:
        src = os.path.join(work.dir, "src.db")
        work.db_name, work.db = None, src
        for u in USERS:
            work.add_user(*u)
        db = sqlite3.connect(src)
        ids = dict(db.execute("SELECT email, id FROM users"))
        db.execute("INSERT INTO list_entries(owner, list, contact, name) VALUES(?, 0, ?, 'Bob')",
                   (ids["alice@example.com"], ids["bob@example.com"]))
        db.execute("INSERT INTO fl_groups(owner, contact, gid) VALUES(?, ?, 0)",
                   (ids["alice@example.com"], ids["bob@example.com"]))
        db.commit()
        db.close()
        name, url = pgtest.fresh_db("notowner")
        r = subprocess.run([MSND, "db", "init", "--db", url], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        pg.sql(name, 'CREATE ROLE "%s" LOGIN; GRANT CREATE, USAGE ON SCHEMA public TO "%s";'
                     ' GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "%s";'
                     ' GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "%s"' % ((role,) * 4))
        keys = "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
        before = pg.sql(name, keys)
        r = work.run_admin("db", "migrate", "--from", "sqlite:" + src,
                           "--to", "postgresql://%s@127.0.0.1:%d/%s" % (role, pg.port, name))
        assert r.returncode == 0, r.stderr
        assert "users %d, list entries 1, groups %d, group memberships 1" % (len(USERS), len(USERS)) in r.stdout, \
            r.stdout
        assert pg.sql(name, keys) == before and int(before) >= 6, (before, pg.sql(name, keys))
        assert pg.sql(name, "SELECT count(*) FROM fl_groups") == "1"
    finally:
        work.cleanup()


def test_migrate_when_the_target_server_goes_away():
    """The target's server stops (immediately) while the copy's COPY
    statements run: msnd says so and exits 1 at once, nothing is left in
    the target (its foreign keys included, dropped for the load inside the
    same transaction), and the copy made again once the server is back
    succeeds."""
    pg = pgtest.PgServer().start()  # its own server: this one is stopped
    work = msntest.MsndServer(MSND)
    try:
        src = os.path.join(work.dir, "src.db")
        work.db_name, work.db = None, src
        assert work.run_admin("db", "init").returncode == 0
        db = sqlite3.connect(src)  # a copy long enough to be caught in its COPY statements
        db.executescript("""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
            INSERT INTO users(id, email, password, name, created) SELECT i, 'u' || i || '@example.com', 'pw', 'U', 0
              FROM n;
            INSERT INTO groups(owner, gid, name) SELECT id, 0, 'Other%20Contacts' FROM users;
            WITH RECURSIVE k(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM k WHERE j < 10)
            INSERT INTO list_entries(owner, list, contact, name) SELECT u.id, 0, (u.id + k.j) % 20000 + 1, 'U'
              FROM users u, k;
            INSERT INTO fl_groups(owner, contact, gid) SELECT owner, contact, 0 FROM list_entries;
        """)
        db.commit()
        db.close()
        url = pg.createdb("target")
        r = subprocess.run([MSND, "db", "init", "--db", url], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        keys = "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
        before = pg.sql("target", keys)
        assert int(before) >= 6, before
        # the test server commits without waiting for its WAL (pgtest): the
        # schema is made durable here, or the crash below could take it too
        pg.sql("target", "CHECKPOINT")
        p = subprocess.Popen([MSND, "db", "migrate", "--from", "sqlite:" + src, "--to", url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while "COPY" not in pg.sql("postgres", "SELECT string_agg(query, ' ') FROM pg_stat_activity"
                                                   " WHERE datname = 'target' AND state = 'active'"):
                assert p.poll() is None, p.communicate()
                assert time.monotonic() < deadline, "no COPY seen"
            pg.stop("immediate")
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.returncode == 1, (p.returncode, out, err)
        assert "msnd db: migration failed, nothing copied: target: server closed the connection unexpectedly" \
            in " ".join(err.split()), err
        pg.start()
        assert pg.sql("target", "SELECT count(*) FROM users") == "0" and pg.sql("target", keys) == before
        r = work.run_admin("db", "migrate", "--from", "sqlite:" + src, "--to", url, timeout=120)
        assert r.returncode == 0 and "users 20000, list entries 200000," in r.stdout, (r.stdout, r.stderr)
    finally:
        work.cleanup()
        pg.cleanup()


def test_migrate_while_the_source_is_in_use():
    """An msnd still changing lists while `msnd db migrate` reads its store:
    either source is read in one snapshot (SQLite: a read transaction;
    PostgreSQL: a repeatable-read transaction), so the copy succeeds and
    holds the counts it reports. (A PostgreSQL source used to be read
    statement by statement: its counts moved during the copy and the copy
    failed.) Each copy must overlap changes: a copy that ran between them
    is made again."""
    import threading
    pg = pgtest.shared()
    work = msntest.MsndServer(MSND)
    try:
        src = os.path.join(work.dir, "src.db")
        work.db_name, work.db = None, src
        for u in USERS:
            work.add_user(*u)
        db = sqlite3.connect(src)  # many accounts: a copy that takes a while
        db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
                   " INSERT INTO users(email, password, name, created) SELECT 'x' || i || '@example.com', 'pw', 'X', 0"
                   " FROM n")
        db.commit()
        db.close()

        def counts_of(sql):
            return [int(sql("SELECT count(*) FROM " + t)) for t in ("users", "list_entries", "fl_groups")]

        def migrate_while_busy(source, target):
            """The copy's result, and how many list changes were answered
            while it ran."""
            work.db = source
            work.start()
            stop, done = [], [0]

            def churn(email):
                c = msntest.login(work, email, PASSWORDS[email])
                t = 0
                while not stop:
                    for op in ("ADD", "REM"):
                        for i in range(1, 30):
                            t += 1
                            c.send_line("%s %d AL x%d@example.com%s" % (op, t, i, " X" if op == "ADD" else ""))
                            while c.read_cmd().args[0:1] != [str(t)]:
                                pass
                            done[0] += 1
                c.close()
            threads = [threading.Thread(target=churn, args=(e,)) for e in ("alice@example.com", "bob@example.com")]
            for th in threads:
                th.start()
            deadline = time.monotonic() + 30
            while done[0] < 20 and time.monotonic() < deadline:  # both clients busy
                time.sleep(0.02)
            try:
                before = done[0]
                r = work.run_admin("db", "migrate", "--from", source, "--to", target, timeout=180)
                return r, done[0] - before
            finally:
                stop.append(1)
                for th in threads:
                    th.join()
                work.stop()

        for source_kind in ("sqlite", "postgresql"):
            for attempt in range(5):
                if source_kind == "sqlite":
                    name, url = pgtest.fresh_db("busy")
                    r, during = migrate_while_busy("sqlite:" + src, url)
                    got = counts_of(lambda q: pg.sql(name, q))
                else:
                    back = os.path.join(work.dir, "back%d.db" % attempt)
                    r, during = migrate_while_busy(url_of_copy, back)
                    got = counts_of(lambda q: sqlite3.connect(back).execute(q).fetchone()[0])
                assert r.returncode == 0, (source_kind, r.stderr)
                assert "users %d, list entries %d," % (got[0], got[1]) in r.stdout, (source_kind, r.stdout, got)
                if during > 0:
                    break
            else:
                raise AssertionError("no list change was answered during any of 5 copies from %s" % source_kind)
            if source_kind == "sqlite":
                url_of_copy = url  # the next source: a PostgreSQL store as msnd uses it
    finally:
        work.cleanup()


def main():
    global MSND
    MSND = os.path.abspath(sys.argv[1])
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_")]
    failed = 0
    for fn in tests:
        started = time.monotonic()
        try:
            fn()
            print("ok   %s (%.1f s)" % (fn.__name__, time.monotonic() - started))
        except Exception:
            failed += 1
            print("FAIL %s" % fn.__name__)
            traceback.print_exc()
    print("%d of %d failed" % (failed, len(tests)) if failed else "all %d passed" % len(tests))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
