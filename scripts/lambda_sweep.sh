#!/usr/bin/env bash
# The sparsity / reconstruction trade-off of the sparse autoencoder: trains
# it once per Hardshrink lambda and writes
#   OUT/lambda_sweep.csv  lambda,test_mse,code_zero_frac (after the last epoch)
#   OUT/lambda_sweep.md   the same as a Markdown table
#   OUT/lambda_sweep.png  test MSE and fraction of zeros against lambda
# Each run's own outputs (pictures, metrics.csv) go to OUT/lambda_<value>/.
# Usage: scripts/lambda_sweep.sh [-b BUILD_DIR] [-o OUT] [LAMBDA...] [-- EXTRA_FLAGS...]
#   defaults: build/release (scripts/setup.sh builds it), out/lambda_sweep, lambdas 0 0.05 0.1 0.2 0.3 0.5;
#   EXTRA_FLAGS go to every run (default: --epochs 5 --lr 0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/release out=out/lambda_sweep lambdas=() extra=()
while (( $# )); do
  case "$1" in
    -b) build=${2:?"-b needs a build directory"}; shift 2 ;;
    -o) out=${2:?"-o needs an output directory"}; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) [[ $1 =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "lambda_sweep.sh: '$1' is not a lambda >= 0 (see --help)" >&2; exit 2; }
       lambdas+=("$1"); shift ;;
  esac
done
(( ${#lambdas[@]} )) || lambdas=(0 0.05 0.1 0.2 0.3 0.5)
(( ${#extra[@]} )) || extra=(--epochs 5 --lr 0.1)
bin=$build/examples/sparse_autoencoder/sparse_autoencoder
[[ -x $bin ]] || { echo "lambda_sweep.sh: $bin not found; build first (cmake --build $build)" >&2; exit 2; }

mkdir -p "$out"
csv=$out/lambda_sweep.csv
echo "lambda,test_mse,code_zero_frac" >"$csv.tmp"
for l in "${lambdas[@]}"; do
  run=$out/lambda_$l
  echo "== lambda $l =="
  "$bin" --lambda "$l" --out "$run" --quiet "${extra[@]}" | grep -E '^epoch' | tail -n 1
  # The last row of the run's metrics.csv: epoch,train_mse,test_mse,code_zero_frac,seconds
  tail -n 1 "$run/metrics.csv" | awk -F, -v l="$l" '{ print l "," $3 "," $4 }' >>"$csv.tmp"
done
mv "$csv.tmp" "$csv"
{
  echo "| lambda | test MSE | fraction of zeros |"
  echo "|-------:|---------:|------------------:|"
  tail -n +2 "$csv" | awk -F, '{ printf "| %s | %s | %s |\n", $1, $2, $3 }'
} >"$out/lambda_sweep.md"
cat "$out/lambda_sweep.md"
"$bin" --plot-sweep "$csv" --out "$out"
echo "wrote $csv, $out/lambda_sweep.md"
