#!/usr/bin/env python3
"""msnd against hostile or broken clients: password guessing, cookie and
switchboard hoarding, dead connections, and the randomness of what the
server hands out. Each test runs against a fresh msnd with the default
limits unless it names its own."""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import msntest  # noqa: E402
from harness import login, online, with_args  # noqa: E402


def guess(srv, email, source, trid=1):
    """One wrong password for email from source; returns the error code."""
    c = msntest.Client(srv.ns, source=source)
    c.send_line("VER %d MSNP7" % trid)
    c.expect("VER")
    c.send_line("USR %d MD5 I %s" % (trid + 1, email))
    r = c.read_cmd()
    if r.name != "USR":
        c.close()
        return int(r.name)
    c.send_line("USR %d MD5 S %s" % (trid + 2, msntest.md5_login_response(r.args[3], "wrong")))
    code = int(c.read_cmd().name)
    c.close()
    return code


def test_guessing_does_not_lock_the_owner_out(srv):
    # Five wrong passwords (the default limit) and more from one address...
    for i in range(7):
        assert guess(srv, "alice@example.com", "127.0.0.2") == 911
    log = srv.log_text()
    assert re.search(r'msg="login throttle started" peer=127\.0\.0\.2:\d+ user=alice@example\.com '
                     r'by=account\+address delay_ms=1000', log), log[-3000:]
    # ...leave the owner, from another address, free to log in,
    c = login(srv, "alice@example.com", source="127.0.0.3")
    c.close()
    # and another user behind the guessing address as well.
    c = login(srv, "bob@example.com", source="127.0.0.2")
    c.close()


@with_args("--auth-failures-per-address", "3", "--auth-delay", "600")
def test_address_throttle_is_logged(srv):
    assert guess(srv, "alice@example.com", "127.0.0.2") == 911
    assert guess(srv, "bob@example.com", "127.0.0.2") == 911
    assert guess(srv, "carol@example.com", "127.0.0.2") == 911
    # the address is held back now, whatever the account
    c = msntest.Client(srv.ns, source="127.0.0.2")
    c.send_line("VER 1 MSNP7")
    c.expect("VER")
    c.send_line("USR 2 MD5 I example@passport.com")
    c.expect_error(911, 2)
    c.expect_closed()
    log = srv.log_text()
    assert re.search(r'msg="login throttled" peer=127\.0\.0\.2:\d+ user=example@passport\.com by=address', log), \
        log[-3000:]
    # other addresses are not
    login(srv, "example@passport.com", source="127.0.0.3").close()


if __name__ == "__main__":
    sys.exit(harness.run([
        test_guessing_does_not_lock_the_owner_out,
        test_address_throttle_is_logged,
    ], sys.argv[1]))
