#!/usr/bin/env python3
"""msnd on a full disk: the database lives on a small tmpfs, mounted in a
mount namespace of this test's own (needs root, as CI has; otherwise
skipped with exit code 77). Writes are refused with 501, the log names
the cause SQLite gave ("database or disk is full") and the file, and the
server and the session carry on."""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import online  # noqa: E402


def fill(path):
    """Take the free space of the file system at path, leaving a little."""
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    with open(os.path.join(path, "filler"), "wb") as f:
        f.write(b"\0" * max(0, free - 48 * 1024))


def test_disk_full_is_reported_as_such(srv):
    srv.stop()
    mnt = tempfile.mkdtemp(prefix="msnd-full-")
    # 4 MiB: room for the database and its WAL, then filled up.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "msnd-test", mnt], check=True)
    try:
        db = os.path.join(mnt, "msnd.db")
        shutil.copyfile(srv.db, db)
        srv.args += ["--db", db]
        srv.start()
        a = online(srv, "alice@example.com")
        fill(mnt)
        refused = None
        for i in range(500):
            t = a.trid()
            a.send_line("REA %d alice@example.com Alice%%20%d%%20%s" % (t, i, "x" * 300))
            r = a.read_cmd()
            if r.name == "REA":
                continue
            assert r.line == "501 %d" % t, r
            refused = i
            break
        assert refused is not None, "the disk never filled"
        errors = [l for l in srv.log_text().splitlines() if 'msg="store error"' in l]
        cause = 'error="database or disk is full on %s or its -wal or -shm: check the disk, its free space' % db
        assert errors and all(cause in l for l in errors), errors
        a.send_line("PNG")
        a.expect("QNG")
        a.close()
        srv.stop()
        # a new database that cannot be made is not left behind, where it
        # would pass for an existing one once there is room again
        new = os.path.join(mnt, "new.db")
        fd = os.open(os.path.join(mnt, "filler"), os.O_WRONLY | os.O_APPEND)
        try:  # to the last byte
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        r = subprocess.run([srv.msnd, "user", "add", "--create", "--db", new, "bob@example.com", "pw"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "database or disk is full" in r.stderr, r.stderr
        assert not any(n.startswith("new.db") for n in os.listdir(mnt)), os.listdir(mnt)
        os.unlink(os.path.join(mnt, "filler"))
        r = subprocess.run([srv.msnd, "user", "list", "--db", new], capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "No such file or directory" in r.stderr, r.stderr
    finally:
        srv.stop()
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)


def test_new_database_on_a_full_disk_is_not_called_no_database(srv):
    """`user add --create` on a nearly full file system: the new file cannot
    be read or written, which is said as such (it was called "not a
    database"), with what to check."""
    srv.stop()
    mnt = tempfile.mkdtemp(prefix="msnd-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "msnd-test", mnt], check=True)
    try:
        with open(os.path.join(mnt, "filler"), "wb") as f:
            f.write(b"\0" * (116 * 1024))
        r = subprocess.run([srv.msnd, "user", "add", "--create", "--db", os.path.join(mnt, "g.db"),
                            "alice@example.com", "pw"], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, r
        assert "not a database" not in r.stderr, r.stderr
        assert "check the disk, its free space" in r.stderr, r.stderr
    finally:
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)


def test_checkpoint_failure_at_shutdown_is_logged(srv):
    """At a clean stop msnd copies the -wal into the database file; on a
    full disk the file cannot grow and the copy failed without a word (the
    changes stay in the -wal until the next start). It is logged as an
    error naming the file."""
    srv.stop()
    mnt = tempfile.mkdtemp(prefix="msnd-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "msnd-test", mnt], check=True)
    try:
        db = os.path.join(mnt, "msnd.db")
        shutil.copyfile(srv.db, db)
        srv.args += ["--db", db]
        srv.start()
        # Rows that make the database file grow, left in the -wal: this
        # connection makes no checkpoint, and at its close msnd still has
        # the database open, so it makes none either.
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA wal_autocheckpoint=0")
        with conn:
            conn.executemany("INSERT INTO users(email, password, name, created) VALUES(?, 'pw', ?, 0)",
                             (("u%d@example.com" % i, "n" * 380) for i in range(200)))
        conn.close()
        assert os.path.getsize(db + "-wal") > 64 * 1024
        fill(mnt)
        fd = os.open(os.path.join(mnt, "filler"), os.O_WRONLY | os.O_APPEND)
        try:  # to the last byte
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        assert srv.stop() == 0
        errors = [l for l in srv.log_text().splitlines() if "level=error" in l]
        assert len(errors) == 1, errors
        assert 'msg="database checkpoint failed at close: the changes stay in the -wal file until the next ' \
            'start" error="database or disk is full on %s or its -wal or -shm: check the disk' % db in errors[0], errors
    finally:
        srv.stop()
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)


def in_own_mount_namespace():
    if os.environ.get("MSND_TEST_MNTNS") == "1":
        return
    if os.geteuid() != 0:
        print("SKIP: needs root for a mount namespace")
        sys.exit(77)
    env = dict(os.environ, MSND_TEST_MNTNS="1")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", sys.executable,
                        os.path.abspath(__file__)] + sys.argv[1:], env=env)
    sys.exit(r.returncode)


if __name__ == "__main__":
    in_own_mount_namespace()
    sys.exit(harness.run([test_disk_full_is_reported_as_such, test_new_database_on_a_full_disk_is_not_called_no_database,
                          test_checkpoint_failure_at_shutdown_is_logged], sys.argv[1]))
