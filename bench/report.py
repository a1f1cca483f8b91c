#!/usr/bin/env python3
"""report.py RESULT_DIR OUT_JSON - gather bench/run.sh's pieces into one JSON
document and print the table. A benchmark whose subject was missing or whose
run failed is reported as "not available", never as a number."""
import glob
import json
import os
import sys

res, out = sys.argv[1], sys.argv[2]


def load(name):
    p = os.path.join(res, name + ".json")
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read(name):
    try:
        with open(os.path.join(res, name)) as f:
            return f.read().strip()
    except OSError:
        return None


def ok(d):
    return isinstance(d, dict) and d.get("available", True) is not False


doc = {"machine": load("machine") or {}, "targets": {
    "codec_framing_mb_per_s": 1000, "logins_per_s": 20000, "rss_per_idle_session_bytes": 8192,
    "presence_p99_ms_at_half_peak": 2.0, "sb_relayed_msgs_per_s": 1000000, "sb_p99_ms_at_half_peak": 2.0,
    "analyzer_vs_pcap_loop": 0.5, "analyzer_vs_msgsnarf": 2.0, "analyzer_vs_tshark": 50.0, "ft_vs_raw": 0.8}}

# codec
doc["codec"] = load("codec") or {"available": False}

# server and peers: Escargot (when ESCARGOT_DIR was given) and the small
# Python server that is always available (the fallback)
for who in ("msnd", "escargot", "peer"):
    s = {}
    s["login"] = load(who + "_login") or {"available": False}
    if who == "msnd":  # logins at the NS itself, as the peers (which have no DS) are measured
        s["login_ns"] = load("msnd_login_ns") or {"available": False}
        # the same run repeated on a fresh msnd (run.sh LOGIN_ROUNDS): round 1 first
        s["login_ns_rounds"] = [s["login_ns"]] + [
            load(os.path.basename(p)[:-5]) or {"available": False}
            for p in sorted(glob.glob(os.path.join(res, "msnd_login_ns_round*.json")))]
    s["hold"] = [load(os.path.basename(p)[:-5]) for p in sorted(glob.glob(os.path.join(res, who + "_hold_*.json")))]
    s["presence"] = load(who + "_presence") or {"available": False}
    s["sb"] = load(who + "_sb") or {"available": False}
    doc[who] = s


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def per_op_us(d, ops_key=None, phase=None, cpu_key="server_cpu_s"):
    """Server CPU microseconds per operation: of a login run (logins), or of
    the closed-loop phase of a presence or sb run (changes, relayed MSGs).
    cpu_key server_sys_cpu_s (login runs): the kernel's share alone."""
    if not ok(d):
        return None
    src = d.get(phase) if phase else d
    if not isinstance(src, dict):
        return None
    cpu = src.get(cpu_key)
    if ops_key:
        ops = src.get(ops_key)
    else:  # a phase's count is of notifications or MSGs; its rate is of the operations
        rate = next((v for k, v in src.items() if k.startswith("achieved_") and k.endswith("_per_s")), None)
        ops = rate * src["seconds"] if isinstance(rate, (int, float)) and src.get("seconds") else None
    return round(cpu * 1e6 / ops, 1) if isinstance(cpu, (int, float)) and cpu >= 0 and ops else None


def syscalls_per_op(d):
    sc = d.get("syscalls") if ok(d) else None
    if not isinstance(sc, dict) or sc.get("available") is False or not sc.get("ops"):
        return None
    return round(sc["server_syscalls"] / sc["ops"], 2)


