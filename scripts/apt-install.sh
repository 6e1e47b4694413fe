#!/usr/bin/env bash
# apt-install.sh WHO PKG...: installs Debian packages for WHO (deps, bench):
# with apt-get as root, else with passwordless sudo, else says the exact
# command to run as root and fails.
set -euo pipefail
who=$1
shift
[ $# -eq 0 ] && exit 0
# shellcheck disable=SC2207
pkgs=($(printf '%s\n' "$@" | sort -u))
cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${pkgs[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$who: missing ${pkgs[*]} and no apt-get here: install them with your package manager" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "$who: installing ${pkgs[*]}"
  sh -c "$cmd"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  echo "$who: installing ${pkgs[*]} with sudo"
  sudo sh -c "$cmd"
else
  echo "$who: missing Debian packages: ${pkgs[*]}" >&2
  echo "$who: install them as root:  sudo sh -c '$cmd'" >&2
  exit 1
fi
