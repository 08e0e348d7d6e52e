#!/bin/sh
# The demo image's entrypoint: the image ships the release (the wheel) on a busybox base
# and says what it holds. With a Python base image it would start the app instead.
set -eu
echo "wharf-demo-app ${APP_VERSION:-unknown}"
for f in /app/dist/*.whl; do
  echo "wheel: ${f##*/} sha256:$(sha256sum "$f" | cut -d' ' -f1)"
done
