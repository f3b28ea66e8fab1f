#!/usr/bin/env bash
# Installs cgrad into a temporary prefix and uses it the way a user would:
#  1. configure + build cgrad in build/install-test, `cmake --install` it;
#  2. check the installed files (headers, libcgrad.a, libcgrad.so, CMake
#     package, cgrad.pc);
#  3. build tests/consumer out of tree with CMake find_package(cgrad)
#     (shared and static targets) and run both;
#  4. build it with pkg-config and a plain cc command line, against the
#     shared library and statically (pkg-config --static), and run both;
#  5. extract the programs from docs/*.md, check that the excerpts quoted
#     from examples/ are still verbatim, build them against the installed
#     library (pkg-config and CMake) and run them.
# Any failure stops the script with a message and a non-zero exit status.
#
# Usage: bash scripts/test_install.sh   (CC is honoured; VERBOSE=1 shows all output)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=$root/build/install-test
cc=${CC:-cc}
jobs=$(nproc 2>/dev/null || echo 2)
cflags=(-std=c11 -Wall -Wextra -Wpedantic -Wshadow -Werror -O2)

die() { echo "test_install: FAILED: $*" >&2; exit 1; }
step() { echo "== test_install: $* =="; }
# Runs a program; fails loudly with its output if it exits non-zero.  Shows
# the last line of its output (all of it with VERBOSE=1).
run() {
  local out
  if ! out=$("$@" 2>&1); then
    printf '%s\n' "$out" >&2
    die "'$*' exited with an error"
  fi
  if [ "${VERBOSE:-0}" = 1 ]; then printf '%s\n' "$out"; else printf '%s\n' "$out" | tail -n 1; fi |
    sed "s|^|    $(basename "$1"): |"
}

for tool in cmake pkg-config "$cc" "${CXX:-g++}" readelf nm comm awk; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed (bash scripts/install_deps.sh)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/cgrad-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

step "build and install cgrad into $prefix"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCGRAD_WERROR=ON \
  -DCGRAD_BUILD_TESTS=OFF -DCGRAD_BUILD_EXAMPLES=OFF -DCGRAD_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$jobs" >/dev/null
cmake --install "$build" --prefix "$prefix" >/dev/null

