#!/usr/bin/env bash
# Checks every #include of the library, the examples and the benchmarks
# against the layering (docs: README "Layout", DESIGN notes):
#
#   core <- nn <- optim <- checkpoint;  data on core alone;
#   examples/ and bench/ on public headers (include/) and their own folder
#   (examples also on examples/common/).
#
# A folder may include its own headers, public headers of its layer or a
# layer below, and of another folder only core's internal API listed in
# CORE_API below -- never another folder's *_internal.h or other private
# header.  Public headers (include/cgrad/*.h) are placed in a layer by
# PUBLIC_LAYER and are checked the same way.  Run from anywhere:
#     bash scripts/check_layers.sh
# Prints each violation as file:line and exits 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."

# core's internal API for the layers above: allocation, error reporting,
# per-CPU kernel dispatch, the thread pool, the tape-tensor liveness check,
# what cg_gradcheck_module (nn) needs of the gradient check, file
# input/output (whole-file reads, atomic writes), and the backward with a
# gradient-ready callback under the caller's name (cg_optimizer_backward).
# Everything else in core/ is private to core.
CORE_API="alloc.h error_internal.h multiarch.h parallel.h tensor_live.h gradcheck_api.h file_io.h backward_hook.h"

# The layer of each public header; a new header must be added here.
declare -A PUBLIC_LAYER=(
  [export.h]=core [error.h]=core [tensor.h]=core [tape.h]=core [ops.h]=core [op.h]=core
  [rng.h]=core [memory.h]=core [gradcheck.h]=core [version.h]=core
  [conv_ops.h]=core
  [module.h]=nn [nn.h]=nn [conv.h]=nn [gradcheck_module.h]=nn
  [optim.h]=optim
  [optimizers.h]=optim [schedules.h]=optim
  [checkpoint.h]=checkpoint [safetensors.h]=checkpoint
  [data.h]=data [image.h]=data [npy.h]=data [plot.h]=data
  [cgrad.h]=all
)

# The layers each layer may use (itself included).
declare -A USES=(
  [core]="core"
  [nn]="core nn"
  [optim]="core nn optim"
  [checkpoint]="core nn optim checkpoint"
  [data]="core data"
  [examples]="core nn optim checkpoint data all"
  [bench]="core nn optim checkpoint data all"
)

# Violations that are being fixed elsewhere, as "file include": reported,
# not fatal, and an error once they are gone (so the list stays true).
KNOWN=()

violations=0
known_seen=()

report() { # file line message
  local f=$1 line=$2 msg=$3 inc=$4
  for k in "${KNOWN[@]}"; do
    if [ "$k" = "$f $inc" ]; then
      echo "check_layers: known: $f:$line: $msg" >&2
      known_seen+=("$k")
      return
    fi
  done
  echo "$f:$line: $msg" >&2
  violations=$((violations + 1))
}

contains() { # word list...
  local w=$1
  shift
  for x in "$@"; do [ "$x" = "$w" ] && return 0; done
  return 1
}

# check FILE LAYER
check_file() {
  local f=$1 layer=$2 dir line inc target
  dir=$(dirname "$f")
  while IFS= read -r entry; do
    line=${entry%%:*}
    inc=${entry#*:}
    inc=${inc#*#}
    # core/per_dtype.inc includes the file named by CG_KERNELS_INC: the
    # "#define CG_KERNELS_INC" line of the including file is checked instead.
    [[ $inc =~ ^[[:space:]]*include[[:space:]]+CG_KERNELS_INC ]] && continue
    inc=$(sed -E -e 's/^[[:space:]]*include[[:space:]]*[<"]([^">]*)[">].*/\1/' \
                 -e 's/^[[:space:]]*define[[:space:]]+CG_KERNELS_INC[[:space:]]+"([^"]*)".*/\1/' <<<"$inc")
    local angle=0
    grep -qE '^[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*<' <<<"$entry" && angle=1
    # public headers, spelled "cgrad/x.h", <cgrad/x.h>, <cgrad.h>, or a
    # sibling "x.h" inside include/cgrad
    local pub=""
    case $inc in
      cgrad.h) pub=cgrad.h ;;
      cgrad/*) pub=${inc#cgrad/} ;;
    esac
    if [ -z "$pub" ] && [ "$layer" = public ] && [ -f "$dir/$inc" ]; then pub=$inc; fi
    if [ -n "$pub" ]; then
      target=${PUBLIC_LAYER[$pub]:-}
      if [ -z "$target" ]; then
        report "$f" "$line" "public header '$inc' has no layer in scripts/check_layers.sh" "$inc"
        continue
      fi
      local from=$layer
      [ "$layer" = public ] && from=${PUBLIC_LAYER[$(basename "$f")]:-}
      if [ "$from" != all ] && ! contains "$target" ${USES[$from]:-}; then
        report "$f" "$line" "includes '$inc' (layer $target): $from may use only ${USES[$from]:-nothing}" "$inc"
      fi
      continue
    fi
    [ $angle = 1 ] && continue # a system header
    [ "$layer" = public ] && {
      report "$f" "$line" "public header includes non-public '$inc'" "$inc"
      continue
    }
    if [ -f "$dir/$inc" ]; then continue; fi # its own folder
    # what the example programs share (progress bar, option values, resume)
    if [ "$layer" = examples ] && [ -f "examples/common/$inc" ]; then continue; fi
    case $inc in
      */*) target=${inc%%/*} ;;
      *) if [ -f "core/$inc" ]; then target=core; else
           report "$f" "$line" "cannot resolve '$inc'" "$inc"
           continue
         fi ;;
    esac
    [ "$target" = "$layer" ] && continue # its own folder, spelled "optim/x.h"
    local name
    name=$(basename "$inc")
    if [ "$layer" = examples ] || [ "$layer" = bench ]; then
      report "$f" "$line" "includes '$inc': $layer/ may use only public headers (include/)" "$inc"
    elif [ "$target" != core ] || ! contains "$name" $CORE_API; then
      report "$f" "$line" "includes '$inc', private to $target/ (core's internal API for other folders: $CORE_API)" "$inc"
    elif ! contains core ${USES[$layer]}; then
      report "$f" "$line" "includes '$inc' of core" "$inc"
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*(include|define[[:space:]]+CG_KERNELS_INC)' "$f" || true)
}

for layer in core nn optim checkpoint data examples bench; do
  [ -d "$layer" ] || continue
  while IFS= read -r f; do check_file "$f" "$layer"; done \
    < <(find "$layer" -type f \( -name '*.c' -o -name '*.h' -o -name '*.inc' \) | sort)
done
for f in include/cgrad.h include/cgrad/*.h; do check_file "$f" public; done

for k in "${KNOWN[@]}"; do
  if ! contains "$k" "${known_seen[@]+"${known_seen[@]}"}"; then
    echo "check_layers: '$k' is listed as a known violation but no longer occurs: remove it from KNOWN" >&2
    violations=$((violations + 1))
  fi
done

if [ $violations -ne 0 ]; then
  echo "check_layers: $violations include(s) against the layering" >&2
  exit 1
fi
echo "check_layers: ok"
