#!/usr/bin/env bash
# Installs the p2pvps device agent on Raspberry Pi OS, Debian or Ubuntu, or removes it.
#
#   curl -fsSL https://SERVER/install.sh | sudo bash -s -- --sha256 HEX    (asks for the token)
#   sudo bash install-agent.sh --server https://SERVER --sha256 HEX --token-file FILE
#   sudo /opt/p2pvps-agent/scripts/install-agent.sh --uninstall [--purge]
#   sudo /opt/p2pvps-agent/scripts/install-agent.sh --configure-docker
#
# Install: Docker (Debian's docker.io), LXCFS and the storage tools if missing; Node.js 20+ from
# apt when the distribution's is new enough (else it stops and says where to get it);
# the agent code (SERVER/agent.tar.gz, made by scripts/pack-agent.sh, or --source), checked
# against --sha256 before it is unpacked, into PREFIX with `npm ci --omit=dev`;
# device-config.json from the enrolment token (asked for, or read from a file); and the
# systemd unit p2pvps-agent.service, enabled and started. Running it again upgrades the
# code and keeps the config unless a new token is given.
#
# Renters are root in their containers, so the Docker engine must make that root nobody on
# the device: the installer adds "userns-remap": "default" to /etc/docker/daemon.json
# (keeping what else is there) and restarts Docker, saying so. Docker then keeps images and
# containers for remapped engines apart: the owner's own containers on this engine, if any,
# are hidden until the setting is removed. Without it the agent still runs rentals, but the
# renter gets no root (packages/agent/src/docker/user-namespaces.ts).
#
# Uninstall: stops and removes the service, the unit, the agent code, this device's
# renter containers and volumes, the renter storage (unmounted, loop devices detached,
# image file deleted), the agent's firewall chains (P2PVPS*), its network p2pvps-renter
# and ifb device, and the renter image. The device's identity (config file, key and
# state in the data dir) stays for a reinstall unless --purge. Debian packages it
# installed stay (Docker may serve other things); it names them.
#
# Options:
#   --server URL        the marketplace server (default: the server this script came from)
#   --sha256 HEX        the SHA-256 of the agent's code, as the dashboard's or `p2pvps devices add`'s
#                       install command gives it; the code is refused unless it matches (required
#                       when the code is downloaded)
#   --token-file FILE   a file holding the one-time enrolment token from `p2pvps devices add` or the
#                       dashboard; without it the token is asked for on the terminal (never argv)
#   --insecure-http     allow a plain http:// server on another machine (a lab network of your own)
#   --source SRC        agent code: a .tar.gz file or URL, or a p2pvps checkout
#                       (default: the checkout this script is in, else SERVER/agent.tar.gz)
#   --prefix DIR        where the code goes (default /opt/p2pvps-agent)
#   --config FILE       device-config.json (default /etc/p2pvps/device-config.json)
#   --data-dir DIR      the agent's data dir (default /var/lib/p2pvps-agent)
#   --unit-dir DIR      where the systemd unit goes (default /etc/systemd/system)
#   --no-start          write the unit but do not enable or start it
#   --gvisor            run renter containers under gVisor: installs runsc, registers it with
#                       Docker and sets "runtime": "runsc" (scripts/configure-gvisor.sh)
#   --disk-quota SIZE   cap renters' /: Docker's data root on an XFS file of SIZE (16G) with
#                       project quotas, then a restart of Docker (scripts/configure-disk-quota.sh)
#   --uninstall         remove the agent; with --purge also its config and data dir
#   --keep-image        (uninstall) leave the renter image in Docker
#   --configure-docker  only turn on userns-remap in the Docker engine's config and restart it
if [ -z "${BASH_VERSION:-}" ]; then
  echo "p2pvps install: run this with bash: curl -fsSL https://SERVER/install.sh | sudo bash -s -- --sha256 HEX" >&2
  exit 2
fi
set -euo pipefail

# Replaced by the server that serves this script at /install.sh with its own public URL.
default_server=""

