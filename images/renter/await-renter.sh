#!/bin/bash
# Entrypoint of a prepared renter container (docker/renter-containers.ts, prepare): it is
# started before anyone rents the device, and does now everything a rental's start would
# do that needs no renter: the host key, the account (under a placeholder name, with a
# locked password and no key), and sshd, running. Nobody can log in to it: sshd lets in only
# members of p2pvps-login, whose one member has no password and no key, and root has no key.
# The agent hands it a renter (handOver) on its stdin: then the account takes the renter's
# name, password hash and key, which needs no process started, only files written, so the
# renter waits for nothing. The settings arrive only then, so they are in neither the
# container's config nor its environment.
set -eu
# The renter's name (no secret) once the container was handed over: after a restart of the
# engine or the device it runs sshd for that account again, which is in place.
renter=/etc/p2pvps-renter
if [ -s "$renter" ]; then
  P2PVPS_USER=$(cat "$renter")
  export P2PVPS_USER P2PVPS_KEEP_ACCOUNT=1
  exec /usr/local/sbin/p2pvps-entrypoint
fi
next=p2pvps-next
port="${P2PVPS_SSH_PORT:-22}"
listen="${P2PVPS_SSH_LISTEN:-0.0.0.0}"
http_port="${P2PVPS_HTTP_PORT:-80}"
https_port="${P2PVPS_HTTPS_PORT:-443}"
id "$next" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$next"
groupadd -f p2pvps-login
usermod -a -G p2pvps-login "$next"
home=/home/$next
install -d -m 700 -o "$next" -g "$next" "$home/.ssh"
# Made now, empty and the renter's, so writing the key at hand-over keeps its owner.
install -m 600 -o "$next" -g "$next" /dev/null "$home/.ssh/authorized_keys"
root_login=no
if [ "${P2PVPS_ROOT:-0}" = 1 ]; then
  # Root (by key only) and the renter's passwordless sudo, as entrypoint.sh gives them.
  usermod -a -G p2pvps-login root
  install -d -m 700 /root/.ssh
  install -m 600 /dev/null /root/.ssh/authorized_keys
  install -m 440 /dev/null /etc/sudoers.d/p2pvps-renter
  printf '%s ALL=(ALL:ALL) NOPASSWD:ALL\n' "$next" >/etc/sudoers.d/p2pvps-renter
  root_login=prohibit-password
fi
/usr/local/sbin/p2pvps-sshd -p "$port" -o "ListenAddress=$listen" \
  -o "PermitRootLogin=$root_login" -o "AllowGroups=p2pvps-login" \
  -o "SetEnv=P2PVPS_HTTP_PORT=$http_port P2PVPS_HTTPS_PORT=$https_port" &
sshd=$!
# This shell is the container's first process: it passes the engine's stop on to sshd.
trap 'kill -TERM "$sshd" 2>/dev/null; wait "$sshd"; exit 143' TERM INT

# Only the renter's own settings are taken; anything else is ignored.
user='' hash='' key=''
while IFS= read -r line; do
  case "${line%%=*}" in
    P2PVPS_USER) user=${line#*=} ;;
    P2PVPS_PASSWORD_HASH) hash=${line#*=} ;;
    P2PVPS_AUTHORIZED_KEY) key=${line#*=} ;;
  esac
done
if ! [[ "$user" =~ ^[a-z][a-z0-9]{0,30}$ && "$hash" =~ ^[^:[:space:]]+$ ]]; then
  echo "p2pvps: hand-over refused: no valid user name and password hash" >&2
  exit 1
fi

# The placeholder's name becomes the renter's wherever it stands, by bash alone (no process
# per file): the account files, sudo's, and the home directory's path.
rename() {
  local file=$1 lines
  mapfile -t lines <"$file"
  printf '%s\n' "${lines[@]//$next/$user}" >"$file"
}
for f in /etc/passwd /etc/group /etc/gshadow /etc/sudoers.d/p2pvps-renter; do
  if [ -f "$f" ]; then rename "$f"; fi
done
# The password hash goes in the renter's shadow entry, in place of the locked one.
mapfile -t lines </etc/shadow
for i in "${!lines[@]}"; do
  entry=${lines[i]}
  if [[ "$entry" == "$next:"* ]]; then
    rest=${entry#*:}
    lines[i]="$user:$hash:${rest#*:}"
  fi
done
printf '%s\n' "${lines[@]}" >/etc/shadow
mv "$home" "/home/$user"
if [ -n "$key" ]; then
  printf '%s\n' "$key" >"/home/$user/.ssh/authorized_keys"
  [ "$root_login" = no ] || printf '%s\n' "$key" >/root/.ssh/authorized_keys
fi
printf '%s\n' "$user" >"$renter"
unset hash key line lines entry
# sshd has listened since the container started; it must still be there to take the renter.
if ! kill -0 "$sshd" 2>/dev/null; then
  echo "p2pvps: hand-over failed: sshd is not running" >&2
  exit 1
fi
# The agent waits for this line: from now on the renter can log in.
echo "p2pvps: handed over to $user"
wait "$sshd"
