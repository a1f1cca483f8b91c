"""bench/report.py on result files written here: how the figures the table
and BENCHMARKS.md give are made from msnbench's output (the median of the
NS login rounds, system calls per operation from the counted window, a
round that failed left out, a window that could not count shown as
unknown) and from the analyzer's timed rounds (the fastest run's wall time
and its CPU)."""
import json
import os
import subprocess
import sys
import tempfile

REPORT = sys.argv[1]


def login(cpu_s, sys_s, logins=50000, syscalls=None):
    d = {"mode": "login", "logins": logins, "seconds": 3.0, "logins_per_s": logins / 3.0,
         "server_cpu_s": cpu_s, "server_sys_cpu_s": sys_s}
    if syscalls is not None:
        d["syscalls"] = syscalls
    return d


def phase(rate, cpu_s, seconds=3.0):
    return {"kind": "closed", "achieved_changes_per_s": rate, "achieved_msgs_per_s": rate, "seconds": seconds,
            "server_cpu_s": cpu_s}


def run(files):
    with tempfile.TemporaryDirectory(prefix="report-test.") as res:
        for name, d in files.items():
            # a name with a dot is a file as run.sh writes it; others are JSON
            with open(os.path.join(res, name if "." in name else name + ".json"), "w") as f:
                f.write(d) if isinstance(d, str) else json.dump(d, f)
        out = os.path.join(res, "latest.json")
        p = subprocess.run([sys.executable, REPORT, res, out], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        with open(out) as f:
            return json.load(f), p.stdout


def main():
    counted = {"seconds": 1.0, "ops": 16000, "server_syscalls": 272000, "per_op": 17.0}
    doc, table = run({
        # rounds of 54, 66 and 60 us per login, the kernel's 40, 46, 42
        "msnd_login_ns": login(2.7, 2.0, syscalls=counted),
        "msnd_login_ns_round2": login(3.3, 2.3),
        "msnd_login_ns_round3": login(3.0, 2.1),
        "msnd_presence": {"mode": "presence", "closed": phase(60000, 2.7),
                          "syscalls": {"seconds": 1.0, "ops": 50000, "server_syscalls": 265000, "per_op": 5.3}},
        "msnd_sb": {"mode": "sb", "closed": phase(2000000, 3.0),
                    "syscalls": {"available": False, "reason": "no tracepoint"}},
    })
    m = doc["msnd"]
    assert m["login_cpu_us_rounds"] == [54.0, 66.0, 60.0], m["login_cpu_us_rounds"]
    cpu = m["server_cpu_us_per_op"]
    assert cpu["login"] == 60.0 and cpu["login_kernel"] == 42.0, cpu
    assert cpu["presence_change"] == 15.0 and cpu["relayed_msg"] == 0.5, cpu
    sc = m["server_syscalls_per_op"]
    assert sc == {"login": 17.0, "presence_change": 5.3, "relayed_msg": None}, sc
    assert "median of rounds 54.0 / 66.0 / 60.0 us" in table, table
    assert "17.0 / 5.3 / ?" in table, table

    # a round that failed is left out: the median of the other two
    doc, _ = run({"msnd_login_ns": login(2.7, 2.0),
                  "msnd_login_ns_round2": {"available": False, "reason": "login run failed"},
                  "msnd_login_ns_round3": login(3.3, 2.4)})
    assert doc["msnd"]["server_cpu_us_per_op"]["login"] == 60.0, doc["msnd"]["server_cpu_us_per_op"]
    # one round (LOGIN_ROUNDS=1), and the peers' single runs: that run's figure
    doc, _ = run({"msnd_login_ns": login(2.7, 2.0), "peer_login": login(15.0, 7.5, logins=30000)})
    assert doc["msnd"]["server_cpu_us_per_op"]["login"] == 54.0
    assert doc["peer"]["server_cpu_us_per_op"]["login"] == 500.0, doc["peer"]["server_cpu_us_per_op"]
    assert doc["peer"]["server_syscalls_per_op"]["login"] is None

    # the analyzer: each tool's fastest round, and that round's CPU (user +
    # system) when run.sh recorded it; a file of the older two-column form
    # has no CPU figure
    doc, table = run({"capture": {"bytes": 1000000000, "packets": 4000000},
                      "mixed_msnsniff.time": "0.700 40000 0.90 0.40\n0.500 41000 0.75 0.35\n0.600 39000 0.80 0.30\n",
                      "mixed_pcap_loop.time": "0.250 3000\n0.240 3100\n",
                      "mixed_tshark.time": "30.000 2000000 29.00 0.90\n"})
    an = doc["analyzer"]
    assert an["msnsniff"]["seconds"] == 0.5 and an["msnsniff"]["peak_rss_kib"] == 41000, an["msnsniff"]
    assert an["msnsniff"]["cpu_seconds"] == 1.1 and an["msnsniff"]["runs_cpu_seconds"] == [1.3, 1.1, 1.1], an["msnsniff"]
    assert an["pcap_loop"]["seconds"] == 0.24 and "cpu_seconds" not in an["pcap_loop"], an["pcap_loop"]
    assert an["tshark"]["cpu_seconds"] == 29.9, an["tshark"]
    assert an["ratios"] == {"msnsniff_speed_vs_pcap_loop": 0.48, "msnsniff_speed_vs_tshark": 60.0}, an["ratios"]
    assert "125 ns/packet, CPU 1.10 s of 0.50 s" in table, table
    print("ok")


main()