main() {
  local server="$default_server" token_file="" source="" prefix=/opt/p2pvps-agent config=/etc/p2pvps/device-config.json
  local data_dir=/var/lib/p2pvps-agent unit_dir=/etc/systemd/system start=1 mode=install purge="" keep_image=""
  sha256="" insecure_http="" gvisor="" disk_quota=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --server | --token-file | --sha256 | --source | --prefix | --config | --data-dir | --unit-dir | --disk-quota)
        [ $# -ge 2 ] || usage_error "$1 needs a value"
        case "$1" in
          --server) server="$2" ;; --token-file) token_file="$2" ;; --sha256) sha256="$2" ;; --source) source="$2" ;;
          --prefix) prefix="$2" ;; --config) config="$2" ;; --data-dir) data_dir="$2" ;; --unit-dir) unit_dir="$2" ;;
          --disk-quota) disk_quota="$2" ;;
        esac
        shift 2 ;;
      --token) usage_error "--token would show the enrolment token to every user of this machine (ps, shell history); use --token-file FILE, or leave it out to be asked" ;;
      --insecure-http) insecure_http=1; shift ;;
      --gvisor) gvisor=1; shift ;;
      --no-start) start=""; shift ;;
      --uninstall) mode=uninstall; shift ;;
      --purge) purge=1; shift ;;
      --keep-image) keep_image=1; shift ;;
      --configure-docker) mode=configure-docker; shift ;;
      -h | --help) sed -n '2,52p' "${BASH_SOURCE[0]:-}" 2>/dev/null | sed 's/^# \{0,1\}//' || echo "see scripts/install-agent.sh"; exit 0 ;;
      *) usage_error "unknown argument $1" ;;
    esac
  done
  [ "$(id -u)" -eq 0 ] || fail "run this as root (sudo): it installs packages, a systemd unit and mounts the renter storage."
  for dir in "$prefix" "$data_dir" "$unit_dir" "$(dirname "$config")"; do
    case "$dir" in /?*) ;; *) fail "paths must be absolute: $dir" ;; esac
  done
  if [ "$prefix" = / ] || [ "$data_dir" = / ]; then fail "refusing / as the prefix or data dir"; fi
  unit="$unit_dir/p2pvps-agent.service"
  if [ "$mode" = configure-docker ]; then
    configure_userns_remap
  elif [ "$mode" = uninstall ]; then
    do_uninstall "$prefix" "$config" "$data_dir" "$unit" "$purge" "$keep_image"
  else
    do_install "$server" "$token_file" "$source" "$prefix" "$config" "$data_dir" "$unit" "$start"
  fi
}

