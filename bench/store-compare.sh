#!/usr/bin/env bash
# bench/store-compare.sh BUILD_DIR - msnd on SQLite vs PostgreSQL, one node
# and two nodes sharing presence: logins/s, presence changes/s and list
# writes/s (ADD FL / REM FL), and the server CPU per operation (msnd's, and
# PostgreSQL's own).
#
# Starts a throw-away PostgreSQL server (tests/integration/lib/pgtest.py,
# needs the `postgresql` package; root runs it as the postgres user) and
# re-runs itself inside it. Prints one JSON object per run on stdout
# (msnbench's: server_cpu_s is every msnd process of the run, store_cpu_s
# PostgreSQL's processes) and a summary table on stderr.
# Knobs: MSND_BIN (the msnd to measure, e.g. an older build's; msnbench is
# BUILD's), BENCH_SECONDS (3), STORE_USERS (10000), CLIQUE (10), INFLIGHT (64:
# presence changes or list writes outstanding in the closed loop), SHUFFLE (unset; 1: users
# change in a shuffled order, not clique by clique: msnbench --shuffle), RUNS (1: the
# whole matrix is repeated), BACKENDS ("sqlite postgresql"), NODES ("one two"),
# NODE_CPU_QUOTA (unset: nodes unconfined, one node is all roles in one
# process). NODE_CPU_QUOTA=30 gives each notification node a fixed
# capacity: its own CPU cgroup with a quota of 30 % of one CPU (cgroup v2
# cpu.max, or the v1 cpu controller's CFS quota where v2 has no cpu
# controller), pinned with taskset to the CPUs of NODE_CPUS in turn
# (default "0 1": node 1 on CPU 0, node 2 on CPU 1); the DS runs apart,
# unconfined, for one node as for two. PostgreSQL and the load generator
# are not confined. The cgroups are made under /sys/fs/cgroup with this
# script's PID in their names and removed at exit (needs root).
# PHASES ("login presence lists"): which measurements each run makes.
# MIXED_WRITES=K: while presence is measured, a second msnbench writes lists
# (ADD FL / REM FL, K outstanding) of other accounts (from index 4000 on,
# 2000 of them), so the presence figures show what other accounts' list
# changes cost the nodes' cached watchers; its own figures are in the JSON
# with the label's suffix "+writes".
# PG_STATEMENTS=1: PostgreSQL loads pg_stat_statements, and after each phase
# on PostgreSQL the statements that took most of its time are listed on
# stderr (calls and ms per operation of the phase).
# Everything listens on 127.0.0.1 and is stopped by PID.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd) || exit 2
if [ -z "${MSND_TEST_PG_URL:-}" ]; then
  [ -n "${PG_STATEMENTS:-}" ] && export PGTEST_STATEMENTS=1
  exec python3 "$ROOT/tests/integration/lib/pgtest.py" bash "$0" "$BUILD"
