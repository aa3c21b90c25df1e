#!/usr/bin/env bash
# Install matrix-notify into netdata's plugins directory, next to
# alarm-notify.sh, with the owner and mode of netdata's own alarm-notify.sh,
# and say what was done and how to wire it in.
#
#   sudo scripts/install.sh                      after `make build`
#   scripts/install.sh --plugins-dir DIR         install there (no detection)
#   scripts/install.sh --prefix ROOT             look for netdata's layouts under ROOT (tests, chroots)
#   scripts/install.sh --print-plugins-dir       print the directory found, install nothing
#   scripts/install.sh --dry-run                 say what would be done, do nothing
#   scripts/install.sh --link-dir DIR            link matrix-notify there (default /usr/local/bin)
#   scripts/install.sh --no-link                 no link on PATH
#
# The plugins directory is the one `netdata -W buildinfo` names (the
# "Plugins" directory of newer netdata, or --libexecdir/netdata/plugins.d from
# the configure options of older builds), else the first of the known layouts
# that holds alarm-notify.sh:
#   /usr/lib/netdata/plugins.d                      Debian and Ubuntu packages
#   /usr/libexec/netdata/plugins.d                  RPM packages, builds from source
#   /opt/netdata/usr/libexec/netdata/plugins.d      netdata's static installer
# Set NETDATA to the netdata binary to ask (default: netdata on PATH).
#
# It installs matrix-notify (never named *.plugin: netdata would start it as a
# data collector) and alarm-notify-with-matrix.sh, custom_sender.conf (the
# snippet of the custom_sender way) into /usr/local/share/matrix-notify, and links matrix-notify
# into /usr/local/bin: plugins.d is not on PATH, and an admin types
# `runuser -u netdata -- matrix-notify flush`. It changes no configuration:
# it prints the lines to add.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "${here}/.." && pwd)"
bin="${repo}/bin/matrix-notify"
wrapper="${here}/alarm-notify-with-matrix.sh"
plugins_dir=""
prefix=""
print_only=0
dry_run=0
link_dir=""
no_link=0

die() {
  echo "install.sh: $*" >&2
  exit 2
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

while [ $# -gt 0 ]; do
  case "$1" in
  --bin) bin="${2:?--bin needs a file}"; shift 2 ;;
  --plugins-dir) plugins_dir="${2:?--plugins-dir needs a directory}"; shift 2 ;;
  --prefix) prefix="${2:?--prefix needs a directory}"; prefix="${prefix%/}"; shift 2 ;;
  --print-plugins-dir) print_only=1; shift ;;
  -n | --dry-run) dry_run=1; shift ;;
  --link-dir) link_dir="${2:?--link-dir needs a directory}"; shift 2 ;;
  --no-link) no_link=1; shift ;;
  -h | --help) usage; exit 0 ;;
  *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# candidates prints the plugins directories to try, most likely first.
candidates() {
  local nd="${NETDATA:-netdata}" info="" dir
  if command -v "${nd}" >/dev/null 2>&1; then
    info="$("${nd}" -W buildinfo 2>/dev/null || true)"
  fi
  if [ -n "${info}" ]; then
    # Newer netdata: "    Plugins:  /usr/libexec/netdata/plugins.d" (the
    # "Plugins:" heading of the feature list has no path after it).
    dir="$(printf '%s\n' "${info}" | sed -n 's|^[[:space:]]*Plugins:[[:space:]]*\(/[^[:space:]]*\).*|\1|p' | head -n 1)"
    [ -n "${dir}" ] && echo "${dir}"
    # Older builds print their configure options: --libexecdir=/usr/lib.
    dir="$(printf '%s\n' "${info}" | grep -o "'--libexecdir=/[^'\$]*'" | tail -n 1 | sed "s|'--libexecdir=\(.*\)'|\1|" || true)"
    [ -n "${dir}" ] && echo "${dir%/}/netdata/plugins.d"
  fi
  echo /usr/lib/netdata/plugins.d
  echo /usr/libexec/netdata/plugins.d
  echo /opt/netdata/usr/libexec/netdata/plugins.d
}

if [ -z "${plugins_dir}" ]; then
  tried=()
  while IFS= read -r c; do
    tried+=("${prefix}${c}")
    if [ -f "${prefix}${c}/alarm-notify.sh" ]; then
      plugins_dir="${prefix}${c}"
      break
    fi
  done < <(candidates)
  if [ -z "${plugins_dir}" ]; then
    die "netdata's plugins directory (the one holding alarm-notify.sh) was not found; tried: ${tried[*]}. Is netdata installed? Name it with --plugins-dir DIR."
  fi
