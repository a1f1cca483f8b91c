#!/usr/bin/env bash
# bench/run.sh BUILD_DIR - every benchmark, bounded in time, on this machine.
#
# Called by `make bench` after a Release build; builds nothing itself.
# Writes bench/results/latest.json and prints a table (bench/report.py).
# Knobs (environment): BENCH_SECONDS (per measured phase, 3), CAPTURE_MB
# (analyzer capture size, 1024), ANALYZER_RUNS (rounds of the analyzer
# comparison, 3), DENSE_SESSIONS (sessions of the all-MSN capture, 6000),
# FT_MB (file transfer size, 256),
# BENCH_ONLY (space-separated subset of: codec server peer escargot analyzer dense ft gate),
# GATE_INVITATIONS (msngate benchmark invitations per mode, 1000),
# GATE_MODE_SECONDS (at most this long per msngate mode, 100),
# BENCH_PIN=1 (server benchmarks: the server on CPU 0, msnbench on CPU 1),
# SYSCALL_SECONDS (server benchmarks: the window after the measured ones in
# which the server's system calls per operation are counted, 1; 0: none),
# LOGIN_ROUNDS (msnd's NS login runs; CPU per login is their median, 3),
# ESCARGOT_DIR (a checkout of Escargot's msn-server: the server peer, run in
# a network namespace; ESCARGOT_PYTHON, /usr/bin/python3, ESCARGOT_PYTHONPATH
# extra module directories, bench/peers/escargot by default; see BENCHMARKS.md).
# Every server it starts listens on 127.0.0.1 only and is stopped by PID.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "bench: no build directory $1" >&2; exit 2; }
SECS=${BENCH_SECONDS:-3}
CAPTURE_MB=${CAPTURE_MB:-1024}
ANALYZER_RUNS=${ANALYZER_RUNS:-3}
FT_MB=${FT_MB:-256}
DENSE_SESSIONS=${DENSE_SESSIONS:-6000}
SYSCALL_SECS=${SYSCALL_SECONDS:-1}
LOGIN_ROUNDS=${LOGIN_ROUNDS:-3}
ONLY=${BENCH_ONLY:-"codec server escargot peer analyzer dense ft gate"}

BIN_CODEC=$BUILD/bench/codec
BIN_BENCH=$BUILD/bench/msnbench
BIN_GEN=$BUILD/bench/gen-capture
BIN_LOOP=$BUILD/bench/pcap-loop
MSND=$BUILD/src/msnd/msnd
MSNC=$BUILD/src/msnc/msnc
SNIFF=$BUILD/src/msnsniff/msnsniff
PEER=$ROOT/bench/peers/pymsnp.py

# Big files live in RAM when there is room: the analyzer comparison is about
# CPU, not the disk, and the tools all read the same page-cached bytes.
if [ -d /dev/shm ] && [ "$(df -Pm /dev/shm | awk 'NR==2{print $4}')" -gt $((CAPTURE_MB + FT_MB * 3 + 512)) ]; then
  TMP=$(mktemp -d /dev/shm/msnkit-bench.XXXXXX)
else
  mkdir -p "$ROOT/bench/results/tmp"
  TMP=$(mktemp -d "$ROOT/bench/results/tmp/run.XXXXXX")
fi
RES=$TMP/res
mkdir -p "$RES" "$ROOT/bench/results"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  sleep 0.2
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
  [ -n "${ESC_NS:-}" ] && ip netns del "$ESC_NS" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T0=$(date +%s)
log() { printf '[bench %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
na() { printf '{"available":false,"reason":"%s"}\n' "$1" > "$RES/$2.json"; log "$2: not available ($1)"; }
want() { case " $ONLY " in *" $1 "*) return 0;; esac; return 1; }

