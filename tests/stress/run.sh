#!/usr/bin/env bash
# tests/stress/run.sh BUILD_DIR - the robustness suite (`make stress`).
# msnd under hostile clients while real users chat, kill -9 durability of
# ADD/REM/REA, msnsniff on adversarial captures within --memcap.
# Writes bench/results/stress.json. STRESS_SHORT=1 runs the CI-sized version.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "stress: no build directory $1" >&2; exit 2; }
[ -x "$BUILD/src/msnd/msnd" ] || { echo "stress: msnd not built in $BUILD" >&2; exit 2; }
mkdir -p "$ROOT/bench/results"
args=(--msnd "$BUILD/src/msnd/msnd" --json "$ROOT/bench/results/stress.json")
[ -x "$BUILD/src/msnsniff/msnsniff" ] && args+=(--msnsniff "$BUILD/src/msnsniff/msnsniff")
[ -x "$BUILD/bench/gen-capture" ] && args+=(--gen-capture "$BUILD/bench/gen-capture")
[ "${STRESS_SHORT:-0}" = 1 ] && args+=(--short)
ulimit -n "$(ulimit -Hn)" 2>/dev/null
exec timeout 900 python3 "$ROOT/tests/stress/stress.py" "${args[@]}"
