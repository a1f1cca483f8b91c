"""netcluster - msnd as a cluster across "machines" for the tests: a DS,
three notification nodes, two switchboard processes and PostgreSQL, each
in a network namespace of its own, joined by a bridge (in one more
namespace). The test process reaches them through a veth pair of its own,
on ROOT_IP and on extra addresses for clients that need one each.

    net = netcluster.shared()        # namespaces + PostgreSQL, once per process, removed at exit
    c = netcluster.MsndCluster(msnd, args=[...], users=[...])
    c.start()                        # six msnd processes on a fresh database; c.ds, c.ns, c.sb
    ...
    c.cleanup()

MsndCluster has the interface of msntest.MsndServer, so the msnd suites
run on it unchanged (MSND_TEST_TOPOLOGY=cluster, see msntest.new_server).
Needs root. Every name carries this process's id; namespaces left behind
by a test process that was killed are removed by the next one."""
import atexit
import os
import socket
import subprocess
import time

import msntest
import pgtest

PID = os.getpid()
PREFIX = "mkc"
TAG = "%s%d" % (PREFIX, PID % 10000000)
SUBNET = "10.%d.%d" % (100 + (PID >> 8) % 100, PID & 255)
HOSTS = {"pg": 1, "ds": 2, "ns1": 11, "ns2": 12, "ns3": 13, "sb1": 21, "sb2": 22}
NS_NODES = ("ns1", "ns2", "ns3")
SB_NODES = ("sb1", "sb2")
ROOT_IP = SUBNET + ".254"
CLIENT_IPS = ["%s.%d" % (SUBNET, 200 + k) for k in range(8)]  # more ways in, one per client
PORTS = {"ds": 1863, "ns": 1864, "sb": 1865, "link": 1870}


def ip(name):
    return "%s.%d" % (SUBNET, HOSTS[name])


def sh(*argv, check=True):
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr))
    return r


def ns(name):
    return "%s-%s" % (TAG, name)


def _remove_stale():
    """Namespaces of earlier test processes that no longer run."""
    r = sh("ip", "netns", "list", check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        tag, _, _ = name.partition("-")
        if not tag.startswith(PREFIX) or not tag[len(PREFIX):].isdigit() or tag == TAG:
            continue
        if os.path.exists("/proc/%s" % tag[len(PREFIX):]):
            continue
        sh("ip", "netns", "del", name, check=False)
        sh("ip", "link", "del", "%sra" % tag, check=False)


class Net:
    """Namespaces, veth pairs and the bridge."""

    def __init__(self):
        self.made = []

    def up(self):
        _remove_stale()
        sh("ip", "netns", "add", ns("br"))
        self.made.append(ns("br"))
        sh("ip", "netns", "exec", ns("br"), "ip", "link", "add", "br0", "type", "bridge")
        sh("ip", "netns", "exec", ns("br"), "ip", "link", "set", "br0", "up")
        for k, (name, _) in enumerate(sorted(HOSTS.items())):
            sh("ip", "netns", "add", ns(name))
            self.made.append(ns(name))
            a, b = "%sa%d" % (TAG, k), "%sb%d" % (TAG, k)
            sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
            sh("ip", "link", "set", a, "netns", ns(name))
            sh("ip", "link", "set", b, "netns", ns("br"))
            sh("ip", "netns", "exec", ns(name), "ip", "addr", "add", "%s/24" % ip(name), "dev", a)
            sh("ip", "netns", "exec", ns(name), "ip", "link", "set", a, "up")
            sh("ip", "netns", "exec", ns(name), "ip", "link", "set", "lo", "up")
            sh("ip", "netns", "exec", ns("br"), "ip", "link", "set", b, "master", "br0", "up")
        # the test's own way in
        a, b = "%sra" % TAG, "%srb" % TAG
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        sh("ip", "link", "set", b, "netns", ns("br"))
        sh("ip", "netns", "exec", ns("br"), "ip", "link", "set", b, "master", "br0", "up")
        sh("ip", "addr", "add", "%s/24" % ROOT_IP, "dev", a)
        for extra in CLIENT_IPS:
            sh("ip", "addr", "add", "%s/32" % extra, "dev", a)
        sh("ip", "link", "set", a, "up")

    def down(self):
        sh("ip", "link", "del", "%sra" % TAG, check=False)
        for n in self.made:
            sh("ip", "netns", "del", n, check=False)
        self.made = []


class NetPg(pgtest.PgServer):
    """pgtest's server, started inside the pg namespace on its address (and
    on a Unix socket in its directory, which psql uses from anywhere)."""

    def start(self):
        self.port = 5432
        hba = os.path.join(self.data, "pg_hba.conf")
        with open(hba) as f:
            rules = f.read()
        rule = "host all all %s.0/24 trust\n" % SUBNET
        if rule not in rules:
            with open(hba, "a") as f:
                f.write(rule)
        opts = "-p 5432 -k %s -c listen_addresses=%s -c fsync=off -c synchronous_commit=off " \
               "-c full_page_writes=off -c max_connections=300" % (self.dir, ip("pg"))
        self._run(["ip", "netns", "exec", ns("pg"), "runuser", "-u", "postgres", "--",
                   os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "log"),
                   "-w", "-t", "30", "-o", opts, "start"], as_root=True)
        self.running = self.started = True
        return self

    def _run(self, argv, check=True, timeout=60, as_root=False):
        if as_root:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.dir)
            if check and r.returncode != 0:
                raise RuntimeError("%s failed: %s%s" % (argv[0], r.stdout, r.stderr))
            return r
        return super()._run(argv, check, timeout)

    def url(self, db, host=None, port=None):
        return "postgresql://postgres@%s:%d/%s" % (host or ip("pg"), port or 5432, db)


