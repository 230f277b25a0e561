#!/bin/sh
# Installs the Debian packages listed in packages.txt that are not installed yet.
# Usage: vendor/install.sh [packages.txt]   (root, or sudo available)
set -eu
list=${1:-$(dirname "$0")/packages.txt}
missing=
for pkg in $(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$list" | awk '{print $1}'); do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $pkg" ;;
	esac
done
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
