#!/usr/bin/env bash
# Run netdata's stock alarm-notify.sh and matrix-notify side by side, so every
# other notification method keeps working while matrix-notify delivers to
# Matrix. scripts/install.sh installs it next to alarm-notify.sh in netdata's
# plugins.d (Debian: /usr/lib/netdata/plugins.d; RPM: /usr/libexec/...); set,
# in netdata.conf:
#
#   [health]
#       script to execute on alarm = /usr/lib/netdata/plugins.d/alarm-notify-with-matrix.sh
#
# Give matrix-notify its homeserver and token in matrix-notify.toml (not in
# health_alarm_notify.conf): the stock script's Matrix sender stays off, since
# it needs both, while the recipients and roles in health_alarm_notify.conf
# serve both programs.
#
# Exit code: matrix-notify's when it reports a usage error (2) or did not
# deliver (3: queued, also when its configuration has an error or cannot be
# read, as the alarm is kept; or lost, as its ERROR lines say), so netdata's alarm log shows it; otherwise 0
# when either program sent something, else 1 (alarm-notify.sh's "nothing
# sent").
dir="${0%/*}"
"${dir}/alarm-notify.sh" "$@" &
stock=$!
"${dir}/matrix-notify" "$@"
ours=$?
wait "${stock}"
theirs=$?
case "${ours}" in
2 | 3) exit "${ours}" ;;
esac
if [ "${ours}" -eq 0 ] || [ "${theirs}" -eq 0 ]; then
  exit 0
fi
exit 1
