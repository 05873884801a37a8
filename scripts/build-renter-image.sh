#!/usr/bin/env bash
# Builds the renter image for an architecture and checks that it runs: `uname -m` inside
# it, then its real entrypoint (account + sshd) with an SSH login from this machine.
# A foreign architecture runs under qemu-user-static, which takes minutes; this script is
# not part of scripts/test.
#
# Usage: scripts/build-renter-image.sh [--arch amd64|arm64|armhf] [--tag TAG]
#                                      [--save FILE.tar.gz] [--rm] [--no-test]
#   --save  also writes the image with `docker save | gzip`, to copy to a device
#           (`gunzip -c FILE | docker load` there); the agent then finds it by its tag
#           (give --tag p2pvps/renter:latest for that).
#   --rm    removes the image afterwards (after --save), leaving nothing behind.
# Needs root, debootstrap, a running dockerd, ssh, and for a foreign architecture
# qemu-user-static with binfmt_misc handlers (apt-get install qemu-user-static binfmt-support).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
host_arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
arch="$host_arch" tag="" save="" remove="" test=1
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="${2:?}"; shift 2 ;;
    --tag) tag="${2:?}"; shift 2 ;;
    --save) save="${2:?}"; shift 2 ;;
    --rm) remove=1; shift ;;
    --no-test) test=""; shift ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-renter-image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$arch" in
  amd64) platform=linux/amd64 qemu=x86_64 uname=x86_64 ;;
  arm64) platform=linux/arm64 qemu=aarch64 uname=aarch64 ;;
  armhf) platform=linux/arm/v7 qemu=arm uname=armv7l ;;
  *) echo "build-renter-image.sh: unsupported architecture '$arch' (amd64, arm64 or armhf)" >&2; exit 2 ;;
esac
if [ -z "$tag" ]; then
  if [ "$arch" = "$host_arch" ]; then tag=p2pvps/renter:latest; else tag="p2pvps/renter:latest-$arch"; fi
fi
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf 'build-renter-image.sh: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "run this as root (debootstrap and chroot need it)"
docker info >/dev/null 2>&1 || fail "the Docker engine is not running"

if [ "$arch" != "$host_arch" ]; then
  command -v "qemu-$qemu-static" >/dev/null || fail "qemu-$qemu-static is missing: apt-get install qemu-user-static binfmt-support"
  if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    fail "binfmt_misc is not mounted: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && update-binfmts --enable"
  fi
  handler=/proc/sys/fs/binfmt_misc/qemu-$qemu
  if [ ! -e "$handler" ] || ! grep -qx enabled "$handler"; then fail "no enabled binfmt_misc handler for $arch: update-binfmts --enable qemu-$qemu"; fi
  # Without F (fix binary) the kernel looks for the interpreter inside each container,
  # where it is not: `docker run` of a foreign image would fail with "exec format error".
  grep -q '^flags:.*F' "$handler" || fail "the qemu-$qemu handler lacks the F flag, so containers cannot use it; reinstall qemu-user-static (Debian's registers it with F)"
fi

started=$(date +%s)
elapsed() { echo "$(($(date +%s) - started))s"; }
step "building $tag for $arch ($platform)"
bash "$root/images/renter/build-offline.sh" --arch "$arch" "$tag"
built=$(elapsed)
step "built in $built; $(docker image inspect -f '{{.Architecture}}{{with .Variant}}/{{.}}{{end}}, {{.Size}} bytes' "$tag")"

container="" keydir=""
cleanup() {
  if [ -n "$container" ]; then docker rm -f "$container" >/dev/null 2>&1 || true; fi
  if [ -n "$keydir" ]; then rm -rf "$keydir"; fi
  if [ -n "$remove" ]; then docker image rm "$tag" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

if [ -n "$test" ]; then
  t0=$(date +%s)
  got="$(docker run --rm --platform "$platform" --network none --entrypoint uname "$tag" -m)"
  step "uname -m in the image: $got ($(($(date +%s) - t0))s)"
  [ "$got" = "$uname" ] || fail "expected $uname"

  # The real entrypoint on the host's network (this machine's engine may have no
  # bridge), sshd on a free loopback port; log in with a key made for the occasion.
  keydir="$(mktemp -d)"
  ssh-keygen -q -t ed25519 -N '' -f "$keydir/key"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  t0=$(date +%s)
  container="$(docker run -d --platform "$platform" --network host \
    -e P2PVPS_USER=smoke -e P2PVPS_PASSWORD_HASH="$(openssl rand -hex 12 | openssl passwd -6 -stdin)" -e "P2PVPS_AUTHORIZED_KEY=$(cat "$keydir/key.pub")" \
    -e P2PVPS_SSH_PORT="$port" -e P2PVPS_SSH_LISTEN=127.0.0.1 "$tag")"
  ssh_opts=(-i "$keydir/key" -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR)
  for _ in $(seq 1 120); do
    if login="$(ssh "${ssh_opts[@]}" smoke@127.0.0.1 'uname -m; whoami' 2>/dev/null)"; then break; fi
    [ "$(docker inspect -f '{{.State.Running}}' "$container")" = true ] || { docker logs "$container" >&2; fail "the container stopped"; }
    login="" && sleep 1
  done
  [ -n "$login" ] || { docker logs "$container" >&2; fail "no SSH login within 120 s"; }
  step "sshd answered and the login ran '$(echo "$login" | tr '\n' ' ')' after $(($(date +%s) - t0))s"
  [ "$(echo "$login" | head -1)" = "$uname" ] || fail "expected $uname from the login"
fi

if [ -n "$save" ]; then
  step "saving $tag to $save"
  docker save "$tag" | gzip -1 >"$save"
fi
step "done in $(elapsed) (build $built)${remove:+; removing $tag}"
