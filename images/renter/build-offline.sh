#!/usr/bin/env bash
# Builds the renter base image without a container registry: debootstrap a minimal
# Debian root filesystem from Debian's package mirror, add the entrypoint, and
# `docker import` it with the same entrypoint the Dockerfile declares.
#
# Usage: build-offline.sh [--arch amd64|arm64|armhf] [IMAGE_TAG]
#   (needs root, debootstrap and a running dockerd)
#
# --arch defaults to this machine's Debian architecture. Raspberry Pis take arm64 (Pi 3,
# 4, 5, Zero 2 with a 64-bit OS) or armhf (ARMv7: Pi 2 and later with a 32-bit OS; the
# ARMv6 Pi 1 and Zero are not supported by Debian's armhf). A foreign architecture is
# bootstrapped in two stages: debootstrap --foreign unpacks the packages, then its second
# stage runs inside the root filesystem under qemu-user-static (binfmt_misc must have the
# qemu handler registered; scripts/build-renter-image.sh checks). The default tag is
# p2pvps/renter:latest for this machine's architecture and p2pvps/renter:latest-ARCH for
# a foreign one, so a cross build never replaces the image this machine runs.
set -euo pipefail

host_arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
arch="$host_arch"
tag=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="${2:?--arch needs amd64, arm64 or armhf}"; shift 2 ;;
    --arch=*) arch="${1#--arch=}"; shift ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build-offline.sh: unknown option $1" >&2; exit 2 ;;
    *) tag="$1"; shift ;;
  esac
done
case "$arch" in
  amd64) platform=linux/amd64 qemu=x86_64 ;;
  arm64) platform=linux/arm64/v8 qemu=aarch64 ;;
  armhf) platform=linux/arm/v7 qemu=arm ;;
  *) echo "build-offline.sh: unsupported architecture '$arch' (amd64, arm64 or armhf)" >&2; exit 2 ;;
esac
if [ -z "$tag" ]; then
  if [ "$arch" = "$host_arch" ]; then tag=p2pvps/renter:latest; else tag="p2pvps/renter:latest-$arch"; fi
fi
foreign=""
[ "$arch" != "$host_arch" ] && foreign=1

here="$(cd "$(dirname "$0")" && pwd)"
suite="${P2PVPS_DEBIAN_SUITE:-bookworm}"
mirror="${P2PVPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
work="$(mktemp -d /var/tmp/p2pvps-rootfs.XXXXXX)"
trap 'rm -rf "$work"' EXIT

if [ -n "$foreign" ]; then
  qemu_bin="$(command -v "qemu-$qemu-static" || true)"
  [ -n "$qemu_bin" ] || { echo "build-offline.sh: building for $arch needs qemu-$qemu-static (apt-get install qemu-user-static binfmt-support)" >&2; exit 1; }
fi

# Every 25th progress line, and every warning and error, so a failure says why.
progress() {
  { grep --line-buffered -E '^(I: (Retrieving|Validating|Extracting|Installing|Configuring|Unpacking|Base system)|[EW]: )' || true; } \
    | awk '{ n++; if (n % 25 == 0 || /Base system|^[EW]: /) { print "    " $0; fflush() } }'
}

packages=openssh-server,ca-certificates,curl,less,nano,procps,iproute2,python3,openssl,sudo
echo "==> debootstrap $suite for $arch${foreign:+ (foreign: first stage)} (minbase + openssh-server, python3, openssl) into $work"
debootstrap --variant=minbase --arch="$arch" ${foreign:+--foreign} --include="$packages" \
  "$suite" "$work/rootfs" "$mirror" 2>&1 | progress
if [ -n "$foreign" ]; then
  # The interpreter inside the root filesystem serves binfmt handlers registered without
  # the F (fix binary) flag; with it, the kernel already holds the host's copy open.
  install -m 0755 "$qemu_bin" "$work/rootfs/usr/bin/"
  echo "==> debootstrap second stage under qemu-$qemu-static (at ${SECONDS}s)"
  chroot "$work/rootfs" /debootstrap/debootstrap --second-stage 2>&1 | progress
  rm -f "$work/rootfs/usr/bin/$(basename "$qemu_bin")"
fi

