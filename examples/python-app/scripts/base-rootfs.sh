#!/bin/sh
# A minimal root filesystem for the demo image: Debian's static busybox and a few applet
# links. No image can be pulled from the internet here, so the example makes its own base
# (a real project would use `from: REGISTRY/python:3.12-slim` or similar).
#   usage: scripts/base-rootfs.sh DIR
set -eu
out=${1:?usage: base-rootfs.sh DIR}
bb=$(command -v busybox) || {
  echo "busybox is not installed (Debian: apt-get install busybox-static)" >&2
  exit 1
}
rm -rf "$out"
mkdir -p "$out/bin" "$out/tmp"
cp "$bb" "$out/bin/busybox"
for applet in sh ls cat echo sha256sum mkdir cut; do
  ln -s busybox "$out/bin/$applet"
done
