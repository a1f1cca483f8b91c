"""pgtest - a throw-away PostgreSQL server for msnkit tests (stdlib only).

    pg = pgtest.PgServer().start()   # initdb in a temp dir (or a copy of one: MSNKIT_TEST_CACHE),
                                     # pg_ctl start on a free port (~2 s)
    url = pg.createdb("t1")          # "postgresql://postgres@127.0.0.1:PORT/t1"
    pg.createdb("t2", template="t1") # a copy (t1 must have no connections)
    pg.sql("t1", "SELECT count(*) FROM users")   # psql -At; returns stdout
    pg.stop(); pg.start()            # an outage (same data directory and port)
    pg.cleanup()                     # stop and remove the directory

    pgtest.shared()                  # one server per test process, stopped at exit

The server runs as the `postgres` system user when we are root (initdb and
pg_ctl refuse root), listens on 127.0.0.1 and on a Unix socket inside its
own directory, trusts local connections, and keeps fsync off: the tests
measure behaviour, not durability of the test server's disk.

Backend of the msnd suites: MSND_TEST_DB=postgresql runs them on such a
server (msntest.MsndServer asks `backend()`); anything else means SQLite.
"""

import atexit
import contextlib
import fcntl
import hashlib
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BIN = "/usr/lib/postgresql/15/bin"


def _bindir():
    if os.path.isdir(BIN):
        return BIN
    base = "/usr/lib/postgresql"
    for v in sorted(os.listdir(base) if os.path.isdir(base) else [], reverse=True):
        if os.path.exists(os.path.join(base, v, "bin", "pg_ctl")):
            return os.path.join(base, v, "bin")
    raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")


def backend():
    # a cluster across namespaces (MSND_TEST_TOPOLOGY=cluster) is on PostgreSQL
    if os.environ.get("MSND_TEST_TOPOLOGY", "") == "cluster":
        return "postgresql"
    return "postgresql" if os.environ.get("MSND_TEST_DB", "") == "postgresql" else "sqlite"


def _test_cache():
    """MSNKIT_TEST_CACHE, or test-cache/ in the build tree the test was
    started in (CTest starts each in its folder of the tree: the nearest
    folder above with a CMakeCache.txt), else None."""
    if os.environ.get("MSNKIT_TEST_CACHE"):
        return os.environ["MSNKIT_TEST_CACHE"]
    d = os.getcwd()
    while True:
        if os.path.exists(os.path.join(d, "CMakeCache.txt")):
            return os.path.join(d, "test-cache")
        up = os.path.dirname(d)
        if up == d:
            return None
        d = up


