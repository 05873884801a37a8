#!/usr/bin/env bash
# Lets the device's renter containers run under gVisor (runsc), for owners who choose it.
#
#   sudo scripts/configure-gvisor.sh [--daemon-json FILE] [--agent-config FILE] [--no-reload]
#
# Installs Debian's runsc if missing; registers it with the Docker engine as the runtime
# "runsc" in daemon.json (other keys are kept), with the arguments that work with Debian's
# runsc on current kernels; reloads the engine (SIGHUP through systemd: running containers
# keep running); and, with --agent-config, sets "runtime": "runsc" in device-config.json so
# the agent uses it from its next start. install-agent.sh --gvisor runs this.
#
# Why these arguments: Debian's runsc (2022) takes any network namespace on kernels 6.x for
# the host's own and refuses its own network stack there ("cannot run with network enabled
# in root network namespace"); --network=host makes it use the host kernel's stack inside
# the container's namespace, so Docker's bridge, published ports and the agent's firewall
# chains work as with runc. --platform=ptrace runs everywhere; KVM needs /dev/kvm.
#
# Options:
#   --daemon-json FILE   the engine's config (default /etc/docker/daemon.json)
#   --agent-config FILE  device-config.json to switch to runsc (default: leave it alone)
#   --no-reload          do not reload the engine (it reads the file at its next start or SIGHUP)
set -euo pipefail

runtime_args='["--platform=ptrace", "--network=host"]'

fail() { printf 'p2pvps configure-gvisor: %s\n' "$*" >&2; exit 1; }
step() { printf '==> %s\n' "$*"; }

daemon_json=/etc/docker/daemon.json agent_config="" reload=1
while [ $# -gt 0 ]; do
  case "$1" in
    --daemon-json) [ $# -ge 2 ] || fail "--daemon-json needs a value"; daemon_json="$2"; shift 2 ;;
    --agent-config) [ $# -ge 2 ] || fail "--agent-config needs a value"; agent_config="$2"; shift 2 ;;
    --no-reload) reload=""; shift ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown argument $1 (see --help)" ;;
  esac
done
command -v node >/dev/null || fail "node is needed to edit the JSON files"

if ! command -v runsc >/dev/null; then
  [ "$(id -u)" -eq 0 ] || fail "runsc is not installed; run this as root to install it"
  step "installing Debian's runsc (gVisor)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends runsc \
    || fail "could not install runsc: Debian builds it for amd64 and arm64 only (this is $(uname -m))"
fi
runsc_path="$(command -v runsc)"

# Adds or replaces one key of a JSON object file, keeping the rest.
json_set() {
  node -e '
    const fs = require("node:fs");
    const [file, path, value] = process.argv.slice(1);
    let json = {};
    if (fs.existsSync(file) && fs.readFileSync(file, "utf8").trim() !== "") json = JSON.parse(fs.readFileSync(file, "utf8"));
    if (!json || typeof json !== "object" || Array.isArray(json)) throw new Error(file + " is not a JSON object");
    const keys = path.split(".");
    let o = json;
    for (const k of keys.slice(0, -1)) o = o[k] && typeof o[k] === "object" ? o[k] : (o[k] = {});
    o[keys[keys.length - 1]] = JSON.parse(value);
    const mode = fs.existsSync(file) ? fs.statSync(file).mode & 0o777 : 0o644;
    fs.writeFileSync(file + ".p2pvps-tmp", JSON.stringify(json, null, 2) + "\n", { mode });
    fs.renameSync(file + ".p2pvps-tmp", file);
  ' "$1" "$2" "$3" || fail "could not update $1 (is it valid JSON?)"
}

step "registering runsc with the Docker engine in $daemon_json"
mkdir -p "$(dirname "$daemon_json")"
json_set "$daemon_json" runtimes.runsc "{\"path\": \"$runsc_path\", \"runtimeArgs\": $runtime_args}"

if [ -n "$agent_config" ]; then
  step "setting \"runtime\": \"runsc\" in $agent_config"
  json_set "$agent_config" runtime '"runsc"'
fi

if [ -n "$reload" ]; then
  # systemd creates this directory when it runs as PID 1 (sd_booted(3)); tests point elsewhere.
  if [ -d "${P2PVPS_SYSTEMD_RUNTIME_DIR:-/run/systemd/system}" ] && command -v systemctl >/dev/null && systemctl is-active --quiet docker.service; then
    systemctl reload docker.service && step "reloaded the Docker engine" || fail "systemctl reload docker failed; restart the engine yourself"
  else
    printf '    reload the Docker engine yourself to pick this up: kill -HUP <pid of dockerd> (running containers keep running)\n'
  fi
fi
