#!/usr/bin/env bash
# bench/hold-cluster.sh BUILD_DIR [SESSIONS] [NODES] - idle sessions beyond
# one process's open-file limit.
#
# One process can hold at most `ulimit -Hn` connections (20 000 on the
# machines this project is measured on, and raising it needs privileges the
# container does not give). So SESSIONS users are spread the way a deployment
# spreads them: one dispatch process (--role ds) hands out NODES notification
# processes (--role ns,sb, all on one SQLite database) by e-mail hash, and
# NODES msnbench processes log in a share of the accounts each and hold them.
# Once every session is online, the script reads each server process's VmRSS
# and reports the sum of the increases divided by the sessions held.
# With PEERS=1 the notification processes also share presence (--ns-peers
# over --link-listen), as a deployment of several nodes does: each then
# holds every other node's visible users too.
# Prints one JSON object. Everything listens on 127.0.0.1 and is stopped by
# PID.
set -u
BUILD=$(cd "${1:-build}" && pwd) || exit 2
SESSIONS=${2:-50000}
NODES=${3:-4}
MSND=$BUILD/src/msnd/msnd
BENCH=$BUILD/bench/msnbench
HOLD_SECS=${HOLD_SECS:-15}
PEERS=${PEERS:-0}
TMP=$(mktemp -d /tmp/msnkit-cluster.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '[hold-cluster] %s\n' "$*" >&2; }
wait_file() { for _ in $(seq 1 200); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sockets() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null
LIMITS=(--max-commands-per-second 0 --max-connections-per-address 0 --max-connections 0 --log-level error)

log "populating $SESSIONS accounts"
"$MSND" user add --create --db "$TMP/msnd.db" seed@bench.test seedpw >/dev/null || exit 1
"$BENCH" populate --db "$TMP/msnd.db" --users "$SESSIONS" --clique 10 --json > "$TMP/populate.json" || exit 1

NS_PIDS=() NS_ADDRS=() LINK_PORTS=()
# Sockets of a node that are not client sessions: NS and SB listeners, and
# with PEERS=1 the link listener and one link each way per other node.
OVERHEAD=2
if [ "$PEERS" = 1 ]; then
  OVERHEAD=$(( 3 + 2 * (NODES - 1) ))
  # Each node must know the others' link ports before any of them starts.
  read -r -a LINK_PORTS <<< "$(python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$NODES")"
fi
for i in $(seq 1 "$NODES"); do
  PEER_ARGS=()
  if [ "$PEERS" = 1 ]; then
    others=()
    for j in $(seq 1 "$NODES"); do [ "$j" != "$i" ] && others+=("127.0.0.1:${LINK_PORTS[$((j - 1))]}"); done
    PEER_ARGS=(--link-listen "127.0.0.1:${LINK_PORTS[$((i - 1))]}" --ns-peers "$(IFS=,; echo "${others[*]}")")
  fi
  "$MSND" --role ns,sb --listen 127.0.0.1:0 --sb-listen 127.0.0.1:0 --db "$TMP/msnd.db" \
    --port-file "$TMP/ns$i.ports" "${LIMITS[@]}" "${PEER_ARGS[@]}" >"$TMP/ns$i.log" 2>&1 &
  NS_PIDS+=($!) PIDS+=($!)
  wait_file "$TMP/ns$i.ports" || { log "NS $i did not start: $(tail -2 "$TMP/ns$i.log")"; exit 1; }
  NS_ADDRS+=("$(sed -n 's/^ns=//p' "$TMP/ns$i.ports")")
done
NODE_LIST=$(IFS=,; echo "${NS_ADDRS[*]}")
"$MSND" --role ds --listen 127.0.0.1:0 --ns-nodes "$NODE_LIST" --db "$TMP/msnd.db" \
  --port-file "$TMP/ds.ports" "${LIMITS[@]}" >"$TMP/ds.log" 2>&1 &
DS_PID=$! PIDS+=($!)
wait_file "$TMP/ds.ports" || { log "DS did not start"; exit 1; }
DS=$(sed -n 's/^ds=//p' "$TMP/ds.ports")
sleep 0.3
RSS_BEFORE=0
for p in "${NS_PIDS[@]}" "$DS_PID"; do RSS_BEFORE=$(( RSS_BEFORE + $(rss_kib "$p") )); done

# The generators: each logs in its share of the accounts through the DS.
PER=$(( (SESSIONS + NODES - 1) / NODES ))
GEN_PIDS=()
for i in $(seq 0 $(( NODES - 1 ))); do
  first=$(( i * PER )); n=$PER
  [ $(( first + n )) -gt "$SESSIONS" ] && n=$(( SESSIONS - first ))
  timeout 300 "$BENCH" hold --server "$DS" --users "$n" --first "$first" --concurrency 200 \
    --duration 60 --keep "$HOLD_SECS" --sources 16 --label "gen$i" --json > "$TMP/gen$i.json" 2>"$TMP/gen$i.err" &
  GEN_PIDS+=($!) PIDS+=($!)
done

log "waiting for $SESSIONS sessions"
T0=$(date +%s.%N)
held=0 peak=0
for _ in $(seq 1 2400); do   # at most 240 s
  held=0
  for p in "${NS_PIDS[@]}"; do held=$(( held + $(sockets "$p") - OVERHEAD )); done
  [ "$held" -gt "$peak" ] && peak=$held
  [ "$held" -ge "$SESSIONS" ] && break
  alive=0
  for g in "${GEN_PIDS[@]}"; do kill -0 "$g" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.1
done
T1=$(date +%s.%N)
sleep 1   # let the last logins' buffers settle
RSS_AFTER=0 PER_NODE=()
for p in "${NS_PIDS[@]}" "$DS_PID"; do
  r=$(rss_kib "$p"); RSS_AFTER=$(( RSS_AFTER + r ))
done
for p in "${NS_PIDS[@]}"; do PER_NODE+=("$(( $(sockets "$p") - OVERHEAD )):$(rss_kib "$p")"); done
log "held $held sessions; waiting for the generators"
for g in "${GEN_PIDS[@]}"; do wait "$g"; done

python3 - "$TMP" "$SESSIONS" "$NODES" "$held" "$RSS_BEFORE" "$RSS_AFTER" "$T0" "$T1" "$PEERS" "${PER_NODE[@]}" <<'EOF'
import json, sys, glob, os
tmp, want, nodes, held, before, after, t0, t1, peers = sys.argv[1:10]
per_node = sys.argv[10:]
gens = []
for f in sorted(glob.glob(os.path.join(tmp, "gen*.json"))):
    try:
        gens.append(json.load(open(f)))
    except Exception:
        gens.append({"error": open(f.replace(".json", ".err")).read()[-300:]})
held, before, after = int(held), int(before), int(after)
out = {"mode": "hold-cluster", "label": "msnd", "sessions_wanted": int(want), "ns_processes": int(nodes),
       "shared_presence": peers == "1",
       "sessions_held": held, "online": held, "seconds_to_hold": round(float(t1) - float(t0), 2),
       "rss_before_kib": before, "rss_after_kib": after,
       "rss_per_session_bytes": round((after - before) * 1024 / held) if held else None,
       "per_node_sockets_rss_kib": per_node,
       "generators_online": sum(g.get("online", 0) for g in gens),
       "generator_errors": [g.get("errors", g.get("error")) for g in gens]}
print(json.dumps(out))
EOF
