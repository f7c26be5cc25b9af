#!/usr/bin/env bash
# Fetch and unpack the Open POSIX Test Suite (Debian source package
# posixtestsuite 1.5.2-8, Debian's patches applied) into a cache directory,
# and print the path of the unpacked tree.  Reuses an existing unpacked copy.
#
# usage: tests/posix/fetch-suite.sh CACHE_DIR
#
# Needs a deb-src line for bookworm: this script adds one of the project's own,
# /etc/apt/sources.list.d/netbsd-aio-src.sources, mirroring the existing
# debian.sources entry (only when the file is missing or differs), then runs
# apt-get update.  Root is used directly; otherwise sudo.
set -euo pipefail

PKG=posixtestsuite
VERSION=1.5.2-8
UPSTREAM=1.5.2
SRC_FILE=/etc/apt/sources.list.d/netbsd-aio-src.sources

case "${1:-}" in
-h|--help|"")
	sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
	[ -n "${1:-}" ] && exit 0 || exit 2 ;;
esac

mkdir -p "$1"
cache=$(cd "$1" && pwd)
tree=$cache/$PKG-$UPSTREAM
stamp=$tree/.netbsd-aio-fetched

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$PKG $VERSION" ] &&
   [ -d "$tree/conformance/interfaces/aio_read" ]; then
	echo "$tree"
	exit 0
fi

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

command -v dpkg-source >/dev/null ||
	{ echo "fetch-suite: dpkg-source missing (apt-get install dpkg-dev)" >&2; exit 2; }

# Mirror the URIs and keyring of the existing Debian entry, so this works on
# whatever mirror the machine is set up for.
uris=http://deb.debian.org/debian
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
	u=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
	k=$(awk '/^Signed-By:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
	[ -n "$u" ] && uris=$u
	[ -n "$k" ] && keyring=$k
fi
want="# Added by netbsd-aio scripts/posix-suite: source packages for the
# Open POSIX Test Suite (apt-get source posixtestsuite=$VERSION).
Types: deb-src
URIs: $uris
Suites: bookworm
Components: main
Signed-By: $keyring"
if [ ! -f "$SRC_FILE" ] || [ "$(cat "$SRC_FILE")" != "$want" ]; then
	echo "fetch-suite: writing $SRC_FILE" >&2
	printf '%s\n' "$want" | as_root tee "$SRC_FILE" >/dev/null
fi

echo "fetch-suite: apt-get update" >&2
as_root apt-get update -qq >&2

rm -rf "$tree"
echo "fetch-suite: apt-get source $PKG=$VERSION into $cache" >&2
(cd "$cache" && apt-get source -qq "$PKG=$VERSION" >&2)
[ -d "$tree/conformance/interfaces/aio_read" ] ||
	{ echo "fetch-suite: $tree not unpacked as expected" >&2; exit 2; }
echo "$PKG $VERSION" > "$stamp"
echo "$tree"
