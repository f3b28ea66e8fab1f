#!/usr/bin/env bash
# Installs the Debian packages cgrad needs, only those that are missing.
# Usage: scripts/install_deps.sh [build|data|test|all]...   (default: all)
set -euo pipefail

build_pkgs=(gcc make cmake pkg-config libopenblas-dev zlib1g-dev libpng-dev libcairo2-dev libfontconfig-dev)
data_pkgs=(nodejs npm dataset-fashion-mnist)
test_pkgs=(libcmocka-dev valgrind clang libclang-rt-14-dev python3 binutils python3-numpy python3-torch)

want=()
for group in "${@:-all}"; do
  case "$group" in
    build) want+=("${build_pkgs[@]}") ;;
    data)  want+=("${data_pkgs[@]}") ;;
    test)  want+=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
    all)   want+=("${build_pkgs[@]}" "${data_pkgs[@]}" "${test_pkgs[@]}") ;;
    *) echo "install_deps.sh: unknown group '$group' (build, data, test, all)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come from a non-Debian node install: accept any working npm.
if command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == npm || "$p" == nodejs ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install_deps.sh: installing ${missing[*]}"
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
