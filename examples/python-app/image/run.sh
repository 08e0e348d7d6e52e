#!/bin/sh
# The demo image's entrypoint: the image ships the release (the wheel) on a busybox base.
# `run.sh` (the default) serves a page saying what the image holds, and /health, on port
# 8000 (busybox httpd: a Python base image would start the app itself); `run.sh info`
# prints the same and exits.
set -eu
info() {
  echo "wharf-demo-app ${APP_VERSION:-unknown}"
  for f in /app/dist/*.whl; do
    echo "wheel: ${f##*/} sha256:$(sha256sum "$f" | cut -d' ' -f1)"
  done
}
case "${1:-serve}" in
  info) info ;;
  serve)
    mkdir -p /tmp/www
    info >/tmp/www/index.html
    echo '{"status": "ok"}' >/tmp/www/health
    echo "wharf-demo-app ${APP_VERSION:-unknown}: serving on port 8000"
    exec busybox httpd -f -p 8000 -h /tmp/www
    ;;
  *) echo "usage: run.sh [serve|info]" >&2; exit 2 ;;
esac
