#!/usr/bin/env python3
"""Seeds for fuzz_msnftp from real exchanges: `msnc ftp-send` and
`msnc ftp-recv` talk through a recording relay on loopback; what the
receiver said becomes input for msnc as sender, what the sender said input
for msnc as receiver, each under a few mode bytes (see fuzz_msnftp.c).

usage: make_seeds.py MSNC [OUTDIR]   (default OUTDIR: fuzz/corpus/msnftp)"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

COOKIE, EMAIL, SIZE = "4242", "bob@example.com", 5000  # as in fuzz_msnftp.c

# Mode bytes: bit 0 receiver, 1 reverse, 2-4 write size, 5 size known /
# e-mail checked, 6 refusing second address, 7 close after the input.
SENDER_MODES = (0xa0, 0x82, 0x04, 0xc2, 0x00)
RECEIVER_MODES = (0xa1, 0x83, 0x11, 0xc1, 0x01)


def relay(listener, target_port, record, done):
    """Accept one connection, forward both ways, record each direction."""
    client, _ = listener.accept()
    server = socket.create_connection(("127.0.0.1", target_port))

    def pump(src, dst, key):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            record[key] += data
            try:
                dst.sendall(data)
            except OSError:
                return

    threads = [threading.Thread(target=pump, args=(client, server, "from_receiver")),
               threading.Thread(target=pump, args=(server, client, "from_sender"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    client.close()
    server.close()
    done.set()


def exchange(msnc, tmp, send_extra=(), recv_extra=(), cookie=COOKIE, size=SIZE):
    src = os.path.join(tmp, "src.bin")
    with open(src, "wb") as f:
        f.write(bytes((i * 131) & 0xff for i in range(SIZE)))
    out = tempfile.mkdtemp(dir=tmp)
    sender = subprocess.Popen([msnc, "ftp-send", "--cookie", COOKIE, "--ports", "0", "--bind-ip", "127.0.0.1",
                               "--email", EMAIL, "--timeout", "5", *send_extra, src],
                              stdout=subprocess.PIPE, text=True)
    port = json.loads(sender.stdout.readline())["port"]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    record = {"from_receiver": b"", "from_sender": b""}
    done = threading.Event()
    threading.Thread(target=relay, args=(listener, port, record, done), daemon=True).start()
    subprocess.run([msnc, "ftp-recv", "--host", "127.0.0.1", "--port", str(listener.getsockname()[1]),
                    "--email", EMAIL, "--cookie", cookie, "--dir", out, "--name", "x.bin", "--size", str(size),
                    *recv_extra], stdout=subprocess.DEVNULL, timeout=20)
    done.wait(20)
    sender.communicate(timeout=20)
    listener.close()
    return record


def main():
    msnc = sys.argv[1]
    outdir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus", "msnftp")
    os.makedirs(outdir, exist_ok=True)
    cases = {
        "transfer": {},
        "receiver-cancels": {"recv_extra": ("--cancel-after", "2045")},
        "sender-cancels": {"send_extra": ("--cancel-after", "2045")},
        "wrong-cookie": {"cookie": "999"},
        "size-mismatch": {"size": SIZE - 1},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in cases.items():
            rec = exchange(msnc, tmp, **kw)
            for direction, modes in (("from_receiver", SENDER_MODES), ("from_sender", RECEIVER_MODES)):
                if not rec[direction]:
                    continue
                for mode in modes:
                    path = os.path.join(outdir, "seed-%s-%s-%02x" % (name, direction.replace("_", "-"), mode))
                    with open(path, "wb") as f:
                        f.write(bytes([mode]) + rec[direction])
            print("%s: receiver said %d bytes, sender %d" % (name, len(rec["from_receiver"]),
                                                            len(rec["from_sender"])))


if __name__ == "__main__":
    main()
