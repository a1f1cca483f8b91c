#!/usr/bin/env python3
"""msnd lists, privacy and presence: ADD/REM with RL side effects, SYN/LST
formats, ILN/NLN/FLN both ways, BL/BLP hiding presence, groups, REA,
persistence across a restart."""
import contextlib
import os
import resource
import shutil
import sqlite3
import time
import sys
import urllib.parse

from harness import backend_only, login, msntest, online, pgtest, run, with_args


def add(c, lst, email, name=None, group=None):
    t = c.trid()
    extra = "" if group is None else " %s" % group
    c.send_line("ADD %d %s %s %s%s" % (t, lst, email, name or email, extra))
    return t


def expect_told_online(c, email, name=None, trid=None):
    """What an ADD FL of a contact who is online tells: its ILN. On a
    cluster the contact may be on another node whose news of the contact's
    login reaches this node only after the ADD: then the NLN of that news
    says the same. The sanitizer build is slow enough for that order to
    happen."""
    cmd = c.read_cmd()
    if msntest.topology() == "cluster" and cmd.name == "NLN":
        assert cmd.args[:2] == ["NLN", email] and (name is None or cmd.args[2] == name), cmd
        return cmd
    assert cmd.name == "ILN" and cmd.args[1:3] == ["NLN", email], cmd
    assert (trid is None or cmd.args[0] == str(trid)) and (name is None or cmd.args[3] == name), cmd
    return cmd


def read_until(c, pred, limit=50):
    got = []
    for _ in range(limit):
        cmd = c.read_cmd()
        got.append(cmd)
        if pred(cmd):
            return got
    raise AssertionError("condition not met in %r" % got)


def test_add_rem_and_rl(srv):
    a = online(srv, "alice@example.com")
    b = online(srv, "bob@example.com")
    t = add(a, "FL", "bob@example.com", "Bob")
    r = a.expect("ADD")
    assert r.args[:2] == [str(t), "FL"] and r.args[3:5] == ["bob@example.com", "Bob"], r
    expect_told_online(a, "bob@example.com", "Bob", t)
    rl = b.expect("ADD")
    assert rl.args[0] == "0" and rl.args[1] == "RL" and rl.args[3:] == ["alice@example.com", "Alice"], rl
    # errors
    t = add(a, "FL", "bob@example.com")
    a.expect_error(215, t)
    t = add(a, "FL", "nobody@example.com")
    a.expect_error(205, t)
    t = add(a, "FL", "a@b")
    a.expect_error(201, t)
    t = add(a, "XL", "bob@example.com")
    a.expect_error(201, t)
    t = add(a, "AL", "bob@example.com")
    a.expect("ADD")
    t = add(a, "BL", "bob@example.com")
    a.expect_error(219, t)
    t = a.trid()
    a.send_line("REM %d BL bob@example.com" % t)
    a.expect_error(216, t)
    t = a.trid()
    a.send_line("REM %d FL bob@example.com" % t)
    r = a.expect("REM")
    assert r.args[1] == "FL" and r.args[3] == "bob@example.com", r
    rl = b.expect("REM")
    assert rl.args[0] == "0" and rl.args[1] == "RL" and rl.args[3] == "alice@example.com", rl
    # versions only grow
    t = a.trid()
    a.send_line("SYN %d 0" % t)
    syn = a.expect("SYN")
    assert int(syn.args[1]) >= 4, syn


def test_syn_contact_phones(srv):
    # Each FL contact's own phone numbers come as BPR lines, in PHH PHW PHM
    # MOB order, whatever order they were set in.
    b = online(srv, "bob@example.com")
    for key, value in (("MOB", "Y"), ("PHW", "555%201234"), ("PHH", "12")):
        t = b.trid()
        b.send_line("PRP %d %s %s" % (t, key, value))
        b.expect("PRP")
    a = online(srv, "alice@example.com")
    add(a, "FL", "bob@example.com", "Bob")
    a.expect("ADD")
    expect_told_online(a, "bob@example.com")
    add(a, "FL", "carol@example.com", "Carol")
    v = int(a.expect("ADD").args[2])
    t = a.trid()
    a.send_line("SYN %d 0" % t)
    got = read_until(a, lambda cmd: cmd.name == "LST" and cmd.args[1] == "AL")
    bpr = [g.line for g in got if g.name == "BPR"]
    assert bpr == ["BPR %d bob@example.com PHH 12" % v, "BPR %d bob@example.com PHW 555%%201234" % v,
                   "BPR %d bob@example.com PHM" % v, "BPR %d bob@example.com MOB Y" % v,
                   "BPR %d carol@example.com PHH" % v, "BPR %d carol@example.com PHW" % v,
                   "BPR %d carol@example.com PHM" % v, "BPR %d carol@example.com MOB N" % v], bpr


def test_add_rl_disconnects(srv):
    a = online(srv, "alice@example.com")
    add(a, "RL", "bob@example.com")
    a.expect_closed()


def test_syn_formats(srv):
    a = online(srv, "alice@example.com")
    add(a, "FL", "bob@example.com", "Bob")
    a.expect("ADD")
    add(a, "AL", "bob@example.com")
    v = int(a.expect("ADD").args[2])
    a.close()
    # MSNP7: LSG + group list on FL
    c = login(srv, "alice@example.com")
    t = c.trid()
    c.send_line("SYN %d 0" % t)
    c.expect_line("SYN %d %d" % (t, v))
    c.expect_line("GTC %d %d A" % (t, v))
    c.expect_line("BLP %d %d AL" % (t, v))
    for key in ("PHH", "PHW", "PHM"):
        c.expect_line("PRP %d %d %s" % (t, v, key))
    c.expect_line("PRP %d %d MOB N" % (t, v))
    c.expect_line("PRP %d %d MBE N" % (t, v))
    c.expect_line("LSG %d %d 1 1 0 Other%%20Contacts 0" % (t, v))
    c.expect_line("LST %d FL %d 1 1 bob@example.com Bob 0" % (t, v))
    for key in ("PHH", "PHW", "PHM"):
        c.expect_line("BPR %d bob@example.com %s" % (v, key))
    c.expect_line("BPR %d bob@example.com MOB N" % v)
    c.expect_line("LST %d AL %d 1 1 bob@example.com bob@example.com" % (t, v))
    c.expect_line("LST %d BL %d 0 0" % (t, v))
    c.expect_line("LST %d RL %d 0 0" % (t, v))
    t = c.trid()
    c.send_line("SYN %d %d" % (t, v))
    c.expect_line("SYN %d %d" % (t, v))
    c.expect_silence(0.2)
    c.close()
    # MSNP4: no PRP/BPR/LSG, no groups
    c = login(srv, "alice@example.com", version="MSNP4")
    t = c.trid()
    c.send_line("SYN %d 0" % t)
    c.expect_line("SYN %d %d" % (t, v))
    c.expect_line("GTC %d %d A" % (t, v))
    c.expect_line("BLP %d %d AL" % (t, v))
    c.expect_line("LST %d FL %d 1 1 bob@example.com Bob" % (t, v))
    c.expect_line("LST %d AL %d 1 1 bob@example.com bob@example.com" % (t, v))
    c.expect_line("LST %d BL %d 0 0" % (t, v))
    c.expect_line("LST %d RL %d 0 0" % (t, v))
    # bob's RL shows alice
    b = login(srv, "bob@example.com", version="MSNP4")
    t = b.trid()
    b.send_line("LST %d RL" % t)
    r = b.expect("LST")
    assert r.args[1] == "RL" and r.args[3:] == ["1", "1", "alice@example.com", "Alice"], r


def make_friends(srv):
    a = online(srv, "alice@example.com")
    b = online(srv, "bob@example.com")
    add(a, "FL", "bob@example.com", "Bob")
    a.expect("ADD")
    expect_told_online(a, "bob@example.com")
    b.expect("ADD")  # RL
    add(b, "FL", "alice@example.com", "Alice")
    b.expect("ADD")
    expect_told_online(b, "alice@example.com")
    a.expect("ADD")  # RL
    return a, b


