#!/usr/bin/env bash
# Runs every fuzz target in BUILD for SECONDS each, starting from the seed
# corpus in fuzz/corpus/<name>/ (every target's, fuzz_<name>.c wherever it
# lives) (read-only here; new inputs go to
# BUILD/corpus/<name>/). Crashes are saved under fuzz/artifacts/ and make
# the run fail; copy a reproducer into fuzz/corpus/<name>/ once fixed, and
# the replay tests keep it as a regression test.
set -euo pipefail
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-20}
ROOT=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$ROOT/artifacts"
# Targets run side by side, one per CPU (FUZZ_JOBS): each is one process.
JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
RESULTS=$(mktemp -d)
trap 'rm -rf "$RESULTS"' EXIT

run_target() {  # bin name seeds work: the exit status goes to $RESULTS/name
  local rc=0
  "$1" -max_total_time="$SECONDS_EACH" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$ROOT/artifacts/$2-" -print_final_stats=1 "$4" "$3" 2>"$ROOT/artifacts/$2.log" || rc=$?
  echo "$rc" > "$RESULTS/$2"
}

names=()
for bin in $(find "$BUILD" -type f -name 'fuzz_*' -perm -u+x | sort); do
  name=$(basename "$bin"); name=${name#fuzz_}
  seeds="$ROOT/corpus/$name"
  work="$BUILD/corpus/$name"
  mkdir -p "$seeds" "$work"
  names+=("$name")
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  echo "fuzz: $name for ${SECONDS_EACH}s (seeds $(ls "$seeds" | wc -l) files)"
  run_target "$bin" "$name" "$seeds" "$work" &
done
wait
if [ "${#names[@]}" -eq 0 ]; then echo "fuzz: no targets found in $BUILD" >&2; exit 1; fi
status=0
for name in "${names[@]}"; do
  if [ "$(cat "$RESULTS/$name" 2>/dev/null || echo 1)" != 0 ]; then
    echo "fuzz: $name FAILED; see fuzz/artifacts/$name.log and the crash-* files beside it" >&2
    # What the target said just before it died (its own check's message)
    # sits above the stack trace; show it, then the crash's summary.
    grep -B 6 -m 1 -E '^==[0-9]+== ?ERROR' "$ROOT/artifacts/$name.log" | grep -v -E '^#[0-9]+' >&2 || true
    tail -n 12 "$ROOT/artifacts/$name.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$ROOT/artifacts/$name.log" | sed "s/^/fuzz: $name /"
  fi
done
exit $status