step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
fail() { printf 'p2pvps install: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'p2pvps install: %s (see --help)\n' "$*" >&2; exit 2; }
# systemd creates this directory when it runs as PID 1 (sd_booted(3)); tests point elsewhere.
systemd_running() { [ -d "${P2PVPS_SYSTEMD_RUNTIME_DIR:-/run/systemd/system}" ]; }

do_install() {
  local server="$1" token_file="$2" source="$3" prefix="$4" config="$5" data_dir="$6" unit="$7" start="$8" token=""
  if [ -n "$token_file" ]; then
    [ -r "$token_file" ] || usage_error "cannot read the token file $token_file"
    token="$(tr -d '[:space:]' <"$token_file")"
    [ -n "$token" ] || usage_error "$token_file is empty; it should hold the enrolment token"
  elif [ ! -f "$config" ]; then
    # Piped from curl, standard input is this script: the token comes from the terminal.
    if { : </dev/tty; } 2>/dev/null; then
      printf 'Enrolment token (from the dashboard or p2pvps devices add; not shown): ' >/dev/tty
      IFS= read -r -s token </dev/tty || true
      printf '\n' >/dev/tty
      token="$(printf '%s' "$token" | tr -d '[:space:]')"
    fi
    [ -n "$token" ] || usage_error "the enrolment token is needed: $config does not exist yet (--token-file FILE, or run this at a terminal to be asked)"
  fi
  if [ -n "$token" ] && [ -z "$server" ]; then usage_error "--server URL is required with a token"; fi
  if [ -n "$server" ] && [ -z "$insecure_http" ]; then check_server_url "$server"; fi
  grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu|raspbian)' /etc/os-release 2>/dev/null \
    || fail "this installer supports Raspberry Pi OS, Debian and Ubuntu (apt). Elsewhere run the agent as a container; see packages/agent/README.md."
  case "$(uname -m)" in
    x86_64 | aarch64 | armv7l | armv8l) ;;
    armv6l) fail "this is an ARMv6 board (Raspberry Pi 1 or Zero): Node.js 20 and Debian's armhf renter image need ARMv7 or newer." ;;
    *) note "warning: $(uname -m) is untested; the renter image is built for amd64, arm64 and armhf" ;;
  esac

  local installed_packages
  installed_packages="$(install_packages)"
  if systemd_running && command -v systemctl >/dev/null; then
    systemctl enable --now docker.service >/dev/null 2>&1 || note "could not enable docker.service; start the Docker engine yourself"
    systemctl enable --now lxcfs.service >/dev/null 2>&1 || note "could not enable lxcfs.service; renters' free will show the whole device's memory"
  fi
  configure_userns_remap
  # The wireguard package opens /dev/net/tun in a container with a remapped root, which a 0600
  # node refuses (docs/packages.md). udev makes it 0666; say so where it did not.
  if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
    note "warning: /dev/net/tun is mode $(stat -c %a /dev/net/tun), so the wireguard package cannot start; udev normally makes it 0666 (chmod 0666 /dev/net/tun)"
  fi

  step "installing the agent code into $prefix"
  local work
  work="$(mktemp -d "${TMPDIR:-/tmp}/p2pvps-install.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'" EXIT
  fetch_code "$source" "$server" "$work"
  mkdir -p "$prefix"
  # Replace the code, not what npm ci rebuilds next; the manifest is rewritten below.
  rm -rf "$prefix/packages" "$prefix/images" "$prefix/scripts" "$prefix/node_modules"
  cp -R "$work/p2pvps-agent/." "$prefix/"
  (cd "$prefix" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null) \
    || fail "npm ci failed in $prefix (it needs to reach the npm registry)"
  if ! (cd "$prefix" && node -e 'process.exit(require("ssh2/lib/protocol/crypto.js").bindingAvailable ? 0 : 1)') 2>/dev/null; then
    note "warning: ssh2's native crypto did not build; tunnels use slower pure-JS crypto (apt-get install g++ make python3, then rerun)"
  fi
  local cli="$prefix/packages/cli/bin/p2pvps"
  local agent_bin="$prefix/packages/agent/bin/p2pvps-agent"
  [ -f "$prefix/packages/agent/dist/agent.mjs" ] || fail "the agent code has no built agent (packages/agent/dist/agent.mjs); pack it with scripts/pack-agent.sh"
  # tsx caches compiled sources in /tmp/tsx-UID; nothing of the agent outlives an uninstall.
  export TSX_DISABLE_CACHE=1

  install -d -m 0700 "$data_dir"
  if [ -n "$token" ]; then
    step "writing $config"
    local force=""
    [ -f "$config" ] && force=--force && note "replacing the existing config (a new token re-enrols this device)"
    # The token goes through a pipe: never in argv, where ps shows it.
    printf '%s\n' "$token" | "$cli" agent init --server "$server" --token-file - --config "$config" --data-dir "$data_dir" \
      ${insecure_http:+--insecure-http} $force >/dev/null
  else
    step "keeping $config"
  fi

  if [ -n "$gvisor" ]; then
    [ -f "$config" ] || fail "--gvisor needs $config; give the enrolment token too"
    bash "$prefix/scripts/configure-gvisor.sh" --agent-config "$config" --daemon-json "${P2PVPS_DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}"
  fi
  if [ -n "$disk_quota" ]; then
    bash "$prefix/scripts/configure-disk-quota.sh" --size "$disk_quota" --daemon-json "${P2PVPS_DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}"
  fi

  step "writing $unit"
  mkdir -p "$(dirname "$unit")"
  write_unit "$agent_bin" "$config" >"$unit"
  {
    echo "# Written by install-agent.sh; read by install-agent.sh --uninstall."
    echo "config=$config"
    echo "data_dir=$data_dir"
    echo "unit=$unit"
    echo "packages=$installed_packages"
  } >"$prefix/install-manifest"

  if ! systemd_running || ! command -v systemctl >/dev/null; then
    note "systemd is not running here (PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown)): the unit is written but not enabled."
    note "start the agent by hand: $agent_bin --config $config"
    if command -v systemd-analyze >/dev/null; then
      systemd-analyze verify "$unit" 2>&1 | grep -v 'not executable\|Failed to connect\|No such file' | sed 's/^/    systemd-analyze: /' || true
    fi
  elif [ -n "$start" ]; then
    systemctl daemon-reload
    systemctl enable p2pvps-agent.service >/dev/null 2>&1
    systemctl restart p2pvps-agent.service
    step "p2pvps-agent.service enabled and started; follow it with: journalctl -u p2pvps-agent -f"
  else
    systemctl daemon-reload
    step "unit written; start it with: systemctl enable --now p2pvps-agent"
  fi
  step "installed. Remove with: $prefix/scripts/install-agent.sh --uninstall [--purge]"
}

