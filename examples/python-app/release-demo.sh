#!/usr/bin/env bash
# The example's whole release, end to end, against real local services:
#   test -> wheel -> release package -> base image -> app image on it -> push -> publish
#   -> release record
#
# Starts Debian's docker-registry and a pypiserver (with htpasswd auth) on free ports on
# 127.0.0.1, stores the index token as a wharf secret, runs the pipeline for the tag
# v0.2.0 in a scratch git repository made from this directory, then checks the results
# with the real clients: skopeo, `docker run` (when a Docker Engine answers) and
# `pip install`, and prints the release record. Everything is stopped and removed at the
# end.
#
#   usage: examples/python-app/release-demo.sh [PATH-TO-WHARF]
#   needs: docker-registry, skopeo, busybox-static, apache2-utils (htpasswd), nox, and
#          pypiserver + passlib for python3 (.ci/run installs them all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'release-demo: %s\n' "$*" >&2; exit 1; }

wharf=${1:-}
if [ -z "$wharf" ]; then
  say "building wharf (release)"
  (cd "$root" && cargo build --release -q -p wharf)
  wharf="$root/target/release/wharf"
fi
wharf=$(cd "$(dirname "$wharf")" && pwd)/$(basename "$wharf")
python=${WHARF_DEMO_PYTHON:-python3}
for tool in docker-registry skopeo busybox htpasswd nox git; do
  command -v "$tool" >/dev/null || die "$tool is not installed (see the header of this script)"
done
"$python" -c 'import pypiserver, passlib' 2>/dev/null \
  || die "pypiserver and passlib are not installed for $python (pip install pypiserver passlib)"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; die "$2 did not start"; }

say "starting docker-registry on 127.0.0.1"
reg_port=$(free_port)
mkdir -p "$work/registry"
cat >"$work/registry/config.yml" <<YAML
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $work/registry/data }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$reg_port }
YAML
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$reg_port/v2/" "docker-registry"

say "starting pypiserver on 127.0.0.1 (uploads need the token)"
pypi_port=$(free_port)
token="pypi-demo-$("$python" -c 'import secrets; print(secrets.token_hex(16))')"
mkdir -p "$work/pypi/packages"
htpasswd -Bbc "$work/pypi/htpasswd" __token__ "$token" 2>/dev/null
"$python" -m pypiserver run -i 127.0.0.1 -p "$pypi_port" -a update -P "$work/pypi/htpasswd" \
  "$work/pypi/packages" >"$work/pypi/log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$pypi_port/simple/" "pypiserver"

say "a scratch repository of the example, tagged v0.2.0"
repo="$work/repo"
mkdir -p "$repo"
(cd "$here" && git ls-files -z . | xargs -0 tar cf -) | (cd "$repo" && tar xf -)
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=demo -c user.email=demo@example.invalid commit -qm "feat: the demo app, ready to ship"
git -C "$repo" -c user.name=demo -c user.email=demo@example.invalid tag -a -m v0.2.0 v0.2.0

say "storing the index token as the wharf secret PYPI_TOKEN"
export WHARF_SECRET_KEY_FILE="$work/secret.key"
printf %s "$token" | "$wharf" -C "$repo" secrets set PYPI_TOKEN

say "wharf run --event tag --tag v0.2.0"
"$wharf" -C "$repo" run --plain --event tag --tag v0.2.0 \
  --env "REGISTRY=127.0.0.1:$reg_port" --env "PYPI_UPLOAD_URL=http://127.0.0.1:$pypi_port/" \
  2>&1 | tee "$work/run.log"
# The app image starts from the base the `base` job pushed: pulled from the registry, and
# its layers mounted into the app's repository rather than uploaded again.
grep -q "pulled 127.0.0.1:$reg_port/wharf-demo-base:busybox" "$work/run.log" \
  || die "the image job did not pull its base from the registry"
grep -q "mounted from wharf-demo-base" "$work/run.log" \
  || die "the base layers were not mounted from wharf-demo-base"

image="127.0.0.1:$reg_port/wharf-demo-app"
say "checking the image with skopeo"
skopeo inspect --tls-verify=false "docker://$image:0.2.0" >"$work/inspect.json"
digest=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["Digest"])' "$work/inspect.json")
echo "image $image:0.2.0 $digest"
skopeo list-tags --tls-verify=false "docker://$image"

if docker info >/dev/null 2>&1; then
  say "docker pull and run of the pushed image"
  docker pull -q "$image:0.2.0" >/dev/null
  docker run --rm "$image:0.2.0" info
  docker rmi -f "$image:0.2.0" >/dev/null
else
  say "no Docker Engine answers: skipping docker run"
fi

say "pip install from the index, then import"
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --no-cache-dir --index-url "http://127.0.0.1:$pypi_port/simple/" wharf-demo-app==0.2.0
"$work/venv/bin/python" -c 'import demo_app; print("installed from the index:", demo_app.__version__)'

say "the release record"
"$wharf" -C "$repo" release show 0.2.0
"$wharf" -C "$repo" release show 0.2.0 --json | "$python" -c '
import json, sys
items = json.load(sys.stdin)["items"]
kinds = {(i["kind"], i["name"].split("/")[-1].split(" ")[0]) for i in items}
need = [("artifact", "wharf_demo_app-0.2.0-py3-none-any.whl"), ("package", "wharf-demo-app-0.2.0.tar.gz")]
missing = [n for n in need if n not in kinds] + ([] if any(k == "pushed-image" for k, _ in kinds) else ["the pushed image"])
sys.exit("the release record lacks %s" % missing if missing else 0)
'
say "ok: the release record lists the wheel, the release package and the image digest"

say "the release's risk and evidence: the gate's exception, SBOMs, signed provenance, signature"
show=$("$wharf" -C "$repo" release show 0.2.0)
for want in "EXC-0001" "PYSEC-2022-43017" "provenance" "sbom" "signature" "release.pub"; do
  grep -qi -- "$want" <<<"$show" || die "release show does not list $want"
done
"$wharf" -C "$repo" release verify 0.2.0

say "the image's signature and attached documents, read by skopeo"
hex=${digest#sha256:}
tags=$(skopeo list-tags --tls-verify=false "docker://$image")
grep -q "\"sha256-$hex.sig\"" <<<"$tags" || die "no cosign signature tag sha256-$hex.sig"
grep -q "\"sha256-$hex\"" <<<"$tags" || die "no referrers fallback tag sha256-$hex"
skopeo inspect --raw --tls-verify=false "docker://$image:sha256-$hex" | "$python" -c '
import json, sys
types = sorted(m.get("artifactType", "") for m in json.load(sys.stdin)["manifests"])
print("attached to the image:", ", ".join(types))
need = {"application/vnd.in-toto+json", "text/spdx+json", "application/vnd.cyclonedx+json"}
missing = need - set(types)
sys.exit("missing attached documents: %s" % sorted(missing) if missing else 0)
'

say "the load test of the image, kept with the run"
"$wharf" -C "$repo" artifacts --json | "$python" -c '
import json, sys
names = [a["path"] for a in json.load(sys.stdin)]
need = ["report.json", "latency.svg"]
found = [n for n in names if n.startswith("load-test/") and n.rsplit("/", 1)[-1] in need]
print("load test:", ", ".join(found))
sys.exit("no load-test report and histogram among %s" % names if len(found) < 2 else 0)
'
say "ok: gated, signed, with SBOMs and provenance attached, and load-tested before the push"
