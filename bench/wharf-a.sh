#!/usr/bin/env bash
# Workload A adapter (step overhead) for /work/shared/bench/a-steps.sh.
#
# usage: bench/wharf-a.sh WHARF_BIN DIR JOBS
#   DIR  = the workload dir a-steps.sh passes as {dir} (holds steps.tsv)
#   JOBS = parallelism ({jobs}: 1, or 8 for the DAG)
# Converts DIR/steps.tsv to DIR/wharf-bench/wharf.yml once (so it happens in hyperfine's
# warm-up), then runs the pipeline there with `wharf run --event manual -j JOBS --plain`, stdout discarded.
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 WHARF_BIN DIR JOBS" >&2
  exit 2
fi
WHARF_BIN=$1 DIR=$2 JOBS=$3
W="$DIR/wharf-bench"
if [ ! -f "$W/wharf.yml" ]; then
  # Only here (once, in the warm-up): the timed runs must not fork subshells.
  HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  mkdir -p "$W"
  python3 "$HERE/to-wharf.py" "$DIR/steps.tsv" "$W/wharf.yml"
fi
cd "$W"
exec "$WHARF_BIN" run --event manual -j "$JOBS" --plain >/dev/null