def test_presence_both_ways(srv):
    a, b = make_friends(srv)
    t = b.trid()
    b.send_line("CHG %d AWY" % t)
    b.expect_line("CHG %d AWY" % t)
    a.expect_line("NLN AWY bob@example.com Bob")
    b.send_line("OUT")
    b.expect_closed()
    a.expect_line("FLN bob@example.com")
    # bob comes back: ILN on his first CHG, alice gets NLN
    b = login(srv, "bob@example.com")
    t = b.trid()
    b.send_line("CHG %d BSY" % t)
    b.expect_line("CHG %d BSY" % t)
    b.expect_line("ILN %d NLN alice@example.com Alice" % t)
    a.expect_line("NLN BSY bob@example.com Bob")
    # hidden looks offline, and a dropped connection sends FLN too
    t = b.trid()
    b.send_line("CHG %d HDN" % t)
    b.expect_line("CHG %d HDN" % t)
    a.expect_line("FLN bob@example.com")
    t = b.trid()
    b.send_line("CHG %d NLN" % t)
    b.expect("CHG")
    a.expect_line("NLN NLN bob@example.com Bob")
    b.close()
    a.expect_line("FLN bob@example.com")


def test_presence_follows_admin_changes(srv):
    # Watchers are kept in memory between status changes; a change made by
    # another process (here `msnd user del`) must be seen at the next one.
    a, b = make_friends(srv)
    t = a.trid()
    a.send_line("CHG %d AWY" % t)
    a.expect_line("CHG %d AWY" % t)
    b.expect_line("NLN AWY alice@example.com Alice")
    r = srv.run_admin("user", "del", "bob@example.com")
    assert r.returncode == 0, r.stderr
    if pgtest.backend() == "postgresql":
        # Another process's change is seen once its notification has
        # reached msnd's LISTEN connection, a moment after the COMMIT
        # (docs/msnd.md); without the pause the CHG can come first.
        time.sleep(1.0)
    t = a.trid()
    a.send_line("CHG %d BSY" % t)
    # bob's FL entry for alice went with his account: no NLN for him before
    # his session ends, within a sweep period of the deletion (2 s), with
    # OUT; and alice, told he was online, sees him go (as in
    # test_deleted_account_is_logged_out). On a loaded machine the sweep may
    # come before or after her CHG: both are waited for here, in either order.
    cmd = b.read_cmd(10)
    assert cmd.line == "OUT", cmd
    b.expect_closed()
    # (On a cluster alice is told only when bob's node was hers, and then
    # perhaps later: a watcher on another node is not told, docs/msnd.md.)
    cluster = msntest.topology() == "cluster"
    got = [a.read_cmd().line]
    if not cluster or got[0] == "FLN bob@example.com":
        got.append(a.read_cmd().line)
    want = ["CHG %d BSY" % t, "FLN bob@example.com"]
    assert sorted(got) == want or (cluster and got == want[:1]), got
    # and a change through msnd itself (bob re-created, on alice's lists
    # again) is seen at once
    r = srv.run_admin("user", "add", "bob@example.com", "bobpw", "Bob")
    assert r.returncode == 0, r.stderr
    b.close()
    b = online(srv, "bob@example.com")
    t = add(b, "FL", "alice@example.com", "Alice")
    b.expect("ADD")
    b.expect_line("ILN %d BSY alice@example.com Alice" % t)
    cmd = a.read_cmd()
    if cluster and cmd.line == "FLN bob@example.com" and "FLN bob@example.com" not in got:
        cmd = a.read_cmd()
    assert cmd.name == "ADD", cmd  # RL
    t = a.trid()
    a.send_line("CHG %d NLN" % t)
    a.expect_line("CHG %d NLN" % t)
    b.expect_line("NLN NLN alice@example.com Alice")


def sync_lines(c):
    """SYN 0 and CHG NLN on a fresh login: every line up to the reply to a
    later URL (so the ILNs after the CHG echo are in), transaction ids
    taken out."""
    t = c.trid()
    c.send_line("SYN %d 0" % t)
    t2 = c.trid()
    c.send_line("CHG %d NLN" % t2)
    t3 = c.trid()
    c.send_line("URL %d INBOX" % t3)
    got = []
    while True:
        cmd = c.read_cmd()
        if cmd.name == "URL":
            return got
        got.append(cmd.line.replace(" %d " % t, " T ", 1).replace(" %d " % t2, " T ", 1))


def test_repeat_login_reads_the_same(srv):
    # A second login while nothing changed may be answered from the kept
    # snapshot of the first; it must say exactly what the first said.
    a, b = make_friends(srv)
    t = a.trid()
    a.send_line("PRP %d PHH 555-1234" % t)
    a.expect("PRP")
    t = b.trid()
    b.send_line("ADG %d Work" % t)
    b.expect("ADG")
    b.close()
    first = sync_lines(login(srv, "bob@example.com"))
    second = sync_lines(login(srv, "bob@example.com"))
    assert first == second, (first, second)
    assert "ILN T NLN alice@example.com Alice" in first, first
    assert any(line.startswith("BPR ") and "PHH 555-1234" in line for line in first), first
    assert any(line.startswith("LSG ") and " Work " in line for line in first), first


def test_login_snapshot_follows_admin_changes(srv):
    # What a login read is kept while the store is unchanged; a change by
    # another process (`msnd user del`) must show at the next login.
    a, b = make_friends(srv)
    b.close()
    before = sync_lines(login(srv, "bob@example.com"))
    assert any(line.startswith("LST T FL ") and "alice@example.com" in line for line in before), before
    assert "ILN T NLN alice@example.com Alice" in before, before
    r = srv.run_admin("user", "del", "alice@example.com")
    assert r.returncode == 0, r.stderr
    after = sync_lines(login(srv, "bob@example.com"))
    assert not any("alice@example.com" in line for line in after), after
    assert any(line.startswith("LST T FL ") and line.endswith(" 0 0") for line in after), after


def test_deleted_account_is_logged_out(srv):
    # `msnd user del` of a user logged in: the session ends with OUT and the
    # watchers see the user go, within the sweep's period (2 s)
    a, b = make_friends(srv)
    t = a.trid()
    a.send_line("CHG %d BSY" % t)
    reply(a, "CHG")
    reply(b, "NLN")
    r = srv.run_admin("user", "del", "alice@example.com")
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    assert reply(a, "OUT").line == "OUT"
    a.expect_closed()
    assert time.monotonic() - t0 < 8
    if msntest.topology() != "cluster":  # (a watcher on another node is not told: see docs/msnd.md)
        assert reply(b, "FLN").line == "FLN alice@example.com"
    # bob goes on; alice is gone from his lists
    t = b.trid()
    b.send_line("PNG")
    b.expect("QNG")
    assert "alice@example.com" not in "\n".join(sync_lines(login(srv, "bob@example.com")))


def test_deleted_account_leaves_its_conversations(srv):
    # `msnd user del` of a user in a conversation: the switchboard
    # connection ends with the session (the others see BYE), so the account
    # cannot go on chatting where it had joined (on a cluster the node of
    # the session tells the switchboard processes: GONE)
    a = online(srv, "alice@example.com")
    a.email = "alice@example.com"
    b = online(srv, "bob@example.com")
    b.email = "bob@example.com"
    asb = msntest.open_switchboard(srv, a)
    t = asb.trid()
    asb.send_line("CAL %d bob@example.com" % t)
    asb.expect("CAL")
    bsb = msntest.join_by_ring(srv, b, b.expect("RNG"))
    asb.expect("JOI")
    r = srv.run_admin("user", "del", "alice@example.com")
    assert r.returncode == 0, r.stderr
    assert reply(a, "OUT").line == "OUT"
    asb.expect_closed()
    assert bsb.expect("BYE").args[0] == "alice@example.com"


def test_deleted_account_leaves_its_conversations_after_logging_out(srv):
    # `msnd user del` of a user that logged out of the notification server
    # and stayed in a conversation: its switchboard connection was left
    # open (only accounts with a session were swept), and it went on
    # chatting. It is closed as when the session is still there.
    if msntest.topology() == "cluster":
        print("skip: switchboard processes hear of deletions from a session")
        return
    a = online(srv, "alice@example.com")
    a.email = "alice@example.com"
    b = online(srv, "bob@example.com")
    b.email = "bob@example.com"
    asb = msntest.open_switchboard(srv, a)
    t = asb.trid()
    asb.send_line("CAL %d bob@example.com" % t)
    asb.expect("CAL")
    bsb = msntest.join_by_ring(srv, b, b.expect("RNG"))
    asb.expect("JOI")
    a.send_line("OUT")
    a.expect_closed()
    r = srv.run_admin("user", "del", "alice@example.com")
    assert r.returncode == 0, r.stderr
    asb.expect_closed()
    assert bsb.expect("BYE").args[0] == "alice@example.com"
    assert "account deleted, switchboard connection closed" in srv.log_text()


