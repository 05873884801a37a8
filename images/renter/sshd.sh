#!/bin/sh
# The renter's sshd, in the foreground, with only algorithms without known weaknesses, so it
# passes ssh-audit: no NIST curves, no SHA-1, no small DH groups, MACs only encrypt-then-MAC.
# Every OpenSSH since 6.5 and every ssh2-based client has curve25519 and these ciphers. Host
# keys are made per container (never baked into the image), Ed25519 only: an RSA key takes
# long enough to generate that renters would wait for it, and ECDSA rests on the NIST curves.
# The callers (entrypoint.sh, await-renter.sh) add the port, the listen address and who may
# log in.
set -eu
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e -h /etc/ssh/ssh_host_ed25519_key \
  -o HostKeyAlgorithms=ssh-ed25519 \
  -o KexAlgorithms=sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512 \
  -o Ciphers=chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr \
  -o MACs=hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,umac-128-etm@openssh.com \
  -o PasswordAuthentication=yes -o KbdInteractiveAuthentication=no -o UsePAM=no \
  "$@"