# Installs the Debian packages the agent needs that are missing; prints their names.
install_packages() {
  local need=()
  command -v dockerd >/dev/null || command -v docker >/dev/null || need+=(docker.io)
  # The renter storage (ext4 on an image file or USB drive, through loop devices) and the
  # offline image build.
  command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
  command -v losetup >/dev/null || need+=(mount)
  command -v blkdiscard >/dev/null || need+=(util-linux)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v curl >/dev/null || need+=(curl ca-certificates)
  # LXCFS: renters' free, top and /proc show their rental's memory and cores (the agent
  # mounts its files into the container); its unit mounts it at /var/lib/lxcfs.
  command -v lxcfs >/dev/null || need+=(lxcfs)
  # ssh2's native crypto, built by npm ci, makes the tunnel several times cheaper.
  command -v g++ >/dev/null || need+=(g++)
  command -v make >/dev/null || need+=(make)
  # python3 also calls ext4's encryption ioctls for renters' encrypted storage (docs/encryption.md).
  command -v python3 >/dev/null || need+=(python3)
  local node_major
  node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null; then
    local candidate
    candidate="$(apt-cache policy nodejs 2>/dev/null | sed -n 's/^ *Candidate: *\([0-9]*\).*/\1/p')"
    if [ "${candidate:-0}" -ge 20 ] 2>/dev/null; then
      need+=(nodejs)
      # NodeSource's nodejs carries npm; Debian's comes without it.
      if ! command -v npm >/dev/null && apt-cache show npm >/dev/null 2>&1; then need+=(npm); fi
    else
      fail "Node.js 20 or newer is needed (found: $(node --version 2>/dev/null || echo none); this distribution's apt offers ${candidate:-none}).
Install it from NodeSource (https://github.com/nodesource/distributions: setup_20.x or newer) or from
https://nodejs.org/en/download (linux-arm64, linux-armv7l or linux-x64), then run this again."
    fi
  fi
  if [ ${#need[@]} -gt 0 ]; then
    step "installing Debian packages: ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${need[@]}" >&2
  fi
  echo "${need[*]}"
}

# Root in a renter's container must be nobody on the device: dockerd's userns-remap maps it
# to the unprivileged "dockremap" range. Merged into daemon.json, keeping every other
# setting; Docker is restarted only when the file changed.
configure_userns_remap() {
  local file="${P2PVPS_DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}" result
  result="$(node -e '
    const fs = require("node:fs");
    const file = process.argv[1];
    let config = {};
    if (fs.existsSync(file)) {
      try { config = JSON.parse(fs.readFileSync(file, "utf8") || "{}"); } catch (e) { console.log("invalid " + e.message); process.exit(0); }
      if (config === null || typeof config !== "object" || Array.isArray(config)) { console.log("invalid not a JSON object"); process.exit(0); }
    }
    if (config["userns-remap"]) { console.log("kept " + config["userns-remap"]); process.exit(0); }
    config["userns-remap"] = "default";
    fs.mkdirSync(require("node:path").dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(config, null, 2) + "\n");
    console.log("changed");' "$file")"
  case "$result" in
    kept*) note "the Docker engine already maps containers' root to an unprivileged user (userns-remap: ${result#kept }; $file)" ;;
    invalid*) fail "$file is not valid JSON (${result#invalid }); fix it, then run this again: renters are root in their containers only with \"userns-remap\": \"default\" there" ;;
    changed)
      step "turning on user namespaces in the Docker engine: \"userns-remap\": \"default\" in $file"
      note "root in a renter's container is then an unprivileged user (dockremap) on this device"
      note "Docker keeps images and containers of remapped engines apart: containers you run yourself on this engine are hidden until you remove the setting"
      if systemd_running && command -v systemctl >/dev/null; then
        step "restarting Docker (systemctl restart docker.service)"
        systemctl restart docker.service || fail "Docker did not restart with userns-remap; see journalctl -u docker.service"
      else
        note "restart the Docker engine yourself (dockerd reads $file when it starts)"
      fi ;;
  esac
}

