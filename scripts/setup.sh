#!/usr/bin/env bash
# Installs and starts what p2pvps needs on this machine, skipping what is already there:
# Debian packages (Docker engine, debootstrap, OpenSSH client, e2fsprogs and mount for the
# renter storage, LXCFS for renters' /proc, pebble and openssl for the TLS tests), npm
# dependencies, a running dockerd and LXCFS, and the renter base image. Sourced by scripts/demo and scripts/test.
#
# Docker engines: the machine's own (/var/run/docker.sock, no default bridge, containers on
# host networking; it builds the renter image), and engines in network namespaces this
# script makes, with user namespaces (userns-remap) and their own bridges, so renters are
# root in their containers and the production network path runs: p2pvps-test for
# scripts/test (which runs the tests inside it; P2PVPS_SETUP_TEST_ENGINE=0 skips it) and
# p2pvps-demo for scripts/demo (P2PVPS_SETUP_DEMO_ENGINE=1).
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
# Renters' encrypted storage: ext4's encryption ioctls are called through python3 (docs/encryption.md).
command -v python3 >/dev/null || need+=(python3)
# The agent keeps renter containers off the home network (iptables, ip6tables) and caps their
# bandwidth (tc, ip); its tests build small networks of namespaces (ip netns).
command -v iptables-restore >/dev/null || need+=(iptables)
# The tests' engine starts inside its network namespace through nsenter.
command -v nsenter >/dev/null || need+=(util-linux)
command -v tc >/dev/null || need+=(iproute2)
# gVisor, the runtime an owner may choose for renter containers (e2e/gvisor-runtime.test.ts).
command -v runsc >/dev/null || need+=(runsc)
# The namespace engines keep their data on XFS with project quotas, so a renter's / is capped.
command -v mkfs.xfs >/dev/null || need+=(xfsprogs)
# Renter containers' /proc (free, top, /proc/cpuinfo) shows their rental's memory and cores through LXCFS.
command -v lxcfs >/dev/null || need+=(lxcfs)
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
# ssh2's packet size and padding for the tunnel (packages/protocol/ssh2-patch.mjs): npm ci applies
# it as the protocol package's postinstall; this covers a node_modules copied from elsewhere.
node "$root/packages/protocol/ssh2-patch.mjs"
# The tunnel's speed depends on ssh2's native crypto binding, built by npm ci: fail loudly without it.
node "$root/scripts/check-native.mjs"
# The agent runs as one plain JavaScript file (packages/agent/bin/p2pvps-agent): build it from this checkout's sources.
node "$root/packages/agent/build.mjs"

export P2PVPS_DOCKER_SOCKET="${P2PVPS_DOCKER_SOCKET:-/var/run/docker.sock}"
if ! docker info >/dev/null 2>&1; then
  step "starting the Docker engine (dockerd --bridge=none; log in /var/log/p2pvps-dockerd.log)"
  # No default bridge: renter containers use host networking on loopback ports here, so
  # nothing ever sends traffic to a private-range address on this machine.
  nohup dockerd --bridge=none --iptables=false --ip6tables=false >/var/log/p2pvps-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || fail "dockerd did not start; see /var/log/p2pvps-dockerd.log"
fi

# LXCFS at /var/lib/lxcfs, where the agent looks for it (agent/src/docker/lxcfs.ts). Without
# systemd nothing starts the package's unit, so start it here; a mount left by an LXCFS that
# died answers nothing ("Transport endpoint is not connected") and is let go of first.
if ! cat /var/lib/lxcfs/proc/uptime >/dev/null 2>&1; then
  step "starting LXCFS (lxcfs /var/lib/lxcfs; log in /var/log/p2pvps-lxcfs.log)"
  # A dead FUSE mount cannot even be stat'ed (mountpoint says no), so let go of it unasked.
  umount -l /var/lib/lxcfs 2>/dev/null || true
  mkdir -p /var/lib/lxcfs
  nohup lxcfs /var/lib/lxcfs >/var/log/p2pvps-lxcfs.log 2>&1 &
  for _ in $(seq 1 40); do cat /var/lib/lxcfs/proc/uptime >/dev/null 2>&1 && break; sleep 0.25; done
  cat /var/lib/lxcfs/proc/uptime >/dev/null 2>&1 || fail "LXCFS did not start; see /var/log/p2pvps-lxcfs.log"
fi

# /dev/net/tun open to all, as Debian's udev makes it (50-udev-default.rules: MODE="0666") and
# as it is on every device with udev: harmless, since making or joining an interface still
# takes CAP_NET_ADMIN. This machine has no udev and leaves it 0600. Under userns-remap runc
# cannot mknod, so a container's --device /dev/net/tun is a bind mount of the host's node
# (PathOnHost is ignored), owned by an unmapped root: a 0600 node is refused to the container's
# root, and the wireguard package cannot make its interface (docs/packages.md).
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
  step "opening /dev/net/tun to containers (chmod 0666, as udev does)"
  chmod 0666 /dev/net/tun
fi

image="${P2PVPS_RENTER_IMAGE:-p2pvps/renter:latest}"
# The image carries a hash of the files it was built from; rebuild when they change.
want="$(cd "$root/images/renter" && cat Dockerfile entrypoint.sh await-renter.sh sshd.sh build-offline.sh offline-repo.sh offline-packages.txt | sha256sum | cut -c1-16)"
have="$(docker image inspect -f '{{ index .Config.Labels "org.p2pvps.source" }}' "$image" 2>/dev/null || true)"
if [ "$have" != "$want" ]; then
  step "building the renter base image $image (debootstrap; takes about a minute)"
  bash "$root/images/renter/build-offline.sh" "$image"
