#!/bin/sh
# Runs inside the renter image's root filesystem while it is built (build-offline.sh in a
# chroot, the Dockerfile in a RUN), with network: downloads the Debian packages listed in
# LIST and everything they need that the image lacks into a flat repository at
# /var/lib/p2pvps/apt, indexes it with dpkg-deb and sha256sum alone (no dpkg-dev), and adds
# it as a trusted apt source, so `apt-get install` of those packages works in a rental
# without internet (deployment packages, docs/packages.md).
#
# Usage: offline-repo.sh LIST
set -eu
list="${1:?usage: offline-repo.sh LIST}"
repo=/var/lib/p2pvps/apt
packages="$(grep -v '^[[:space:]]*\(#\|$\)' "$list" | tr '\n' ' ')"
mkdir -p "$repo/partial"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # one word per package
apt-get install -q -y --download-only --no-install-recommends -o "Dir::Cache::archives=$repo" $packages
rm -rf "$repo/partial" "$repo/lock"
cd "$repo"
for deb in *.deb; do
  dpkg-deb -f "$deb"
  echo "Filename: ./$deb"
  echo "Size: $(stat -c %s "$deb")"
  echo "SHA256: $(sha256sum "$deb" | cut -d' ' -f1)"
  echo
done >Packages
echo "deb [trusted=yes] file:$repo ./" >/etc/apt/sources.list.d/p2pvps-offline.list
echo "offline-repo.sh: $(ls "$repo"/*.deb | wc -l) packages, $(du -sh "$repo" | cut -f1) in $repo"
