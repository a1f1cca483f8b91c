#!/usr/bin/env python3
"""The interactive msnc (libedit) driven through a pseudo-terminal against a
real msnd, with a second user in --batch mode on the other side.

usage: test_cli_pty.py MSND MSNC"""
import fcntl
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import msntest  # noqa: E402
from fakeserver import FakeServer, invite_payload, text_payload  # noqa: E402
from msnclib import Msnc, assert_received, make_random_file, sha256  # noqa: E402

MSND = MSNC = None
WAIT = 15.0
USERS = [("alice@example.com", "alicepw", "Alice"), ("bob@example.com", "bobpw", "Bob")]
STAMP = rb"\[\d\d:\d\d:\d\d\] "


class Terminal:
    """msnc on the slave side of a pty; everything it writes is collected."""

    def __init__(self, argv, env, columns=160):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        self.master = master
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.out = bytearray()
        self.cond = threading.Condition()
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            r, _, _ = select.select([self.master], [], [], 0.2)
            if not r:
                if self.proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the slave side is gone
                break
            if not data:
                break
            with self.cond:
                self.out.extend(data)
                self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def type(self, text):
        os.write(self.master, text.encode())

    def mark(self):
        with self.cond:
            return len(self.out)

    def expect(self, pattern, since=0, timeout=WAIT):
        """Waits for pattern (bytes regex) in the output after offset since."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                m = rx.search(bytes(self.out[since:]))
                if m:
                    return since + m.end(), m
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise AssertionError("no %r on the terminal; output so far:\n%s" %
                                         (pattern, bytes(self.out[-3000:]).decode(errors="replace")))
                self.cond.wait(min(left, 0.5))

    def text(self, since=0):
        with self.cond:
            return bytes(self.out[since:])

    def close(self, timeout=WAIT):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self.reader.join(2)
        os.close(self.master)
        return rc


class Screen:
    """What a terminal of rows x cols shows after data: enough of xterm for
    msnc and libedit (autowrap, cursor moves, erasing)."""

    def __init__(self, data, cols, rows=40):
        import unicodedata
        self.cols, self.rows = cols, rows
        self.lines = [[" "] * cols for _ in range(rows)]
        self.history = []
        y = x = 0
        wrap = False
        text = data.decode("utf-8", errors="replace")
        i = 0
        while i < len(text):
            c = text[i]
            i += 1
            if c == "\x1b":
                if i < len(text) and text[i] == "[":
                    j = i + 1
                    while j < len(text) and not ("@" <= text[j] <= "~"):
                        j += 1
                    params, cmd = text[i + 1:j], text[j] if j < len(text) else ""
                    i = j + 1
                    nums = [int(n) if n.isdigit() else 0 for n in params.lstrip("?").split(";")]
                    n = max(nums[0], 1)
                    wrap = False
                    if cmd == "A":
                        y = max(y - n, 0)
                    elif cmd == "B":
                        y = min(y + n, rows - 1)
                    elif cmd == "C":
                        x = min(x + n, cols - 1)
                    elif cmd == "D":
                        x = max(x - n, 0)
                    elif cmd == "G":
                        x = min(n - 1, cols - 1)
                    elif cmd == "H":
                        y, x = min(n - 1, rows - 1), min(max(nums[1] if len(nums) > 1 else 1, 1) - 1, cols - 1)
                    elif cmd == "K":
                        if nums[0] == 0:
                            self.lines[y][x:] = [" "] * (cols - x)
                        elif nums[0] == 1:
                            self.lines[y][:x + 1] = [" "] * (x + 1)
                        else:
                            self.lines[y] = [" "] * cols
                    elif cmd == "J":
                        if nums[0] == 0:
                            self.lines[y][x:] = [" "] * (cols - x)
                            for k in range(y + 1, rows):
                                self.lines[k] = [" "] * cols
                        else:
                            self.lines = [[" "] * cols for _ in range(rows)]
                else:
                    i += 1  # a two-character escape
                continue
            if c == "\r":
                x, wrap = 0, False
            elif c == "\n":
                y, wrap = y + 1, False
            elif c == "\b":
                x, wrap = max(x - 1, 0), False
            elif c == "\a":
                pass
            elif c == "\t":
                x = min((x // 8 + 1) * 8, cols - 1)
            elif c >= " ":
                w = 2 if unicodedata.east_asian_width(c) in "WF" else 1
                if wrap or x + w > cols:
                    x, y, wrap = 0, y + 1, False
                if y >= rows:
                    self.history.append(self.lines.pop(0))
                    self.lines.append([" "] * cols)
                    y = rows - 1
                self.lines[y][x] = c
                if w == 2 and x + 1 < cols:
                    self.lines[y][x + 1] = ""
                x += w
                if x >= cols:
                    x, wrap = cols - 1, True
            if y >= rows:
                self.history.append(self.lines.pop(0))
                self.lines.append([" "] * cols)
                y = rows - 1
        self.y, self.x = y, x

    def text(self):
        """Every row, scrolled off or not, without trailing blanks, empty rows left out."""
        rows = ["".join(r).rstrip() for r in self.history + self.lines]
        return [r for r in rows if r]


class InteractiveCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="msnc-pty-")
        self.srv = msntest.MsndServer(MSND, users=USERS)
        self.srv.start()
        self.bob = Msnc(MSNC, self.srv.ds, "bob@example.com", "bobpw", "127.0.0.3", self.tmp)
        self.term = None

    def tearDown(self):
        if self.term and self.term.proc.poll() is None:
            self.term.proc.kill()
            self.term.close()
        self.bob.quit()
        self.srv.stop()
        self.srv.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_session(self):
        bob, srv = self.bob, self.srv
        bob.wait("logged_in")
        bob.send("/add alice@example.com")
        bob.wait("list", list="FL", email="alice@example.com")
        env = dict(os.environ, MSNC_PASSWORD="alicepw", TERM="xterm")
        env.pop("LINES", None)
        env.pop("COLUMNS", None)
        self.term = t = Terminal([MSNC, "-s", "%s:%d" % srv.ds, "-u", "alice@example.com", "--bind-ip", "127.0.0.2",
                                  "--ftp-ports", "0", "--download-dir", self.tmp, "--no-reconnect"], env)
        pos, _ = t.expect(STAMP + rb"logged in as alice@example\.com \(Alice\), MSNP7")
        pos, _ = t.expect(STAMP + rb"contact list: 0 contacts \(version \d+\)\r\n", pos)
        pos, _ = t.expect(STAMP + rb"your status: online\r\n", pos)
        bob.wait("presence", email="alice@example.com", status="NLN")

        t.type("/status busy\r")
        pos, _ = t.expect(STAMP + rb"your status: busy\r\n", pos)
        bob.wait("presence", email="alice@example.com", status="BSY")

        # Events arriving after a command must not bring its line back.
        t.type("/add bob@example.com\r")
        pos, _ = t.expect(STAMP + rb"bob@example\.com added list FL\r\n", pos)
        pos, _ = t.expect(STAMP + rb"Bob \(bob@example\.com\) is online\r\n", pos)
        bob.send("/name Bobby")
        pos, _ = t.expect(STAMP + rb"Bobby \(bob@example\.com\) is online\r\n", pos)
        t.type("/chat bob@example.com\r")
        pos, _ = t.expect(STAMP + rb"chat \d+: bob@example\.com joined\r\n", pos)
        chat = bob.wait("chat_open", text="incoming")["chat"]

        t.type("hello bob\r")
        bob.wait("message", chat=chat, email="alice@example.com", text="hello bob")

        # A half-typed line survives an event printed over it.
        t.type("half")
        t.expect(rb"half", pos)
        m = t.mark()
        bob.send("reply from bob")
        pos, _ = t.expect(STAMP + rb"<Bobby> reply from bob\r\n", m)
        t.expect(rb"msnc> half", pos)
        t.type(" typed\r")
        bob.wait("message", chat=chat, email="alice@example.com", text="half typed")

        t.type("/list FL\r")
        pos, _ = t.expect(STAMP + rb"  FL  bob@example\.com +", pos)
        # the list's last line and the prompt before the next command, as
        # the others wait for their answers: typed while /list still
        # printed (seen under the sanitizer build's load), the keys were
        # shown where its output was and again in the prompt
        pos, _ = t.expect(STAMP + rb"1 contact on your contact list \(FL\)\.\r\n", pos)
        pos, _ = t.expect(rb"msnc> ", pos)

        # A file sent from the terminal: a progress bar, then the result.
        src = make_random_file(os.path.join(self.tmp, "pty.bin"), 3 << 20)
        t.type("/send %s\r" % src)
        inv = bob.wait("invite", app="file_transfer")
        bob.send("/accept %s" % inv["cookie"])
        done = bob.wait("transfer_done", timeout=30)
        assert_received(self, src, done["file"])
        # The bar gets a line of its own and the prompt is drawn again below
        # it, so a half-typed line is never hidden by a transfer.
        pos, _ = t.expect(rb"transfer %s \(pty\.bin to bob@example\.com\) " % inv["cookie"].encode() +
                          rb"\[[#.]{30}\] +\d+% [\d.]+ [KMG]?i?B / 3\.0 MiB +[\d.]+ [KMG]?i?B/s +ETA \d+s\r\n"
                          rb"[^\[]{0,16}msnc> ", pos)
        pos, _ = t.expect(STAMP + rb"transfer %s complete: " % inv["cookie"].encode(), pos)

        m = t.mark()
        t.type("/quit\r")
        self.assertEqual(t.close(), 0, t.text(m).decode(errors="replace"))

        out = t.text().decode(errors="replace")
        # Every accepted line is echoed once, as it was typed, and never again.
        for typed in ("/status busy", "/add bob@example.com", "/chat bob@example.com", "hello bob", "/list FL",
                      "/send " + src):
            self.assertEqual(out.count(typed), 1, "%r shown %d times:\n%s" % (typed, out.count(typed), out))
        self.assertNotIn("msnc> /status busy/", out)
        # Each event line starts at column 0, what is below it cleared.
        for line in re.findall(r"\[\d\d:\d\d:\d\d\] [^\r\n]*", out):
            self.assertTrue(out[out.index(line) - 4:out.index(line)] == "\r\x1b[J", line)

        # Logged in again, with bob on her list now: one contact, singular.
        self.term = t = Terminal([MSNC, "-s", "%s:%d" % srv.ds, "-u", "alice@example.com", "--bind-ip", "127.0.0.2",
                                  "--no-reconnect"], env)
        t.expect(STAMP + rb"contact list: 1 contact \(version \d+\)\r\n")
        t.type("/quit\r")
        self.assertEqual(t.close(), 0)

    def test_two_transfers_are_told_apart(self):
        # A file received and a file sent at once: each has a progress line
        # of its own, named as the other lines name a transfer (its cookie),
        # with its file and peer. There used to be one unnamed bar that the
        # two drew in turn.
        bob, srv = self.bob, self.srv
        bob.wait("logged_in")
        bob.send("/add alice@example.com")
        bob.wait("list", list="FL", email="alice@example.com")
        env = dict(os.environ, MSNC_PASSWORD="alicepw", TERM="xterm")
        # 256 KiB/s: both transfers run for seconds, side by side
        self.term = t = Terminal([MSNC, "-s", "%s:%d" % srv.ds, "-u", "alice@example.com", "--bind-ip", "127.0.0.2",
                                  "--ftp-ports", "0", "--download-dir", self.tmp, "--no-reconnect",
                                  "--max-rate", "262144"], env)
        pos, _ = t.expect(STAMP + rb"your status: online\r\n")
        t.type("/add bob@example.com\r")
        pos, _ = t.expect(STAMP + rb"Bob \(bob@example\.com\) is online\r\n", pos)
        t.type("/chat bob@example.com\r")
        pos, _ = t.expect(STAMP + rb"chat \d+: bob@example\.com joined\r\n", pos)
        srcdir = os.path.join(self.tmp, "src")
        os.mkdir(srcdir)
        src = {n: make_random_file(os.path.join(srcdir, n), 1 << 20) for n in ("from-bob.bin", "to-bob.bin")}
        bob.send("/chat alice@example.com")  # the chat alice opened
        bob.send("/send " + src["from-bob.bin"])
        sent = bob.wait("invite_sent", app="file_transfer")
        pos, _ = t.expect(rb"bob@example\.com offers file from-bob\.bin \(1048576 bytes\)", pos)
        t.type("/send %s\r" % src["to-bob.bin"])
        inv = bob.wait("invite", app="file_transfer", file="to-bob.bin")
        bob.send("/accept %s" % inv["cookie"])
        t.type("/accept %s\r" % sent["cookie"])
        want = {sent["cookie"].encode(): (b"from-bob.bin", b"from"), inv["cookie"].encode(): (b"to-bob.bin", b"to")}
        # one redraw holding both lines, one under the other
        line = rb"transfer (\d+) \(([\w.-]+) (to|from) bob@example\.com\) \[[#.]{30}\] +\d+% [^\r\n]+ETA \d+s\r\n"
        _, m = t.expect(line + line, pos, timeout=30)
        self.assertEqual({m.group(1): m.group(2, 3), m.group(4): m.group(5, 6)}, want)
        for cookie in want:
            t.expect(STAMP + rb"transfer %s complete: " % cookie, pos, timeout=30)
        assert_received(self, src["to-bob.bin"], bob.wait("transfer_done", cookie=inv["cookie"])["file"])
        self.assertEqual(sha256(src["from-bob.bin"]), sha256(os.path.join(self.tmp, "from-bob.bin")))
        m = t.mark()
        t.type("/quit\r")
        self.assertEqual(t.close(), 0, t.text(m).decode(errors="replace"))

    def test_progress_lines_fit_a_narrow_terminal(self):
        # The lines are redrawn in place by moving up one row per line: one
        # that wrapped would leave a stale row behind. In 100 columns the
        # bar narrows, the peer goes and a long name is shortened; the
        # cookie and the figures stay whole.
        bob, srv = self.bob, self.srv
        bob.wait("logged_in")
        bob.send("/add alice@example.com")
        bob.wait("list", list="FL", email="alice@example.com")
        env = dict(os.environ, MSNC_PASSWORD="alicepw", TERM="xterm", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        self.term = t = Terminal([MSNC, "-s", "%s:%d" % srv.ds, "-u", "alice@example.com", "--bind-ip", "127.0.0.2",
                                  "--ftp-ports", "0", "--download-dir", self.tmp, "--no-reconnect",
                                  "--max-rate", "262144"], env, columns=100)
        pos, _ = t.expect(STAMP + rb"your status: online\r\n")
        t.type("/add bob@example.com\r")
        pos, _ = t.expect(STAMP + rb"Bob \(bob@example\.com\) is online\r\n", pos)
        t.type("/chat bob@example.com\r")
        pos, _ = t.expect(STAMP + rb"chat \d+: bob@example\.com joined\r\n", pos)
        name = "a-rather-long-file-name-for-a-narrow-terminal-文件.bin"
        src = make_random_file(os.path.join(self.tmp, name), 1 << 20)
        t.type('/send "%s"\r' % src)
        inv = bob.wait("invite", app="file_transfer")
        bob.send("/accept %s" % inv["cookie"])
        bob.wait("transfer_done", cookie=inv["cookie"], timeout=30)
        pos, _ = t.expect(STAMP + rb"transfer %s complete: " % inv["cookie"].encode(), pos)
        lines = re.findall(rb"transfer %s [^\r\n]*?ETA \d+s\r\n" % inv["cookie"].encode(), t.text())
        self.assertTrue(lines, t.text()[-2000:])
        for line in lines:
            shown = line.rstrip(b"\r\n").decode()
            # counted as msnc counts: a character from U+1100 on as two
            self.assertLessEqual(sum(2 if ord(c) >= 0x1100 else 1 for c in shown), 99, shown)
            self.assertRegex(shown, r"^transfer \d+ \(a-rather-[^)]*\.\.\.\) \[[#.]{10,30}\] +\d+% .* ETA \d+s$")
        t.type("/quit\r")
        self.assertEqual(t.close(), 0)

    def start_alice(self, columns=160, extra=()):
        """alice at the terminal, in a chat with bob: (terminal, offset, bob's chat)."""
        bob, srv = self.bob, self.srv
        bob.wait("logged_in")
        bob.send("/add alice@example.com")
        bob.wait("list", list="FL", email="alice@example.com")
        env = dict(os.environ, MSNC_PASSWORD="alicepw", TERM="xterm", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        self.term = t = Terminal([MSNC, "-s", "%s:%d" % srv.ds, "-u", "alice@example.com", "--bind-ip", "127.0.0.2",
                                  "--ftp-ports", "0", "--download-dir", self.tmp, "--no-reconnect"] + list(extra),
                                 env, columns=columns)
        pos, _ = t.expect(STAMP + rb"your status: online\r\n")
        t.type("/add bob@example.com\r")
        pos, _ = t.expect(STAMP + rb"Bob \(bob@example\.com\) is online\r\n", pos)
        t.type("/chat bob@example.com\r")
        pos, _ = t.expect(STAMP + rb"chat \d+: bob@example\.com joined\r\n", pos)
        chat = bob.wait("chat_open", text="incoming")["chat"]
        return t, pos, chat

    def quit_alice(self, t):
        m = t.mark()
        t.type("\x15/quit\r")
        self.assertEqual(t.close(), 0, t.text(m).decode(errors="replace"))

    def test_keys_waiting_for_more_do_not_stop_events(self):
        # ESC (the start of a key sequence), ^V (quoted insert) and ^R
        # (incremental search) make libedit wait for the next key: the
        # messages that come meanwhile are shown at once.
        t, pos, chat = self.start_alice()
        for name, key, release in (("escape", "\x1b", ""), ("quoted-insert", "\x16", "x"), ("search", "\x12", "\x07")):
            t.type(key)
            time.sleep(0.3)
            m = t.mark()
            self.bob.send("while %s waits" % name)
            t.expect(STAMP + rb"<Bob> while %s waits\r\n" % name.encode(), m, timeout=5)
            t.type(release)
            time.sleep(0.2)
            t.type("\x15")  # ^U: an empty line again
            time.sleep(0.2)
        t.type("after the keys\r")
        msg = self.bob.wait("message", chat=chat)
        self.assertTrue(msg["text"].endswith("after the keys"), msg)
        self.quit_alice(t)

    def test_long_half_typed_line_is_cleared_whole(self):
        # A half-typed line wider than the terminal takes several rows: an
        # event clears them all and draws the line again once below it.
        t, pos, chat = self.start_alice(columns=80)
        typed = "".join(chr(97 + i % 26) for i in range(250))
        t.type(typed)
        t.expect(re.escape(typed[-10:]).encode(), pos)
        for i in range(3):
            m = t.mark()
            self.bob.send("event %d" % i)
            pos, _ = t.expect(STAMP + rb"<Bob> event %d\r\n" % i, m)
        t.expect(re.escape(typed[-10:]).encode(), pos)
        time.sleep(0.3)
        rows = Screen(t.text(), 80).text()
        want = ["msnc> " + typed[:74], typed[74:154], typed[154:234], typed[234:]]
        self.assertEqual(rows[-4:], want, "\n".join(rows))
        for i in range(3):
            self.assertRegex(rows[-7 + i], r"^\[\d\d:\d\d:\d\d\] <Bob> event %d$" % i, "\n".join(rows))
        # nothing else of the line is left on the screen
        self.assertEqual(sum(1 for r in rows if "abcdefghij" in r), 4, "\n".join(rows))
        self.quit_alice(t)

    def test_command_typed_over_progress_lines_stays(self):
        # Enter moves the cursor below the line typed: the progress lines are
        # then above that line, which takes their place, and they come back
        # below the command's output.
        t, pos, chat = self.start_alice(columns=100, extra=("--max-rate", "262144"))
        src = make_random_file(os.path.join(self.tmp, "slow.bin"), 2 << 20)
        t.type("/send %s\r" % src)
        inv = self.bob.wait("invite", app="file_transfer")
        cookie = inv["cookie"].encode()
        self.bob.send("/accept %s" % inv["cookie"])
        progress = rb"transfer %s \(slow\.bin[^\r\n]*ETA \d+s\r\n" % cookie
        pos, _ = t.expect(progress, pos, timeout=15)
        t.type("/chats\r")
        pos, _ = t.expect(rb"Chat 1 with bob@example\.com: ready \(the current chat\)\.\r\n", pos)
        pos, _ = t.expect(progress + rb"[^\r\n]*msnc> ", pos)
        time.sleep(0.1)
        rows = Screen(t.text(), 100).text()
        self.assertIn("msnc> /chats", rows, "\n".join(rows))
        self.assertRegex(rows[rows.index("msnc> /chats") + 1], r"Chat 1 with bob@example\.com: ready")
        self.assertEqual(sum(1 for r in rows if r.startswith("transfer %s (" % inv["cookie"])), 1, "\n".join(rows))
        self.bob.wait("transfer_done", cookie=inv["cookie"], timeout=30)
        t.expect(STAMP + rb"transfer %s complete: " % cookie, pos)
        self.quit_alice(t)

    def test_progress_figures_stay_in_45_columns(self):
        # Too narrow for the bar: the cookie and the figures, written shorter.
        t, pos, chat = self.start_alice(columns=45, extra=("--max-rate", "262144"))
        src = make_random_file(os.path.join(self.tmp, "narrow.bin"), 1 << 20)
        t.type("/send %s\r" % src)
        inv = self.bob.wait("invite", app="file_transfer")
        self.bob.send("/accept %s" % inv["cookie"])
        self.bob.wait("transfer_done", cookie=inv["cookie"], timeout=30)
        pos, _ = t.expect(STAMP + rb"transfer %s complete: " % inv["cookie"].encode(), pos)
        lines = re.findall(rb"\x1b\[J([^\r\n\x1b]*%s[^\r\n]*)\r\n" % inv["cookie"].encode(), t.text())
        bars = [ln.decode() for ln in lines if b"%" in ln]
        self.assertTrue(bars, t.text()[-2000:])
        for shown in bars:
            self.assertLessEqual(len(shown), 44, shown)
            self.assertRegex(shown, r"^(transfer )?%s:? +\d+%% [\d.]+ ?[BKMGTi]+ ?/ ?[\d.]+ ?[BKMGTi]+ +[\d.]+ ?[BKMGTi]+/s +"
                             r"ETA \d+s$" % inv["cookie"], shown)
        self.quit_alice(t)

    def test_commands_answers(self):
        t, pos, chat = self.start_alice()
        # a chat number is a whole number, and one is needed
        for line in ("/switch 1x", "/switch", "/switch 1 2"):
            t.type(line + "\r")
            pos, _ = t.expect(STAMP + rb"error: usage: /switch N\r\n", pos)
        t.type("/switch 1\r")
        t.type("/chats\r")
        pos, _ = t.expect(rb"Chat 1 with bob@example\.com: ready \(the current chat\)\.", pos)
        # two offers: an answer without a cookie takes the older one first
        src = [make_random_file(os.path.join(self.tmp, n), 4096) for n in ("one.bin", "two.bin")]
        cookies = []
        for path in src:
            self.bob.send("/send " + path)
            pos, m = t.expect(rb"bob@example\.com offers file %s \(4096 bytes\): /accept (\d+)" %
                              re.escape(os.path.basename(path).encode()), pos)
            cookies.append(m.group(1))
        for cookie in cookies:
            t.type("/decline\r")
            pos, _ = t.expect(rb"The file transfer invitation %s was ended by you: declined\." % cookie, pos)
        # a logout is said
        t.type("/logout\r")
        pos, _ = t.expect(STAMP + rb"logged out; /login logs in again\r\n", pos)
        t.type("/logout\r")
        pos, _ = t.expect(STAMP + rb"not logged in\r\n", pos)
        self.quit_alice(t)

    def test_failed_invitation_is_not_said_to_be_the_users_doing(self):
        # An invitation that ended here for a failure (nobody answered, the
        # call could not reach the contact) read "was ended by you: it
        # failed", as if the user had cancelled it, without the reason.
        t, pos, chat = self.start_alice(extra=("--invite-timeout", "1"))
        src = make_random_file(os.path.join(self.tmp, "unanswered.bin"), 10)
        t.type("/send %s\r" % src)
        cookie = self.bob.wait("invite", file="unanswered.bin")["cookie"].encode()
        pos, _ = t.expect(rb"The file transfer invitation %s failed: no answer came in time\." % cookie, pos)
        t.type("/chat carol@example.com\r")
        pos, _ = t.expect(STAMP + rb"server error 217: ", pos)
        t.type("/send %s\r" % src)
        pos, m = t.expect(rb"invitation (\d+) \(file_transfer\) sent", pos)
        pos, _ = t.expect(rb"The file transfer invitation %s failed \(217: [^)]+\)\." % m.group(1), pos)
        self.assertNotIn(b"ended by you", t.text())
        self.quit_alice(t)

    def test_failed_call_is_said_by_chats(self):
        # A call nobody answered said "waiting for someone to join" for good.
        # bob must be online before alice calls him below (on a loaded
        # machine his login can still be on its way)
        self.bob.wait("status", status="NLN")
        env = dict(os.environ, MSNC_PASSWORD="alicepw", TERM="xterm")
        self.term = t = Terminal([MSNC, "-s", "%s:%d" % self.srv.ds, "-u", "alice@example.com", "--bind-ip",
                                  "127.0.0.2", "--no-reconnect"], env)
        pos, _ = t.expect(STAMP + rb"your status: online\r\n")
        t.type("/chat carol@example.com\r")
        pos, m = t.expect(STAMP + rb"server error (\d+): ", pos)
        code = int(m.group(1))
        t.type("/chats\r")
        pos, _ = t.expect(rb"Chat 1 with carol@example\.com: the call failed \(%d: [^)]+\); a line typed here "
                          rb"calls again \(the current chat\)\." % code, pos)
        # the next call rings: bob joins, and the chat is ready
        t.type("/invite bob@example.com\r")
        pos, _ = t.expect(STAMP + rb"chat 1: bob@example\.com joined", pos)
        t.type("/chats\r")
        pos, _ = t.expect(rb"Chat 1 with bob@example\.com: ready \(the current chat\)\.", pos)
        t.type("/quit\r")
        self.assertEqual(t.close(), 0)

    def test_wrong_password_says_what_to_do(self):
        # "login failed: authentication failed", and nothing else: /login
        # (which the client stays open for) only sends the same password.
        env = dict(os.environ, MSNC_PASSWORD="wrong", TERM="xterm")
        self.term = t = Terminal([MSNC, "-s", "%s:%d" % self.srv.ds, "-u", "alice@example.com", "--bind-ip",
                                  "127.0.0.2", "--no-reconnect"], env)
        pos, _ = t.expect(STAMP + rb"login failed: authentication failed \(911\): the server refused this e-mail "
                          rb"and password .*; /quit and start msnc with the right password\r\n")
        t.type("/quit\r")
        self.assertEqual(t.close(), 2)

    def test_password_prompt_does_not_echo(self):
        env = dict(os.environ, TERM="xterm")
        env.pop("MSNC_PASSWORD", None)
        self.term = t = Terminal([MSNC, "-s", "%s:%d" % self.srv.ds, "-u", "alice@example.com", "--bind-ip",
                                  "127.0.0.2", "--ftp-ports", "0", "--download-dir", self.tmp, "--no-reconnect"], env)
        pos, _ = t.expect(rb"Password for alice@example\.com: ")
        t.type("alicepw\r")
        pos, _ = t.expect(STAMP + rb"logged in as alice@example\.com", pos)
        m = t.mark()
        t.type("/quit\r")
        self.assertEqual(t.close(), 0, t.text(m).decode(errors="replace"))
        self.assertNotIn(b"alicepw", t.text(), "the password must not be echoed")


class TerminalSafety(unittest.TestCase):
    """A scripted server sends escape sequences; the user types non-ASCII."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="msnc-pty-esc-")
        self.srv = FakeServer()
        self.sb = FakeServer()
        self.term = None

    def tearDown(self):
        if self.term and self.term.proc.poll() is None:
            self.term.proc.kill()
            self.term.close()
        self.srv.close()
        self.sb.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def ring(self, ns, n, peer):
        ns.send_line("RNG %d %s CKI 1.%d %s Bob" % (n, self.sb.hostport, n, peer))
        conn = self.sb.accept()
        ans = conn.expect("ANS")
        conn.send_line("IRO %s 1 1 %s Bob" % (ans.args[0], peer))
        conn.send_line("ANS %s OK" % ans.args[0])
        return conn

    def test_escapes_shown_and_utf8_typed(self):
        env = dict(os.environ, MSNC_PASSWORD="alicepw", TERM="xterm", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        self.term = t = Terminal([MSNC, "-s", self.srv.hostport, "-u", "alice@example.com", "--bind-ip", "127.0.0.2",
                                  "--download-dir", self.tmp, "--no-reconnect"], env)
        ns = self.srv.accept()
        ns.login("alice@example.com", "alicepw")
        pos, _ = t.expect(STAMP + rb"your status: online\r\n")
        bob = self.ring(ns, 1, "bob@example.com")
        pos, _ = t.expect(STAMP + rb"chat 1: bob@example\.com joined", pos)

        # Title change, clear screen, OSC 52 clipboard write, a C1 CSI and a
        # byte that is not UTF-8: all shown, none obeyed.
        evil = (b"x \x1b]0;owned\x07 \x1b[2J \x1b]52;c;aGk=\x07 \xc2\x9b31m \xff\x7f end")
        payload = text_payload("").encode() + evil
        bob.send_raw(b"MSG bob@example.com Bob %d\r\n" % len(payload) + payload)
        pos, _ = t.expect(STAMP + re.escape(b"<Bob> x ^[]0;owned^G ^[[2J ^[]52;c;aGk=^G <U+009B>31m \\xFF^? end") +
                          rb"\r\n", pos)
        out = t.text()
        for raw in (b"\x1b]0;", b"\x1b[2J", b"\x1b]52", b"\xc2\x9b", b"\xff"):
            self.assertNotIn(raw, out)

        # Typed UTF-8 reaches the peer byte for byte.
        t.type("你好 ünïcode\r")
        msg = bob.expect("MSG")
        self.assertTrue(msg.payload.endswith("\r\n\r\n你好 ünïcode".encode()), msg.payload)
        bob.send_line("ACK %s" % msg.args[0])
        pos, _ = t.expect("你好 ünïcode".encode(), pos)

        # A second chat: lines now say which chat they belong to.
        carol = self.ring(ns, 2, "carol@example.com")
        pos, _ = t.expect(STAMP + rb"chat 2: carol@example\.com joined", pos)
        carol.send_msg("carol@example.com", "Carol", text_payload("hi from carol"))
        pos, _ = t.expect(STAMP + rb"\[chat 2\] <Carol> hi from carol\r\n", pos)
        t.type("/chats\r")
        pos, _ = t.expect(rb"Chat 1 with bob@example\.com: ready \(the current chat\)\.", pos)
        pos, _ = t.expect(rb"Chat 2 with carol@example\.com: ready\.", pos)
        t.type("/list\r")
        t.expect(rb"0 contacts on your contact list \(FL\)\.", pos)

        # A declined invitation reads as a sentence.
        carol.send_msg("carol@example.com", "Carol", invite_payload([
            ("Application-Name", "Whiteboard"), ("Application-GUID", "{1DF57D09-637A-4CA5-91B9-2C3EDAAF62FE}"),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "55")]))
        pos, _ = t.expect(rb"/accept 55", pos)
        t.type("/decline 55\r")
        pos, _ = t.expect(rb"The whiteboard invitation 55 was ended by you: declined\.", pos)

        # A file offered without Application-FileSize: no made-up size.
        carol.send_msg("carol@example.com", "Carol", invite_payload([
            ("Application-Name", "File Transfer"), ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "56"), ("Application-File", "nosize.bin")]))
        pos, _ = t.expect(rb"carol@example\.com offers file nosize\.bin \(size not given\): /accept 56", pos)
        t.type("/decline 56\r")
        pos, _ = t.expect(rb"The file transfer invitation 56 was ended by you: declined\.", pos)

        m = t.mark()
        t.type("/quit\r")
        self.assertEqual(t.close(), 0, t.text(m).decode(errors="replace"))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    MSND, MSNC = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
