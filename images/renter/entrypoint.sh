#!/bin/sh
# Renter container entrypoint: create the renter's account from the credentials the
# agent passed in, then run sshd in the foreground. The credentials are dropped from
# the environment before sshd starts so no child process inherits them.
#
# P2PVPS_ROOT=1 (the agent sets it only on an engine that maps the container's root to an
# unprivileged host user, see packages/agent/src/docker/user-namespaces.ts): the renter is
# root here. Root logs in by the renter's key only, and the generated user gets sudo.
set -eu
: "${P2PVPS_USER:?P2PVPS_USER is required}"
# P2PVPS_KEEP_ACCOUNT: a handed-over prepared container restarting (await-renter.sh); its account is in place.
[ -n "${P2PVPS_KEEP_ACCOUNT:-}" ] || : "${P2PVPS_PASSWORD_HASH:?P2PVPS_PASSWORD_HASH is required}"
port="${P2PVPS_SSH_PORT:-22}"
listen="${P2PVPS_SSH_LISTEN:-0.0.0.0}"
# Where the renter's web servers should listen: 80 and 443 on the container's own
# network; other ports when it shares the host's (tests). Login sessions see them.
http_port="${P2PVPS_HTTP_PORT:-80}"
https_port="${P2PVPS_HTTPS_PORT:-443}"

if ! id "$P2PVPS_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$P2PVPS_USER"
fi
# The agent passes a crypt(3) hash ($6$…), never the password: set it as it is.
[ -n "${P2PVPS_KEEP_ACCOUNT:-}" ] || printf '%s:%s\n' "$P2PVPS_USER" "$P2PVPS_PASSWORD_HASH" | chpasswd -e
home=$(getent passwd "$P2PVPS_USER" | cut -d: -f6)
if [ -n "${P2PVPS_AUTHORIZED_KEY:-}" ]; then
  install -d -m 700 -o "$P2PVPS_USER" -g "$P2PVPS_USER" "$home/.ssh"
  printf '%s\n' "$P2PVPS_AUTHORIZED_KEY" > "$home/.ssh/authorized_keys"
  chown "$P2PVPS_USER:$P2PVPS_USER" "$home/.ssh/authorized_keys"
  chmod 600 "$home/.ssh/authorized_keys"
fi
root_login=no
allow_users="$P2PVPS_USER"
if [ "${P2PVPS_ROOT:-0}" = 1 ]; then
  # Passwordless, as cloud images do for their default user: the account is the renter's
  # alone, and a renter who logs in by key may never have looked at the password.
  printf '%s ALL=(ALL:ALL) NOPASSWD:ALL\n' "$P2PVPS_USER" > /etc/sudoers.d/p2pvps-renter
  chmod 0440 /etc/sudoers.d/p2pvps-renter
  if [ -n "${P2PVPS_AUTHORIZED_KEY:-}" ]; then
    install -d -m 700 /root/.ssh
    printf '%s\n' "$P2PVPS_AUTHORIZED_KEY" > /root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
  fi
  # By key only: a password guessed through the gateway must never be root's.
  root_login=prohibit-password
  allow_users="$P2PVPS_USER root"
fi
unset P2PVPS_PASSWORD_HASH P2PVPS_AUTHORIZED_KEY P2PVPS_ROOT

exec /usr/local/sbin/p2pvps-sshd -p "$port" -o "ListenAddress=$listen" \
  -o "PermitRootLogin=$root_login" -o "AllowUsers=$allow_users" \
  -o "SetEnv=P2PVPS_HTTP_PORT=$http_port P2PVPS_HTTPS_PORT=$https_port"