step "installed files"
pcfile=$(find "$prefix" -name cgrad.pc -path '*/pkgconfig/*')
[ -n "$pcfile" ] || die "no cgrad.pc under $prefix"
libdir=$(dirname "$(dirname "$pcfile")")
inc=$prefix/include
for h in include/cgrad.h include/cgrad/*.h; do
  [ -f "$inc/${h#include/}" ] || die "header ${h#include/} not installed"
done
[ -f "$inc/cgrad/version.h" ] || die "generated cgrad/version.h not installed"
[ -f "$libdir/libcgrad.a" ] || die "libcgrad.a not installed in $libdir"
[ -f "$libdir/libcgrad.so" ] || die "libcgrad.so not installed in $libdir"
soname=$(readelf -d "$libdir/libcgrad.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ -z "$soname" ] || [ ! -e "$libdir/$soname" ]; then die "libcgrad.so has no SONAME or '$soname' is missing"; fi
for f in cgradConfig.cmake cgradConfigVersion.cmake cgradTargets.cmake; do
  [ -f "$libdir/cmake/cgrad/$f" ] || die "$f not installed in $libdir/cmake/cgrad"
done
version=$(sed -n 's/^#define CGRAD_VERSION_STRING "\(.*\)"$/\1/p' "$inc/cgrad/version.h")
[ -n "$version" ] || die "CGRAD_VERSION_STRING not found in the installed version.h"
echo "    cgrad $version: headers, libcgrad.a, $soname, CMake package, cgrad.pc"

step "exported symbols = the CG_API declarations of the installed headers"
# Every CG_API declaration's name: the identifier before its first '('.
declared=$(find "$inc/cgrad" -name "*.h" ! -name export.h -exec cat {} + | tr '\n' ' ' | grep -oE 'CG_API [^;{(]*\(' |
  sed -E 's/[[:space:]]*\($//; s/.*[^A-Za-z0-9_]//' | sort -u)
exported=$(nm -D --defined-only "$libdir/libcgrad.so" | awk '{ print $NF }' | sort -u)
extra=$(comm -13 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported"))
missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported"))
# A declaration that starts a line without CG_API would be hidden.
bare=$(grep -nE '^(const|struct|enum|void|double|float|int|int64_t|uint64_t|uint32_t|uint8_t|size_t|bool|char|unsigned|long)\b' \
  "$inc"/cgrad/*.h | grep -vE ':(struct|enum|union) [A-Za-z0-9_]+ ?[{;]' || true)
[ -z "$bare" ] || die "public declarations without CG_API (they would not be exported): $bare"
[ -z "$extra" ] || die "libcgrad.so exports symbols no public header declares with CG_API: $(echo $extra)"
[ -z "$missing" ] || die "CG_API declarations that libcgrad.so does not export: $(echo $missing)"
echo "    $(printf '%s\n' "$exported" | wc -l) symbols exported, all declared CG_API in include/cgrad/"

# Executables must take libcgrad from the prefix (shared) or not at all (static).
expect_shared() {
  readelf -d "$1" | grep "NEEDED.*\[$soname\]" >/dev/null || die "$1 does not link $soname"
  local resolved
  resolved=$(ldd "$1" | awk -v so="$soname" '$1 == so { print $3 }')
  [ "$resolved" = "$libdir/$soname" ] || die "$1 loads $soname from '$resolved', not $libdir"
}
expect_static() {
  if readelf -d "$1" | grep 'NEEDED.*libcgrad' >/dev/null; then die "$1 needs libcgrad.so"; fi
}

step "consumer with CMake find_package(cgrad)"
cmake -S tests/consumer -B "$work/consumer-cmake" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$work/consumer-cmake.log" 2>&1 ||
  { cat "$work/consumer-cmake.log" >&2; die "configuring tests/consumer failed"; }
grep -q "cgrad_DIR:PATH=$libdir/cmake/cgrad" "$work/consumer-cmake/CMakeCache.txt" ||
  die "find_package(cgrad) did not find the package in $prefix"
cmake --build "$work/consumer-cmake" -j"$jobs" >/dev/null
expect_shared "$work/consumer-cmake/consumer"
expect_static "$work/consumer-cmake/consumer_static"
run "$work/consumer-cmake/consumer"
run "$work/consumer-cmake/consumer_static"

step "consumer with pkg-config"
export PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
[ "$(pkg-config --modversion cgrad)" = "$version" ] ||
  die "pkg-config --modversion cgrad says $(pkg-config --modversion cgrad), version.h $version"
# Word splitting of the pkg-config output is intended.
# shellcheck disable=SC2046
"$cc" "${cflags[@]}" tests/consumer/main.c -o "$work/consumer-pc" \
  $(pkg-config --cflags --libs cgrad) -lm -Wl,-rpath,"$libdir"
expect_shared "$work/consumer-pc"
run "$work/consumer-pc"
# The linker prefers libcgrad.so over libcgrad.a for -lcgrad: name the archive.
static_libs=$(pkg-config --static --libs cgrad | sed 's/-lcgrad\b/-l:libcgrad.a/')
# shellcheck disable=SC2046,SC2086
"$cc" "${cflags[@]}" tests/consumer/main.c -o "$work/consumer-pc-static" \
  $(pkg-config --static --cflags cgrad) $static_libs
expect_static "$work/consumer-pc-static"
run "$work/consumer-pc-static"

step "C++ consumer (g++ -std=c++11, the same headers)"
cxx=${CXX:-g++}
# shellcheck disable=SC2046
"$cxx" -std=c++11 -Wall -Wextra -Wpedantic -Werror -O2 tests/consumer/main.cpp -o "$work/consumer-cxx" \
  $(pkg-config --cflags --libs cgrad) -Wl,-rpath,"$libdir"
expect_shared "$work/consumer-cxx"
run "$work/consumer-cxx"

# ---- the documentation's programs ----
# In docs/*.md, a line
#   <!-- check: file=NAME -->     makes the next fenced block part of file NAME
#                                 (blocks with the same NAME are concatenated);
#   <!-- check: excerpt=PATH -->  says the next fenced block is quoted verbatim
#                                 from PATH (relative to the repository root).
extract_doc() { # markdown file, output directory
  awk -v out="$2" '
    /^<!-- check: (file|excerpt)=[^ ]+ -->$/ {
      split($0, kv, "="); sub(/ -->$/, "", kv[2])
      if ($0 ~ /check: file=/) { target = out "/" kv[2] }
      else { n_ex++; target = out "/excerpt." n_ex; print kv[2] > (target ".src"); close(target ".src") }
      pending = 1; next
    }
    /^```/ {
      if (inside) { inside = 0; close(target); target = ""; next }
      if (pending) { inside = 1; pending = 0; next }
    }
    inside { print >> target }
  ' "$1"
}
# True if the text of file $2 occurs verbatim in file $1.
contains() { awk 'FNR == NR { a = a $0 "\n"; next } { b = b $0 "\n" } END { exit !index(a, b) }' "$1" "$2"; }

doc_build() { # directory, program name, extra sources...
  local dir=$1 name=$2; shift 2
  # shellcheck disable=SC2046
  (cd "$dir" && "$cc" "${cflags[@]}" "$name.c" "$@" -o "$name" \
    $(pkg-config --cflags --libs cgrad) -lm -Wl,-rpath,"$libdir") ||
    die "docs: $name.c does not compile against the installed cgrad"
}

check_excerpts() { # directory
  local ex
  for ex in "$1"/excerpt.*; do
    case $ex in *.src) continue ;; esac
    [ -e "$ex" ] || continue
    local src
    src=$(cat "$ex.src")
    [ -f "$src" ] || die "docs: excerpt source $src does not exist"
    contains "$src" "$ex" || {
      echo "--- excerpt:" >&2; cat "$ex" >&2
      die "docs: the excerpt above is no longer verbatim in $src; update the tutorial"
    }
  done
}

step "docs/tutorial-training.md"
d=$work/doc-training
mkdir -p "$d"
extract_doc docs/tutorial-training.md "$d"
for f in train.c mnist_train.c own_data.c CMakeLists.txt; do [ -s "$d/$f" ] || die "docs: no $f in tutorial-training.md"; done
doc_build "$d" train
(cd "$d" && run ./train)
[ -s "$d/circle.ckpt" ] || die "docs: train did not write circle.ckpt"
doc_build "$d" mnist_train
# Without data it must fail cleanly, with a message naming the missing file.
if out=$(cd "$d" && ./mnist_train "$d/no-such-dir" 2>&1); then die "docs: mnist_train succeeded without data"; fi
printf '%s\n' "$out" | grep "no-such-dir: not found (looked for train-images-idx3-ubyte" >/dev/null ||
  die "docs: mnist_train without data printed: $out"
echo "    mnist_train without data: $out"
doc_build "$d" own_data
(cd "$d" && run ./own_data)
cmake -S "$d" -B "$d/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$d/build" >/dev/null
expect_shared "$d/build/train"
(cd "$d" && run ./build/train)

step "docs/tutorial-custom-layer.md"
d=$work/doc-custom
mkdir -p "$d"
extract_doc docs/tutorial-custom-layer.md "$d"
check_excerpts "$d"
[ -s "$d/check_layer.c" ] || die "docs: no check_layer.c in tutorial-custom-layer.md"
cp examples/custom_layer/learnable_shrink.c examples/custom_layer/learnable_shrink.h "$d"
doc_build "$d" check_layer learnable_shrink.c
(cd "$d" && run ./check_layer)

step "docs/errors.md"
d=$work/doc-errors
mkdir -p "$d"
extract_doc docs/errors.md "$d"
[ -s "$d/errors_demo.c" ] || die "docs: no errors_demo.c in errors.md"
doc_build "$d" errors_demo
(cd "$d" && run ./errors_demo)

step "docs/checkpoint-format.md"
d=$work/doc-ckpt
mkdir -p "$d"
extract_doc docs/checkpoint-format.md "$d"
[ -s "$d/ckpt_dump.c" ] || die "docs: no ckpt_dump.c in checkpoint-format.md"
doc_build "$d" ckpt_dump
(cd "$d" && run ./ckpt_dump "$work/doc-training/circle.ckpt")

step "docs/threading.md"
d=$work/doc-threads
mkdir -p "$d"
extract_doc docs/threading.md "$d"
[ -s "$d/threads_demo.c" ] || die "docs: no threads_demo.c in threading.md"
doc_build "$d" threads_demo -pthread
(cd "$d" && CGRAD_NUM_THREADS=1 run ./threads_demo)

step "docs/interop.md"
d=$work/doc-interop
mkdir -p "$d"
extract_doc docs/interop.md "$d"
for f in interop.c to_torch.py from_torch.py; do [ -s "$d/$f" ] || die "docs: no $f in interop.md"; done
doc_build "$d" interop
(cd "$d" && run ./interop export)
# The Python halves need torch and numpy (Debian python3-torch, python3-numpy).
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
  (cd "$d" && run /usr/bin/python3 to_torch.py && run /usr/bin/python3 from_torch.py && run ./interop import)
else
  echo "    SKIPPED the Python half of docs/interop.md: /usr/bin/python3 has no torch/numpy"
fi

echo "== test_install: all install checks passed (cgrad $version) =="
