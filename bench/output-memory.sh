#!/usr/bin/env bash
# Issue 12's memory benchmark: one step prints SIZE of ~100-byte lines (2 GB by default);
# wharf runs it in --plain (into a pipe read by cat), --json (the same) and --plain with a
# slow reader (a pipe read 64 KiB every 10 ms, ~6 MiB/s). For each: wall time, wharf's peak
# RSS (GNU time's %M, the wharf process alone) and the log file's size; beside them, the
# same bytes through `sh | tee FILE | cat`, the peer for log throughput ("log written in": from
# the start to the log file's last write, its mtime).
#
# usage: bench/output-memory.sh WHARF_BIN [SIZE_MB]     (SIZE_MB default 2000)
# env:   WORK=/tmp/wharf-output-memory (scratch; two copies of SIZE land there)
set -euo pipefail
WHARF=$(realpath "${1:?usage: $0 WHARF_BIN [SIZE_MB]}")
MB=${2:-2000}
WORK=${WORK:-/tmp/wharf-output-memory}
rm -rf "$WORK" && mkdir -p "$WORK/p"
LINE='0123456789 the quick brown fox jumps over the lazy dog 0123456789 the quick brown fox jumps over'
# The step: SIZE MB of lines, made by the step itself (no input file to read).
STEP="{ yes '$LINE' || true; } | head -c ${MB}000000"
printf 'version: 1\nworkspace: shared\njobs:\n  flood:\n    run: |\n      %s\n' "$STEP" >"$WORK/p/wharf.yml"
# `workspace: shared` is an insecure setting: the benchmark's policy allows it (30 days).
cat >"$WORK/p/wharf.policy.toml" <<EOF
[[exception]]
id = "BENCH-1"
kind = "setting"
setting = "workspace.shared"
reason = "the benchmark measures the log path, not the workspace copy"
owner = "bench"
approved-by = "maintainer"
created = $(date -u +%F)
expires = $(date -u -d '+30 days' +%F)
EOF

slow_reader() {
  python3 -c '
import os, sys, time
while True:
    b = os.read(0, 65536)
    if not b: break
    time.sleep(0.01)
'
}

measure() { # name, then the command (wharf's stdout/stderr wiring inside)
  local name=$1; shift
  rm -rf "$WORK/p/.wharf"; sync
  local t0 t1
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  local rss log done
  rss=$(awk '{print int($1/1024)}' "$WORK/rss")
  log=$(find "$WORK/p/.wharf/logs" -name '*.log' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  # When the log's last byte was written (its mtime), from the start.
  done=$(find "$WORK/p/.wharf/logs" -name '*.log' -printf '%T@\n' | sort -n | tail -1)
  printf '| %s | %.2f s | %.2f s | %d MiB | %.0f MiB/s | %s |\n' "$name" "$(echo "$t1 - $t0" | bc)" \
    "$(echo "$done - $t0" | bc)" "$rss" "$(echo "$log / 1048576 / ($done - $t0)" | bc -l)" "$log"
}

plain()  { cd "$WORK/p" && /usr/bin/time -o "$WORK/rss" -f %M "$WHARF" run --plain 2>&1 >/dev/null | cat >/dev/null; }
json()   { cd "$WORK/p" && /usr/bin/time -o "$WORK/rss" -f %M "$WHARF" run --json 2>/dev/null | cat >/dev/null; }
slow()   { cd "$WORK/p" && /usr/bin/time -o "$WORK/rss" -f %M "$WHARF" run --plain 2>&1 >/dev/null | slow_reader; }

echo "## Output memory: $MB MB of 100-byte lines ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
echo
echo "| mode | wall | log written in | peak RSS | log MiB/s | log bytes |"
echo "|---|---:|---:|---:|---:|---:|"
# The peer shows what it logs the way wharf does in the rows below: into a pipe read by
# `cat` (tee into /dev/null would show nothing). The row after it, for reference, is tee
# with nobody reading.
peer() { # name, then how tee's stdout goes
  local name=$1 t0 t1 done
  rm -f "$WORK/tee.log"; sync
  t0=$(date +%s.%N)
  if [ "$2" = cat ]; then
    /usr/bin/time -o "$WORK/rss" -f %M sh -c "$STEP" | tee "$WORK/tee.log" | cat >/dev/null
  else
    /usr/bin/time -o "$WORK/rss" -f %M sh -c "$STEP" | tee "$WORK/tee.log" >/dev/null
  fi
  t1=$(date +%s.%N)
  done=$(stat -c %.9Y "$WORK/tee.log")
  printf '| %s | %.2f s | %.2f s | %d MiB | %.0f MiB/s | %s |\n' "$name" "$(echo "$t1 - $t0" | bc)" \
    "$(echo "$done - $t0" | bc)" "$(awk '{print int($1/1024)}' "$WORK/rss")" \
    "$(echo "$(stat -c %s "$WORK/tee.log") / 1048576 / ($done - $t0)" | bc -l)" "$(stat -c %s "$WORK/tee.log")"
  rm -f "$WORK/tee.log"
}
peer 'sh \| tee FILE \| cat (peer)' cat
peer 'sh \| tee FILE >/dev/null' null
measure "wharf --plain" plain
measure "wharf --json" json
measure "wharf --plain, slow reader (~6 MiB/s)" slow
rm -rf "$WORK"