def test_deleted_account_fln_to_watcher_added_since(srv):
    # A watcher that added the user after the user's last status change
    # was told it is online (ILN): it gets FLN when the account is deleted,
    # as at an ordinary logout, not only the watchers of that last change.
    a = online(srv, "alice@example.com")
    b = online(srv, "bob@example.com")
    t = add(b, "FL", "alice@example.com", "Alice")
    reply(b, "ADD")
    expect_told_online(b, "alice@example.com", trid=t)
    r = srv.run_admin("user", "del", "alice@example.com")
    assert r.returncode == 0, r.stderr
    assert reply(a, "OUT").line == "OUT"
    a.expect_closed()
    if msntest.topology() != "cluster":  # (a watcher on another node is not told: see docs/msnd.md)
        assert reply(b, "FLN").line == "FLN alice@example.com"
    b.send_line("PNG")
    b.expect("QNG")


def reply(c, name):
    """The next command named name, skipping notifications before it."""
    return read_until(c, lambda cmd: cmd.name == name)[-1]


def contact_view(lines):
    """From sync_lines: {email: (entry name, groups)} of the FL, the BPR
    lines as (email, key, value) and the ILN lines."""
    fl = {}
    for line in lines:
        if line.startswith("LST T FL "):
            w = line.split(" ")
            fl[w[6]] = (w[7], w[8])
    bpr = sorted((w[2], w[3], w[4] if len(w) > 4 else "") for w in (line.split(" ") for line in lines)
                 if w[0] == "BPR")
    iln = sorted(line for line in lines if line.startswith("ILN "))
    return fl, bpr, iln


def test_next_login_sees_contact_changes(srv):
    # A login reads what it says about each FL contact (phone numbers, the
    # contact's own name, whether the contact has the user on its AL or BL,
    # the user's groups for it) from rows other than the FL entry's; every
    # change to them must show at the user's next login, after an earlier
    # login's snapshot was kept, and stay with the right contact.
    a, b = make_friends(srv)
    c = online(srv, "carol@example.com")
    add(b, "FL", "carol@example.com", "Carol")
    reply(b, "ADD")
    t = b.trid()
    b.send_line("ADG %d Work 0" % t)
    gid = reply(b, "ADG").args[3]
    add(b, "FL", "alice@example.com", "Alice", group=gid)
    reply(b, "ADD")
    t = c.trid()
    c.send_line("PRP %d PHW 555-2" % t)
    reply(c, "PRP")
    b.close()

    def phones(email, phh="", phw="", mob="N"):
        return [(email, "MOB", mob), (email, "PHH", phh), (email, "PHM", ""), (email, "PHW", phw)]

    fl, bpr, iln = contact_view(sync_lines(login(srv, "bob@example.com")))
    assert fl == {"alice@example.com": ("Alice", "0," + gid), "carol@example.com": ("Carol", "0")}, fl
    assert bpr == phones("alice@example.com") + phones("carol@example.com", phw="555-2"), bpr
    assert iln == ["ILN T NLN alice@example.com Alice", "ILN T NLN carol@example.com Carol"], iln

    # alice: a phone number, a new name, BLP BL without bob on her AL;
    # carol blocks bob; bob moves carol into Work and alice out of it.
    for line, name in (("PRP %d PHH 555-1", "PRP"), ("REA %d alice@example.com Alice%%20L", "REA"),
                       ("BLP %d BL", "BLP")):
        t = a.trid()
        a.send_line(line % t)
        reply(a, name)
    add(c, "BL", "bob@example.com")
    reply(c, "ADD")
    b = login(srv, "bob@example.com")
    add(b, "FL", "carol@example.com", "Carol", group=gid)
    reply(b, "ADD")
    t = b.trid()
    b.send_line("REM %d FL alice@example.com %s" % (t, gid))
    reply(b, "REM")
    b.close()
    fl, bpr, iln = contact_view(sync_lines(login(srv, "bob@example.com")))
    # (a rename also renames the entries naming alice)
    assert fl == {"alice@example.com": ("Alice%20L", "0"), "carol@example.com": ("Carol", "0," + gid)}, fl
    # neither allows bob now: their phone numbers are hidden from him
    assert bpr == phones("alice@example.com") + phones("carol@example.com"), bpr
    assert iln == [], iln

    # alice puts bob on her AL, carol takes him off her BL: both show again.
    add(a, "AL", "bob@example.com")
    reply(a, "ADD")
    t = c.trid()
    c.send_line("REM %d BL bob@example.com" % t)
    reply(c, "REM")
    fl, bpr, iln = contact_view(sync_lines(login(srv, "bob@example.com")))
    assert bpr == phones("alice@example.com", phh="555-1") + phones("carol@example.com", phw="555-2"), bpr
    assert iln == ["ILN T NLN alice@example.com Alice%20L", "ILN T NLN carol@example.com Carol"], iln


def list_version(srv, email):
    """email's list version, from a login of its own."""
    c = login(srv, email)
    t = c.trid()
    c.send_line("SYN %d 0" % t)
    v = int(reply(c, "SYN").args[1])
    c.close()
    return v


def test_contact_changes_move_the_readers_list_versions(srv):
    # A new name shows in the FL entries of whoever has alice on FL and in
    # the RL entries of whoever alice has on FL; a phone number in the BPR
    # lines of the former. Their list versions must move, or a client that
    # cached its lists at the old version is told nothing changed.
    a, b = make_friends(srv)
    c = online(srv, "carol@example.com")
    add(a, "FL", "carol@example.com", "Carol")  # carol's RL shows alice's name
    reply(a, "ADD")
    before = {e: list_version(srv, e) for e in ("bob@example.com", "carol@example.com")}
    t = a.trid()
    a.send_line("REA %d alice@example.com Alice%%20L" % t)
    reply(a, "REA")
    renamed = {e: list_version(srv, e) for e in before}
    assert all(renamed[e] > before[e] for e in before), (before, renamed)
    # a SYN at bob's old version gets the lists again, with the new name
    bob = login(srv, "bob@example.com")
    t = bob.trid()
    bob.send_line("SYN %d %d" % (t, before["bob@example.com"]))
    got = read_until(bob, lambda cmd: cmd.name == "LST" and cmd.args[1] == "RL")
    assert "LST %d FL %d 1 1 alice@example.com Alice%%20L 0" % (t, renamed["bob@example.com"]) in [
        g.line for g in got], got
    bob.close()
    t = a.trid()
    a.send_line("PRP %d PHH 555-1" % t)
    reply(a, "PRP")
    phoned = {e: list_version(srv, e) for e in before}
    # carol does not have alice on FL: no BPR of alice in her SYN
    assert phoned == {"bob@example.com": renamed["bob@example.com"] + 1,
                      "carol@example.com": renamed["carol@example.com"]}, (renamed, phoned)
    c.close()


def syn_at(c, have):
    """SYN at version have: the reply's list lines (notifications left
    out), up to the reply to a later URL; transaction ids kept."""
    t = c.trid()
    c.send_line("SYN %d %d" % (t, have))
    t2 = c.trid()
    c.send_line("URL %d INBOX" % t2)
    got = read_until(c, lambda cmd: cmd.name == "URL")
    return [g for g in got if g.name in ("SYN", "GTC", "BLP", "PRP", "LSG", "LST", "BPR")]


