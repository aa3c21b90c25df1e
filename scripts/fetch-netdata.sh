#!/usr/bin/env bash
# Fetch Debian's netdata-plugins-bash and netdata-core (the real alarm-notify.sh
# and health_alarm_notify.conf) into testdata/.cache/netdata for the tests that
# compare against the real thing. Nothing of them is committed.
# Exits 0 even when apt is unreachable: those tests then skip, saying why.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
dest="$top/testdata/.cache/netdata"
script="$dest/usr/lib/netdata/plugins.d/alarm-notify.sh"
conf="$dest/usr/lib/netdata/conf.d/health_alarm_notify.conf"
if [ -f "$script" ] && [ -f "$conf" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "fetch-netdata: apt-get not found; tests against the real alarm-notify.sh will skip" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 0
chmod 777 "$tmp" # apt-get download drops privileges to _apt when it can
if ! apt-get download netdata-plugins-bash netdata-core >"$tmp/log" 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null 2>&1
    apt-get download netdata-plugins-bash netdata-core >"$tmp/log" 2>&1
  fi
fi
if ! ls netdata-plugins-bash_*.deb netdata-core_*.deb >/dev/null 2>&1; then
  echo "fetch-netdata: could not download Debian's netdata packages; tests against the real alarm-notify.sh will skip:" >&2
  tail -3 "$tmp/log" >&2
  exit 0
fi
mkdir -p "$dest"
for deb in netdata-plugins-bash_*.deb netdata-core_*.deb; do
  dpkg -x "$deb" "$dest"
done
echo "fetch-netdata: extracted $(ls netdata-*.deb | tr '\n' ' ')into $dest" >&2
