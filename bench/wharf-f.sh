#!/usr/bin/env bash
# Workload F adapter (a job in a container) for /work/shared/bench/f-container.sh.
#
# usage: bench/wharf-f.sh WHARF_BIN DIR IMAGE
#   DIR   = the scratch dir f-container.sh passes as {dir}
#   IMAGE = the local image it passes as {image}
# Writes DIR/wharf-bench/wharf.yml once (one job with `image: IMAGE` running `exit 0`),
# then runs it with `wharf run --event manual --plain`, stdout discarded.
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 WHARF_BIN DIR IMAGE" >&2
  exit 2
fi
WHARF_BIN=$1 DIR=$2 IMAGE=$3
W="$DIR/wharf-bench"
if [ ! -f "$W/wharf.yml" ]; then
  mkdir -p "$W"
  printf 'version: 1\non: { manual: {} }\njobs:\n  inside:\n    image: "%s"\n    run: exit 0\n' "$IMAGE" >"$W/wharf.yml.tmp"
  mv "$W/wharf.yml.tmp" "$W/wharf.yml"
fi
cd "$W"
exec "$WHARF_BIN" run --event manual --plain >/dev/null
