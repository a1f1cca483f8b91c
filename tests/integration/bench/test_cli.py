#!/usr/bin/env python3
"""The benchmark programs' command lines: --help prints the usage on
standard output and exits 0; a usage error prints it on standard error and
exits 2; msnbench names the option whose value it refuses.

usage: test_cli.py MSNBENCH [GEN_CAPTURE]; bench/codec from $BENCH_CODEC"""
import os
import subprocess
import sys
import tempfile
import unittest

MSNBENCH = sys.argv[1]
GEN_CAPTURE = sys.argv[2] if len(sys.argv) > 2 else None
CODEC = os.environ.get("BENCH_CODEC")  # bench/codec, when built
GATE_COMMIT = os.environ.get("BENCH_GATE_COMMIT")  # bench/gate_commit, when built
del sys.argv[1:]


def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30)


def check_help(prog, first_line):
    for flag in ("--help", "-h"):
        r = run(prog, flag)
        assert r.returncode == 0, (prog, flag, r.returncode, r.stderr)
        assert r.stdout.startswith(first_line), (prog, flag, r.stdout)
        assert r.stderr == "", (prog, flag, r.stderr)


class CommandLines(unittest.TestCase):
    def test_msnbench_help(self):
        check_help(MSNBENCH, "usage: msnbench MODE")
        r = run(MSNBENCH, "login", "--help")
        assert r.returncode == 0 and r.stdout.startswith("usage: msnbench MODE"), r
        r = run(MSNBENCH)
        assert r.returncode == 2 and r.stdout == "" and "usage: msnbench MODE" in r.stderr, r
        r = run(MSNBENCH, "login", "--bogus")
        assert r.returncode == 2 and "unknown option '--bogus'" in r.stderr, r

    def test_msnbench_names_the_option_it_refuses(self):
        for args, name in ((["--users", "abc"], "--users"), (["--users", "0"], "--users"),
                           (["--concurrency", "-3"], "--concurrency"), (["--duration", "0"], "--duration"),
                           (["--duration", "5s"], "--duration"), (["--window", "100000"], "--window"),
                           (["--sources", "251"], "--sources"), (["--keep", "601"], "--keep")):
            r = run(MSNBENCH, "login", *args)
            assert r.returncode == 1, (args, r.returncode, r.stderr)
            assert r.stderr.startswith("msnbench: option %s: '%s' " % (name, args[1])), (args, r.stderr)
        r = run(MSNBENCH, "login", "--users")
        assert r.returncode == 1 and r.stderr == "msnbench: option --users needs a value\n", r.stderr

    @unittest.skipUnless(CODEC, "codec not built")
    def test_codec_refuses_bad_numbers(self):
        # "10x" was 10 and "abc" 0 (atol, atof)
        for opt, val in (("--mb", "10x"), ("--mb", "abc"), ("--seconds", "0.5s"), ("--seconds", "nan")):
            r = run(CODEC, opt, val)
            assert r.returncode == 2 and r.stdout == "", (opt, val, r.returncode, r.stdout)
            assert r.stderr == "codec: %s: '%s' is not a number\n" % (opt, val), (opt, val, r.stderr)
        r = run(CODEC, "--mb", "1.5")
        assert r.returncode == 2 and "--mb a whole number in [1,4096]" in r.stderr, r

    @unittest.skipUnless(GATE_COMMIT, "gate_commit not built")
    def test_gate_commit_refuses_bad_counts(self):
        # "2k" was 2 (then 10) and "-1" a count no allocation could hold
        # (strtoul); refused before any table is made
        for val in ("2k", "abc", "-1", "5", "1000001", "", "18446744073709551616"):
            r = run(GATE_COMMIT, val)
            assert r.returncode == 2 and r.stdout == "", (val, r.returncode, r.stdout)
            assert r.stderr == "gate_commit: COUNT: '%s' is not a whole number in [10,1000000]\n" % val, (val, r.stderr)
        r = run(GATE_COMMIT, "10", "20")
        assert r.returncode == 2 and r.stderr.startswith("usage: gate_commit [COUNT]"), r

    @unittest.skipUnless(GEN_CAPTURE, "gen-capture not built")
    def test_gen_capture_help(self):
        check_help(GEN_CAPTURE, "usage: gen-capture --out FILE")
        r = run(GEN_CAPTURE, "--bogus")
        assert r.returncode == 2 and r.stdout == "" and "usage: gen-capture" in r.stderr, r

    @unittest.skipUnless(GEN_CAPTURE, "gen-capture not built")
    def test_gen_capture_refuses_bad_numbers(self):
        # refused before anything is written: --dense 0 or 'abc' is not the
        # 1 GiB mixed capture, '10x' is not 10
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "c.pcap")
            for opt, val in (("--dense", "0"), ("--dense", "abc"), ("--dense", "-1"), ("--dense", "4000001"),
                             ("--size", "10x"), ("--size", "0"), ("--msn-share", "0"), ("--msn-share", "3%"),
                             ("--seed", "x")):
                r = run(GEN_CAPTURE, "--out", out, opt, val)
                assert r.returncode == 2, (opt, val, r.returncode, r.stderr)
                assert r.stderr.startswith("gen-capture: %s: '%s' " % (opt, val)), (opt, val, r.stderr)
                assert not os.path.exists(out), (opt, val)

    @unittest.skipUnless(GEN_CAPTURE, "gen-capture not built")
    @unittest.skipUnless(os.geteuid() == 0, "mounting a small file system needs root")
    def test_gen_capture_on_a_full_disk_leaves_no_partial_file(self):
        # a capture cut short by a full disk would pass for a smaller one
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d], check=True)
            try:
                out = os.path.join(d, "c.pcap")
                r = run(GEN_CAPTURE, "--out", out, "--dense", "200")
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn("No space left on device; the incomplete %s is removed\n" % out, r.stderr)
                self.assertFalse(os.path.exists(out))
            finally:
                subprocess.run(["umount", d], check=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