def test_blocking_hides_phone_numbers(srv):
    # A contact that does not allow the user (the user on its BL, or its
    # BLP BL without the user on its AL) hides its phone numbers from the
    # user as it hides its presence: the BPR lines go out unset. Each such
    # change moves the user's list version, so that a client that cached
    # its lists at the old one reads them again.
    a, b = make_friends(srv)
    t = a.trid()
    a.send_line("PRP %d PHH 555-1" % t)
    reply(a, "PRP")

    def bpr_of(got):
        return [g.args[2:] for g in got if g.name == "BPR" and g.args[1] == "alice@example.com"]

    shown = [["PHH", "555-1"], ["PHW"], ["PHM"], ["MOB", "N"]]
    hidden = [["PHH"], ["PHW"], ["PHM"], ["MOB", "N"]]
    got = syn_at(b, 0)
    v = int(got[0].args[1])
    assert bpr_of(got) == shown, got
    for hide, show in ((("ADD %d BL bob@example.com bob@example.com", "ADD"), ("REM %d BL bob@example.com", "REM")),
                       (("BLP %d BL", "BLP"), ("ADD %d AL bob@example.com bob@example.com", "ADD"))):
        for (line, name), want in ((hide, hidden), (show, shown)):
            t = a.trid()
            a.send_line(line % t)
            reply(a, name)
            got = syn_at(b, v)
            # on a cluster bob's node hears of alice's change from the
            # database's notice, which may come after his SYN
            deadline = time.monotonic() + 5
            while msntest.topology() == "cluster" and int(got[0].args[1]) == v and time.monotonic() < deadline:
                time.sleep(0.05)
                got = syn_at(b, v)
            assert int(got[0].args[1]) > v, (line, v, got)
            v = int(got[0].args[1])
            assert bpr_of(got) == want, (line, got)
            # at the current version: nothing more
            got = syn_at(b, v)
            assert [g.line for g in got] == ["SYN %s %d" % (got[0].args[0], v)], (line, got)


def test_hidden_user_not_in_iln(srv):
    a = online(srv, "alice@example.com", status="HDN")
    b = online(srv, "bob@example.com")
    add(b, "FL", "alice@example.com")
    b.expect("ADD")
    b.expect_silence(0.3)  # no ILN for a hidden contact
    a.expect("ADD")  # RL
    t = a.trid()
    a.send_line("XFR %d SB" % t)
    a.expect_error(913, t)


def test_block_list_hides_presence(srv):
    a, b = make_friends(srv)
    add(a, "BL", "bob@example.com")
    a.expect("ADD")
    b.expect_line("FLN alice@example.com")
    t = a.trid()
    a.send_line("CHG %d BRB" % t)
    a.expect("CHG")
    b.expect_silence(0.3)
    # bob logging in again sees no ILN for alice
    b.close()
    a.expect("FLN")  # alice still sees bob (bob did not block her)
    b = login(srv, "bob@example.com")
    t = b.trid()
    b.send_line("CHG %d NLN" % t)
    b.expect_line("CHG %d NLN" % t)
    b.expect_silence(0.3)
    a.expect_line("NLN NLN bob@example.com Bob")
    # unblock: bob sees alice again
    t = a.trid()
    a.send_line("REM %d BL bob@example.com" % t)
    a.expect("REM")
    b.expect_line("NLN BRB alice@example.com Alice")


def test_blp_bl_allows_only_al(srv):
    a, b = make_friends(srv)
    t = a.trid()
    a.send_line("BLP %d BL" % t)
    r = a.expect("BLP")
    assert r.args[2] == "BL", r
    b.expect_line("FLN alice@example.com")
    t = a.trid()
    a.send_line("BLP %d BL" % t)
    a.expect_error(218, t)
    add(a, "AL", "bob@example.com")
    a.expect("ADD")
    b.expect_line("NLN NLN alice@example.com Alice")
    t = a.trid()
    a.send_line("BLP %d CL" % t)
    a.expect_error(201, t)
    t = a.trid()
    a.send_line("GTC %d N" % t)
    assert a.expect("GTC").args[2] == "N"
    t = a.trid()
    a.send_line("GTC %d N" % t)
    a.expect_error(218, t)


def test_rea_renames_and_fans_out(srv):
    a, b = make_friends(srv)
    t = a.trid()
    a.send_line("REA %d alice@example.com Alice%%20Liddell" % t)
    r = a.expect("REA")
    assert r.args[2:] == ["alice@example.com", "Alice%20Liddell"], r
    b.expect_line("NLN NLN alice@example.com Alice%20Liddell")
    t = a.trid()
    a.send_line("REA %d bob@example.com Bobby" % t)
    assert a.expect("REA").args[2:] == ["bob@example.com", "Bobby"]
    t = a.trid()
    a.send_line("REA %d carol@example.com Carol" % t)
    a.expect_error(216, t)
    t = a.trid()
    a.send_line("REA %d alice@example.com bad%%00name" % t)
    a.expect_error(209, t)


def test_commands_of_later_versions_are_unknown_before_them(srv):
    # groups came with MSNP7, phone numbers (PRP) with MSNP5, the challenge
    # answer (QRY) with MSNP6, SDC with MSNP5, IMS with MSNP3: a session of
    # an earlier version gets 200 for them, as for any unknown command (QRY,
    # IMS and SDC were answered in every version)
    qry = "QRY %d msmsgs@msnmsgr.com 32\r\n" + "0" * 32
    sdc = "SDC %d friend@example.com 0x0409 MSMSGS MSMSGS X X alice"
    for version, line, known in (("MSNP6", "ADG %d Work 0", False), ("MSNP6", "RMG %d 1", False),
                                 ("MSNP6", "REG %d 1 Home 0", False), ("MSNP4", "PRP %d PHH 555", False),
                                 ("MSNP5", "PRP %d PHH 555", True), ("MSNP7", "ADG %d Work 0", True),
                                 ("MSNP5", qry, False), ("MSNP6", qry, "715"), ("MSNP2", "IMS %d OFF", False),
                                 ("MSNP3", "IMS %d OFF", True), ("MSNP4", sdc, False), ("MSNP5", sdc, "502")):
        c = login(srv, "alice@example.com", version=version)
        t = c.trid()
        c.send_raw((line % t).encode() + (b"" if "\r\n" in line else b"\r\n"))
        r = c.read_cmd()
        if known is True:
            assert r.name == line.split()[0] and r.args[0] == str(t), (version, line, r)
        elif known:
            assert r.line == "%s %d" % (known, t), (version, line, r)
        else:
            assert r.line == "200 %d" % t, (version, line, r)
        c.close()


def test_refused_payload_command_steps_over_its_payload(srv):
    # a MSG line refused for a control byte gets 200 like any unknown
    # command, and its payload (which reads like a command line) is passed
    # over with it; a MSG whose length cannot be read closes the connection
    c = online(srv, "alice@example.com")
    t = c.trid()
    c.send_raw(b"MSG %d N\x01 11\r\nREA 9 a b\r\n" % t)
    assert c.read_cmd().line == "200 %d" % t
    c.send_line("PNG")
    assert c.read_cmd().name == "QNG"
    t = c.trid()
    c.send_raw(b"MSG %d N\x01 x\r\nPNG\r\n" % t)
    c.expect_closed()
    c.close()


def test_groups_msnp7(srv):
    a = online(srv, "alice@example.com")
    t = a.trid()
    a.send_line("ADG %d Friends 0" % t)
    r = a.expect("ADG")
    gid = r.args[3]
    assert r.args[2] == "Friends" and r.args[4] == "0", r
    t = add(a, "FL", "bob@example.com", "Bob", group=gid)
    assert a.expect("ADD").args[5] == gid
    t = add(a, "FL", "bob@example.com", "Bob", group="0")
    assert a.expect("ADD").args[5] == "0"
    t = add(a, "FL", "bob@example.com", "Bob", group="0")
    a.expect_error(215, t)
    t = add(a, "FL", "carol@example.com", "Carol", group="77")
    a.expect_error(224, t)
    t = a.trid()
    a.send_line("RMG %d 0" % t)
    a.expect_error(230, t)
    t = a.trid()
    a.send_line("REG %d %s Best%%20Friends 0" % (t, gid))
    assert a.expect("REG").args[2:5] == [gid, "Best%20Friends", "0"]
    t = a.trid()
    a.send_line("REM %d FL bob@example.com %s" % (t, gid))
    assert a.expect("REM").args[3:] == ["bob@example.com", gid]
    t = a.trid()
    a.send_line("REM %d FL bob@example.com %s" % (t, gid))
    a.expect_error(225, t)
    t = a.trid()
    a.send_line("RMG %d %s" % (t, gid))
    assert a.expect("RMG").args[2] == gid