fi

# The machine's engine has no default bridge: its containers (the demo's) use host networking.
if docker network inspect bridge >/dev/null 2>&1; then
  export P2PVPS_CONTAINER_NETWORK="${P2PVPS_CONTAINER_NETWORK:-bridge}"
else
  export P2PVPS_CONTAINER_NETWORK="${P2PVPS_CONTAINER_NETWORK:-host}"
fi

# overlay2 caps a container's writable layer (`--storage-opt size=`, which the agent uses to
# cap a renter's /) only when the data root is XFS mounted with project quotas. DIR gets
# one: an XFS filesystem in a sparse file beside it (DIR.xfs, 16 GiB at most, taking on the
# machine's disk only what is written; `discard` gives freed blocks back), mounted -o pquota.
# Called only while DIR's engine is stopped; an engine started before this (data on the
# machine's own disk) keeps running as it is, and an old data root left in DIR is hidden
# under the mount, not deleted. A kernel built without XFS quotas (CONFIG_XFS_QUOTA; the
# mount fails, dmesg says "quota support not available") keeps DIR on the machine's disk:
# the agent then leaves renters' / uncapped and says so.
xfs_data_root() {
  local dir="$1" file="$1.xfs"
  if mountpoint -q "$dir"; then
    findmnt -n -o FSTYPE,OPTIONS "$dir" | grep -qE '^xfs .*(prjquota|pquota)' ||
      fail "$dir is mounted but is not XFS with project quotas (findmnt $dir); unmount it and run this again"
    return 0
  fi
  if [ ! -f "$file" ]; then
    step "making an XFS filesystem with project quotas in $file for the Docker engine's data"
    truncate -s 16G "$file"
    mkfs.xfs -q "$file"
  fi
  mkdir -p "$dir"
  if ! mount -o loop,pquota,discard "$file" "$dir" 2>/dev/null; then
    step "this kernel cannot mount XFS with project quotas: $dir stays on the machine's disk, and renters' / is not capped"
    rm -f "$file"
  fi
}

# A Docker engine inside a network namespace of its own (NAME: p2pvps-test for the tests,
# p2pvps-demo for the quick start): its bridges, containers and their private addresses
# exist only there, and whoever uses it runs in the same namespace (scripts/test,
# scripts/demo.ts), so nothing in the machine's own namespace ever sends to a private
# address. Started with nsenter, not `ip netns exec`, which remounts /sys and hides the
# cgroup v1 mounts dockerd needs ("Devices cgroup isn't mounted"). userns-remap:
# containers' root is the unprivileged "dockremap" range (100000 and up) on the host.
# Docker's own iptables rules are on: they live in the namespace's own firewall. The renter
# image is copied in from the machine's engine when its source hash differs. Its data root
# is XFS with project quotas (xfs_data_root), so the agent caps renters' / as on a device
# set up with `install-agent.sh --disk-quota`.
netns_engine() {
  local name="$1" socket="/run/$1-docker.sock"
  if [ ! -e "/var/run/netns/$name" ]; then
    step "making the network namespace $name"
    ip netns add "$name"
  fi
  ip -n "$name" link set lo up
  if ! docker -H "unix://$socket" info >/dev/null 2>&1; then
    xfs_data_root "/var/lib/$name-docker"
    step "starting a Docker engine in $name (userns-remap; log in /var/log/$name-dockerd.log)"
    nohup nsenter "--net=/var/run/netns/$name" dockerd --userns-remap=default \
      "--data-root=/var/lib/$name-docker" "--exec-root=/run/$name-docker" \
      "--pidfile=/run/$name-docker.pid" -H "unix://$socket" \
      >"/var/log/$name-dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do docker -H "unix://$socket" info >/dev/null 2>&1 && break; sleep 0.5; done
    docker -H "unix://$socket" info >/dev/null 2>&1 || fail "dockerd in $name did not start; see /var/log/$name-dockerd.log"
  fi
  local have
  have="$(docker -H "unix://$socket" image inspect -f '{{ index .Config.Labels "org.p2pvps.source" }}' "$image" 2>/dev/null || true)"
  if [ "$have" != "$want" ]; then
    step "copying the renter image $image into the engine in $name"
    docker save "$image" | docker -H "unix://$socket" load >/dev/null
  fi
}

# The tests' engine (scripts/test runs the tests in its namespace). P2PVPS_SETUP_TEST_ENGINE=0
# skips it; P2PVPS_TEST_NETNS=NAME gives the tests an engine of their own in namespace NAME,
# to try a change to the engine without disturbing the shared p2pvps-test.
if [ "${P2PVPS_SETUP_TEST_ENGINE:-1}" = 1 ]; then
  test_netns="${P2PVPS_TEST_NETNS:-p2pvps-test}"
  netns_engine "$test_netns"
  export P2PVPS_TEST_NETNS="$test_netns" P2PVPS_TEST_DOCKER_SOCKET="/run/$test_netns-docker.sock"
fi
# The quick start's engine (scripts/demo asks for it): its agent runs in that namespace.
if [ "${P2PVPS_SETUP_DEMO_ENGINE:-0}" = 1 ]; then
  netns_engine p2pvps-demo
  export P2PVPS_DEMO_NETNS=p2pvps-demo P2PVPS_DEMO_DOCKER_SOCKET=/run/p2pvps-demo-docker.sock
fi