fi
SECS=${BENCH_SECONDS:-3}
USERS=${STORE_USERS:-10000}
CLIQUE=${CLIQUE:-10}
INFLIGHT=${INFLIGHT:-64}
SHUFFLE_ARG=()
[ -n "${SHUFFLE:-}" ] && SHUFFLE_ARG=(--shuffle)
RUNS=${RUNS:-1}
PHASES=${PHASES:-login presence lists}
MIXED=${MIXED_WRITES:-}
phase() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }
# the sum of every account's list version: an ADD FL or REM FL adds 2 (owner and contact)
versions_sum() {
  case $1 in
    postgresql://*) psql "$1" -Atc "SELECT sum(version) FROM users" ;;
    *) python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT sum(version) FROM users").fetchone()[0])' "$1" ;;
  esac
}
BACKENDS=${BACKENDS:-sqlite postgresql}
NODES=${NODES:-one two}
QUOTA=${NODE_CPU_QUOTA:-}
read -r -a CPUS <<<"${NODE_CPUS:-0 1}"
MSND=${MSND_BIN:-$BUILD/src/msnd/msnd}
BENCH=$BUILD/bench/msnbench
TMP=$(mktemp -d)
PIDS=()
CGROUPS=()
stop_all() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; PIDS=(); }
cleanup() {
  stop_all
  sleep 0.2
  for d in "${CGROUPS[@]:-}"; do [ -n "$d" ] && rmdir "$d" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
log() { printf '[store-compare] %s\n' "$*" >&2; }
wait_file() { for _ in $(seq 1 400); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
ulimit -n 65536 2>/dev/null
COMMON=(--log-level error --max-commands-per-second 0 --max-connections-per-address 0 --max-connections 0)

# ---- CPU cgroups, one per notification node ----
CG_KIND=
if [ -n "$QUOTA" ]; then
  case $QUOTA in '' | *[!0-9]* | 0) log "NODE_CPU_QUOTA is a whole percentage of one CPU (1-100)"; exit 2 ;; esac
  if grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    CG_KIND=v2 CG_ROOT=/sys/fs/cgroup
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu >/sys/fs/cgroup/cgroup.subtree_control || exit 1
  elif [ -w /sys/fs/cgroup/cpu/cgroup.procs ]; then
    CG_KIND=v1 CG_ROOT=/sys/fs/cgroup/cpu
  else
    log "no CPU cgroup controller to write to (cgroup v2 cpu or v1 cpu; root needed)"
    exit 1
  fi
  for i in 0 1; do
    d=$CG_ROOT/msnd-bench-$$-node$((i + 1))
    mkdir "$d" || exit 1
    CGROUPS+=("$d")
    if [ $CG_KIND = v2 ]; then
      echo "$((QUOTA * 1000)) 100000" >"$d/cpu.max" || exit 1
    else
      echo 100000 >"$d/cpu.cfs_period_us" && echo $((QUOTA * 1000)) >"$d/cpu.cfs_quota_us" || exit 1
    fi
  done
  log "nodes confined: $QUOTA % of one CPU each (cgroup $CG_KIND), pinned to CPUs ${CPUS[*]}"
fi

# start_node I DB ARGS...: notification node I (0 or 1), confined when asked
start_node() {
  local i=$1 db=$2
  shift 2
  if [ -n "$CG_KIND" ]; then
    local cpu=${CPUS[$((i % ${#CPUS[@]}))]}
    # enter the cgroup first, so msnd never runs outside it
    bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec taskset -c "$0" "$@"' "$cpu" "${CGROUPS[$i]}" \
      "$MSND" --db "$db" "$@" "${COMMON[@]}" >"$TMP/node$i.log" 2>&1 &
  else
    "$MSND" --db "$db" "$@" "${COMMON[@]}" >"$TMP/node$i.log" 2>&1 &
  fi
  PIDS+=($!)
}

start_ds() {  # start_ds NS-ADDRS
  "$MSND" --role ds --listen 127.0.0.1:0 --ns-nodes "$1" --port-file "$TMP/pd" "${COMMON[@]}" >"$TMP/d.log" 2>&1 &
  PIDS+=($!)
  wait_file "$TMP/pd" || { log "DS did not start: $(tail -2 "$TMP/d.log")"; return 1; }
  SERVER=$(sed -n 's/^ds=//p' "$TMP/pd")
}

# one node: all roles in one process, or (confined) a node behind a DS
start_one() {  # start_one DB
  rm -f "$TMP"/p*
  if [ -z "$CG_KIND" ]; then
    start_node 0 "$1" --listen 127.0.0.1:0 --port-file "$TMP/p1"
    wait_file "$TMP/p1" || { log "msnd did not start: $(tail -2 "$TMP/node0.log")"; return 1; }
    SERVER=$(sed -n 's/^ds=//p' "$TMP/p1")
  else
    start_node 0 "$1" --role ns,sb --listen 127.0.0.1:0 --port-file "$TMP/p1"
    wait_file "$TMP/p1" || { log "msnd did not start: $(tail -2 "$TMP/node0.log")"; return 1; }
    start_ds "$(sed -n 's/^ns=//p' "$TMP/p1")" || return 1
  fi
  SPID=${PIDS[0]}
}
# two notification nodes (each with its switchboard) sharing presence, and a DS
start_two() {  # start_two DB
  rm -f "$TMP"/p*
  local l1=$((20000 + RANDOM % 20000)) l2
  l2=$((l1 + 1))
  start_node 0 "$1" --role ns,sb --listen 127.0.0.1:0 --link-listen 127.0.0.1:$l1 --ns-peers 127.0.0.1:$l2 \
    --port-file "$TMP/pa"
  start_node 1 "$1" --role ns,sb --listen 127.0.0.1:0 --link-listen 127.0.0.1:$l2 --ns-peers 127.0.0.1:$l1 \
    --port-file "$TMP/pb"
  wait_file "$TMP/pa" && wait_file "$TMP/pb" ||
    { log "nodes did not start: $(tail -1 "$TMP/node0.log") / $(tail -1 "$TMP/node1.log")"; return 1; }
  start_ds "$(sed -n 's/^ns=//p' "$TMP/pa"),$(sed -n 's/^ns=//p' "$TMP/pb")" || return 1
  SPID=${PIDS[0]}
  sleep 0.5  # the peer links
}
# a second try with other link ports when a start fails (a port taken meanwhile)
start_again() { start_"$1" "$2" && return 0; stop_all; start_"$1" "$2"; }
pids_csv() { local IFS=,; echo "${PIDS[*]}"; }

PG_PID=$(head -1 "$MSND_TEST_PG_DIR/data/postmaster.pid" 2>/dev/null)
pg_sql() { psql -X -q -At -h "$MSND_TEST_PG_DIR" -p "$MSND_TEST_PG_PORT" -U postgres -d unit -c "$1"; }
# statements_reset BACKEND / statements_top BACKEND: around a phase (PG_STATEMENTS)
statements_reset() {
  [ -n "${PG_STATEMENTS:-}" ] && [ "$1" = postgresql ] || return 0
  pg_sql "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" && pg_sql "SELECT pg_stat_statements_reset()" >/dev/null
}
statements_top() {
  [ -n "${PG_STATEMENTS:-}" ] && [ "$1" = postgresql ] || return 0
  local ops
  ops=$(tail -1 "$OUT" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); c=r.get("closed",r); print(c.get("count") or c.get("logins") or round(c.get("achieved_changes_per_s",0)*c.get("seconds",0)) or 1)')
  log "statements of $2, per operation ($ops operations): calls, ms of PostgreSQL's time"
  pg_sql "SELECT round(calls::numeric / $ops, 2) || ' ' || round((total_exec_time / $ops)::numeric, 4) || ' ' ||
          regexp_replace(left(query, 110), '\s+', ' ', 'g') FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'unit')
          ORDER BY total_exec_time DESC LIMIT 10" >&2
}
SQLITE_DB=$TMP/msnd.db
"$BENCH" populate --db "$SQLITE_DB" --users "$USERS" --clique "$CLIQUE" >&2
"$BENCH" populate --db "$MSND_TEST_PG_URL" --users "$USERS" --clique "$CLIQUE" >&2
OUT=$TMP/results.jsonl
for run in $(seq 1 "$RUNS"); do
  for nodes in $NODES; do
    for backend in $BACKENDS; do
      db=$SQLITE_DB store=()
      [ $backend = postgresql ] && db=$MSND_TEST_PG_URL store=(--store-pid "$PG_PID")
      label="$backend-$nodes"
      if phase login; then
        log "run $run, $label: logins/s ($(cut -d' ' -f1-3 /proc/loadavg))"
        start_again "$nodes" "$db" || exit 1
        timeout 120 "$BENCH" login --server "$SERVER" --server-pid "$SPID" --cpu-pids "$(pids_csv)" "${store[@]}" \
          --users "$USERS" --concurrency 128 --duration "$SECS" --label "$label" --json | tee -a "$OUT"
        stop_all
      fi
      if phase presence; then
        log "run $run, $label: presence changes/s${MIXED:+ with list writes of other accounts} ($(cut -d' ' -f1-3 /proc/loadavg))"
        start_again "$nodes" "$db" || exit 1
        WPID=
        if [ -n "$MIXED" ]; then
          # runs until stopped; its logins are done before presence starts
          timeout 300 "$BENCH" lists --server "$SERVER" --first 4000 --users 2000 --clique "$CLIQUE" --inflight "$MIXED" \
            --duration 240 --label "$label+writes" --json >"$TMP/writes.json" 2>"$TMP/writes.err" &
          WPID=$!
          sleep 2
          v0=$(versions_sum "$db") t0=$(date +%s.%N)
        fi
        timeout 300 "$BENCH" presence --server "$SERVER" --server-pid "$SPID" --cpu-pids "$(pids_csv)" "${store[@]}" \
          --users 2000 --clique "$CLIQUE" --inflight "$INFLIGHT" "${SHUFFLE_ARG[@]}" --duration "$SECS" --fractions 0.5 --label "$label" --json |
          tee -a "$OUT"
        if [ -n "$WPID" ]; then
          v1=$(versions_sum "$db") t1=$(date +%s.%N)
          kill "$WPID" 2>/dev/null
          wait "$WPID" 2>/dev/null
          w=$(python3 -c 'import sys; print("%.0f" % ((int(sys.argv[2]) - int(sys.argv[1])) / 2 / (float(sys.argv[4]) - float(sys.argv[3]))))' \
            "$v0" "$v1" "$t0" "$t1")
          log "run $run, $label: $w list writes/s of other accounts while presence ran"
          echo "{\"mode\": \"writes_during_presence\", \"label\": \"$label\", \"writes_per_s\": $w}" | tee -a "$OUT"
        fi
        stop_all
      fi
      if phase lists; then
        log "run $run, $label: list writes/s ($(cut -d' ' -f1-3 /proc/loadavg))"
        start_again "$nodes" "$db" || exit 1
        statements_reset $backend
        timeout 300 "$BENCH" lists --server "$SERVER" --server-pid "$SPID" --cpu-pids "$(pids_csv)" "${store[@]}" \
          --users 2000 --clique "$CLIQUE" --inflight "$INFLIGHT" --duration "$SECS" --label "$label" --json |
          tee -a "$OUT"
        stop_all
        statements_top $backend "$label lists"
      fi
    done
  done
done

# Summary: each run's rates and the server CPU per operation (ms of CPU;
# msnd = every msnd process of the run, PostgreSQL = its own processes).
python3 - "$OUT" >&2 <<'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("mode") == "login":
        ops, cpu, db = r["logins"], r.get("server_cpu_s", -1), r.get("store_cpu_s", -1)
        rate, p99 = r["logins_per_s"], r["latency"]["p99_us"] / 1000.0
    elif r.get("mode") == "lists":
        c = r["closed"]
        ops, cpu, db = c["count"], c["server_cpu_s"], c.get("store_cpu_s", -1)
        rate, p99 = c["achieved_writes_per_s"], c["latency"]["p99_us"] / 1000.0
    elif r.get("mode") == "presence":
        c = r["closed"]
        ops, cpu, db = c["achieved_changes_per_s"] * c["seconds"], c["server_cpu_s"], c.get("store_cpu_s", -1)
        rate = c["achieved_changes_per_s"]
        p99 = c["latency"]["p99_us"] / 1000.0
    else:
        continue
    ms = lambda t: "-" if t is None or t < 0 or not ops else "%.3f" % (1000.0 * t / ops)
    rows.setdefault(r["label"], []).append((r["mode"], rate, p99, ms(cpu), ms(db)))
print("%-16s %-8s %10s %10s %14s %14s" % ("run", "mode", "ops/s", "p99 ms", "msnd ms/op", "postgres ms/op"))
for label, lst in rows.items():
    for mode, rate, p99, a, b in lst:
        print("%-16s %-8s %10.0f %10s %14s %14s" % (label, mode, rate, "-" if p99 is None else "%.1f" % p99, a, b))
EOF