def test_rmg_takes_contacts_of_only_that_group_off_the_fl(srv):
    """RMG removes the group from every entry; a contact it was the one group
    of leaves the FL (its RL loses the owner, who is told), as an MSNP7
    client expects, so the two lists agree at the RMG's version. A contact
    also in another group stays there."""
    a = online(srv, "alice@example.com")
    b = online(srv, "bob@example.com")
    t = a.trid()
    a.send_line("ADG %d Work 0" % t)
    gid = a.expect("ADG").args[3]
    add(a, "FL", "bob@example.com", "Bob", group=gid)
    a.expect("ADD")
    expect_told_online(a, "bob@example.com", "Bob")
    assert b.expect("ADD").args[1] == "RL"
    add(a, "FL", "carol@example.com", "Carol", group=gid)
    a.expect("ADD")
    add(a, "FL", "carol@example.com", "Carol", group="0")
    a.expect("ADD")
    t = a.trid()
    a.send_line("RMG %d %s" % (t, gid))
    rmg = a.expect("RMG")
    assert rmg.args[0] == str(t) and rmg.args[2] == gid, rmg
    rl = b.expect("REM")
    assert rl.args[0] == "0" and rl.args[1] == "RL" and rl.args[3] == "alice@example.com", rl
    t = a.trid()
    a.send_line("LST %d FL" % t)
    fl = read_until(a, lambda cmd: cmd.name == "LST" and cmd.args[3] == cmd.args[4], limit=20)
    assert [(e.args[5], e.args[7]) for e in fl] == [("carol@example.com", "0")], [e.line for e in fl]
    t = a.trid()
    a.send_line("SYN %d 0" % t)
    syn = read_until(a, lambda cmd: cmd.name == "SYN", limit=20)[-1]
    assert syn.args[1] == rmg.args[1], "the RMG's version is the list's"


def test_list_full(srv):
    a = online(srv, "alice@example.com")
    for email in ("bob@example.com", "carol@example.com"):
        add(a, "FL", email)
        a.expect("ADD")
    t = add(a, "FL", "name_123@hotmail.com")
    a.expect_error(210, t)
test_list_full.args = ("--max-forward-list", "2")


def db_exec(srv, statement):
    """One SQL statement on the server's database, behind msnd's back (a
    database filled or edited by other means); either backend."""
    if srv.db_name:
        pgtest.shared().sql(srv.db_name, statement)
        return
    db = sqlite3.connect(srv.db, timeout=10)
    try:
        with db:
            db.execute(statement)
    finally:
        db.close()


FANS = 10500
FAN_NAME = "F" * 370  # + the number: the RL part of a SYN is about 4.5 MB


def add_fans(srv, email, n=FANS):
    """n accounts that each have email on their FL, with long names."""
    db_exec(srv, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d) "
                 "INSERT INTO users(email, password, name, version, blp, gtc, created) "
                 "SELECT 'fan' || i || '@fans.example.com', 'pw', '%s' || i, 1, 'AL', 'A', 0 FROM s" % (n, FAN_NAME))
    db_exec(srv, "INSERT INTO list_entries(owner, list, contact, name) "
                 "SELECT u.id, 0, a.id, 'Star' FROM users u, users a "
                 "WHERE u.email LIKE 'fan%%@fans.example.com' AND a.email = '%s'" % email)


def test_account_on_many_lists_logs_in(srv):
    """An account on more users' FL than --max-output holds as LST RL lines
    gets its whole SYN, and what follows it right away (the first CHG's
    reply) still arrives while the client reads the lists."""
    add_fans(srv, "alice@example.com")
    a = login(srv, "alice@example.com")
    t = a.trid()
    a.send_line("SYN %d 0\r\nCHG %d NLN" % (t, t + 1))
    a._trid += 1
    rl, total, fans = 0, None, set()
    for _ in range(FANS + 50):
        cmd = a.read_cmd(timeout=30)
        if cmd.name == "LST" and cmd.args[1] == "RL":
            rl += 1
            assert cmd.args[0] == str(t) and cmd.args[3] == str(rl), cmd
            total = int(cmd.args[4])
            n = cmd.args[5][3:].partition("@")[0]
            assert cmd.args[5] == "fan%s@fans.example.com" % n and cmd.args[6] == FAN_NAME + n, cmd
            fans.add(int(n))
            if rl == total:
                break
    assert (rl, total) == (FANS, FANS) and fans == set(range(1, FANS + 1)), (rl, total, len(fans))
    reply(a, "CHG")
    t = a.trid()
    a.send_line("PNG")
    a.expect("QNG")
    assert "dropping slow client" not in srv.log_text()


def test_client_not_reading_its_lists_is_dropped(srv):
    """The SYN reply is queued whole, but a client that asks for more
    without reading it is dropped as before: one reply and --max-output is
    what it can make msnd hold."""
    add_fans(srv, "alice@example.com")
    a = login(srv, "alice@example.com")
    t = a.trid()
    a.send_line("SYN %d 0" % t)
    for _ in range(3):
        a.send_line("LST %d RL" % a.trid())
    deadline = time.monotonic() + 20
    while "dropping slow client" not in srv.log_text():
        assert time.monotonic() < deadline, "the client was not dropped"
        time.sleep(0.05)
    a.sock.settimeout(10)
    try:
        while a.sock.recv(1 << 20):  # what the kernel held, then the end
            pass
    except ConnectionResetError:  # closed with the rest unsent
        pass


def sync_reply(c, version="0"):
    """SYN and everything it answers, up to the last LST RL line."""
    t = c.trid()
    c.send_line("SYN %d %s" % (t, version))
    return read_until(c, lambda cmd: cmd.name == "LST" and cmd.args[1] == "RL" and cmd.args[3] == cmd.args[4],
                      limit=100)


def test_stored_names_that_cannot_be_sent(srv):
    """Names in the database the protocol cannot carry (CR/LF, a space, too
    long: a database edited by hand, an import) go out as the account's
    e-mail, with a warning naming it: the login and the SYN stay whole."""
    bad_own = "Bad\r\nName"
    db_exec(srv, "UPDATE users SET name = '%s' WHERE email = 'alice@example.com'" % bad_own)
    db_exec(srv, "UPDATE users SET name = '%s' WHERE email = 'bob@example.com'" % ("B" * 500))
    db_exec(srv, "INSERT INTO list_entries(owner, list, contact, name) SELECT b.id, 0, a.id, 'Al ice' "
                 "FROM users b, users a WHERE b.email = 'bob@example.com' AND a.email = 'alice@example.com'")
    db_exec(srv, "INSERT INTO list_entries(owner, list, contact, name) SELECT b.id, 1, c.id, '%s' "
                 "FROM users b, users c WHERE b.email = 'bob@example.com' AND c.email = 'carol@example.com'"
                 % ("C" * 400))
    db_exec(srv, "UPDATE groups SET name = 'Other Contacts' "
                 "WHERE owner = (SELECT id FROM users WHERE email = 'bob@example.com') AND gid = 0")

    a = login(srv, "alice@example.com")  # USR OK, then the profile: login() checks both
    assert a.usr_ok.args[2:] == ["alice@example.com", "alice@example.com", "1"], a.usr_ok
    lines = sync_reply(a)
    rl = [cmd for cmd in lines if cmd.name == "LST" and cmd.args[1] == "RL"]
    assert [cmd.args[5:] for cmd in rl] == [["bob@example.com", "bob@example.com"]], rl
    t = a.trid()
    a.send_line("CHG %d NLN" % t)
    reply(a, "CHG")

    b = login(srv, "bob@example.com", version="MSNP5")
    assert b.usr_ok.args[2:] == ["bob@example.com", "bob@example.com"], b.usr_ok
    lines = sync_reply(b)
    fl = [cmd for cmd in lines if cmd.name == "LST" and cmd.args[1] == "FL"]
    al = [cmd for cmd in lines if cmd.name == "LST" and cmd.args[1] == "AL"]
    assert [cmd.args[3:] for cmd in fl] == [["1", "1", "alice@example.com", "alice@example.com"]], fl
    assert [cmd.args[3:] for cmd in al] == [["1", "1", "carol@example.com", "carol@example.com"]], al
    t = b.trid()
    b.send_line("CHG %d NLN" % t)
    iln = reply(b, "ILN")
    assert iln.args[1:] == ["NLN", "alice@example.com", "alice@example.com"], iln
    b.email = "bob@example.com"

    # MSNP7: the group whose name cannot be sent is listed under its number
    b7 = login(srv, "bob@example.com")
    lsg = [cmd for cmd in sync_reply(b7) if cmd.name == "LSG"]
    assert [cmd.args[4:] for cmd in lsg] == [["0", "Group%200", "0"]], lsg
    t = b7.trid()
    b7.send_line("CHG %d NLN" % t)
    reply(b7, "ILN")

    # the switchboard: RNG, IRO and JOI
    sb = msntest.open_switchboard(srv, b7)
    t = sb.trid()
    sb.send_line("CAL %d alice@example.com" % t)
    sb.expect("CAL")
    rng = reply(a, "RNG")
    assert rng.args[4:] == ["bob@example.com", "bob@example.com"], rng
    asb = msntest.join_by_ring(srv, a, rng)
    assert [cmd.args[3:] for cmd in asb.roster] == [["bob@example.com", "bob@example.com"]], asb.roster
    joi = sb.expect("JOI")
    assert joi.args == ["alice@example.com", "alice@example.com"], joi

    # ADD: the contact's RL notice names the adder by e-mail
    c = online(srv, "carol@example.com")
    add(a, "FL", "carol@example.com", "Carol")
    reply(a, "ADD")
    notice = reply(c, "ADD")
    assert notice.args[:2] == ["0", "RL"] and notice.args[3:] == ["alice@example.com", "alice@example.com"], notice

    log = srv.log_text()
    assert 'msg="stored friendly name cannot be sent: the e-mail is shown instead" user=alice@example.com' in log
    assert 'msg="stored friendly name cannot be sent: the e-mail is shown instead" user=bob@example.com' in log
    assert "user=bob@example.com list=FL first=alice@example.com entries=1" in log
    assert "user=bob@example.com list=AL first=carol@example.com entries=1" in log
    assert "user=alice@example.com list=RL first=bob@example.com entries=1" in log
    assert "cannot format reply" not in log
    for x in (a, b, b7, sb, asb, c):
        x.close()