class Node:
    """One msnd process in its namespace."""

    def __init__(self, name, args, workdir):
        self.name = name
        self.args = args
        self.log = os.path.join(workdir, name + ".log")
        self.proc = None

    def start(self, msnd):
        with open(self.log + ".stderr", "ab") as err:
            self.proc = subprocess.Popen(["ip", "netns", "exec", ns(self.name), msnd] + self.args +
                                         ["--log-file", self.log, "--log-level", "debug"],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)

    def wait_port(self, port, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, "%s exited: %s" % (self.name, self.tail())
            try:
                socket.create_connection((ip(self.name), port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "%s never listened: %s" % (self.name, self.tail())
                time.sleep(0.02)

    def text(self):
        return msntest.read_text(self.log)

    def tail(self):
        return self.text()[-3000:]

    def stop(self, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        return self.proc.returncode if self.proc else None


class Shared:
    def __init__(self):
        self.net = Net()
        self.pg = None
        try:
            self.net.up()
            self.pg = NetPg()
            self.pg.start()
        except Exception:
            self.close()
            raise

    def close(self):
        if self.pg:
            self.pg.cleanup()
            self.pg = None
        self.net.down()


_shared = None


def shared():
    """The namespaces and PostgreSQL of this test process (made on first use).
    pgtest.shared() is this server from then on, so tests that reach for the
    database directly (an outage, a lock) act on the cluster's."""
    global _shared
    if _shared is None:
        _shared = Shared()
        atexit.register(_shared.close)
        pgtest._shared = _shared.pg
    return _shared


class MsndCluster(msntest.MsndServer):
    """DS + NS x3 + SB x2 on one database: msntest.MsndServer with six
    processes (the database handling is MsndServer's, on this process's
    PostgreSQL). ds/ns/sb are the first of each role (clients log in through
    the DS to the node their e-mail's hash picks; ns is the first
    notification node, which any user may reach directly); sbs lists both
    switchboards, ns_nodes the three notification nodes."""

    def __init__(self, msnd, args=(), users=(), workdir=None):
        shared()  # the namespaces; pgtest.shared() is their PostgreSQL from now on
        self.nodes = {}
        super().__init__(msnd, args=args, users=users, workdir=workdir)
        if not self.db_name:
            raise RuntimeError("the cluster topology runs on PostgreSQL")

    def _node_args(self, name):
        links = ["%s:%d" % (ip(n), PORTS["link"]) for n in NS_NODES]
        if name == "ds":
            return ["--role", "ds", "--listen", "%s:%d" % (ip("ds"), PORTS["ds"]),
                    "--ns-nodes", ",".join("%s:%d" % (ip(n), PORTS["ns"]) for n in NS_NODES)]
        if name in NS_NODES:
            own = "%s:%d" % (ip(name), PORTS["link"])
            return ["--role", "ns", "--listen", "%s:%d" % (ip(name), PORTS["ns"]), "--link-listen", own,
                    "--ns-peers", ",".join(x for x in links if x != own), "--db", self.db]
        return ["--role", "sb", "--listen", "%s:%d" % (ip(name), PORTS["sb"]), "--ns-links", ",".join(links)]

    def start(self, timeout=20.0):
        self._ensure_db()
        self.nodes = {}
        for name in NS_NODES + ("ds",) + SB_NODES:
            node = Node(name, self._node_args(name) + self.args, self.dir)
            self.nodes[name] = node
            node.start(self.msnd)
        self.proc = self.nodes["ns1"].proc
        try:
            for name, node in self.nodes.items():
                role = "ns" if name in NS_NODES else "sb" if name in SB_NODES else "ds"
                node.wait_port(PORTS[role], timeout)
            # ready once every notification node is in sync with both others
            # and has both switchboards linked
            deadline = time.monotonic() + timeout
            for name in NS_NODES:
                node = self.nodes[name]
                while True:
                    text = node.text()
                    if text.count("notification peer in sync") >= 2 and text.count("switchboard linked") >= 2:
                        break
                    assert node.proc.poll() is None, "%s exited: %s" % (name, node.tail())
                    assert time.monotonic() < deadline, "%s never linked: %s" % (name, node.tail())
                    time.sleep(0.02)
        except Exception:
            self.stop()
            raise
        self.ds = (ip("ds"), PORTS["ds"])
        self.ns = (ip("ns1"), PORTS["ns"])
        self.ns_nodes = [(ip(n), PORTS["ns"]) for n in NS_NODES]
        self.sbs = [(ip(n), PORTS["sb"]) for n in SB_NODES]
        self.sb = self.sbs[0]
        return self

    def source(self, k):
        """The k-th extra address a client may connect from (0-5)."""
        return CLIENT_IPS[k]

    def pids(self):
        """The msnd processes serving clients (`ip netns exec` runs msnd in
        its own process: exec, no fork)."""
        return [node.proc.pid for node in self.nodes.values()]

    def stop(self, timeout=10.0):
        if not self.nodes:
            return None
        rc = 0
        # switchboards and the DS first: no link drop reported as a failure
        for name in SB_NODES + ("ds",) + NS_NODES:
            r = self.nodes[name].stop(timeout)
            if r not in (0, None) and rc == 0:
                rc = r
        self.nodes = {}
        self.proc = None
        return rc

    def _texts(self, suffix):
        """Every process's file of that suffix, each under its name."""
        texts = ((name, msntest.read_text(os.path.join(self.dir, name + suffix)))
                 for name in NS_NODES + ("ds",) + SB_NODES)
        return "\n".join("---- %s ----\n%s" % (name, text) for name, text in texts if text)

    def log_text(self):
        return self._texts(".log")

    def stderr_text(self):
        return self._texts(".log.stderr")
