"""Driving `msnc --batch` from tests: one process per user, its JSON events
collected by a reader thread, every wait bounded. Also the file helpers
the transfer tests share: random files, SHA-256, the received-file check."""
import hashlib
import json
import os
import queue
import subprocess
import threading
import time

WAIT = 15.0


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
    return path


def assert_received(test, src, dst):
    """dst is byte-identical to src and alone in its directory: no
    temporary file and no second copy remains."""
    test.assertEqual(os.path.getsize(dst), os.path.getsize(src))
    test.assertEqual(sha256(src), sha256(dst))
    test.assertEqual(os.listdir(os.path.dirname(dst)), [os.path.basename(dst)], "no temporary file may remain")


def wait_transfer(sender, receiver, timeout=WAIT, **fields):
    """Both ends report transfer_done; returns the receiver's event (its
    "file" is the final path)."""
    done = receiver.wait("transfer_done", timeout=timeout, **fields)
    sender.wait("transfer_done", timeout=timeout, **fields)
    return done


class Msnc:
    def __init__(self, msnc, server, email, password, bind_ip, workdir, extra=(), reconnect=False):
        self.email = email
        self.download = os.path.join(workdir, email + "-downloads")
        os.makedirs(self.download, exist_ok=True)
        env = dict(os.environ, MSNC_PASSWORD=password)
        self.stderr_path = os.path.join(workdir, email + ".stderr")
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [msnc, "--batch", "--server", server if isinstance(server, str) else "%s:%d" % server, "--account", email, "--bind-ip", bind_ip,
             "--ftp-ports", "0", "--download-dir", self.download, "--cache-dir", os.path.join(workdir, "cache"),
             *(() if reconnect else ("--no-reconnect",)), "--connect-timeout", "10", "--invite-timeout", "20", *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env)
        self.events = []
        self.on_quit = None  # called once /quit is sent (a scripted server closes its end)
        self.lock = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "unparsable", "text": line}
            with self.lock:
                self.events.append(ev)
                self.lock.notify_all()
        with self.lock:
            self.events.append({"event": "_exit"})
            self.lock.notify_all()

    def stderr_tail(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_pred(self, event, pred, timeout=WAIT):
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for e in self.events:
                    if e.get("event") == event and pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: no matching %s within %.0fs; events: %s; stderr: %s" %
                                         (self.email, event, timeout, self.events[-25:], self.stderr_tail()))
                self.lock.wait(left)

    def find(self, event, since=0, **fields):
        with self.lock:
            for i in range(since, len(self.events)):
                e = self.events[i]
                if e.get("event") == event and all(e.get(k) == v for k, v in fields.items()):
                    return i, e
        return None, None

    def wait(self, event, timeout=WAIT, since=0, **fields):
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for i in range(since, len(self.events)):
                    e = self.events[i]
                    if e.get("event") == event and all(e.get(k) == v for k, v in fields.items()):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: no %s %r within %.0fs; events: %s; stderr: %s" %
                                         (self.email, event, fields, timeout, self.events[-25:], self.stderr_tail()))
                self.lock.wait(left)

    def mark(self):
        with self.lock:
            return len(self.events)

    def quit(self, timeout=WAIT):
        if self.proc.poll() is None:
            try:
                self.send("/quit")
            except (BrokenPipeError, ValueError):
                pass
            if self.on_quit:
                self.on_quit()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(2)
        self.stderr.close()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (BrokenPipeError, ValueError):
                pass
        return self.proc.returncode