def test_stored_phone_numbers_that_cannot_be_sent(srv):
    """Phone numbers in the database the protocol cannot carry (a space,
    CR/LF, too long, MOB/MBE other than Y or N: a database edited by hand,
    an import) go out as unset in the owner's PRP and the watchers' BPR
    lines, with one warning naming the account: the SYN stays whole."""
    for key, value in (("PHH", "12 34"), ("PHW", "12\r\n34"), ("PHM", "5" * 200), ("MOB", "maybe"),
                       ("MBE", "Y")):
        db_exec(srv, "INSERT INTO props(owner, key, value) SELECT id, '%s', '%s' FROM users "
                     "WHERE email = 'bob@example.com'" % (key, value))
    db_exec(srv, "INSERT INTO props(owner, key, value) SELECT id, 'PHH', '555%201234' FROM users "
                 "WHERE email = 'carol@example.com'")
    for contact in ("bob@example.com", "carol@example.com"):
        db_exec(srv, "INSERT INTO list_entries(owner, list, contact, name) SELECT a.id, 0, c.id, 'Friend' "
                     "FROM users a, users c WHERE a.email = 'alice@example.com' AND c.email = '%s'" % contact)

    b = login(srv, "bob@example.com", version="MSNP5")
    lines = sync_reply(b)
    prp = [cmd.args[2:] for cmd in lines if cmd.name == "PRP"]
    assert prp == [["PHH"], ["PHW"], ["PHM"], ["MOB", "N"], ["MBE", "Y"]], prp

    a = login(srv, "alice@example.com")
    lines = sync_reply(a)
    fl = [cmd.args[5:7] for cmd in lines if cmd.name == "LST" and cmd.args[1] == "FL"]
    assert fl == [["bob@example.com", "Friend"], ["carol@example.com", "Friend"]], fl
    bpr = [cmd.args[1:] for cmd in lines if cmd.name == "BPR"]
    assert bpr == [["bob@example.com", "PHH"], ["bob@example.com", "PHW"], ["bob@example.com", "PHM"],
                   ["bob@example.com", "MOB", "N"], ["carol@example.com", "PHH", "555%201234"],
                   ["carol@example.com", "PHW"], ["carol@example.com", "PHM"], ["carol@example.com", "MOB", "N"]], bpr
    t = a.trid()
    a.send_line("LST %d FL" % t)
    lines = read_until(a, lambda cmd: cmd.name == "LST" and cmd.args[3] == cmd.args[4])
    bpr = [cmd.args[1:] for cmd in lines if cmd.name == "BPR" and cmd.args[1] == "bob@example.com"]
    assert bpr == [["bob@example.com", "PHH"], ["bob@example.com", "PHW"], ["bob@example.com", "PHM"],
                   ["bob@example.com", "MOB", "N"]], bpr

    log = srv.log_text()
    own = [ln for ln in log.splitlines() if "stored phone numbers cannot be sent" in ln and "list=" not in ln]
    assert len(own) == 1 and "user=bob@example.com keys=PHH,PHW,PHM,MOB" in own[0], own
    listed = [ln for ln in log.splitlines() if "stored phone numbers cannot be sent" in ln and "list=FL" in ln]
    assert len(listed) == 2, listed
    for ln in listed:
        assert "user=alice@example.com list=FL first=bob@example.com entries=1" in ln, ln
    assert "cannot format reply" not in log
    for x in (a, b):
        x.close()


def test_persistence_across_restart(srv):
    a = online(srv, "alice@example.com")
    add(a, "FL", "bob@example.com", "Bob")
    a.expect("ADD")
    t = a.trid()
    a.send_line("REA %d alice@example.com New%%20Alice" % t)
    v = int(a.expect("REA").args[1])
    t = a.trid()
    a.send_line("PRP %d PHH 555%%201234" % t)
    assert a.expect("PRP").args[2:] == ["PHH", "555%201234"]
    srv.restart()
    c = msntest.login(srv, "alice@example.com", "alicepw")
    t = c.trid()
    c.send_line("SYN %d 0" % t)
    got = read_until(c, lambda cmd: cmd.name == "LST" and cmd.args[1] == "RL")
    lines = [g.line for g in got]
    assert "SYN %d %d" % (t, v + 1) in lines, lines
    assert any(l.startswith("LST %d FL" % t) and "bob@example.com Bob" in l for l in lines), lines
    assert "PRP %d %d PHH 555%%201234" % (t, v + 1) in lines, lines
    r = srv.run_admin("user", "list")
    assert "alice@example.com\tNew Alice" in r.stdout, r.stdout


@backend_only("sqlite")
def test_store_full(srv):
    """The database cannot grow (a file size limit stands in for a full
    disk): writes are refused with 501, the connection and the server carry
    on, and what was committed before is intact after a restart."""
    srv.stop()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    limit = os.path.getsize(srv.db) + 256 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))  # inherited by msnd only
    try:
        srv.start()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    a = online(srv, "alice@example.com")
    last_ok, refused = None, None
    for i in range(2000):
        name = "Alice%%20number%%20%d%%20%s" % (i, "x" * 300)
        t = a.trid()
        a.send_line("REA %d alice@example.com %s" % (t, name))
        r = a.read_cmd()
        if r.name == "REA":
            last_ok = name
            continue
        assert r.line == "501 %d" % t, r
        refused = i
        break
    assert last_ok is not None and refused is not None, (last_ok, refused)
    # the log names the cause (a write over the size limit fails with EFBIG,
    # an I/O error to SQLite) and the file, not what a failed clean-up said
    # after it
    errors = [l for l in srv.log_text().splitlines() if 'msg="store error"' in l]
    cause = 'error="disk I/O error on %s or its -wal or -shm: check the disk' % srv.db
    assert errors and all(cause in l for l in errors), errors
    # the session and the server go on
    t = a.trid()
    a.send_line("PNG")
    a.expect("QNG")
    b = online(srv, "bob@example.com")
    b.close()
    a.close()
    srv.stop()
    srv.start()
    c = login(srv, "alice@example.com")
    t = c.trid()
    c.send_line("SYN %d 0" % t)
    got = c.expect("SYN")
    assert got.args[0] == str(t), got
    r = srv.run_admin("user", "list")
    assert "alice@example.com" in r.stdout, r.stdout
    db = sqlite3.connect(srv.db)  # the file itself, not msnd's schema
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    # what msnd reads back: the last name acknowledged, not the refused one
    stored = [line.split("\t", 1)[1] for line in r.stdout.splitlines() if line.startswith("alice@example.com\t")]
    assert stored == [urllib.parse.unquote(last_ok)], (stored, last_ok[:40])


