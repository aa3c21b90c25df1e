#!/usr/bin/env bash
# Extract the Uptime Kuma source files that adapters/kuma's real-peer test
# (TestKumaSourceRenderTemplate) runs under node, at the Kuma release the
# package follows, from a git checkout or mirror of louislam/uptime-kuma:
#
#   server/notification-providers/notification-provider.js  (renderTemplate, extractAddress)
#   src/util.js                                              (DOWN)
#   package.json                                             (version, liquidjs pin)
#
# Usage: scripts/kuma-source.sh REPO [DIR]
#   REPO  a clone or bare mirror (git clone --bare https://github.com/louislam/uptime-kuma)
#   DIR   where to put them; default $XDG_CACHE_HOME/matrix-notify/uptime-kuma-TAG
# Prints DIR, for KUMA_SRC:
#   KUMA_SRC=$(scripts/kuma-source.sh ~/src/uptime-kuma) go test ./adapters/kuma -run TestKumaSource -v
set -euo pipefail
tag=2.5.3 # adapters/kuma.KumaVersion
files="server/notification-providers/notification-provider.js src/util.js package.json"
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 REPO [DIR]  (REPO: a git clone or mirror of louislam/uptime-kuma)" >&2
  exit 2
fi
repo=$1
dir=${2:-${XDG_CACHE_HOME:-$HOME/.cache}/matrix-notify/uptime-kuma-$tag}
if ! git -C "$repo" rev-parse -q --verify "refs/tags/$tag^{commit}" >/dev/null 2>&1; then
  echo "$0: $repo is not a git repository with tag $tag (a clone: git -C $repo fetch --tags)" >&2
  exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kuma-source.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for f in $files; do
  mkdir -p "$tmp/$(dirname "$f")"
  git -C "$repo" show "$tag:$f" >"$tmp/$f"
done
mkdir -p "$dir"
for f in $files; do
  mkdir -p "$dir/$(dirname "$f")"
  mv -f "$tmp/$f" "$dir/$f"
done
echo "$dir"