# Plain http to another machine would carry the token and renters' passwords in clear text.
check_server_url() {
  local host
  case "$1" in
    https://*) return 0 ;;
    http://*) ;;
    *) usage_error "--server $1 must be an https:// URL" ;;
  esac
  host="${1#http://}"; host="${host%%/*}"; host="${host##*@}"
  case "$host" in
    \[::1\] | \[::1\]:* | localhost | localhost:* | *.localhost | *.localhost:* | 127.*) return 0 ;;
  esac
  fail "$1 is plain http to another machine: the enrolment token and renters' passwords would cross the network unencrypted. Use the server's https:// URL, or pass --insecure-http if this network is yours alone."
}

# Checks the downloaded or packed agent code against --sha256 before anything unpacks it.
verify_code() {
  local file="$1" origin="$2" actual
  [ -n "$sha256" ] || return 0
  actual="$(sha256sum "$file" | cut -d' ' -f1)"
  if [ "$actual" != "$(printf '%s' "$sha256" | tr 'A-F' 'a-f')" ]; then
    fail "the agent code from $origin does not match the SHA-256 of the install command (expected $sha256, got $actual); nothing was installed. Copy the install command afresh from the dashboard or p2pvps devices add; if it still differs, the server or the network path is not the one you trust."
  fi
  note "the agent code matches SHA-256 $actual"
}

# Puts the unpacked agent tree at $3/p2pvps-agent.
fetch_code() {
  local source="$1" server="$2" work="$3" here=""
  # Run from a checkout (not piped from curl), the default source is that checkout.
  if [ -f "${BASH_SOURCE[0]:-}" ]; then here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; fi
  if [ -z "$source" ]; then
    if [ -n "$here" ] && [ -f "$here/../packages/agent/package.json" ] && [ -f "$here/pack-agent.sh" ]; then
      source="$(cd "$here/.." && pwd)"
    elif [ -n "$server" ]; then
      source="${server%/}/agent.tar.gz"
    else
      usage_error "--source or --server is needed to find the agent code"
    fi
  fi
  case "$source" in
    http://* | https://*)
      [ -n "$sha256" ] || usage_error "--sha256 HEX is required to install code downloaded from $source: copy the whole install command from the dashboard or p2pvps devices add"
      note "downloading $source"
      curl -fsSL --retry 3 -o "$work/agent.tar.gz" "$source" || fail "could not download $source" ;;
    *)
      if [ -d "$source" ]; then
        note "packing the checkout $source"
        bash "$source/scripts/pack-agent.sh" "$work/agent.tar.gz"
      else
        [ -f "$source" ] || fail "$source is neither a file, a directory nor a URL"
        cp "$source" "$work/agent.tar.gz"
      fi ;;
  esac
  verify_code "$work/agent.tar.gz" "$source"
  tar -C "$work" -xzf "$work/agent.tar.gz" --no-same-owner
  [ -f "$work/p2pvps-agent/packages/agent/package.json" ] || fail "$source does not hold the p2pvps agent"
}

