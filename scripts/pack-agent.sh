#!/usr/bin/env bash
# Packs what a device needs to run the agent into one tarball, in the repository's own
# layout (the agent finds images/renter by its path): packages/protocol, packages/agent,
# packages/cli without tests, the agent built into one file (packages/agent/dist/agent.mjs,
# what the device runs), images/renter, scripts/install-agent.sh, and a package.json
# and package-lock.json cut down to those three workspaces, so a device runs
# `npm ci --omit=dev` and gets exactly the versions this checkout was tested with,
# without the server's dependencies. No network: the lock is pruned offline.
#
# Usage: scripts/pack-agent.sh OUT.tar.gz
# The server serves the result at /agent.tar.gz (packages/server/src/routes/install.ts).
set -euo pipefail

out="${1:?usage: pack-agent.sh OUT.tar.gz}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stage="$(mktemp -d "${TMPDIR:-/tmp}/p2pvps-agent-pack.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
top="$stage/p2pvps-agent"
mkdir -p "$top/packages" "$top/images" "$top/scripts"

for part in protocol agent cli; do
  mkdir -p "$top/packages/$part"
  # Sources without tests and their doubles; everything else the package holds.
  tar -C "$root/packages/$part" --exclude=./node_modules --exclude=./dist --exclude='*.test.ts' --exclude=test-support.ts --exclude=test-harness.ts -c . \
    | tar -C "$top/packages/$part" -x
done
# What the device runs: the agent built into one plain JavaScript file from these sources.
node "$root/packages/agent/build.mjs" "$top/packages/agent/dist/agent.mjs"
cp -R "$root/images/renter" "$top/images/renter"
install -m 0755 "$root/scripts/install-agent.sh" "$top/scripts/install-agent.sh"
install -m 0755 "$root/scripts/configure-gvisor.sh" "$top/scripts/configure-gvisor.sh"
install -m 0755 "$root/scripts/configure-disk-quota.sh" "$top/scripts/configure-disk-quota.sh"
cp "$root/package-lock.json" "$top/package-lock.json"

# The CLI's dependency on the server is there for its tests; the agent runs without it.
node - "$root" "$top" <<'EOF'
const fs = require('node:fs');
const [root, top] = process.argv.slice(2);
const rootPkg = JSON.parse(fs.readFileSync(`${root}/package.json`, 'utf8'));
const pkg = {
  name: 'p2pvps-agent',
  private: true,
  type: 'module',
  description: 'The p2pvps device agent, packed by scripts/pack-agent.sh.',
  engines: rootPkg.engines,
  workspaces: ['packages/protocol', 'packages/agent', 'packages/cli'],
};
fs.writeFileSync(`${top}/package.json`, `${JSON.stringify(pkg, null, 2)}\n`);
const cliPath = `${top}/packages/cli/package.json`;
const cli = JSON.parse(fs.readFileSync(cliPath, 'utf8'));
delete cli.dependencies['@p2pvps/server'];
fs.writeFileSync(cliPath, `${JSON.stringify(cli, null, 2)}\n`);
EOF
(cd "$top" && npm install --package-lock-only --offline --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)

# Reproducible bytes for the same sources: fixed owner, order and times.
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime='2000-01-01 00:00Z' -c p2pvps-agent \
  | gzip -n -9 >"$out.tmp"
mv "$out.tmp" "$out"
