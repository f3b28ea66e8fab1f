#!/usr/bin/env bash
# Runs every ctest test, and the examples on tiny data (sparse autoencoder:
# train + checkpoint, resume, evaluate, denoising + export; classifier;
# custom layer; shrink functions with plots), under
# valgrind memcheck.  Any memory error or leak (definite, indirect or
# possible) fails the script loudly and names the test or program.  No
# suppressions are needed.
# Usage: scripts/valgrind.sh        (build dir: build/valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed (scripts/install_deps.sh test)" >&2; exit 2; }

dir=build/valgrind
jobs=$(nproc)
vg=(valgrind --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite,indirect,possible
    --show-leak-kinds=definite,indirect,possible
    --track-origins=no --num-callers=30)
# One OpenBLAS thread: worker threads only slow valgrind down (valgrind
# runs one thread at a time).
export OPENBLAS_NUM_THREADS=1 CGRAD_NUM_THREADS=1
# OpenBLAS's Haswell/SkylakeX kernels (FMA) run ~2000x slower under valgrind
# than natively (a 32x784x256 sgemm: 0.16 ms -> 350 ms); its Sandybridge AVX
# kernels take 17 ms.  Only OpenBLAS's inner kernels change; cgrad's own
# code is checked the same.  Set unconditionally: some environments preset
# OPENBLAS_CORETYPE=Haswell.
export OPENBLAS_CORETYPE=Sandybridge

start=$SECONDS
echo "== cgrad valgrind: $dir =="
# ctest prefixes every test command that runs a built target with the
# "emulator", so each test runs under valgrind with the working directory and
# environment ctest gives it (programs a test starts itself run natively).
emu=$(IFS=';'; echo "${vg[*]}")
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCGRAD_WERROR=ON \
  -DCGRAD_SANITIZE=OFF -DCGRAD_BUILD_BENCH=OFF -DCGRAD_BUILD_EXAMPLES=ON \
  "-DCMAKE_CROSSCOMPILING_EMULATOR=$emu" >/dev/null
cmake --build "$dir" -j"$jobs" >/dev/null

# Output goes to a log; on failure the failing tests' valgrind reports are
# printed (ctest lists their names at the end).
log=$dir/valgrind-ctest.log
if ! ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 300 >"$log" 2>&1; then
  cat "$log"
  echo "valgrind.sh: FAILED: tests with memory errors, leaks or failures (see above):" >&2
  grep -E '^\s+[0-9]+ - ' "$log" >&2 || true
  exit 1
fi
grep -E 'tests passed|Total Test time' "$log"

# The examples on tiny random IDX data (64 train, 32 test images): the sparse
# autoencoder trains one epoch with a checkpoint, resumes for a second, and
# evaluates the result; then the classifier and the custom-layer example.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/data" <<'EOF'
import os, random, struct, sys
d = sys.argv[1]
os.makedirs(d)
rng = random.Random(1)
for split, n in (("train", 64), ("t10k", 32)):
    with open(f"{d}/{split}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, 28, 28))
        f.write(bytes(rng.randrange(256) for _ in range(n * 784)))
    with open(f"{d}/{split}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 2049, n))
        f.write(bytes(rng.randrange(10) for _ in range(n)))
EOF
ex=$dir/examples
run_example() { # label, program, args...
  local label=$1 prog=$2; shift 2
  echo "-- under valgrind: $label"
  if ! "${vg[@]}" --log-file="$tmp/$label.vg" "$ex/$prog/$prog" "$@" >"$tmp/$label.out" 2>&1; then
    cat "$tmp/$label.out" "$tmp/$label.vg"
    echo "valgrind.sh: FAILED: $label (memory error, leak or failure; see above)" >&2
    exit 1
  fi
  printf '   %s\n   %s\n' "$(tail -n 1 "$tmp/$label.out")" "$(grep -E 'ERROR SUMMARY' "$tmp/$label.vg")"
}
sae=(--data "$tmp/data" --batch 16 --hidden 32 --bottleneck 8 --out "$tmp/out" --quiet)
run_example sparse_autoencoder-train sparse_autoencoder "${sae[@]}" --epochs 1 --save "$tmp/x.ckpt"
run_example sparse_autoencoder-resume sparse_autoencoder "${sae[@]}" --epochs 2 \
  --resume "$tmp/x.ckpt" --save "$tmp/x.ckpt"
run_example sparse_autoencoder-eval sparse_autoencoder "${sae[@]}" --epochs 2 \
  --resume "$tmp/x.ckpt" --eval-only
run_example mnist_classifier mnist_classifier --data "$tmp/data" --epochs 1 --batch 16
run_example custom_layer custom_layer "$tmp/custom_layer.ckpt"
run_example sparse_autoencoder-noise-export sparse_autoencoder "${sae[@]}" --epochs 1 --noise 0.3 \
  --export "$tmp/sae.safetensors"
run_example shrink_functions shrink_functions --out "$tmp/shrink" --export "$tmp/shrink.safetensors"
echo "== valgrind: no memory errors or leaks ($((SECONDS - start)) s) =="