write_unit() {
  local agent_bin="$1" config="$2"
  cat <<EOF
# The p2pvps device agent, written by install-agent.sh.
[Unit]
Description=p2pvps device agent
Documentation=https://github.com/p2pvps/p2pvps/blob/main/packages/agent/README.md
# A Raspberry Pi has no clock that runs while it is off: start once the time is synced.
Wants=network-online.target time-sync.target
After=network-online.target time-sync.target docker.service
Requires=docker.service

[Service]
Type=simple
# The built agent: one plain JavaScript file, with Node flags for a small device.
ExecStart=$agent_bin --config $config
Restart=on-failure
RestartSec=5s
# 78: the agent's state file is damaged; restarting cannot help, the log says what to do.
RestartPreventExitStatus=78
# The agent stops gracefully on SIGTERM and leaves the renter's container running.
TimeoutStopSec=20s
# Hardening that leaves the agent able to do its job. It runs as root: it talks to the
# Docker socket, sets up loop devices, mounts the renter storage and sets firewall
# rules. Anything that gives the service its own mount namespace (ProtectSystem,
# ProtectHome, PrivateTmp, PrivateDevices, ReadWritePaths, ProtectKernel*,
# ProtectControlGroups) would hide the storage mount from dockerd, which bind-mounts it
# into the container; device policies (DevicePolicy, DeviceAllow, ProtectClock) would
# block /dev/loop*; RestrictSUIDSGID breaks the offline image build (debootstrap);
# MemoryDenyWriteExecute breaks Node's JIT.
NoNewPrivileges=yes
LockPersonality=yes
RestrictRealtime=yes
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
EOF
}

# Reads one key from a JSON file with node; prints nothing when absent.
json_get() {
  [ -f "$1" ] || return 0
  node -e 'try { const v = require("node:fs").readFileSync(process.argv[1], "utf8"); const j = JSON.parse(v);
    const r = process.argv[2].split(".").reduce((o, k) => (o == null ? undefined : o[k]), j); if (r != null) console.log(r); } catch {}' "$1" "$2" 2>/dev/null || true
}

