#!/usr/bin/env bash
# Installs and starts what p2pvps needs on this machine, skipping what is already there:
# Debian packages (Docker engine, debootstrap, OpenSSH client, e2fsprogs and mount for the
# renter storage, pebble and openssl for the TLS tests), npm dependencies, a running dockerd,
# and the renter base image. Sourced by scripts/demo and scripts/test.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  fail "run this as root (for example: sudo $0). It installs Debian packages and starts the Docker engine."
fi
if ! grep -qiE '^(ID|ID_LIKE)=.*debian' /etc/os-release 2>/dev/null; then
  fail "this script supports Debian and its derivatives (it uses apt-get). Install Node 20+, docker.io, debootstrap and openssh-client yourself, then run 'npm ci'."
fi
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 20 ]; then
  fail "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))."
fi

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v ssh >/dev/null || need+=(openssh-client)
# The tests audit both SSH servers a device or renter meets (the gateway, the renter container's sshd).
command -v ssh-audit >/dev/null || need+=(ssh-audit)
command -v curl >/dev/null || need+=(curl)
# The agent's renter storage: ext4 on an image file or a USB drive, mounted through loop devices.
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v losetup >/dev/null || need+=(mount)
command -v blkdiscard >/dev/null || need+=(util-linux)
# The agent keeps renter containers off the home network (iptables, ip6tables) and caps their
# bandwidth (tc, ip); its tests build small networks of namespaces (ip netns).
command -v iptables-restore >/dev/null || need+=(iptables)
command -v tc >/dev/null || need+=(iproute2)
# The dashboard's browser tests drive Debian's Chromium through playwright-core.
command -v chromium >/dev/null || need+=(chromium fonts-dejavu-core)
# The server's ACME tests get certificates from Let's Encrypt's test CA, pebble (with its test DNS).
command -v pebble >/dev/null || need+=(pebble)
# Tests make throw-away certificate authorities with the openssl command.
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  step "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi

cd "$root"
stamp=node_modules/.p2pvps-lock
if [ ! -d node_modules ] || ! cmp -s package-lock.json "$stamp"; then
  step "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
# The tunnel's speed depends on ssh2's native crypto binding, built by npm ci: fail loudly without it.
node "$root/scripts/check-native.mjs"

export P2PVPS_DOCKER_SOCKET="${P2PVPS_DOCKER_SOCKET:-/var/run/docker.sock}"
if ! docker info >/dev/null 2>&1; then
  step "starting the Docker engine (dockerd --bridge=none; log in /var/log/p2pvps-dockerd.log)"
  # No default bridge: renter containers use host networking on loopback ports here, so
  # nothing ever sends traffic to a private-range address on this machine.
  nohup dockerd --bridge=none --iptables=false --ip6tables=false >/var/log/p2pvps-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || fail "dockerd did not start; see /var/log/p2pvps-dockerd.log"
fi

image="${P2PVPS_RENTER_IMAGE:-p2pvps/renter:latest}"
# The image carries a hash of the files it was built from; rebuild when they change.
want="$(cd "$root/images/renter" && cat Dockerfile entrypoint.sh await-renter.sh build-offline.sh | sha256sum | cut -c1-16)"
have="$(docker image inspect -f '{{ index .Config.Labels "org.p2pvps.source" }}' "$image" 2>/dev/null || true)"
if [ "$have" != "$want" ]; then
  step "building the renter base image $image (debootstrap; takes about a minute)"
  bash "$root/images/renter/build-offline.sh" "$image"
fi

# Containers on an engine without the default bridge must use host networking.
if docker network inspect bridge >/dev/null 2>&1; then
  export P2PVPS_CONTAINER_NETWORK="${P2PVPS_CONTAINER_NETWORK:-bridge}"
else
  export P2PVPS_CONTAINER_NETWORK="${P2PVPS_CONTAINER_NETWORK:-host}"
fi
