#!/bin/sh
# Entrypoint of a prepared renter container (docker/renter-containers.ts, prepare): it is
# started before anyone rents the device, makes its SSH host key, and then waits, with
# nothing listening, until the agent hands it a renter (handOver) on its stdin. The
# renter's account settings arrive only then, so they are in neither the container's
# config nor its environment; the usual entrypoint then makes the account and runs sshd
# exactly as in a container started for the rental.
set -eu
# The renter's name (no secret) once the container was handed over: after a restart of the
# engine or the device it runs sshd for that account again, which is in place.
renter=/etc/p2pvps-renter
if [ -s "$renter" ]; then
  P2PVPS_USER=$(cat "$renter")
  export P2PVPS_USER P2PVPS_KEEP_ACCOUNT=1
  exec /usr/local/sbin/p2pvps-entrypoint
fi
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
# Only the renter's own settings are taken; anything else is ignored.
while IFS= read -r line; do
  name=${line%%=*}
  case "$name" in
    P2PVPS_USER | P2PVPS_PASSWORD | P2PVPS_PASSWORD_HASH | P2PVPS_AUTHORIZED_KEY) export "$name=${line#*=}" ;;
  esac
done
if [ -n "${P2PVPS_USER:-}" ]; then printf '%s\n' "$P2PVPS_USER" >"$renter"; fi
exec /usr/local/sbin/p2pvps-entrypoint
