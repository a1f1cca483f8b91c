#!/usr/bin/env python3
"""Every event msnsniff writes fits docs/msnsniff-events.schema.json: the
committed expected outputs, and fresh runs over the committed captures and
generated variants of them (IPv6, fragments, cut snap length, dropped
segments, other link types) with the options that add events or fields
(--all-flows, --no-defrag, --extract, the policy and the bounds on
predictions). The live tests validate their captures the same way. The
schema itself is checked to refuse what it must (a sanity check that this
test can fail). The prose of docs/msnsniff.md names every field and value
the schema has.

usage: test_schema.py MSNSNIFF MKCAPTURE CAPTURES_DIR
"""
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eventschema  # noqa: E402

MSNSNIFF, MKCAPTURE, CAPTURES = sys.argv[1:4]
del sys.argv[1:4]
TIMEOUT = 60
OPTIONS = [[], ["--all-flows"], ["--no-defrag"], ["--announced-policy", "strict"],
           ["--run-id", "00000000000000ab"], ["--max-expect-user", "1"], ["--max-expect-session", "1"], ["--expect-timeout", "1"]]
VARIANTS = [["--ipv6", "--ext6", "--frag6", "200"], ["--frag", "300"], ["--snaplen", "80"], ["--mss", "100", "--drop", "9"],
            ["--link", "raw"], ["--link", "sll2"], ["--link", "null"], ["--vlan", "7,9", "--overlap", "--dup"]]


def run(args):
    p = subprocess.run([MSNSNIFF, "-q"] + args, capture_output=True, timeout=TIMEOUT)
    return p.returncode, [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()], p.stderr.decode()


class Schema(unittest.TestCase):
    seen = set()

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def valid(self, events, what):
        self.assertGreater(len(events), 0, what)
        self.assertEqual(eventschema.problems(events), [], what)
        Schema.seen |= {e["event"] for e in events}

    def test_1_committed_outputs(self):
        for path in sorted(glob.glob(os.path.join(CAPTURES, "*.jsonl"))):
            with open(path) as f:
                self.valid([json.loads(l) for l in f if l.strip()], path)

    def test_2_committed_captures_with_options(self):
        captures = sorted(glob.glob(os.path.join(CAPTURES, "*.pcap*")))
        self.assertGreaterEqual(len(captures), 3)
        for c in captures:
            for opts in OPTIONS:
                rc, ev, err = run(opts + ["-r", c])
                self.assertEqual(rc, 0, err)
                self.valid(ev, "%s %s" % (c, opts))
        carve = os.path.join(self.dir, "carve")
        os.mkdir(carve)
        rc, ev, err = run(["--extract", carve, "-r", os.path.join(CAPTURES, "seed.pcap")])
        self.assertEqual(rc, 0, err)
        self.assertTrue(any("path" in e for e in ev if e["event"] == "file"))
        self.valid(ev, "--extract")

    def test_3_generated_variants(self):
        for i, args in enumerate(VARIANTS):
            path = os.path.join(self.dir, "v%d.pcap" % i)
            subprocess.run([MKCAPTURE] + args + [path], check=True, timeout=TIMEOUT)
            for opts in ([], ["--no-defrag"]):
                rc, ev, err = run(opts + ["-r", path])
                self.assertEqual(rc, 0, err)
                self.valid(ev, "%s %s" % (args, opts))

    def test_4_every_common_event_type_was_checked(self):
        # the runs above produce each of these; the rare ones (drops under
        # memory pressure) are covered by the schema's own definitions
        want = {"flow", "login", "presence", "switchboard", "message", "invitation", "expectation",
                "expectation_hit", "expectation_miss", "expectation_dropped", "file", "anomaly", "stats"}
        self.assertLessEqual(want, Schema.seen)
        self.assertLessEqual(Schema.seen, set(eventschema.SCHEMA["$defs"]))

    def test_5_schema_refuses(self):
        with open(os.path.join(CAPTURES, "seed.jsonl")) as f:
            events = [json.loads(l) for l in f if l.strip()]
        flow = next(e for e in events if e["event"] == "flow")
        bad = []
        for mutate in (lambda e: e.pop("uid"), lambda e: e.pop("community_id"),
                       lambda e: e.update(community_id="1:short="), lambda e: e.update(sport="1863"),
                       lambda e: e.update(undocumented=1), lambda e: e.update(event="flows"),
                       lambda e: e.update(ts="2002-03-24 07:39:37")):
            e = copy.deepcopy(flow)
            mutate(e)
            bad.append(e)
        for e in bad:
            self.assertNotEqual(eventschema.problems([e]), [], e)

    def test_6_prose_documents_the_schema(self):
        # docs/msnsniff.md's paragraph of each event names every field of its
        # schema definition and every value of its enums (a few fields refer
        # to another event's list: "as above"), and the schema has no event,
        # field or value the prose does not describe
        with open(os.path.join(os.path.dirname(eventschema.SCHEMA_PATH), "msnsniff.md")) as f:
            doc = f.read()
        section = doc[doc.index("## Event schema"):doc.index("## Tests")]
        paragraphs = {}
        for p in re.split(r"\n(?=\*\*[a-z_]+\*\* — )", section)[1:]:
            paragraphs[re.match(r"\*\*([a-z_]+)\*\*", p).group(1)] = set(re.findall(r"`([^`]+)`", p))
        defs = eventschema.SCHEMA["$defs"]
        events = eventschema.SCHEMA["properties"]["event"]["enum"]
        self.assertEqual(sorted(paragraphs), sorted(events))
        elsewhere = {("invitation", "direction"): "message", ("expectation_dropped", "transport"): "expectation",
                     ("expectation_hit", "transport"): "expectation", ("expectation_miss", "transport"): "expectation"}

        def fields(d):
            if "$ref" in d:
                d = defs[d["$ref"].split("/")[-1]]
            out = dict(d.get("properties", {}))
            for k in ("allOf", "oneOf", "anyOf"):
                for x in d.get(k, []):
                    out.update(fields(x))
            return out

        for ev in events:
            for name, prop in fields(defs[ev]).items():
                self.assertIn(name, paragraphs[ev] | {"event", "ts"}, "%s.%s not in docs/msnsniff.md" % (ev, name))
                for value in prop.get("enum", []):
                    if isinstance(value, str):
                        where = paragraphs[elsewhere.get((ev, name), ev)]
                        self.assertIn(value, where, "%s.%s value %s not in docs/msnsniff.md" % (ev, name, value))
        # anomaly kinds: exactly those the prose lists
        anomaly = re.search(r"\*\*anomaly\*\* — `kind` \((.*?)\), `flow` \*optional\*", section, re.S).group(1)
        listed = set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^()]*\)", "", anomaly)))
        self.assertEqual(set(defs["anomaly"]["properties"]["kind"]["enum"]), listed)


if __name__ == "__main__":
    unittest.main(verbosity=1)