_CACHE = _test_cache()  # at import: tests change their working directory later


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self):
        self.bindir = _bindir()
        # the major version, from the directory (/usr/lib/postgresql/N/bin); 0 if unknown
        v = os.path.basename(os.path.dirname(self.bindir))
        self.version = int(v) if v.isdigit() else 0
        # the server's own psql: the one on PATH is Debian's version
        # chooser, a Perl script that costs more than the statement
        own = os.path.join(self.bindir, "psql")
        self.psql = own if os.path.exists(own) else "psql"
        self.dir = tempfile.mkdtemp(prefix="msntest-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.running = False
        self.started = False  # once up, restarts keep the port (an outage, not a new server)
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._init_data()

    def _run(self, argv, check=True, timeout=60):
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")

            def demote():
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, preexec_fn=demote,
                               cwd=self.dir)
        else:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if check and r.returncode != 0:
            raise RuntimeError("%s failed: %s%s" % (argv[0], r.stdout, r.stderr))
        return r

    INITDB = ["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"]

    def _initdb(self, data=None):
        self._run([os.path.join(self.bindir, "initdb"), "-D", data or self.data] + self.INITDB)

    def _init_data(self):
        """The data directory: a copy of one initdb made once for every
        server of the test run, kept in the build tree (_CACHE), else an
        initdb of its own. A copy is about a tenth of an initdb's time, and
        the PostgreSQL suites start a server in every test process."""
        cache = _CACHE
        if not cache:
            self._initdb()
            return
        os.makedirs(cache, exist_ok=True)
        # named by the server's programs and initdb's options: a template
        # of other ones is never used
        key = hashlib.sha1(repr([self.bindir] + self.INITDB).encode()).hexdigest()[:12]
        template = os.path.join(cache, "pg-template-%d-%s" % (self.version, key))
        with open(os.path.join(cache, "pg-template.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one initdb; the others wait for it
            if not os.path.exists(os.path.join(template, "PG_VERSION")):
                work = tempfile.mkdtemp(prefix="pg-template-", dir=cache)
                try:
                    if self._as_postgres:
                        pw = pwd.getpwnam("postgres")
                        os.chown(work, pw.pw_uid, pw.pw_gid)
                    self._initdb(os.path.join(work, "data"))
                    shutil.rmtree(template, ignore_errors=True)
                    os.rename(os.path.join(work, "data"), template)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
        # owners and modes as initdb left them (the server refuses a data
        # directory open to others)
        r = subprocess.run(["cp", "-a", template, self.data], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("copying %s failed: %s" % (template, r.stderr))

    def start(self):
        # free_port() only finds a port free; the server binds it later, and
        # a parallel test (or any outgoing connection) may take it meanwhile.
        # The first start then moves to another port.
        log = os.path.join(self.dir, "log")
        for _ in range(20):
            logged = os.path.getsize(log) if os.path.exists(log) else 0
            opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off " \
                   "-c full_page_writes=off -c max_connections=200" % (self.port, self.dir)
            if os.environ.get("PGTEST_STATEMENTS"):  # tests that count statements (pg_stat_statements)
                opts += " -c shared_preload_libraries=pg_stat_statements"
            r = self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", log,
                           "-w", "-t", "90", "-o", opts, "start"], check=False, timeout=120)
            if r.returncode == 0:
                self.running = self.started = True
                return self
            with open(log, errors="replace") as f:
                f.seek(logged)
                said = f.read()
            if self.started or "Address already in use" not in said:
                raise RuntimeError("pg_ctl start failed: %s%s%s" % (r.stdout, r.stderr, said[-2000:]))
            self.port = free_port()
        raise RuntimeError("no free port for PostgreSQL after 20 tries")

    def stop(self, mode="fast"):
        if self.running:
            self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop"],
                      check=False)
            self.running = False

    def cleanup(self):
        # also a server that came up after pg_ctl stopped waiting for it
        self.running = self.running or os.path.exists(os.path.join(self.data, "postmaster.pid"))
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db, host="127.0.0.1", port=None):
        return "postgresql://postgres@%s:%d/%s" % (host, port or self.port, db)

    def sql(self, db, statement):
        r = subprocess.run([self.psql, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-p", str(self.port),
                            "-U", "postgres", "-d", db, "-c", statement], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("psql: %s" % r.stderr)
        return r.stdout.strip()

    @contextlib.contextmanager
    def table_locked(self, db, table, timeout=10.0):
        """Holds an ACCESS EXCLUSIVE lock on table for the block: every
        statement that reads it waits until the block ends (a database that
        is slow for that one table)."""
        p = subprocess.Popen([self.psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-p", str(self.port),
                              "-U", "postgres", "-d", db], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            p.stdin.write("BEGIN;\nLOCK TABLE %s IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n" % table)
            p.stdin.flush()
            ready, _, _ = select.select([p.stdout], [], [], timeout)
            if not ready or p.stdout.readline().strip() != "locked":
                raise RuntimeError("psql could not lock %s" % table)
            yield
        finally:
            try:
                p.stdin.write("COMMIT;\n")
                p.stdin.close()
            except OSError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    @contextlib.contextmanager
    def stalled_reads(self, db, table, start, timeout=10.0):
        """start() makes a client send a statement that reads table; that
        statement stalls for the block (it waits for a lock on table, then
        its server process is stopped and the lock released, so every other
        statement goes on). Yields the stopped processes."""
        with self.table_locked(db, table, timeout):
            start()
            deadline = time.monotonic() + timeout
            pids = []
            while not pids:
                if time.monotonic() > deadline:
                    raise AssertionError("no statement reading %s reached the database" % table)
                time.sleep(0.02)
                pids = self.lock_waiters(db)
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
        try:
            yield pids
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)

    def lock_waiters(self, db):
        """The server processes of statements on db that wait for a lock now."""
        out = self.sql(db, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                           " AND wait_event_type = 'Lock'")
        return [int(x) for x in out.split()]

    def createdb(self, name, template=None):
        q = 'CREATE DATABASE "%s"' % name + (' TEMPLATE "%s"' % template if template else "")
        # PostgreSQL 15 copies the template through the WAL by default;
        # copying its files is about twice as fast for databases this small
        # (fsync is off, so the checkpoints it costs are cheap)
        if self.version >= 15:
            q += " STRATEGY = FILE_COPY"
        self.sql("postgres", q)
        return self.url(name)

    def dropdb(self, name):
        self.sql("postgres", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


_shared = None


def shared():
    """One server for the whole test process (started on first use)."""
    global _shared
    if _shared is None:
        _shared = PgServer().start()
        atexit.register(_shared.cleanup)
    return _shared


_seq = [0]


def unique_name(prefix="t"):
    _seq[0] += 1
    return "%s_%d_%d" % (prefix, os.getpid(), _seq[0])


def fresh_db(prefix="t"):
    """A new empty database on the shared server; returns (name, url)."""
    name = unique_name(prefix)
    return name, shared().createdb(name)


if __name__ == "__main__":
    # Run a command with a server up: MSND_TEST_PG_URL names an empty
    # database on it (used to run the C store tests against PostgreSQL).
    import sys
    pg = PgServer().start()
    try:
        env = dict(os.environ, MSND_TEST_PG_URL=pg.createdb("unit"), MSND_TEST_PG_DIR=pg.dir,
                   MSND_TEST_PG_PORT=str(pg.port))
        rc = subprocess.run(sys.argv[1:], env=env).returncode
    finally:
        pg.cleanup()
    sys.exit(rc)
