"""delayproxy - a TCP relay that adds a fixed latency in each direction.

    p = DelayProxy(("127.0.0.1", pg_port), delay_ms=20, listen=("127.0.0.1", 0)).start()
    p.port                     # where clients connect instead
    p.delay_ms = 200           # change the latency of everything sent from now on
    p.chunks_up                # chunks read so far from the clients (requests on their way)
    p.stop()                   # close everything (the port can be listened on again at once)

Every chunk read on one side is written to the other side delay_ms after it
arrived, in order; throughput is not limited. It stands in for a slow
network link to the database where the kernel has no netem qdisc (the test
machines' kernels are built without CONFIG_NET_SCH_NETEM).
"""

import collections
import socket
import threading
import time


class _Pipe:
    def __init__(self, proxy, src, dst, upstream=False):
        self.proxy, self.src, self.dst, self.upstream = proxy, src, dst, upstream
        self.q = collections.deque()
        self.cv = threading.Condition()
        self.closed = False

    def reader(self):
        try:
            while True:
                data = self.src.recv(65536)
                if self.upstream and data:
                    with self.proxy.lock:
                        self.proxy.chunks_up += 1
                with self.cv:
                    self.q.append((time.monotonic() + self.proxy.delay_ms / 1000.0, data))
                    self.cv.notify()
                if not data:
                    return
        except OSError:
            with self.cv:
                self.q.append((0.0, b""))
                self.cv.notify()

    def writer(self):
        try:
            while True:
                with self.cv:
                    while not self.q:
                        self.cv.wait()
                    due, data = self.q.popleft()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    break
                self.dst.sendall(data)
        except OSError:
            pass
        for s in (self.dst, self.src):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class DelayProxy:
    def __init__(self, target, delay_ms=20, listen=("127.0.0.1", 0)):
        self.target = target
        self.delay_ms = delay_ms
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(listen)
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        self.running = False
        self.lock = threading.Lock()
        self.chunks_up = 0

    def start(self):
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while self.running:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socks += [c, u]
            for a, b in ((c, u), (u, c)):
                p = _Pipe(self, a, b, upstream=a is c)
                threading.Thread(target=p.reader, daemon=True).start()
                threading.Thread(target=p.writer, daemon=True).start()

    def stop(self):
        self.running = False
        try:
            # Wakes the accept thread: a socket closed while a thread is
            # blocked in accept() stays bound until that call returns, so
            # a new relay could not listen on its port yet.
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.lsock.close()
        except OSError:
            pass
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