# The local apt repository deployment packages install from (offline-repo.sh): fetched now,
# while this machine reaches the mirror, since a rental has no internet.
echo "==> the offline apt repository for deployment packages (offline-packages.txt; at ${SECONDS}s)"
cp /etc/resolv.conf "$work/rootfs/etc/resolv.conf"
install -m 0755 "$here/offline-repo.sh" "$work/rootfs/tmp/offline-repo.sh"
install -m 0644 "$here/offline-packages.txt" "$work/rootfs/tmp/offline-packages.txt"
chroot "$work/rootfs" /tmp/offline-repo.sh /tmp/offline-packages.txt 2>&1 | grep -E '^(offline-repo|E:|W: [^D])' || true
[ -s "$work/rootfs/var/lib/p2pvps/apt/Packages" ] || { echo "build-offline.sh: the offline apt repository was not made" >&2; exit 1; }
rm -f "$work/rootfs/tmp/offline-repo.sh" "$work/rootfs/tmp/offline-packages.txt"
: >"$work/rootfs/etc/resolv.conf"

echo "==> trimming and adding the entrypoint (at ${SECONDS}s)"
rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin \
  "$work/rootfs/etc/ssh/ssh_host_"* "$work/rootfs/usr/share/doc" "$work/rootfs/usr/share/man"
install -m 0755 "$here/entrypoint.sh" "$work/rootfs/usr/local/sbin/p2pvps-entrypoint"
install -m 0755 "$here/await-renter.sh" "$work/rootfs/usr/local/sbin/p2pvps-await-renter"
install -m 0755 "$here/sshd.sh" "$work/rootfs/usr/local/sbin/p2pvps-sshd"

echo "==> docker import as $tag ($platform; at ${SECONDS}s)"
source_hash="$(cat "$here/Dockerfile" "$here/entrypoint.sh" "$here/await-renter.sh" "$here/sshd.sh" "$here/build-offline.sh" "$here/offline-repo.sh" "$here/offline-packages.txt" | sha256sum | cut -c1-16)"
tar -C "$work/rootfs" --numeric-owner -c . | docker import --platform "$platform" \
  --change "LABEL org.p2pvps.source=$source_hash" \
  --change 'ENTRYPOINT ["/usr/local/sbin/p2pvps-entrypoint"]' \
  --change 'LABEL org.p2pvps.image=renter' \
  - "$tag" >/dev/null
rm -rf "${work:?}/rootfs"

# Docker Engines before 23 (Debian bookworm's docker.io is 20.10) record their own
# architecture on an imported image whatever --platform says, and `docker run --platform`
# then looks for it in a registry. Rewrite the architecture in the image's config.
docker_arch="$(echo "$platform" | cut -d/ -f2)" variant="$(echo "$platform" | cut -d/ -f3)"
recorded="$(docker image inspect -f '{{.Architecture}}' "$tag")"
if [ "$recorded" != "$docker_arch" ]; then
  echo "==> the engine recorded $recorded; rewriting the image's architecture to $platform"
  old_id="$(docker image inspect -f '{{.Id}}' "$tag")"
  mkdir "$work/image"
  docker save "$tag" | tar -C "$work/image" -x
  node - "$work/image" "$docker_arch" "$variant" <<'EOF'
const fs = require('node:fs');
const crypto = require('node:crypto');
const [dir, architecture, variant] = process.argv.slice(2);
const manifest = JSON.parse(fs.readFileSync(`${dir}/manifest.json`, 'utf8'));
const config = JSON.parse(fs.readFileSync(`${dir}/${manifest[0].Config}`, 'utf8'));
config.architecture = architecture;
if (variant) config.variant = variant;
const text = JSON.stringify(config);
const name = `${crypto.createHash('sha256').update(text).digest('hex')}.json`;
fs.rmSync(`${dir}/${manifest[0].Config}`);
fs.writeFileSync(`${dir}/${name}`, text);
manifest[0].Config = name;
fs.writeFileSync(`${dir}/manifest.json`, JSON.stringify(manifest));
EOF
  tar -C "$work/image" -c . | docker load >/dev/null
  docker image rm "$old_id" >/dev/null 2>&1 || true
fi
echo "==> built $tag ($(docker image inspect -f '{{.Os}}/{{.Architecture}}{{with .Variant}}/{{.}}{{end}}' "$tag")) in ${SECONDS}s"
