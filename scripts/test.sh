#!/usr/bin/env bash
# README command 2: installs what is missing, then builds and runs every test
# with warnings as errors: in a normal optimized build, in an
# AddressSanitizer+UBSan build, in a ThreadSanitizer build and under
# valgrind memcheck; fuzzes the IDX reader, the checkpoint loader, the
# safetensors reader and its JSON parser
# (CGRAD_FUZZ_SECONDS per target, default 60); installs into a temporary
# prefix and builds a consumer with find_package and with pkg-config.
# First of all, the include graph must follow the layering.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== layering (scripts/check_layers.sh) =="
bash scripts/check_layers.sh
bash scripts/install_deps.sh test

jobs=$(nproc)
run_suite() { # name, extra cmake args...
  local dir="build/$1"; shift
  echo "== cgrad tests: $dir =="
  cmake -S . -B "$dir" -DCGRAD_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
  ctest --test-dir "$dir" --output-on-failure -j"$jobs"
}

run_suite test -DCMAKE_BUILD_TYPE=Release
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCGRAD_SANITIZE=ON -DCGRAD_BUILD_BENCH=OFF
# ThreadSanitizer over the whole suite: the thread pool's tests run 1-4 threads.
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  run_suite tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCGRAD_SANITIZE_THREAD=ON -DCGRAD_BUILD_BENCH=OFF
bash scripts/valgrind.sh
bash scripts/fuzz.sh "${CGRAD_FUZZ_SECONDS:-60}"
echo "== install + consumer (find_package and pkg-config) =="
bash scripts/test_install.sh
echo "== all cgrad tests passed =="
