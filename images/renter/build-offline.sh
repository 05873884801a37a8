#!/usr/bin/env bash
# Builds the renter base image without a container registry: debootstrap a minimal
# Debian root filesystem from Debian's package mirror, add the entrypoint, and
# `docker import` it with the same entrypoint the Dockerfile declares.
# Usage: build-offline.sh [IMAGE_TAG]   (needs root, debootstrap and a running dockerd)
set -euo pipefail
tag="${1:-p2pvps/renter:latest}"
here="$(cd "$(dirname "$0")" && pwd)"
suite="${P2PVPS_DEBIAN_SUITE:-bookworm}"
mirror="${P2PVPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
work="$(mktemp -d /var/tmp/p2pvps-rootfs.XXXXXX)"
trap 'rm -rf "$work"' EXIT

echo "==> debootstrap $suite (minbase + openssh-server, python3, openssl) into $work"
debootstrap --variant=minbase \
  --include=openssh-server,ca-certificates,curl,less,nano,procps,iproute2,python3,openssl \
  "$suite" "$work/rootfs" "$mirror" 2>&1 | grep --line-buffered -E '^I: (Retrieving|Validating|Extracting|Installing|Configuring|Base system)' \
  | awk '{ n++; if (n % 25 == 0 || /Base system/) { print "    " $0; fflush() } }'

echo "==> trimming and adding the entrypoint"
rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin \
       "$work/rootfs/etc/ssh/ssh_host_"* "$work/rootfs/usr/share/doc" "$work/rootfs/usr/share/man"
install -m 0755 "$here/entrypoint.sh" "$work/rootfs/usr/local/sbin/p2pvps-entrypoint"

echo "==> docker import as $tag"
source_hash="$(cat "$here/Dockerfile" "$here/entrypoint.sh" "$here/build-offline.sh" | sha256sum | cut -c1-16)"
tar -C "$work/rootfs" --numeric-owner -c . | docker import \
  --change "LABEL org.p2pvps.source=$source_hash" \
  --change 'ENTRYPOINT ["/usr/local/sbin/p2pvps-entrypoint"]' \
  --change 'LABEL org.p2pvps.image=renter' \
  - "$tag" >/dev/null
echo "==> built $tag"
