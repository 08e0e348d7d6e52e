#!/usr/bin/env bash
# Issue 16: time from `wharf deploy` to traffic on the new release, for an image the
# engine already has (pre-pulled), through the Docker target behind `wharf proxy`.
#
#   bench/deploy.sh [WHARF_BIN] [ROUNDS]      (default target/release/wharf, 5 rounds)
#
# Everything on 127.0.0.1: Debian's docker-registry, a `wharf proxy`, a project whose
# `wharf run` builds two releases of a static busybox httpd image (the body is the
# release) with wharf's own builder and pushes them. Each round measures, from the moment
# the command starts until a client polling the proxy every 5 ms first gets the new
# release's body:
#   deploy    `wharf deploy 0.2.0` (a new container of a pre-pulled image, health-gated)
#   rollback  `wharf rollback` to 0.1.0 (its retained container restarted, no pull)
#   baseline  `docker run` of the same image until it answers on its published port (the
#             floor: what starting the container costs by itself)
# and prints medians and the ratios deploy/baseline and rollback/baseline.
# Raw figures go to docs/bench-results/deploy-STAMP.txt. Needs docker (dockerd running),
# docker-registry, busybox-static and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

WHARF=$(realpath "${1:-target/release/wharf}")
ROUNDS=${2:-5}
for tool in docker docker-registry curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
[ -x "$WHARF" ] || { echo "no $WHARF: cargo build --release -p wharf" >&2; exit 2; }
docker version >/dev/null 2>&1 || { echo "no Docker Engine answers: start dockerd" >&2; exit 2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

WORK=$(mktemp -d /tmp/wharf-deploy-bench.XXXXXX)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$PWD/docs/bench-results/deploy-$STAMP.txt
mkdir -p docs/bench-results
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  docker ps -aq --filter "label=org.wharf.deploy.environment=bench" | xargs -r docker rm -f >/dev/null
  docker rm -f wharf-bench-baseline >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

REG=$(free_port)
mkdir -p "$WORK/registry"
cat >"$WORK/registry.yml" <<YML
version: 0.1
log: { level: error, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $WORK/registry } }
http: { addr: 127.0.0.1:$REG, secret: bench }
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
pids+=($!)
"$WHARF" proxy --listen 127.0.0.1:0 --admin 127.0.0.1:0 --state "$WORK/proxy.json" >"$WORK/proxy.out" 2>"$WORK/proxy.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$WORK/proxy.out" ] && curl -sf "http://127.0.0.1:$REG/v2/" >/dev/null && break; sleep 0.05; done
LISTEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listen"])' "$WORK/proxy.out")
ADMIN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$WORK/proxy.out")

P=$WORK/project
mkdir -p "$P/app/bin" "$P/app/www/up" "$P/app/tmp"
cp /bin/busybox "$P/app/bin/busybox"
ln -s busybox "$P/app/bin/sh"
ln -s busybox "$P/app/bin/httpd"
touch "$P/app/tmp/.keep"
echo ok >"$P/app/www/up/index.html"
cat >"$P/wharf.yml" <<YML
version: 1
jobs:
  image:
    steps:
      - build-image:
          from: scratch
          layers: [{ src: app/, dest: / }]
          entrypoint: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
          image: 127.0.0.1:$REG/bench/app
          push: true
  release:
    needs: [image]
    steps:
      - release: {}
environments:
  bench:
    target: { docker: { proxy: "http://$ADMIN", port: 8080, service: bench } }
    health: { path: /up/, interval: 20ms, timeout: 30s }
YML
printf '.wharf/\n' >"$P/.gitignore"
cd "$P"
git init -q && git config user.email bench@wharf.invalid && git config user.name bench
for v in 0.1.0 0.2.0; do
  echo "$v" >app/www/index.html
  git add -A && git commit -qm "feat: $v"
  "$WHARF" run --plain >/dev/null 2>"$WORK/run.log" || { cat "$WORK/run.log"; exit 1; }
done
IMG2=$("$WHARF" release show 0.2.0 --json | python3 -c 'import json,sys; r=json.load(sys.stdin); i=[x for x in r["items"] if x["kind"]=="pushed-image"][0]; print(i["name"].rsplit(":",1)[0]+"@"+i["digest"])')
docker pull -q "$IMG2" >/dev/null   # pre-pulled
"$WHARF" deploy 0.1.0 --env bench >/dev/null 2>&1

until_body() { # BODY PORT: poll until the body is BODY; prints the time it came
  while :; do
    b=$(curl -s -m 1 -H 'Host: bench.test' "http://$2/" 2>/dev/null || true)
    [ "$b" = "$1" ] && { now_ms; return; }
    sleep 0.005
  done
}

: >"$RAW"
deploys=() rollbacks=() baselines=()
for r in $(seq "$ROUNDS"); do
  t0=$(now_ms)
  "$WHARF" deploy 0.2.0 --env bench >/dev/null 2>&1 &
  t1=$(until_body 0.2.0 "$LISTEN"); wait $!
  deploys+=($((t1 - t0)))
  t0=$(now_ms)
  "$WHARF" rollback bench >/dev/null 2>&1 &
  t1=$(until_body 0.1.0 "$LISTEN"); wait $!
  rollbacks+=($((t1 - t0)))
  port=$(free_port)
  t0=$(now_ms)
  docker run -d --name wharf-bench-baseline -p "127.0.0.1:$port:8080" "$IMG2" >/dev/null
  t1=$(until_body 0.2.0 "127.0.0.1:$port")
  baselines+=($((t1 - t0)))
  docker rm -f wharf-bench-baseline >/dev/null
  echo "round $r: deploy ${deploys[-1]} ms, rollback ${rollbacks[-1]} ms, docker run ${baselines[-1]} ms" | tee -a "$RAW"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
D=$(median "${deploys[@]}") R=$(median "${rollbacks[@]}") B=$(median "${baselines[@]}")
{
  echo "median: deploy $D ms, rollback $R ms, docker run baseline $B ms"
  awk -v d="$D" -v r="$R" -v b="$B" 'BEGIN {printf "ratios: deploy/baseline %.2f, rollback/baseline %.2f\n", d/b, r/b}'
} | tee -a "$RAW"