@backend_only("sqlite")
def test_another_process_holding_the_write_lock(srv):
    """Another process holds SQLite's write lock (a sqlite3 shell in a
    transaction): the command that needs it fails soon with 501 instead of
    holding up the event loop, everyone else is served meanwhile, and the
    same command succeeds once the lock is gone."""
    a = online(srv, "alice@example.com")
    b = online(srv, "bob@example.com")
    other = sqlite3.connect(srv.db, isolation_level=None, timeout=5)
    try:
        other.execute("BEGIN IMMEDIATE")
        t0 = time.monotonic()
        t = add(a, "FL", "carol@example.com", "Carol")
        b.send_line("PNG")
        b.expect("QNG")
        served = time.monotonic() - t0
        a.expect_line("501 %d" % t)
        refused = time.monotonic() - t0
        # the busy wait of the admin commands (5 s) would stall both
        assert served < 2.5 and refused < 2.5, (served, refused)
    finally:
        other.execute("ROLLBACK")
        other.close()
    add(a, "FL", "carol@example.com", "Carol")
    assert reply(a, "ADD").args[1] == "FL"


@backend_only("sqlite")
def test_a_write_lock_held_for_long_costs_the_loop_one_wait(srv):
    """While another process keeps the write lock, changes after the first
    refused one fail soon: a client pipelining changes does not hold up
    everyone else for 500 ms per change. The log names the file and the
    cause; once the lock is gone the next change succeeds and is stored."""
    a = online(srv, "alice@example.com")
    b = online(srv, "bob@example.com")
    other = sqlite3.connect(srv.db, isolation_level=None, timeout=5)
    try:
        other.execute("BEGIN IMMEDIATE")
        t = a.trid()
        a.send_line("REA %d alice@example.com First" % t)
        a.expect_line("501 %d" % t)
        trids = []
        for i in range(40):
            trids.append(a.trid())
            a.send_line("REA %d alice@example.com Again%d" % (trids[-1], i))
        t0 = time.monotonic()
        b.send_line("PNG")
        b.expect("QNG", timeout=10)
        served = time.monotonic() - t0
        for t in trids:
            a.expect_line("501 %d" % t, timeout=10)
        # a wait of 500 ms for each change before it would be seconds
        assert served < 2.0, served
        errors = [l for l in srv.log_text().splitlines() if 'msg="store error"' in l]
        assert len(errors) == 41 and all("database is locked" in l and srv.db in l for l in errors), errors[:2]
    finally:
        other.execute("ROLLBACK")
        other.close()
    t = a.trid()
    a.send_line("REA %d alice@example.com Later" % t)
    assert a.expect("REA").args[0] == str(t)
    db = sqlite3.connect(srv.db)
    try:
        assert db.execute("SELECT name FROM users WHERE email='alice@example.com'").fetchone()[0] == "Later"
    finally:
        db.close()


@backend_only("sqlite")
@with_args("--max-commands-per-second", "0")
def test_two_processes_on_one_file_do_not_fail_each_others_changes(srv):
    """Two msnd processes on one SQLite file (--db /shared/msnd.db), five
    users on each changing their allow lists one change after another:
    every change succeeds. Each waits for the other process's transactions
    (milliseconds each) instead of failing with 501 "database is locked"."""
    import threading
    users = ["u%d@example.com" % i for i in range(10)]
    for u in users:
        srv.add_user(u, "pw", u.split("@")[0])
    other = msntest.new_server(srv.msnd, args=["--max-commands-per-second", "0"])
    other.db = srv.db
    other.start()
    try:
        clients = []
        for i, u in enumerate(users):
            c = msntest.login(srv if i < 5 else other, u, "pw", via_ds=False)
            t = c.trid()
            c.send_line("SYN %d 0" % t)
            c.expect("SYN")
            clients.append(c)
        results = {}

        def changes(c):
            got = {}
            for i in range(150):
                for line in ("ADD %d AL carol@example.com Carol", "REM %d AL carol@example.com"):
                    t = c.trid()
                    c.send_line(line % t)
                    while True:
                        r = c.read_cmd(10)
                        if r.args and r.args[0] == str(t):
                            break
                    got[r.name] = got.get(r.name, 0) + 1
            results[c] = got

        for _ in range(3):  # a lost wait is rare: a few rounds
            results.clear()
            threads = [threading.Thread(target=changes, args=(c,)) for c in clients]
            for th in threads:
                th.start()
            for th in threads:
                th.join(120)
            assert len(results) == len(clients), results
            assert all(r == {"ADD": 150, "REM": 150} for r in results.values()), list(results.values())
        for c in clients:
            c.close()
        assert "database is locked" not in srv.log_text() + other.log_text()
    finally:
        other.stop()
        other.cleanup()


def rea_self(c, name):
    t = c.trid()
    c.send_line("REA %d %s %s" % (t, c.email, name))
    return t, c.read_cmd()


def stored_name(path, email):
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        row = db.execute("SELECT name FROM users WHERE email=?", (email,)).fetchone()
        return row[0] if row else None
    finally:
        db.close()


def refused_for_file(srv, c, name, path):
    """A change refused with 501 and a log line naming the file."""
    t, r = rea_self(c, name)
    assert r.line == "501 %d" % t, r
    errors = [l for l in srv.log_text().splitlines() if 'msg="store error"' in l]
    assert errors and path + " was deleted or replaced" in errors[-1] and "restart msnd" in errors[-1], errors


@backend_only("sqlite")
def test_wal_and_shm_removed_under_the_server(srv):
    """The -wal and -shm removed while msnd runs: msnd's commits would go
    to files no longer at the paths, and another process's (here `msnd user
    add`, which makes new ones) and msnd's would overwrite each other. msnd
    refuses changes (501, the file named in the log) and, stopping, leaves
    the other process's account in the database."""
    a = online(srv, "alice@example.com")
    t, r = rea_self(a, "Before")
    assert r.name == "REA", r
    os.unlink(srv.db + "-wal")
    os.unlink(srv.db + "-shm")
    refused_for_file(srv, a, "After", srv.db + "-wal")
    r = srv.run_admin("user", "add", "dave@example.com", "davepw", "Dave")
    assert r.returncode == 0, r.stderr
    refused_for_file(srv, a, "Later", srv.db + "-wal")
    a.close()
    assert srv.stop() == 0
    assert stored_name(srv.db, "dave@example.com") == "Dave"
    assert stored_name(srv.db, "alice@example.com") in ("Alice", "Before")


@backend_only("sqlite")
def test_wal_removed_under_the_server_keeps_what_was_acknowledged(srv):
    """Only the -wal removed (the -shm still msnd's): nobody else can have
    committed, so what msnd acknowledged before is copied into the database
    file when msnd notices, and survives a kill -9; changes after it are
    refused."""
    a = online(srv, "alice@example.com")
    t, r = rea_self(a, "Acknowledged")
    assert r.name == "REA", r
    os.unlink(srv.db + "-wal")
    refused_for_file(srv, a, "Refused", srv.db + "-wal")
    srv.proc.kill()
    srv.proc.wait()
    srv.proc = None
    assert stored_name(srv.db, "alice@example.com") == "Acknowledged"


@backend_only("sqlite")
def test_database_replaced_under_the_server(srv):
    """A copy moved over the database file while msnd runs: msnd refuses
    changes (they would go to the file it has open, no longer at the path)
    and leaves the new file as it was."""
    a = online(srv, "alice@example.com")
    shutil.copyfile(srv.db, srv.db + ".new")
    db = sqlite3.connect(srv.db + ".new")
    db.execute("UPDATE users SET name='Restored' WHERE email='alice@example.com'")
    db.commit()
    db.close()
    os.rename(srv.db + ".new", srv.db)
    refused_for_file(srv, a, "After", srv.db)
    a.close()
    assert srv.stop() == 0
    assert stored_name(srv.db, "alice@example.com") == "Restored"