# bench-only tools, installed from Debian when missing (never needed to build or test)
apt_install() {  # apt_install PACKAGE: a Debian package the benchmarks' peers need (root only)
  [ "$(id -u)" = 0 ] || return 1
  log "installing $1 (bench only)"
  if [ -z "${APT_UPDATED:-}" ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null 2>&1
}

need_pkg() {  # need_pkg COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  apt_install "$2" || return 1
  command -v "$1" >/dev/null 2>&1
}

need_pymod() {  # need_pymod PYTHON MODULE PACKAGE: a Python module from Debian, for a peer
  "$1" -c "import $2" >/dev/null 2>&1 && return 0
  apt_install "$3" || return 1
  "$1" -c "import $2" >/dev/null 2>&1
}

# msnbench counts the server's system calls through the raw_syscalls
# tracepoint, which needs tracefs; a fresh machine may not have it mounted
if [ "$(id -u)" = 0 ] && [ ! -d /sys/kernel/tracing/events/raw_syscalls ] && [ -d /sys/kernel/tracing ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null && log "mounted tracefs on /sys/kernel/tracing (system call counts)"
fi

wait_file() { for _ in $(seq 1 100); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }

# ---------------------------------------------------------------- machine
python3 - > "$RES/machine.json" <<'EOF'
import json, os, platform, subprocess
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception: return ""
cpu = sh("lscpu | sed -n 's/^Model name: *//p' | head -1")
mem = sh("awk '/MemTotal/{printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
print(json.dumps({"cpu": cpu, "nproc": os.cpu_count(), "ram": mem, "kernel": platform.release(),
                  "nofile_limit": sh("ulimit -Hn"), "bench_pin": os.environ.get("BENCH_PIN", "0"), "date": sh("date -u +%Y-%m-%dT%H:%M:%SZ"),
                  "commit": sh("git -C '%s' rev-parse --short HEAD" % os.getcwd())}))
EOF

# ------------------------------------------------------------------ codec
if want codec; then
  if [ -x "$BIN_CODEC" ]; then
    log "codec"
    timeout 120 "$BIN_CODEC" --json --seconds 1 > "$RES/codec.json" || na "codec run failed" codec
  else na "bench/codec not built" codec; fi
fi

# ----------------------------------------------------------------- server
USERS=20000
CLIQUE=10
# sessions are bounded by the open-file limit (server and generator each need one fd per session)
NOFILE=$(ulimit -Hn)
ulimit -n "$NOFILE" 2>/dev/null
MAX_SESSIONS=$(( NOFILE - 600 ))
[ "$MAX_SESSIONS" -gt 50000 ] && MAX_SESSIONS=50000
[ "$MAX_SESSIONS" -gt "$USERS" ] && MAX_SESSIONS=$USERS

# Off by default: on a shared machine a pinned process cannot move away from
# someone else's build, which hurt as often as it helped in trials.
PIN_SRV=(); PIN_GEN=()
if [ "${BENCH_PIN:-0}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  PIN_SRV=(taskset -c 0); PIN_GEN=(taskset -c 1)
  log "server benchmarks pinned: server on CPU 0, msnbench on CPU 1"
fi
SRV_PID=""
IN_NS=()  # the generator's prefix when the server runs in its own network namespace (Escargot)
start_msnd() {
  rm -f "$TMP/msnd.ports"
  "${PIN_SRV[@]}" "$MSND" --listen 127.0.0.1:0 --db "$TMP/msnd.db" --port-file "$TMP/msnd.ports" --log-level error \
    --max-commands-per-second 0 --max-connections-per-address 0 --max-connections 0 \
    >"$TMP/msnd.log" 2>&1 &
  SRV_PID=$!
  PIDS+=("$SRV_PID")
  wait_file "$TMP/msnd.ports" || { log "msnd did not start: $(tail -3 "$TMP/msnd.log")"; return 1; }
  SERVER=$(sed -n 's/^ds=//p' "$TMP/msnd.ports")
  SRV_ARGS=(--server "$SERVER" --server-pid "$SRV_PID")
}
start_peer() {
  rm -f "$TMP/peer.ports"
  "${PIN_SRV[@]}" python3 "$PEER" --port-file "$TMP/peer.ports" --clique "$CLIQUE" >"$TMP/peer.log" 2>&1 &
  SRV_PID=$!
  PIDS+=("$SRV_PID")
  wait_file "$TMP/peer.ports" || { log "peer did not start"; return 1; }
  SERVER=$(sed -n 's/^ns=//p' "$TMP/peer.ports")
  SRV_ARGS=(--server "$SERVER" --server-pid "$SRV_PID" --no-dispatch)
}
# Escargot (ESCARGOT_DIR, see BENCHMARKS.md) listens on 0.0.0.0 at fixed
# ports 1863 (NS) and 1864 (SB): it runs in a network namespace of its own
# whose only interface is loopback, and msnbench runs in it too. Each start
# gets a fresh copy of the database populated once by msnbench.
ESC_NS=""
start_escargot() {
  cp "$TMP/escargot/template.sqlite" "$TMP/escargot/msn.sqlite" || return 1
  (cd "$ESCARGOT_DIR" && PYTHONPATH="$TMP/escargot:$ESCARGOT_DIR${ESCARGOT_PYTHONPATH:+:$ESCARGOT_PYTHONPATH}" \
     exec "${PIN_SRV[@]}" ip netns exec "$ESC_NS" "$ESCARGOT_PYTHON" run_all.py >"$TMP/escargot.log" 2>&1) &
  SRV_PID=$!
  PIDS+=("$SRV_PID")
  for _ in $(seq 1 100); do
    ip netns exec "$ESC_NS" ss -ltn 2>/dev/null | grep -q ':1864 ' && break; sleep 0.1
  done
  ip netns exec "$ESC_NS" ss -ltn 2>/dev/null | grep -q ':1864 ' || { log "Escargot did not start: $(tail -3 "$TMP/escargot.log")"; return 1; }
  SRV_ARGS=(--server 127.0.0.1:1863 --server-pid "$SRV_PID" --no-dispatch --sb-server 127.0.0.1:1864)
}
stop_server() { [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; SRV_PID=""; }

run_suite() {  # run_suite NAME START_FN
  local name=$1 start=$2 HOLDS PRESENCE_USERS SB_USERS SB_PAIRS LOGIN_CONC LOGIN_SECS
  # users online during the presence phase (all logged in first, within
  # 6 x BENCH_SECONDS) and in the switchboard phase: Escargot logs in
  # 50-100 users a second here, so it gets fewer (same cliques of 10, so
  # the same fan-out per change)
  PRESENCE_USERS=5000 SB_USERS=1000 SB_PAIRS=500
  [ "$name" = escargot ] && PRESENCE_USERS=300 SB_USERS=200 SB_PAIRS=100
  # Escargot serves logins one at a time: 16 in flight rather than 128 (its
  # rate is the same, its queue shorter) and a longer window, so a busy
  # machine still sees logins complete in it
  LOGIN_CONC=128 LOGIN_SECS=$SECS
  [ "$name" = escargot ] && LOGIN_CONC=16 LOGIN_SECS=$((SECS * 2))
  log "$name: logins/s"
  $start || { na "server did not start" "${name}_login"; return; }
  timeout 90 "${IN_NS[@]}" "${PIN_GEN[@]}" "$BIN_BENCH" login "${SRV_ARGS[@]}" --users "$USERS" --concurrency "$LOGIN_CONC" --duration "$LOGIN_SECS" \
    --count-syscalls "$SYSCALL_SECS" \
    --label "$name" --json > "$RES/${name}_login.json" || na "login run failed" "${name}_login"
  stop_server
  if [ "$name" = msnd ]; then  # at the NS itself, as the peers (which have no DS) are measured
    # LOGIN_ROUNDS runs, each on a fresh msnd: on a shared machine the CPU
    # per login moves by up to a quarter from one 3 s window to the next, so the
    # report takes the median of the rounds (the first is the one whose
    # rate is compared with the peers)
    local r out
    for r in $(seq 1 "$LOGIN_ROUNDS"); do
      log "$name: logins/s at the NS (no dispatch step), round $r of $LOGIN_ROUNDS"
      $start || return
      out=$RES/${name}_login_ns.json
      [ "$r" = 1 ] || out=$RES/${name}_login_ns_round$r.json
      timeout 60 "${PIN_GEN[@]}" "$BIN_BENCH" login --server "$(sed -n 's/^ns=//p' "$TMP/msnd.ports")" --server-pid "$SRV_PID" \
        --no-dispatch --users "$USERS" --concurrency 128 --duration "$SECS" --count-syscalls "$SYSCALL_SECS" --label "$name" \
        --json > "$out" || na "login run failed" "$(basename "$out" .json)"
      stop_server
    done
  fi
  # Escargot logs in about a hundred users a second here: holding 10 000
  # would take minutes, and its RSS is not what it is compared on
  [ "$name" = escargot ] && HOLDS=() || HOLDS=(10000 "$MAX_SESSIONS")
  for n in "${HOLDS[@]}"; do
    log "$name: $n sessions held"
    $start || break
    timeout 120 "${PIN_GEN[@]}" "$BIN_BENCH" hold "${SRV_ARGS[@]}" --users "$n" --concurrency 256 --duration 10 \
      --label "$name" --json > "$RES/${name}_hold_$n.json" || na "hold run failed" "${name}_hold_$n"
    stop_server
  done
  # One process holds at most `ulimit -Hn` sessions; beyond that, measure
  # the way a deployment scales: several NS processes behind one DS.
  if [ "$name" = msnd ] && [ "$MAX_SESSIONS" -lt 50000 ]; then
    log "$name: 50000 sessions held by 4 NS processes (bench/hold-cluster.sh)"
    timeout 300 bash "$ROOT/bench/hold-cluster.sh" "$BUILD" 50000 4 > "$RES/${name}_hold_cluster.json" \
      || na "hold-cluster run failed" "${name}_hold_cluster"
    log "$name: the same with the NS processes sharing presence (--ns-peers)"
    PEERS=1 timeout 300 bash "$ROOT/bench/hold-cluster.sh" "$BUILD" 50000 4 > "$RES/${name}_hold_cluster_peers.json" \
      || na "hold-cluster run with shared presence failed" "${name}_hold_cluster_peers"
  fi
  log "$name: presence fan-out"
  $start || return
  timeout 180 "${IN_NS[@]}" "${PIN_GEN[@]}" "$BIN_BENCH" presence "${SRV_ARGS[@]}" --users "$PRESENCE_USERS" --clique "$CLIQUE" --inflight 64 \
    --count-syscalls "$SYSCALL_SECS" \
    --duration "$SECS" --fractions 0.25,0.5,0.75 --label "$name" --json > "$RES/${name}_presence.json" \
    || na "presence run failed" "${name}_presence"
  stop_server
  log "$name: switchboard relay"
  $start || return
  timeout 180 "${IN_NS[@]}" "${PIN_GEN[@]}" "$BIN_BENCH" sb "${SRV_ARGS[@]}" --users "$SB_USERS" --pairs "$SB_PAIRS" --window 16 --duration "$SECS" \
    --count-syscalls "$SYSCALL_SECS" \
    --fractions 0.1,0.25,0.5 --unbatched-fractions 0.25,0.5 --label "$name" --json > "$RES/${name}_sb.json" || na "sb run failed" "${name}_sb"
  stop_server
}

if want server; then
  if [ -x "$MSND" ] && [ -x "$BIN_BENCH" ]; then
    log "server: $USERS accounts in cliques of $CLIQUE"
    "$MSND" user add --create --db "$TMP/msnd.db" seed@bench.test seedpw >/dev/null &&
      "$BIN_BENCH" populate --db "$TMP/msnd.db" --users "$USERS" --clique "$CLIQUE" --json > "$RES/populate.json"
    run_suite msnd start_msnd
  else na "msnd or msnbench not built" msnd_login; fi
fi
if want escargot; then
  ESCARGOT_PYTHON=${ESCARGOT_PYTHON:-/usr/bin/python3}
  # Escargot's Python dependencies, all Debian packages, and the stand-in
  # for the one that is not (bench/peers/escargot/HLL.py)
  ESCARGOT_PYTHONPATH=${ESCARGOT_PYTHONPATH:-$ROOT/bench/peers/escargot}
  esc_deps_missing=""
  if [ -n "${ESCARGOT_DIR:-}" ]; then
    for dep in aiohttp:python3-aiohttp sqlalchemy:python3-sqlalchemy lxml:python3-lxml jinja2:python3-jinja2 \
               PIL:python3-pil markupsafe:python3-markupsafe cryptography:python3-cryptography; do
      need_pymod "$ESCARGOT_PYTHON" "${dep%%:*}" "${dep#*:}" || esc_deps_missing="$esc_deps_missing ${dep#*:}"
    done
  fi
  if [ -z "${ESCARGOT_DIR:-}" ]; then na "ESCARGOT_DIR not set (see BENCHMARKS.md)" escargot_login
  elif [ -n "$esc_deps_missing" ]; then na "Escargot's dependencies could not be installed:$esc_deps_missing" escargot_login
  elif [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then na "needs root and ip(8) for its network namespace" escargot_login
  elif [ ! -x "$BIN_BENCH" ]; then na "msnbench not built" escargot_login
  else
    mkdir -p "$TMP/escargot"
    printf "DB = 'sqlite:///%s'\nSTATS_DB = 'sqlite:///%s'\n" "$TMP/escargot/msn.sqlite" "$TMP/escargot/stats.sqlite" \
      > "$TMP/escargot/settings_local.py"
    ESC_NS="msnkit-bench-esc-$$"
    if ! ip netns add "$ESC_NS" || ! ip netns exec "$ESC_NS" ip link set lo up; then na "could not create a network namespace" escargot_login
    elif ! (cd "$ESCARGOT_DIR" && PYTHONPATH="$TMP/escargot:$ESCARGOT_DIR${ESCARGOT_PYTHONPATH:+:$ESCARGOT_PYTHONPATH}" \
             "$ESCARGOT_PYTHON" cmd/dbcreate.py) >"$TMP/escargot.log" 2>&1; then
      na "Escargot's cmd/dbcreate.py failed: $(tail -1 "$TMP/escargot.log")" escargot_login
    else
      log "escargot: $USERS accounts in cliques of $CLIQUE (Escargot's schema)"
      "$BIN_BENCH" populate --store escargot --db "$TMP/escargot/msn.sqlite" --users "$USERS" --clique "$CLIQUE" --json \
        > "$RES/escargot_populate.json"
      mv "$TMP/escargot/msn.sqlite" "$TMP/escargot/template.sqlite"
      # `ip netns exec` mounts a sysfs of the namespace's own, without
      # tracefs: the generator mounts it there (in that mount namespace
      # only) to count the server's system calls (--count-syscalls)
      IN_NS=(ip netns exec "$ESC_NS" sh -c 'mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; exec "$@"' sh)
      run_suite escargot start_escargot
      IN_NS=()
    fi
    ip netns del "$ESC_NS" 2>/dev/null
  fi
fi
if want peer; then
  if [ -x "$BIN_BENCH" ] && command -v python3 >/dev/null; then run_suite peer start_peer
  else na "python3 or msnbench missing" peer_login; fi
fi

# --------------------------------------------------------------- analyzer
timed() {  # timed NAME TIMEOUT CMD... : appends "wall-seconds peak-RSS-KiB user-s system-s" of one run of CMD to $RES/NAME.time
  local name=$1 to=$2 s e rc; shift 2
  # the last round's output (450 MB of events on the dense capture) is
  # removed before the clock starts, not truncated by the redirection
  # inside the measured time
  rm -f "$TMP/$name.out"
  # and what earlier runs wrote is on disk before the clock starts: the
  # kernel writing back one tool's output (450 MB of events) while the
  # next tool runs would land in that tool's time
  sync -f "$TMP" 2>/dev/null || sync
  s=$(date +%s.%N)
  /usr/bin/time -f '%M %U %S' -o "$TMP/$name.rss" timeout "$to" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
  e=$(date +%s.%N)
  echo "$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }') $(tail -n 1 "$TMP/$name.rss" 2>/dev/null || echo 0)" >> "$RES/$name.time"
  # the worst exit status of the runs is the one reported
  if [ ! -s "$RES/$name.rc" ] || [ "$(cat "$RES/$name.rc")" = 0 ]; then echo "$rc" > "$RES/$name.rc"; fi
}
# analyze NAME: the tools take turns on $TMP/NAME.pcap, ANALYZER_RUNS rounds,
# and each one's fastest run counts: a slow moment of this shared machine
# then hits every tool alike instead of deciding a ratio. tshark (the
# slowest, 15-25 s a run on either capture) is bounded at 240 s a run; it
# takes its turn in every round like the others: one run of it lands
# anywhere in a range of a third of its time (14.6-19.8 s in one run's
# three rounds), which would decide the ratio instead of the tools.
# Results go to $RES/NAME_TOOL.*.
# With a second argument "own", only the bare loop and msnsniff run (the
# pcapng copy of a capture: what is measured there is msnsniff's reading).
analyze() {
  local cap=$1 f=$TMP/$1.pcap peers=1
  [ "${2:-}" = own ] && peers=0
  cat "$f" > /dev/null  # page cache, as for every tool below
  rm -f "$RES/${cap}"_{pcap_loop,msnsniff,msgsnarf,tshark}.{time,rc,na}
  [ $have_msgsnarf = 1 ] || echo "dsniff could not be installed" > "$RES/${cap}_msgsnarf.na"
  [ $have_tshark = 1 ] || echo "tshark could not be installed" > "$RES/${cap}_tshark.na"
  [ -x "$SNIFF" ] || echo "msnsniff not built" > "$RES/${cap}_msnsniff.na"
  for round in $(seq 1 "$ANALYZER_RUNS"); do
    log "analyzer ($cap): round $round of $ANALYZER_RUNS: bare libpcap loop, msnsniff (all events as JSON, full reassembly)$([ $peers = 1 ] && echo ", msgsnarf, tshark -Y msnms")"
    timed "${cap}_pcap_loop" 300 "$BIN_LOOP" "$f" --json
    [ -x "$SNIFF" ] && timed "${cap}_msnsniff" 300 "$SNIFF" -r "$f" --memcap 512M --no-progress --summary
    [ $peers = 1 ] || continue
    [ $have_msgsnarf = 1 ] && timed "${cap}_msgsnarf" 300 msgsnarf -p "$f"
    [ $have_tshark = 1 ] && timed "${cap}_tshark" 240 tshark -n -r "$f" -Y msnms
  done
  cp "$TMP/${cap}_pcap_loop.out" "$RES/${cap}_pcap_loop.json" 2>/dev/null
  if [ -x "$SNIFF" ]; then
    grep -c '^{' "$TMP/${cap}_msnsniff.out" > "$RES/${cap}_msnsniff.events" 2>/dev/null
    grep -E '^  (packets|flows|logins|switchboard|invitations|connections|files|gaps|memory)' "$TMP/${cap}_msnsniff.out" \
      > "$RES/${cap}_msnsniff.summary"
  fi
  if [ $peers = 1 ]; then
    [ $have_msgsnarf = 1 ] && wc -l < "$TMP/${cap}_msgsnarf.out" > "$RES/${cap}_msgsnarf.events"
    [ $have_tshark = 1 ] && wc -l < "$TMP/${cap}_tshark.out" > "$RES/${cap}_tshark.events"
  fi
  rm -f "$f" "$TMP/${cap}"_*.out
}
if want analyzer || want dense; then
  [ -x /usr/bin/time ] || need_pkg /usr/bin/time time || log "GNU time could not be installed: analyzer RSS unavailable"
  have_msgsnarf=0; have_tshark=0
  need_pkg msgsnarf dsniff && have_msgsnarf=1
  need_pkg tshark tshark && have_tshark=1
  if [ ! -x "$BIN_GEN" ]; then
    na "gen-capture not built (needs msnsynth)" capture
    na "gen-capture not built (needs msnsynth)" dense_capture
  else
    if want analyzer; then
      log "analyzer: generating the mixed capture (${CAPTURE_MB} MB, 30 % MSN)"
      if "$BIN_GEN" --out "$TMP/mixed.pcap" --size "$CAPTURE_MB" > "$RES/capture.json"; then analyze mixed
      else na "gen-capture failed" capture; fi
    fi
    if want dense; then
      log "analyzer: generating the dense capture ($DENSE_SESSIONS sessions, all MSN)"
      if "$BIN_GEN" --out "$TMP/dense.pcap" --dense "$DENSE_SESSIONS" > "$RES/dense_capture.json"; then analyze dense
      else na "gen-capture --dense failed" dense_capture; fi
      # the same packets as pcapng, which libpcap reads block by block and
      # msnsniff in place, as classic files
      log "analyzer: the dense capture as pcapng"
      if "$BIN_GEN" --out "$TMP/dense_ng.pcap" --dense "$DENSE_SESSIONS" --pcapng > "$RES/dense_ng_capture.json"; then
        analyze dense_ng own
      else na "gen-capture --dense --pcapng failed" dense_ng_capture; fi
    fi
  fi
fi

# ---------------------------------------------------------- file transfer
if want ft; then
  if [ -x "$MSNC" ] && need_pkg socat socat; then
    log "file transfer: ${FT_MB} MiB, msnc MSNFTP vs socat, best of 3"
    head -c $((FT_MB << 20)) /dev/urandom > "$TMP/ft.bin"
    : > "$RES/ft.txt"
    for i in 1 2 3; do
      rm -rf "$TMP/rx"; mkdir -p "$TMP/rx"
      port=$((17000 + RANDOM % 20000))
      timeout 60 "$MSNC" ftp-send --cookie 4242 --bind-ip 127.0.0.1 --ports "$port-$((port + 9))" "$TMP/ft.bin" \
        > "$TMP/send.out" 2>&1 &
      sp=$!; PIDS+=("$sp")
      for _ in $(seq 1 100); do grep -q listening "$TMP/send.out" 2>/dev/null && break; sleep 0.02; done
      lport=$(sed -n 's/.*"listening".*"port":\([0-9]*\).*/\1/p' "$TMP/send.out")
      s=$(date +%s.%N)
      timeout 60 "$MSNC" ftp-recv --host 127.0.0.1 --port "$lport" --email bench@bench.test --cookie 4242 \
        --dir "$TMP/rx" --name out.bin > /dev/null 2>&1
      e=$(date +%s.%N)
      wait "$sp" 2>/dev/null
      ok=0; cmp -s "$TMP/ft.bin" "$TMP/rx/out.bin" && ok=1
      echo "msnc $s $e $ok" >> "$RES/ft.txt"
      rm -rf "$TMP/rx"; mkdir -p "$TMP/rx"
      port=$((17000 + RANDOM % 20000))
      socat -u "OPEN:$TMP/ft.bin,rdonly" "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" &
      sp=$!; PIDS+=("$sp")
      sleep 0.2
      s=$(date +%s.%N)
      timeout 60 socat -u "TCP:127.0.0.1:$port" "CREATE:$TMP/rx/out.bin" 2>/dev/null
      e=$(date +%s.%N)
      wait "$sp" 2>/dev/null
      ok=0; cmp -s "$TMP/ft.bin" "$TMP/rx/out.bin" && ok=1
      echo "socat $s $e $ok" >> "$RES/ft.txt"
    done
    echo "$((FT_MB << 20))" > "$RES/ft.size"
    rm -f "$TMP/ft.bin"; rm -rf "$TMP/rx"
  else na "msnc not built or socat missing" ft; fi
fi

# msngate: element commit cost by library, then the namespace gateway (root only)
if want gate; then
  if [ "$(id -u)" = 0 ] && [ -x "$BUILD/bench/gate_commit" ] && [ -x "$BUILD/src/msngate/msngate" ]; then
    log "gate: element commit, libnftnl/libmnl vs libnftables"
    ns=msnkit-gc-$$
    ip netns add "$ns" && timeout 120 ip netns exec "$ns" "$BUILD/bench/gate_commit" 2000 > "$RES/gate_commit.json" \
      || na "gate_commit failed" gate_commit
    ip netns del "$ns" 2>/dev/null
    log "gate: ${GATE_INVITATIONS:-1000} invitations per mode through the namespace gateway"
    timeout 600 python3 "$ROOT/bench/gate_bench.py" "$BUILD" --invitations "${GATE_INVITATIONS:-1000}" \
      --mode-seconds "${GATE_MODE_SECONDS:-100}" \
      --seconds "$SECS" > "$RES/gate.json" || na "gate_bench failed" gate
  else na "needs root and msngate" gate; fi
fi

log "report"
python3 "$ROOT/bench/report.py" "$RES" "$ROOT/bench/results/latest.json"
rc=$?
log "done in $(( $(date +%s) - T0 )) s"
exit $rc
