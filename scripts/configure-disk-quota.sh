#!/usr/bin/env bash
# Caps renters' / on this device. A renter is root in their container and writes its own
# layer (apt-get install, logs) on the Docker engine's disk; overlay2 caps that layer only
# when the engine's data root is XFS mounted with project quotas. This puts the data root on
# one, in a file, and the agent then caps each renter's / (packages/agent/src/docker/root-disk.ts).
#
#   sudo scripts/configure-disk-quota.sh --size SIZE [--file FILE] [--mount DIR] [--daemon-json FILE] [--no-restart]
#
# Makes FILE (default /var/lib/p2pvps-docker.xfs) a sparse file of SIZE (like 16G: the most
# Docker's images and containers may take; the file takes on the disk only what is written,
# and `discard` gives freed blocks back), formats it XFS, mounts it at DIR (default
# /var/lib/p2pvps-docker) with loop,pquota,discard, adds it to /etc/fstab, makes Docker's
# systemd unit wait for it, sets "data-root" to DIR in daemon.json (other keys are kept) and
# restarts Docker. Do it while no rental runs: the restart stops containers. What was in the
# old data root (images, the owner's own containers) stays there, unseen; the agent builds
# the renter image again. The kernel must have XFS quotas (CONFIG_XFS_QUOTA): the script
# mounts the filesystem first and stops, changing nothing in Docker, if it cannot.
# install-agent.sh --disk-quota SIZE runs this.
#
# Options:
#   --size SIZE          the filesystem's size, as truncate(1) takes it (16G, 8192M); required
#   --file FILE          where the filesystem lives (default /var/lib/p2pvps-docker.xfs)
#   --mount DIR          where it is mounted, Docker's new data root (default /var/lib/p2pvps-docker)
#   --daemon-json FILE   the engine's config (default /etc/docker/daemon.json)
#   --no-restart         do not restart Docker or touch /etc/fstab and systemd (for trying it out)
set -euo pipefail

fail() { printf 'p2pvps configure-disk-quota: %s\n' "$*" >&2; exit 1; }
step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }

size="" file=/var/lib/p2pvps-docker.xfs mount_dir=/var/lib/p2pvps-docker daemon_json=/etc/docker/daemon.json restart=1
while [ $# -gt 0 ]; do
  case "$1" in
    --size | --file | --mount | --daemon-json)
      [ $# -ge 2 ] || fail "$1 needs a value"
      case "$1" in --size) size="$2" ;; --file) file="$2" ;; --mount) mount_dir="$2" ;; --daemon-json) daemon_json="$2" ;; esac
      shift 2 ;;
    --no-restart) restart=""; shift ;;
    -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$size" ] || fail "--size SIZE is required (like 16G): the most Docker's images and containers may take"
[[ "$size" =~ ^[0-9]+[MGT]$ ]] || fail "--size must be a number with M, G or T, like 16G, not \"$size\""
[ "$(id -u)" -eq 0 ] || fail "run this as root (sudo): it formats and mounts a filesystem and restarts Docker"
command -v node >/dev/null || fail "node is needed to edit daemon.json"
if ! command -v mkfs.xfs >/dev/null; then
  step "installing xfsprogs (mkfs.xfs)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends xfsprogs >/dev/null || fail "could not install xfsprogs"
fi

if mountpoint -q "$mount_dir"; then
  findmnt -n -o FSTYPE,OPTIONS "$mount_dir" | grep -qE '^xfs .*(prjquota|pquota)' \
    || fail "$mount_dir is mounted already, and not as XFS with project quotas; choose another --mount"
  note "$mount_dir is XFS with project quotas already"
else
  if [ ! -f "$file" ]; then
    step "making an XFS filesystem of $size in $file"
    mkdir -p "$(dirname "$file")"
    truncate -s "$size" "$file"
    mkfs.xfs -q "$file" || { rm -f "$file"; fail "mkfs.xfs failed on $file"; }
  fi
  mkdir -p "$mount_dir"
  if ! mount -o loop,pquota,discard "$file" "$mount_dir" 2>/dev/null; then
    fail "this kernel cannot mount XFS with project quotas (dmesg: \"quota support not available\": built without CONFIG_XFS_QUOTA); Docker is unchanged and renters' / stays uncapped ($file is left for a kernel that can)"
  fi
  step "mounted $file at $mount_dir (XFS, project quotas)"
fi

result="$(node -e '
  const fs = require("node:fs");
  const [file, dir] = process.argv.slice(1);
  let config = {};
  if (fs.existsSync(file)) {
    try { config = JSON.parse(fs.readFileSync(file, "utf8") || "{}"); } catch (e) { console.log("invalid " + e.message); process.exit(0); }
    if (config === null || typeof config !== "object" || Array.isArray(config)) { console.log("invalid not a JSON object"); process.exit(0); }
  }
  if (config["data-root"] === dir) { console.log("kept"); process.exit(0); }
  config["data-root"] = dir;
  fs.mkdirSync(require("node:path").dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(config, null, 2) + "\n");
  console.log("changed");' "$daemon_json" "$mount_dir")"
case "$result" in
  invalid*) fail "$daemon_json is not valid JSON (${result#invalid }); fix it, then run this again" ;;
  kept) note "Docker's data root is $mount_dir already ($daemon_json)" ;;
  changed) step "Docker's data root is now $mount_dir (\"data-root\" in $daemon_json)" ;;
esac

[ -n "$restart" ] || { note "not restarting Docker, and /etc/fstab is unchanged (--no-restart)"; exit 0; }
if ! grep -qsF " $mount_dir xfs " /etc/fstab; then
  step "mounting it at every boot (/etc/fstab)"
  printf '%s %s xfs loop,pquota,discard,nofail 0 0\n' "$file" "$mount_dir" >>/etc/fstab
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  # Docker must not start on an empty directory if the mount is missing: it would fill the disk unseen.
  mkdir -p /etc/systemd/system/docker.service.d
  printf '[Unit]\nRequiresMountsFor=%s\n' "$mount_dir" >/etc/systemd/system/docker.service.d/p2pvps-data-root.conf
  systemctl daemon-reload
  if [ "$result" = changed ]; then
    step "restarting Docker (systemctl restart docker.service)"
    systemctl restart docker.service || fail "Docker did not restart; see journalctl -u docker.service"
  fi
else
  note "restart the Docker engine yourself (dockerd reads $daemon_json when it starts)"
fi
note "renters' / is capped from the agent's next start (it says so in its log when it is not)"
