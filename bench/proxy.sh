#!/usr/bin/env bash
# Issue 16, the proxy: wharf proxy against Debian's nginx as a reverse proxy to the same
# backend, same run. Everything on 127.0.0.1.
#
#   bench/proxy.sh [WHARF_BIN] [ROUNDS]     (default target/release/wharf, 3 rounds)
#
# The backend is nginx itself answering a static 200 ("ok\n", one worker process). Each
# round runs the same wrk command against the backend directly, through nginx (2 worker
# processes, keep-alive upstream pool) and through `wharf proxy` (one data-plane thread
# per core, keep-alive pools per thread); the rounds alternate so that drift of the machine hits all three.
# Reported: median requests/s of each, wharf/nginx ratio, p99 added over the direct
# backend, and wharf proxy's RSS (now and peak). Raw output goes to
# docs/bench-results/proxy-STAMP.txt. Needs nginx and wrk (apt-get install nginx wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

WHARF=${1:-target/release/wharf}
ROUNDS=${2:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
BACKEND=18701 NGINX=18702 WPROXY=18703 WADMIN=18704

for tool in nginx wrk; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "missing $tool: apt-get install -y nginx wrk" >&2
    exit 2
  }
done
[ -x "$WHARF" ] || { echo "no $WHARF: cargo build --release -p wharf" >&2; exit 2; }

WORK=$(mktemp -d /tmp/wharf-proxy-bench.XXXXXX)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=docs/bench-results/proxy-$STAMP.txt
mkdir -p docs/bench-results "$WORK/logs"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

nginx_conf() { # NAME WORKERS SERVER-BLOCK
  cat >"$WORK/$1.conf" <<CONF
worker_processes $2;
pid $WORK/$1.pid;
error_log $WORK/logs/$1.error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$BACKEND; keepalive 64; }
  $3
}
CONF
  nginx -p "$WORK" -c "$WORK/$1.conf" -g 'daemon off;' &
  pids+=($!)
}

nginx_conf backend 1 "server { listen 127.0.0.1:$BACKEND; location / { default_type text/plain; return 200 \"ok\\n\"; } }"
nginx_conf proxy 2 "server { listen 127.0.0.1:$NGINX; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } }"
"$WHARF" proxy --listen 127.0.0.1:$WPROXY --admin 127.0.0.1:$WADMIN --state "$WORK/proxy.json" \
  >"$WORK/wharf.out" 2>"$WORK/logs/wharf.err" &
WPID=$!
pids+=($WPID)

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
for p in $BACKEND $NGINX $WPROXY $WADMIN; do wait_port "$p"; done
curl -fsS -X PUT "http://127.0.0.1:$WADMIN/services/bench" -d '{"hosts": [], "default": true}' >/dev/null
curl -fsS -X POST "http://127.0.0.1:$WADMIN/services/bench/deploy" \
  -d "{\"release\": \"backend\", \"addr\": \"127.0.0.1:$BACKEND\", \"health\": {\"interval_ms\": 100}}" >/dev/null
for p in $BACKEND $NGINX $WPROXY; do curl -fsS "http://127.0.0.1:$p/" >/dev/null; done

CMD="wrk -t$THREADS -c$CONNS -d$DURATION --latency"
{
  echo "# wharf proxy vs nginx reverse proxy, $STAMP"
  echo "# $(uname -srm); $(nproc) cores; $(nginx -v 2>&1); $(wrk --version 2>&1 | head -1)"
  echo "# wharf: $WHARF ($("$WHARF" --version 2>/dev/null || true)); command: $CMD http://127.0.0.1:PORT/"
} >"$RAW"

declare -A RPS P99
run() { # NAME PORT
  local out
  out=$($CMD "http://127.0.0.1:$2/")
  printf '\n## %s (port %s)\n%s\n' "$1" "$2" "$out" >>"$RAW"
  RPS[$1]+="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out") "
  P99[$1]+="$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out") "
}
for r in $(seq "$ROUNDS"); do
  echo "round $r of $ROUNDS" >&2
  run direct $BACKEND
  run nginx $NGINX
  run wharf $WPROXY
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
rss=$(awk '/^VmRSS/ {print $2}' /proc/$WPID/status)
hwm=$(awk '/^VmHWM/ {print $2}' /proc/$WPID/status)
d_rps=$(median "${RPS[direct]}"); n_rps=$(median "${RPS[nginx]}"); w_rps=$(median "${RPS[wharf]}")
d_p99=$(median "${P99[direct]}"); n_p99=$(median "${P99[nginx]}"); w_p99=$(median "${P99[wharf]}")
summary=$(awk -v d="$d_rps" -v n="$n_rps" -v w="$w_rps" -v dp="$d_p99" -v np="$n_p99" -v wp="$w_p99" -v rss="$rss" -v hwm="$hwm" 'BEGIN {
  printf "| | requests/s (median) | p99 ms (median) | p99 added over direct |\n|---|---|---|---|\n"
  printf "| backend direct | %.0f | %.2f | |\n", d, dp
  printf "| nginx reverse proxy | %.0f | %.2f | %.2f ms |\n", n, np, np - dp
  printf "| wharf proxy | %.0f | %.2f | %.2f ms |\n", w, wp, wp - dp
  printf "\nwharf/nginx throughput: %.2f (target >= 0.80: %s)\n", w / n, (w / n >= 0.8 ? "met" : "NOT met")
  printf "wharf p99 added: %.2f ms (target <= 1 ms: %s)\n", wp - dp, (wp - dp <= 1 ? "met" : "NOT met")
  printf "wharf proxy RSS: %.1f MiB now, %.1f MiB peak\n", rss / 1024, hwm / 1024
}')
printf '\n## summary (%s rounds; per-round values: direct %s/ nginx %s/ wharf %s)\n%s\n' \
  "$ROUNDS" "${RPS[direct]}" "${RPS[nginx]}" "${RPS[wharf]}" "$summary" >>"$RAW"
echo "$summary"
echo "raw output: $RAW"
