#!/bin/sh
# deps.sh - install the Debian packages the build and the tests need, when missing.
# Runs as root on a fresh Debian 12 machine (CI does); as another user it only reports.
set -eu

PKGS="build-essential cmake pkg-config clang clang-format libclang-rt-14-dev \
libsodium-dev libzstd-dev libssl-dev libqrencode-dev libcurl4-openssl-dev libmicrohttpd-dev \
libsqlite3-dev libpq-dev libgfshare-dev liblmdb-dev python3 time curl openssl \
restic borgbackup \
libexpat1-dev ceph-mon ceph-osd radosgw postgresql-15"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing (run 'make deps' as root)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
