#!/bin/sh
# Renter container entrypoint: create the renter's account from the credentials the
# agent passed in, then run sshd in the foreground. The credentials are dropped from
# the environment before sshd starts so no child process inherits them.
set -eu
: "${P2PVPS_USER:?P2PVPS_USER is required}"
# P2PVPS_KEEP_ACCOUNT: a handed-over prepared container restarting (await-renter.sh); its account is in place.
[ -n "${P2PVPS_KEEP_ACCOUNT:-}" ] || : "${P2PVPS_PASSWORD:?P2PVPS_PASSWORD is required}"
port="${P2PVPS_SSH_PORT:-22}"
listen="${P2PVPS_SSH_LISTEN:-0.0.0.0}"
# Where the renter's web servers should listen: 80 and 443 on the container's own
# network; other ports when it shares the host's (tests). Login sessions see them.
http_port="${P2PVPS_HTTP_PORT:-80}"
https_port="${P2PVPS_HTTPS_PORT:-443}"

if ! id "$P2PVPS_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$P2PVPS_USER"
fi
[ -n "${P2PVPS_KEEP_ACCOUNT:-}" ] || printf '%s:%s\n' "$P2PVPS_USER" "$P2PVPS_PASSWORD" | chpasswd
home=$(getent passwd "$P2PVPS_USER" | cut -d: -f6)
if [ -n "${P2PVPS_AUTHORIZED_KEY:-}" ]; then
  install -d -m 700 -o "$P2PVPS_USER" -g "$P2PVPS_USER" "$home/.ssh"
  printf '%s\n' "$P2PVPS_AUTHORIZED_KEY" > "$home/.ssh/authorized_keys"
  chown "$P2PVPS_USER:$P2PVPS_USER" "$home/.ssh/authorized_keys"
  chmod 600 "$home/.ssh/authorized_keys"
fi
unset P2PVPS_PASSWORD P2PVPS_AUTHORIZED_KEY

# Host keys are generated per container, never baked into the image. Ed25519 only: an
# RSA key takes long enough to generate that renters would wait for it, and ECDSA rests
# on the NIST curves, which auditors (ssh-audit) fail.
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
mkdir -p /run/sshd
# Only algorithms without known weaknesses, so the renter's sshd passes ssh-audit: no NIST
# curves, no SHA-1, no small DH groups, MACs only encrypt-then-MAC. Every OpenSSH since 6.5
# and every ssh2-based client has curve25519 and these ciphers.
exec /usr/sbin/sshd -D -e -p "$port" -o "ListenAddress=$listen" \
  -h /etc/ssh/ssh_host_ed25519_key \
  -o HostKeyAlgorithms=ssh-ed25519 \
  -o KexAlgorithms=sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512 \
  -o Ciphers=chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr \
  -o MACs=hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,umac-128-etm@openssh.com \
  -o PasswordAuthentication=yes -o KbdInteractiveAuthentication=no \
  -o PermitRootLogin=no -o UsePAM=no -o "AllowUsers=$P2PVPS_USER" \
  -o "SetEnv=P2PVPS_HTTP_PORT=$http_port P2PVPS_HTTPS_PORT=$https_port"
