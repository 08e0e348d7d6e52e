#!/usr/bin/env bash
# Time to failure against a stalled peer (issue 12): runs the stall tests of the
# test suite RUNS times (default 3) and prints each "failed after" figure they report.
# The tests start the real docker-registry and pypiserver (and the fake forge) behind
# wharf_test_support::faultproxy on 127.0.0.1; each asserts its own bound (idle + 5 s).
#
# usage: bench/net-stalls.sh [RUNS]      (from the project root)
set -euo pipefail
RUNS=${1:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
suites=(
  "-p wharf-net --test watchdog a_peer_that"
  "-p wharf-oci --test registry stops_reading"
  "-p wharf-oci --test registry early_upload"
  "-p wharf-publish --test index never_answers"
  "-p wharf-release --test forge a_forge_that"
  "-p wharf --test cli network::"
)
for suite in "${suites[@]}"; do
  # shellcheck disable=SC2086
  cargo test -q $suite --no-run >/dev/null 2>&1
done
for run in $(seq 1 "$RUNS"); do
  for suite in "${suites[@]}"; do
    # One test at a time: the figures are not to depend on each other's load.
    # shellcheck disable=SC2086
    cargo test -q $suite -- --nocapture --test-threads 1 2>&1 |
      grep -E "failed after" | sed -E "s/^\.+//; s/: (registry|index|test server|forge|Gitea|GitHub).*//; s/^/run $run: /"
  done
done