def median(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    return v[len(v) // 2] if len(v) % 2 else round((v[len(v) // 2 - 1] + v[len(v) // 2]) / 2, 1)


for who in ("msnd", "escargot", "peer"):
    s = doc[who]
    login_run = s.get("login_ns") if ok(s.get("login_ns")) else s["login"]
    # CPU per NS login: the median of msnd's rounds (one run for the peers)
    rounds = s.get("login_ns_rounds") or [login_run]
    s["login_cpu_us_rounds"] = [per_op_us(r, "logins") for r in rounds]
    s["server_cpu_us_per_op"] = {"login": median(s["login_cpu_us_rounds"]),
                                 "login_kernel": median(per_op_us(r, "logins", cpu_key="server_sys_cpu_s")
                                                        for r in rounds),
                                 "presence_change": per_op_us(s["presence"], phase="closed"),
                                 "relayed_msg": per_op_us(s["sb"], phase="closed")}
    # system calls per operation, from msnbench --count-syscalls: a window of
    # the same closed loop after the measured ones (counting slows every
    # system call, so the CPU figures above come from windows that did not count)
    s["server_syscalls_per_op"] = {k: syscalls_per_op(run) for k, run in
                                   (("login", login_run), ("presence_change", s["presence"]), ("relayed_msg", s["sb"]))}

m = doc["msnd"]
for peer in ("escargot", "peer"):
    p = doc[peer]
    mlogin = m["login_ns"] if ok(m.get("login_ns")) else m["login"]
    doc["ratios_msnd_over_" + peer] = {
        "logins_per_s": ratio(mlogin.get("logins_per_s"), p["login"].get("logins_per_s")),
        "sb_relayed_msgs_per_s": ratio((m["sb"].get("closed") or {}).get("achieved_msgs_per_s"),
                                       (p["sb"].get("closed") or {}).get("achieved_msgs_per_s")),
        "presence_changes_per_s": ratio((m["presence"].get("closed") or {}).get("achieved_changes_per_s"),
                                        (p["presence"].get("closed") or {}).get("achieved_changes_per_s")),
    }

# analyzer: the mixed capture (doc["analyzer"]) and the all-MSN one (doc["analyzer_dense"])
def analyzer(cap_json, prefix):
    cap = load(cap_json)
    an = {"capture": cap or {"available": False}}
    size = cap["bytes"] if ok(cap) else None
    packets = cap.get("packets") if ok(cap) else None
    for tool in ("pcap_loop", "msnsniff", "msgsnarf", "tshark"):
        t = read(prefix + tool + ".time")
        rc = read(prefix + tool + ".rc")
        nav = read(prefix + tool + ".na")
        if nav or t is None:
            an[tool] = {"available": False, "reason": nav or "not run"}
            continue
        try:  # one "seconds peak-KiB [user-s system-s]" line per round: the fastest run counts
            runs = [(float(x[0]), int(x[1]), float(x[2]) + float(x[3]) if len(x) >= 4 else None)
                    for x in (line.split() for line in t.splitlines() if line.strip())]
            secs, kib = min(r[0] for r in runs), max(r[1] for r in runs)
        except (ValueError, IndexError):
            an[tool] = {"available": False, "reason": "no timing"}
            continue
        e = {"seconds": round(secs, 3), "runs_seconds": [round(r[0], 3) for r in runs], "peak_rss_kib": kib,
             "exit": int(rc or -1)}
        # CPU (user + system, all threads) beside the wall time: on a machine
        # with few cores a multi-threaded tool's wall time is bounded by it
        if all(r[2] is not None for r in runs):
            e["cpu_seconds"] = round(min(runs)[2], 3)
            e["runs_cpu_seconds"] = [round(r[2], 3) for r in runs]
        if size:
            e["mb_per_s"] = round(size / max(secs, 0.01) / 1e6, 1)
        if packets:
            e["ns_per_packet"] = round(secs * 1e9 / packets, 1)
        ev = read(prefix + tool + ".events")
        if ev:
            e["output_lines"] = int(ev)
            if tool == "msnsniff" and int(ev):
                e["ns_per_event"] = round(secs * 1e9 / int(ev), 1)
        if tool == "tshark" and rc == "124":
            e["timed_out"] = True
        if tool == "msnsniff":
            e["summary"] = (read(prefix + "msnsniff.summary") or "").splitlines()
        an[tool] = e
    if ok(an.get("msnsniff")):
        s = an["msnsniff"]["seconds"]
        an["ratios"] = {"msnsniff_speed_vs_" + k: round(an[k]["seconds"] / s, 2)
                        for k in ("pcap_loop", "msgsnarf", "tshark") if ok(an.get(k)) and not an[k].get("timed_out")}
    return an


doc["analyzer"] = analyzer("capture", "mixed_")
doc["analyzer_dense"] = analyzer("dense_capture", "dense_")
# the dense capture's packets as pcapng: the bare loop and msnsniff only
doc["analyzer_dense_pcapng"] = analyzer("dense_ng_capture", "dense_ng_")
for t in ("msgsnarf", "tshark"):
    doc["analyzer_dense_pcapng"].pop(t, None)
dn, dp = doc["analyzer_dense_pcapng"].get("msnsniff"), doc["analyzer_dense"].get("msnsniff")
if ok(dn) and ok(dp):
    doc["analyzer_dense_pcapng"]["msnsniff_seconds_pcapng_over_pcap"] = round(dn["seconds"] / dp["seconds"], 2)

# file transfer
ft = read("ft.txt")
if ft:
    size = int(read("ft.size") or 0)
    best = {}
    for line in ft.splitlines():
        tool, s, e, good = line.split()
        d = float(e) - float(s)
        if good == "1" and (tool not in best or d < best[tool]):
            best[tool] = d
    doc["file_transfer"] = {"bytes": size, **{k: {"seconds": round(v, 3), "mb_per_s": round(size / v / 1e6, 1)}
                                              for k, v in best.items()}}
    if "msnc" in best and "socat" in best:
        doc["file_transfer"]["ratio_msnc_over_socat"] = round(best["socat"] / best["msnc"], 2)
else:
    doc["file_transfer"] = load("ft") or {"available": False}

doc["gate_commit"] = load("gate_commit") or {"available": False}
doc["gateway"] = load("gate") or {"available": False}

with open(out, "w") as f:
    json.dump(doc, f, indent=1, sort_keys=False)
    f.write("\n")

# ---- table
NA = "not available"


def g(d, *path, fmt="{:.0f}"):
    for k in path:
        if not isinstance(d, dict) or k not in d or d[k] is None:
            return NA
        d = d[k]
    if isinstance(d, (int, float)) and d >= 0:
        return fmt.format(d)
    return NA


def open_note(o):
    """The generator's side of an open-loop phase: how far behind schedule
    its writes went out, how many were late, and the CPU each side used."""
    secs = o.get("seconds") or 0
    cpu = lambda k: "%.0f%%" % (100 * o[k] / secs) if secs and isinstance(o.get(k), (int, float)) and o[k] >= 0 else "?"
    return "send lag p99 %s us, late %s/%s, skipped %s; cpu gen %s srv %s machine %s" % (
        g(o, "send_lag", "p99_us"), g(o, "late_over_1ms"), g(o, "issued"), g(o, "skipped"), cpu("client_cpu_s"),
        cpu("server_cpu_s"), "%.0f%%" % (100 * o["machine_busy"]) if isinstance(o.get("machine_busy"), (int, float))
        and o["machine_busy"] >= 0 else "?")


rows = []
c = doc["codec"]
rows.append(("codec framing (client stream)", g(c, "framing_client", "mb_per_s") + " MB/s", "≥ 1000 MB/s", ""))
rows.append(("codec framing, 1460-byte reads", g(c, "segmented_client", "mb_per_s") + " MB/s", "", ""))
rows.append(("codec framing + MIME + invitations", g(c, "full_client", "mb_per_s") + " MB/s", "", ""))
rows.append(("codec items/s (framing)", g(c, "framing_client", "items_per_s"), "", ""))
rows.append(("codec allocations in hot loops", g(c, "allocs_in_hot_loops"), "0", ""))
def vs_peers(key):
    return "x%s Escargot, x%s pymsnp" % (doc["ratios_msnd_over_escargot"][key] or "?", doc["ratios_msnd_over_peer"][key] or "?")


for who in ("msnd", "escargot", "peer"):
    s = doc[who]
    tag = {"msnd": "msnd", "escargot": "Escargot", "peer": "pymsnp peer (fallback)"}[who]
    if who == "escargot" and not ok(s["login"]):
        rows.append(("Escargot", NA, "", s["login"].get("reason", "")))
        continue
    rows.append((tag + " logins/s" + (" (DS, XFR, NS)" if who == "msnd" else " (NS)"), g(s["login"], "logins_per_s"),
                 "≥ 20000" if who == "msnd" else "", ""))
    if who == "msnd":
        rows.append(("msnd logins/s at the NS (no DS, as the peers)", g(s["login_ns"], "logins_per_s"), "",
                     vs_peers("logins_per_s")))
    cpu = s["server_cpu_us_per_op"]
    rows.append((tag + " server CPU per NS login / presence change / relayed MSG",
                 "%s / %s / %s us" % tuple("?" if cpu[k] is None else cpu[k] for k in ("login", "presence_change", "relayed_msg")),
                 "≤ 60 / - / ≤ 1.5 us" if who == "msnd" else "",
                 ("login: kernel %s us" % cpu["login_kernel"] if cpu.get("login_kernel") is not None else "")
                 + ("; median of rounds %s us" % " / ".join("?" if x is None else str(x) for x in s["login_cpu_us_rounds"])
                    if len(s["login_cpu_us_rounds"]) > 1 else "")))
    sc = s["server_syscalls_per_op"]
    rows.append((tag + " server system calls per NS login / presence change / relayed MSG",
                 " / ".join("?" if sc[k] is None else str(sc[k]) for k in ("login", "presence_change", "relayed_msg")),
                 "", "counted in a window of their own"))
    for h in s["hold"]:
        if ok(h):
            where = " over %s NS processes" % h["ns_processes"] if h.get("mode") == "hold-cluster" else ""
            if h.get("shared_presence"):
                where += " sharing presence"
            rows.append(("%s RSS/session at %s online%s" % (tag, h.get("online"), where), g(h, "rss_per_session_bytes") + " B",
                         "≤ 8192 B at 50k" if who == "msnd" else "", ""))
    pr = s["presence"]
    rows.append((tag + " presence changes/s (closed)", g(pr, "closed", "achieved_changes_per_s"), "",
                 "%s notif/s" % g(pr, "peak_notifications_per_s") + ("; " + vs_peers("presence_changes_per_s") if who == "msnd" else "")))
    for o in pr.get("open") or []:
        rows.append(("  open %s changes/s: p50/p99" % g(o, "offered_per_s"),
                     "%s / %s" % (g(o, "latency", "p50_us", fmt="{:.0f}"), g(o, "latency", "p99_us", fmt="{:.0f}")) + " us",
                     "p99 < 2 ms at half" if who == "msnd" else "", open_note(o)))
    sb = s["sb"]
    rows.append((tag + " SB relayed MSG/s (window %s)" % sb.get("window", "?"), g(sb, "closed", "achieved_msgs_per_s"),
                 "≥ 1000000" if who == "msnd" else "",
                 vs_peers("sb_relayed_msgs_per_s") if who == "msnd" else ""))
    rows.append(("  window 1: MSG/s, ACK p50/p99", "%s, %s / %s us" % (
        g(sb, "closed_window1", "achieved_msgs_per_s"), g(sb, "closed_window1", "latency", "p50_us"),
        g(sb, "closed_window1", "latency", "p99_us")), "", ""))
    for o in sb.get("open") or []:
        rows.append(("  open %s MSG/s, %s per write: ACK p50/p99" % (g(o, "offered_per_s"), g(o, "burst")),
                     "%s / %s us" % (g(o, "latency", "p50_us"), g(o, "latency", "p99_us")),
                     "p99 < 2 ms at half" if who == "msnd" else "", open_note(o)))
    for o in sb.get("open_unbatched") or []:
        rows.append(("  open %s MSG/s, 1 per write (of window-1 peak): ACK p50/p99" % g(o, "offered_per_s"),
                     "%s / %s us" % (g(o, "latency", "p50_us"), g(o, "latency", "p99_us")), "", open_note(o)))
    rows.append((tag + " RSS per SB session", g(sb, "rss_per_sb_session_bytes") + " B", "", ""))
for key, label in (("analyzer", "mixed capture"), ("analyzer_dense", "dense capture (all MSN)"),
                   ("analyzer_dense_pcapng", "dense capture as pcapng")):
    an = doc[key]
    for tool in ("pcap_loop", "msnsniff", "msgsnarf", "tshark"):
        if tool not in an:
            continue
        t = an.get(tool, {})
        if ok(t):
            per = "%s ns/packet" % g(t, "ns_per_packet", fmt="{:.0f}")
            if "cpu_seconds" in t:
                per += ", CPU %.2f s of %.2f s" % (t["cpu_seconds"], t["seconds"])
            if tool == "msnsniff":
                per += ", %s ns/event (%s events)" % (g(t, "ns_per_event", fmt="{:.0f}"), g(t, "output_lines"))
            rows.append(("analyzer, %s: %s" % (label, tool), "%s MB/s, peak RSS %.0f MiB" % (
                g(t, "mb_per_s", fmt="{:.1f}"), t["peak_rss_kib"] / 1024), "", "timed out" if t.get("timed_out") else per))
        else:
            rows.append(("analyzer, %s: %s" % (label, tool), NA, "", t.get("reason", "")))
    targets = {"msnsniff_speed_vs_pcap_loop": "≥ 0.5", "msnsniff_speed_vs_msgsnarf": "≥ 2",
               "msnsniff_speed_vs_tshark": "≥ 50"} if key != "analyzer_dense_pcapng" else {}
    for k, v in (an.get("ratios") or {}).items():
        rows.append(("  " + k, "x%s" % v, targets.get(k, ""), ""))
    if "msnsniff_seconds_pcapng_over_pcap" in an:
        rows.append(("  msnsniff seconds, pcapng / pcap", "x%s" % an["msnsniff_seconds_pcapng_over_pcap"], "",
                     "the same packets"))
ft = doc["file_transfer"]
rows.append(("file transfer msnc MSNFTP", g(ft, "msnc", "mb_per_s", fmt="{:.0f}") + " MB/s", "", ""))
rows.append(("file transfer socat (raw TCP)", g(ft, "socat", "mb_per_s", fmt="{:.0f}") + " MB/s", "", ""))
rows.append(("  ratio msnc / socat", g(ft, "ratio_msnc_over_socat", fmt="{:.2f}"), "≥ 0.8", ""))
gc, gw = doc["gate_commit"], doc["gateway"]
for lib in ("libnftnl_libmnl", "libnftables"):
    rows.append(("msngate element commit, %s p50/p99" % lib, "%s / %s us" % (g(gc, lib, "p50_us", fmt="{:.1f}"),
                                                                          g(gc, lib, "p99_us", fmt="{:.1f}")), "", ""))
for mode in ("passive", "passive_realtime", "inline"):
    m = gw.get(mode) if isinstance(gw, dict) else None
    rows.append(("msngate %s: arrival -> element p50/p99" % mode, "%s / %s us" % (
        g(m, "commit_latency_us", "p50"), g(m, "commit_latency_us", "p99")), "p99 ≤ 1000 us", ""))
    rows.append(("msngate %s: first SYN accepted" % mode, g(m, "first_syn_accepted_pct", fmt="{:.2f}") + " %",
                 "100 %" if mode == "inline" else "≥ 99 %", "%s invitations%s" % (
                     g(m, "invitations"), " (time budget spent)" if isinstance(m, dict) and m.get("budget_spent") else "")))
ic = gw.get("inline_cost") if isinstance(gw, dict) else None
rows.append(("msngate inline: added RTT per control round trip p50/p99", "%s / %s us" % (
    g(ic, "added_rtt_us_p50", fmt="{:.1f}"), g(ic, "added_rtt_us_p99", fmt="{:.1f}")), "", "2 queued packets per round trip"))
rows.append(("msngate inline: queued packets/s (stream)", g(ic, "inline", "stream_queued_packets_per_s"), "",
             "bytes/s %s vs %s without queue" % (g(ic, "inline", "stream_bytes_per_s"), g(ic, "base", "stream_bytes_per_s"))))

w = max(len(r[0]) for r in rows)
print("%-*s  %-32s %-20s %s" % (w, "benchmark", "result", "target", "note"))
for r in rows:
    print("%-*s  %-32s %-20s %s" % (w, r[0], r[1], r[2], r[3]))
print("\nfull results: %s" % out)