def test_presence_told_once_around_the_first_chg(srv):
    """Before a user's first CHG nothing about its contacts reaches it (not
    even the ILN of an ADD FL); the CHG's ILN lines tell each contact's
    state once. On PostgreSQL a contact's change that waits for its
    watchers to be read (the store changed since they were kept) is held
    up by a stalled database read while the watcher's first CHG goes out:
    that change is then not told to the watcher a second time."""
    b = online(srv, "bob@example.com")
    a = login(srv, "alice@example.com")
    t = a.trid()
    a.send_line("ADD %d FL bob@example.com Bob" % t)
    a.expect("ADD")
    b.expect("ADD")  # ADD 0 RL: alice added bob
    # bob's kept watchers predate alice's ADD: his change reads them anew
    t = b.trid()
    if pgtest.backend() == "postgresql":
        stall = pgtest.shared().stalled_reads(srv.db_name, "list_entries", lambda: b.send_line("CHG %d BSY" % t))
    else:
        b.send_line("CHG %d BSY" % t)
        b.expect_line("CHG %d BSY" % t)
        stall = contextlib.nullcontext()
    bob_chg = t
    with stall:
        t = a.trid()
        a.send_line("CHG %d NLN" % t)
        a.expect_line("CHG %d NLN" % t)
        a.expect_line("ILN %d BSY bob@example.com Bob" % t)
    if pgtest.backend() == "postgresql":  # its reply leaves with the fan-out, once the read is done
        b.expect_line("CHG %d BSY" % bob_chg)
    t = b.trid()
    b.send_line("CHG %d AWY" % t)
    b.expect_line("CHG %d AWY" % t)
    a.expect_line("NLN AWY bob@example.com Bob")  # and no NLN BSY before it
    if pgtest.backend() == "postgresql":
        # The same for an ADD FL's ILN: alice adds bob again while his
        # change waits for its (stalled) read; that read then finds her
        # among his watchers, but her ILN told her already.
        t = a.trid()
        a.send_line("REM %d FL bob@example.com" % t)
        assert a.expect("REM").args[0] == str(t)
        t = b.trid()
        with pgtest.shared().stalled_reads(srv.db_name, "list_entries", lambda: b.send_line("CHG %d IDL" % t)):
            ta = a.trid()
            a.send_line("ADD %d FL bob@example.com Bob" % ta)
            assert a.expect("ADD").args[0] == str(ta)
            a.expect_line("ILN %d IDL bob@example.com Bob" % ta)
        while b.read_cmd().line != "CHG %d IDL" % t:  # ADD/REM RL notices come first
            pass
        t = b.trid()
        b.send_line("CHG %d NLN" % t)
        a.expect_line("NLN NLN bob@example.com Bob")  # and no NLN IDL before it
    a.close()
    b.close()


@backend_only("postgresql")
def test_database_outage(srv):
    """PostgreSQL stops for a few seconds: requests that need it get 501 at
    once (no hang), the sessions and the server carry on, and once the
    database is back msnd reconnects by itself and writes succeed."""
    a = online(srv, "alice@example.com")
    pg = pgtest.shared()
    pg.stop()
    try:
        t = a.trid()
        started = time.monotonic()
        a.send_line("REA %d alice@example.com Down" % t)
        a.expect_line("501 %d" % t)
        assert time.monotonic() - started < 4.0
        t = a.trid()
        a.send_line("ADD %d AL bob@example.com bob" % t)
        a.expect_line("501 %d" % t)
        a.send_line("PNG")  # a request that needs no database
        a.expect("QNG")
        # a new login fails cleanly too
        c = msntest.Client(srv.ns)
        c.send_line("VER 1 MSNP7 CVR0")
        c.expect("VER")
        c.send_line("USR 2 MD5 I bob@example.com")
        ch = c.expect("USR")  # the challenge needs no database; checking the answer does
        c.send_line("USR 3 MD5 S %s" % msntest.md5_login_response(ch.args[3], "bobpw"))
        c.expect_line("501 3")
        c.close()
    finally:
        pg.start()
    deadline = time.monotonic() + 10
    while True:
        t = a.trid()
        a.send_line("REA %d alice@example.com Back" % t)
        r = a.read_cmd()
        if r.name == "REA":
            break
        assert r.line == "501 %d" % t, r
        assert time.monotonic() < deadline, "msnd did not reconnect"
        time.sleep(0.3)
    assert pg.sql(srv.db_name, "SELECT name FROM users WHERE email = 'alice@example.com'") == "Back"
    assert "store error" in srv.log_text()
    a.close()


@backend_only("postgresql")
def test_database_restart_between_requests(srv):
    """The database restarts while nobody asks anything: msnd's idle
    connections are dead, and the first request afterwards still succeeds
    (msnd notices the closed connection and connects again first)."""
    a = online(srv, "alice@example.com")
    pg = pgtest.shared()
    pg.stop()
    pg.start()
    t = a.trid()
    a.send_line("REA %d alice@example.com Again" % t)
    a.expect("REA")
    a.close()


@backend_only("postgresql")
def test_logout_while_the_database_is_down_reaches_the_watchers(srv):
    """A user whose watchers must be read anew (a list change of theirs since
    the last status change) logs out while PostgreSQL is down: the watchers
    known from before still get FLN instead of showing the user online for
    the rest of their session. One node: across nodes the watcher's node
    reads the rows itself (and, with the database down, cannot)."""
    if msntest.topology() == "cluster":
        print("skip: one node only")
        return
    a = online(srv, "alice@example.com")
    b = online(srv, "bob@example.com")
    add(b, "FL", "alice@example.com", "Alice")
    b.expect("ADD")
    expect_told_online(b, "alice@example.com")
    a.expect("ADD")  # RL
    t = a.trid()
    a.send_line("CHG %d AWY" % t)  # the fan-out that finds bob
    reply(a, "CHG")
    assert reply(b, "NLN").line == "NLN AWY alice@example.com Alice"
    add(a, "FL", "carol@example.com", "Carol")  # alice's rows may have changed
    a.expect("ADD")
    pg = pgtest.shared()
    pg.stop()
    try:
        a.send_line("OUT")
        a.expect_closed()
        assert reply(b, "FLN").line == "FLN alice@example.com"
    finally:
        pg.start()
    log = srv.log_text()
    assert 'msg="presence fan-out failed" user=alice@example.com' in log, log[-3000:]


@backend_only("postgresql")
def test_deleted_account_is_logged_out_after_a_database_restart(srv):
    """The sweep for deleted accounts runs on a connection of its own: after
    the database restarts it connects again, and `msnd user del` of a
    logged-in user still ends that session."""
    a, b = make_friends(srv)
    t = a.trid()
    a.send_line("CHG %d BSY" % t)  # the fan-out that finds bob
    reply(a, "CHG")
    reply(b, "NLN")
    pg = pgtest.shared()
    pg.stop()
    time.sleep(2.5)  # a sweep or more while the database is down
    pg.start()
    time.sleep(2.5)  # and one after it is back
    r = srv.run_admin("user", "del", "alice@example.com")
    assert r.returncode == 0, r.stderr
    assert reply(a, "OUT").line == "OUT"
    a.expect_closed(timeout=8)
    if msntest.topology() != "cluster":
        assert reply(b, "FLN").line == "FLN alice@example.com"


def test_admin_commands(srv):
    r = srv.run_admin("user", "add", "dave@example.com", "davepw", "Dave", "D.")
    assert r.returncode == 0, r.stderr
    r = srv.run_admin("user", "add", "dave@example.com", "x")
    assert r.returncode != 0 and "exists" in r.stderr
    r = srv.run_admin("user", "add", "not-an-email", "x")
    assert r.returncode != 0
    r = srv.run_admin("user", "passwd", "dave@example.com", "-", input="newpw\n")
    assert r.returncode == 0, r.stderr
    msntest.login(srv, "dave@example.com", "newpw")
    r = srv.run_admin("user", "list")
    assert "dave@example.com\tDave D." in r.stdout, r.stdout
    r = srv.run_admin("user", "del", "dave@example.com")
    assert r.returncode == 0
    r = srv.run_admin("user", "del", "dave@example.com")
    assert r.returncode != 0


if __name__ == "__main__":
    tests = [v for k, v in list(globals().items()) if k.startswith("test_")]
    sys.exit(run(tests, sys.argv[1]))
