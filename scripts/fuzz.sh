#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan+UBSan, build dir
# build/fuzz) and runs each for SECONDS (default 60) on a temporary copy of
# its committed seed corpus (fuzz/corpus/<target>/, never grown by this
# script).  Prints each target's execution count; fails loudly on a crash,
# sanitizer report, leak, timeout or out-of-memory, keeping the input that
# caused it under build/fuzz/artifacts/.
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2; }
command -v clang >/dev/null || { echo "fuzz.sh: clang is not installed (scripts/install_deps.sh test)" >&2; exit 2; }

dir=build/fuzz
targets=(fuzz_idx fuzz_idx_gzfile fuzz_idx_deflate fuzz_checkpoint fuzz_json fuzz_safetensors)
echo "== cgrad fuzz: $dir, ${secs}s per target =="
CC=clang cmake -S fuzz -B "$dir" -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}" >/dev/null

# Temp files (corpus copies, the harnesses' own files) on tmpfs when there
# is one: the checkpoint round trip fsyncs.
base=/dev/shm
[[ -d $base && -w $base ]] || base=${TMPDIR:-/tmp}
tmp=$(mktemp -d "$base/cgrad-fuzz.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
artifacts=$PWD/$dir/artifacts # this run's failing inputs only
rm -rf "$artifacts"
mkdir -p "$artifacts"

run_target() { # name: runs it, output in $tmp/name.log, exit status in $tmp/name.rc
  local t=$1
  mkdir -p "$tmp/$t.tmp"
  cp -r "fuzz/corpus/$t" "$tmp/$t.corpus"
  set +e
  TMPDIR="$tmp/$t.tmp" \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$dir/$t" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$artifacts/$t-" "$tmp/$t.corpus" \
      >"$tmp/$t.log" 2>&1
  echo $? >"$tmp/$t.rc"
  set -e
}

# One target per core at a time (libFuzzer runs single-threaded).
jobs=$(nproc)
for t in "${targets[@]}"; do
  while (( $(jobs -rp | wc -l) >= jobs )); do wait -n || true; done
  run_target "$t" &
  pids+=($!)
done
wait

failed=()
for t in "${targets[@]}"; do
  rc=$(cat "$tmp/$t.rc")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t.log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$tmp/$t.log" | tail -1 || true)
  # libFuzzer exits non-zero on crash, leak, timeout and OOM; also catch a
  # sanitizer report that did not change the exit status.
  if [[ $rc != 0 ]] || grep -qE '^==[0-9]+==ERROR|^SUMMARY: |runtime error:|ERROR: libFuzzer' "$tmp/$t.log"; then
    failed+=("$t")
    echo "---- $t FAILED (exit $rc): libFuzzer output ----"
    tail -n 80 "$tmp/$t.log"
    echo "---- $t: inputs kept in $artifacts (reproduce: $dir/$t <file>) ----"
    ls -1 "$artifacts" | grep "^$t-" || true
  else
    printf '%-18s executions: %-10s %s\n' "$t" "${execs:-?}" "$cov"
  fi
done
if (( ${#failed[@]} )); then
  echo "fuzz.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "== fuzzing found nothing =="