do_uninstall() {
  local prefix="$1" config="$2" data_dir="$3" unit="$4" purge="$5" keep_image="$6" packages=""
  if [ -f "$prefix/install-manifest" ]; then
    config="$(sed -n 's/^config=//p' "$prefix/install-manifest")"
    data_dir="$(sed -n 's/^data_dir=//p' "$prefix/install-manifest")"
    unit="$(sed -n 's/^unit=//p' "$prefix/install-manifest")"
    packages="$(sed -n 's/^packages=//p' "$prefix/install-manifest")"
  fi
  if [ -f "$config" ]; then
    local configured_dir
    configured_dir="$(json_get "$config" dataDir)"
    [ -n "$configured_dir" ] && data_dir="$configured_dir"
  fi

  step "stopping the agent"
  if systemd_running && command -v systemctl >/dev/null; then
    systemctl disable --now p2pvps-agent.service >/dev/null 2>&1 || true
  fi
  rm -f "$unit"
  if systemd_running && command -v systemctl >/dev/null; then
    systemctl daemon-reload
    systemctl reset-failed p2pvps-agent.service >/dev/null 2>&1 || true
  fi

  local device_id image
  device_id="$(json_get "$data_dir/state.json" registration.deviceId)"
  image="$(json_get "$config" image)"
  image="${image:-p2pvps/renter:latest}"
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    if [ -n "$device_id" ]; then
      step "removing the renter containers and volumes of device $device_id"
      local ids
      ids="$(docker ps -aq --filter "label=org.p2pvps.device=$device_id")"
      [ -z "$ids" ] || echo "$ids" | xargs docker rm -f -v >/dev/null
      ids="$(docker volume ls -q --filter "label=org.p2pvps.device=$device_id")"
      [ -z "$ids" ] || echo "$ids" | xargs docker volume rm -f >/dev/null
    else
      note "the device never registered: it has no renter containers"
    fi
    # The renter network (network/isolation.ts): removing it removes its bridge p2pvps0
    # and the bandwidth caps on it.
    if docker network inspect p2pvps-renter >/dev/null 2>&1; then
      step "removing the renter network p2pvps-renter"
      docker network rm p2pvps-renter >/dev/null || note "p2pvps-renter is still in use; left in place"
    fi
    if [ -z "$keep_image" ] && docker image inspect "$image" >/dev/null 2>&1; then
      step "removing the renter image $image"
      docker image rm "$image" >/dev/null 2>&1 || note "$image is still in use by other containers; left in place"
    fi
  else
    note "the Docker engine is not running: renter containers and the image $image were not removed"
  fi

  step "removing the renter storage"
  local mountpoint="$data_dir/renter-storage" img kind
  if command -v mountpoint >/dev/null && mountpoint -q "$mountpoint" 2>/dev/null; then umount "$mountpoint"; fi
  kind="$(json_get "$config" storage.kind)"
  img="$(json_get "$config" storage.path)"
  img="${img:-$data_dir/renter-storage.img}"
  if [ -e "$img" ] && command -v losetup >/dev/null; then
    losetup -j "$img" 2>/dev/null | cut -d: -f1 | while read -r loop; do losetup -d "$loop" || true; done
  fi
  rm -f "$img"
  rmdir "$mountpoint" 2>/dev/null || true
  if [ "$kind" = block ]; then
    note "the USB drive $(json_get "$config" storage.device) keeps its last (wiped) filesystem; erase it with wipefs -a if you reuse it"
  fi

  remove_firewall_chains
  # The upload cap's ifb device.
  if command -v ip >/dev/null && ip link show p2pvps0-ifb >/dev/null 2>&1; then
    step "removing the network device p2pvps0-ifb"
    ip link del p2pvps0-ifb || true
  fi

  step "removing $prefix"
  rm -rf "$prefix"
  if [ -n "$purge" ]; then
    step "purging $config and $data_dir (the device's key and state)"
    rm -f "$config"
    rmdir "$(dirname "$config")" 2>/dev/null || true
    rm -rf "$data_dir"
  else
    note "kept $config and $data_dir (the device's identity) for a reinstall; --purge removes them"
  fi
  [ -z "$packages" ] || note "Debian packages the installer added are left in place: $packages (apt-get remove them if unused)"
  step "uninstalled"
}

# The agent's firewall chains are named P2PVPS*; remove the jumps to them, then them.
remove_firewall_chains() {
  local tool table chain
  for tool in iptables ip6tables; do
    command -v "$tool" >/dev/null || continue
    for table in filter nat mangle raw; do
      "$tool" -t "$table" -S >/dev/null 2>&1 || continue
      "$tool" -t "$table" -S | { grep -E '^-A .* -j P2PVPS' || true; } | while read -r rule; do
        # shellcheck disable=SC2086 # the rule is iptables' own word list
        "$tool" -t "$table" ${rule/#-A/-D} || true
      done
      for chain in $("$tool" -t "$table" -S | sed -n 's/^-N \(P2PVPS[^ ]*\)$/\1/p'); do
        step "removing firewall chain $chain ($tool -t $table)"
        "$tool" -t "$table" -F "$chain" || true
        "$tool" -t "$table" -X "$chain" || true
      done
    done
  done
}

main "$@"
