#!/usr/bin/env bash
# bench/server-cost.sh BUILD_DIR MODE MSND [MSND...] - server cost per operation.
# Each MSND is a binary, optionally with msnd options in the same word:
# "build/src/msnd/msnd --login-cache-mb 128" runs that binary with them.
#
# For comparing msnd binaries (e.g. before and after a change) in the same
# minutes on a shared machine, where throughput moves by tens of percent
# between runs but the server's CPU time and system calls per operation do
# not. Each binary gets a fresh copy of one populated database (20 000
# accounts, cliques of 10), a fresh process on 127.0.0.1 port 0, and one
# msnbench run; the binaries take turns ROUNDS times (2).
#   MODE: login | presence | sb
# Prints per run: operations, rate, server CPU per operation (utime+stime
# from /proc over msnbench's measured windows, and each apart) and system
# calls per operation (msnbench --count-syscalls: counted in a window of
# their own after the measured ones, since counting slows every system
# call). Operations: logins; presence changes; relayed MSGs (all phases). Knobs: ROUNDS (2), BENCH_SECONDS (3); login only: NS_ONLY=1
# logs in at the notification port without the dispatch step (msnbench
# --no-dispatch), LOGIN_USERS (20 000) accounts take turns (fewer than the
# logins of a run: repeat logins, which msnd may answer from its cache).
set -u
BUILD=$(cd "${1:?usage: server-cost.sh BUILD MODE MSND...}" && pwd)
MODE=${2:?mode: login, presence or sb}
shift 2
[ $# -gt 0 ] || { echo "server-cost: name at least one msnd binary" >&2; exit 2; }
BENCH=$BUILD/bench/msnbench
ROUNDS=${ROUNDS:-2}
SECS=${BENCH_SECONDS:-3}
case $MODE in
  login) ARGS=(login --users "${LOGIN_USERS:-20000}" --concurrency 128 --duration "$SECS")
    [ "${NS_ONLY:-0}" = 1 ] && ARGS+=(--no-dispatch) ;;
  presence) ARGS=(presence --users 5000 --clique 10 --inflight 64 --duration "$SECS" --fractions 0.5) ;;
  sb) ARGS=(sb --users 1000 --pairs 500 --window 16 --duration "$SECS" --fractions 0.5) ;;
  *) echo "server-cost: unknown mode $MODE" >&2; exit 2 ;;
esac
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT

read -r -a first <<< "$1"
"${first[0]}" user add --create --db "$TMP/base.db" seed@bench.test seedpw >/dev/null || exit 1
"$BENCH" populate --db "$TMP/base.db" --users 20000 --clique 10 >/dev/null || exit 1

for round in $(seq 1 "$ROUNDS"); do
  for bin in "$@"; do
    cp "$TMP/base.db" "$TMP/run.db"
    rm -f "$TMP/ports" "$TMP/run.db-wal" "$TMP/run.db-shm"
    read -r -a cmd <<< "$bin"  # the binary and its options
    "${cmd[@]}" --listen 127.0.0.1:0 --db "$TMP/run.db" --port-file "$TMP/ports" --log-level error \
      --max-commands-per-second 0 --max-connections-per-address 0 --max-connections 0 >"$TMP/msnd.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 100); do [ -s "$TMP/ports" ] && break; sleep 0.05; done
    port_key=ds
    [ "$MODE" = login ] && [ "${NS_ONLY:-0}" = 1 ] && port_key=ns
    server=$(sed -n "s/^$port_key=//p" "$TMP/ports")
    [ -n "$server" ] || { echo "server-cost: $bin did not start: $(tail -2 "$TMP/msnd.log")" >&2; exit 1; }
    timeout 120 "$BENCH" "${ARGS[@]}" --server "$server" --server-pid "$pid" --count-syscalls "${SYSCALL_SECONDS:-1}" \
      --json > "$TMP/out.json"
    kill "$pid"; wait "$pid" 2>/dev/null
    python3 - "$TMP/out.json" "$MODE" "$bin" "$round" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
mode, name, rnd = sys.argv[2], sys.argv[3], sys.argv[4]
if mode == "login":
    n, cpu, ker = d["logins"], d["server_cpu_s"], d["server_sys_cpu_s"]
    rate = "%d logins/s" % d["logins_per_s"]
else:
    if mode == "presence":
        ph = [d["closed"]] + d["open"]
        ops = lambda p: p["achieved_changes_per_s"] * p["seconds"]
        rate = "%d changes/s closed, open p99 %.1f ms" % (d["closed"]["achieved_changes_per_s"],
                                                          d["open"][0]["latency"]["p99_us"] / 1000)
    else:
        ph = [d["closed"], d["closed_window1"]] + d["open"]
        ops = lambda p: p["count"]
        rate = "%d MSG/s window 16" % d["closed"]["achieved_msgs_per_s"]
    n = round(sum(ops(p) for p in ph))
    cpu, ker = sum(p["server_cpu_s"] for p in ph), sum(p["server_sys_cpu_s"] for p in ph)
n = max(n, 1)
sc = d.get("syscalls") or {}
sys_part = " %.1f syscalls/op" % sc["per_op"] if sc.get("ops") else " (system calls not counted: %s)" % sc.get("reason")
us = lambda t: t * 1e6 / n
print("round %s %-40s %8d ops  %s  server %.1f us/op (user %.1f + kernel %.1f)%s" % (
    rnd, name, n, rate, us(cpu), us(cpu - ker), us(ker), sys_part))
PY
  done
done
