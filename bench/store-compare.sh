#!/usr/bin/env bash
# bench/store-compare.sh BUILD_DIR - msnd on SQLite vs PostgreSQL, one node
# and two nodes sharing presence: logins/s and presence changes/s.
#
# Starts a throw-away PostgreSQL server (tests/integration/lib/pgtest.py,
# needs the `postgresql` package; root runs it as the postgres user) and
# re-runs itself inside it. Prints one JSON object per run on stdout.
# Knobs: BENCH_SECONDS (3), STORE_USERS (10000), CLIQUE (10).
# Everything listens on 127.0.0.1 and is stopped by PID.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd) || exit 2
if [ -z "${MSND_TEST_PG_URL:-}" ]; then
  exec python3 "$ROOT/tests/integration/lib/pgtest.py" bash "$0" "$BUILD"
fi
SECS=${BENCH_SECONDS:-3}
USERS=${STORE_USERS:-10000}
CLIQUE=${CLIQUE:-10}
MSND=$BUILD/src/msnd/msnd
BENCH=$BUILD/bench/msnbench
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; sleep 0.2; rm -rf "$TMP"; }
trap cleanup EXIT
log() { printf '[store-compare] %s\n' "$*" >&2; }
wait_file() { for _ in $(seq 1 200); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
ulimit -n 65536 2>/dev/null

# one node: all roles in one process
start_one() {  # start_one DB
  rm -f "$TMP/p1"
  "$MSND" --listen 127.0.0.1:0 --db "$1" --port-file "$TMP/p1" --log-level error --max-commands-per-second 0 \
    --max-connections-per-address 0 --max-connections 0 >"$TMP/msnd1.log" 2>&1 &
  PIDS=($!)
  wait_file "$TMP/p1" || { log "msnd did not start: $(tail -2 "$TMP/msnd1.log")"; return 1; }
  SERVER=$(sed -n 's/^ds=//p' "$TMP/p1"); SPID=${PIDS[0]}
}
# two notification nodes (each with its switchboard) sharing presence, and a DS
start_two() {  # start_two DB
  rm -f "$TMP"/p*
  local l1=$((20000 + RANDOM % 20000)) l2
  l2=$((l1 + 1))
  "$MSND" --role ns,sb --listen 127.0.0.1:0 --link-listen 127.0.0.1:$l1 --ns-peers 127.0.0.1:$l2 --db "$1" \
    --port-file "$TMP/pa" --log-level error --max-commands-per-second 0 --max-connections-per-address 0 \
    --max-connections 0 >"$TMP/a.log" 2>&1 &
  PIDS=($!)
  "$MSND" --role ns,sb --listen 127.0.0.1:0 --link-listen 127.0.0.1:$l2 --ns-peers 127.0.0.1:$l1 --db "$1" \
    --port-file "$TMP/pb" --log-level error --max-commands-per-second 0 --max-connections-per-address 0 \
    --max-connections 0 >"$TMP/b.log" 2>&1 &
  PIDS+=($!)
  wait_file "$TMP/pa" && wait_file "$TMP/pb" || { log "nodes did not start"; return 1; }
  local na nb
  na=$(sed -n 's/^ns=//p' "$TMP/pa"); nb=$(sed -n 's/^ns=//p' "$TMP/pb")
  "$MSND" --role ds --listen 127.0.0.1:0 --ns-nodes "$na,$nb" --port-file "$TMP/pd" --log-level error \
    --max-commands-per-second 0 --max-connections-per-address 0 --max-connections 0 >"$TMP/d.log" 2>&1 &
  PIDS+=($!)
  wait_file "$TMP/pd" || return 1
  SERVER=$(sed -n 's/^ds=//p' "$TMP/pd"); SPID=${PIDS[0]}
  sleep 0.5  # the peer links
}
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; PIDS=(); }

SQLITE_DB=$TMP/msnd.db
"$BENCH" populate --db "$SQLITE_DB" --users "$USERS" --clique "$CLIQUE" >&2
"$BENCH" populate --db "$MSND_TEST_PG_URL" --users "$USERS" --clique "$CLIQUE" >&2
for nodes in one two; do
  for backend in sqlite postgresql; do
    db=$SQLITE_DB; [ $backend = postgresql ] && db=$MSND_TEST_PG_URL
    label="$backend-$nodes"
    log "$label: logins/s"
    start_$nodes "$db" || exit 1
    timeout 60 "$BENCH" login --server "$SERVER" --server-pid "$SPID" --users "$USERS" --concurrency 128 \
      --duration "$SECS" --label "$label" --json
    stop_all
    log "$label: presence changes/s"
    start_$nodes "$db" || exit 1
    timeout 180 "$BENCH" presence --server "$SERVER" --server-pid "$SPID" --users 2000 --clique "$CLIQUE" \
      --inflight 64 --duration "$SECS" --fractions 0.5 --label "$label" --json
    stop_all
  done
done
