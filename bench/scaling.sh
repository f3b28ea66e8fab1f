#!/usr/bin/env bash
# The scaling table: sae_epoch's epoch time and ratio to the GEMM floor for
# batch 16/64/256 (hidden 256) and hidden 256/1024/4096 (batch 64), with 1
# and 2 threads.  Usage: bench/scaling.sh [BUILD_DIR] [IMAGES]
# (IMAGES limits the epoch for the wide models; default 60000 for the batch
# rows, 10000 for the width rows).
set -euo pipefail
build=${1:-build/release}
images=${2:-}
bin="$build/bench/sae_epoch"
[[ -x "$bin" ]] || { echo "scaling.sh: $bin not built (cmake --build $build --target sae_epoch)" >&2; exit 1; }
printf "%-8s %-7s %-8s %-7s %-13s %-12s %s\n" threads batch hidden images epoch_s floor_s ratio
row() { # threads batch hidden limit
  out=$("$bin" --threads "$1" --batch "$2" --hidden "$3" --limit "$4" --repeat 2)
  get() { awk -v k="$1" '$1 == k {print $2}' <<<"$out"; }
  printf "%-8s %-7s %-8s %-7s %-13s %-12s %s\n" "$1" "$2" "$3" "$(get images)" "$(get epoch_seconds)" \
    "$(get gemm_floor_seconds)" "$(get ratio)"
}
for t in 1 2; do
  for b in 16 64 256; do row "$t" "$b" 256 "${images:-60000}"; done
  for h in 1024 4096; do row "$t" 64 "$h" "${images:-10000}"; done
done