fi
[ -d "${plugins_dir}" ] || die "${plugins_dir}: no such directory"

if [ "${print_only}" -eq 1 ]; then
  echo "${plugins_dir}"
  exit 0
fi

[ -f "${bin}" ] || die "${bin} does not exist: run 'make build' first (or name the binary with --bin FILE)"
[ -f "${wrapper}" ] || die "${wrapper} is missing"

# Owner and mode: as netdata's own alarm-notify.sh (Debian: root:netdata
# 0755); without it, root:netdata 0750 when that group exists.
owner="" mode="0755"
if [ -f "${plugins_dir}/alarm-notify.sh" ]; then
  owner="$(stat -c '%U:%G' "${plugins_dir}/alarm-notify.sh")"
  mode="0$(stat -c '%a' "${plugins_dir}/alarm-notify.sh")"
elif getent group netdata >/dev/null 2>&1; then
  owner="root:netdata" mode="0750"
fi
own_args=()
note=""
if [ -n "${owner}" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    own_args=(-o "${owner%%:*}" -g "${owner#*:}")
  elif [ "${owner}" != "$(id -un):$(id -gn)" ]; then
    note=" (not root: owner left as $(id -un):$(id -gn), netdata's is ${owner})"
    owner="$(id -un):$(id -gn)"
  fi
else
  owner="$(id -un):$(id -gn)"
fi

install_one() {
  local src="$1" dst="$2"
  if [ "${dry_run}" -eq 1 ]; then
    echo "would install ${dst} (${owner} ${mode})${note}"
    return
  fi
  # install(1) writes a new file: a copy netdata is running keeps running.
  install "${own_args[@]}" -m "${mode}" "${src}" "${dst}"
  echo "installed ${dst} (${owner} ${mode})${note}"
}

install_one "${bin}" "${plugins_dir}/matrix-notify"
install_one "${wrapper}" "${plugins_dir}/alarm-notify-with-matrix.sh"

# The custom_sender snippet, where the printed instructions can name it
# after this checkout is gone.
snippet="${prefix}/usr/local/share/matrix-notify/custom_sender.conf"
if [ "${dry_run}" -eq 1 ]; then
  echo "would install ${snippet} (0644)"
elif mkdir -p "${snippet%/*}" 2>/dev/null && install -m 0644 "${here}/custom_sender.conf" "${snippet}" 2>/dev/null; then
  echo "installed ${snippet} (0644)"
else
  snippet="${here}/custom_sender.conf"
  echo "not installed: custom_sender.conf (cannot write ${prefix}/usr/local/share); it is ${snippet}"
fi

# The link on PATH: the commands run by hand (flush, queue, doctor, login)
# then work by name. matrix-notify finds netdata's directories from where
# the link points (a static install's /opt/netdata too).
run_as="${plugins_dir}/matrix-notify"
if [ "${no_link}" -eq 0 ]; then
  link_dir="${link_dir:-${prefix}/usr/local/bin}"
  link="${link_dir}/matrix-notify"
  if [ -e "${link}" ] && [ ! -L "${link}" ]; then
    echo "not linked: ${link} exists and is not a link (remove it, or use --no-link)"
  elif [ "${dry_run}" -eq 1 ]; then
    echo "would link ${link} -> ${plugins_dir}/matrix-notify"
    run_as="${link}"
    case ":${PATH}:" in *":${link_dir}:"*) run_as="matrix-notify" ;; esac
  elif mkdir -p "${link_dir}" 2>/dev/null && ln -sfn "${plugins_dir}/matrix-notify" "${link}" 2>/dev/null; then
    echo "linked ${link} -> ${plugins_dir}/matrix-notify"
    run_as="${link}" # by name only where PATH finds it
    case ":${PATH}:" in *":${link_dir}:"*) run_as="matrix-notify" ;; esac
  else
    echo "not linked: cannot write ${link_dir} (run the commands by their path, or as root)"
  fi
fi

cat <<EOF

Next, one of (see the README):
  1. instead of alarm-notify.sh, in netdata.conf:
       [health]
           script to execute on alarm = ${plugins_dir}/matrix-notify
     or per alarm in health.d/*.conf:  exec: ${plugins_dir}/matrix-notify
  2. as netdata's custom_sender(): append ${snippet} to
     health_alarm_notify.conf (edit-config health_alarm_notify.conf)
  3. side by side with alarm-notify.sh, in netdata.conf:
       [health]
           script to execute on alarm = ${plugins_dir}/alarm-notify-with-matrix.sh
Then try it as netdata's user:  runuser -u netdata -- ${run_as} test
EOF
