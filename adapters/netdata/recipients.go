package netdata

import (
	"cmp"
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"

	"matrix-notify/adapters/netdata/healthconf"
)

// Method is alarm-notify.sh's method name for Matrix: it names the conf
// keys (role_recipients_matrix, DEFAULT_RECIPIENT_MATRIX) and the tracking
// directory $NETDATA_CACHE_DIR/alarm-notify/matrix.
const Method = "matrix"

// Log levels passed to the log callback of Recipients.
const (
	LevelError = "error"
	LevelDebug = "debug"
)

// Recipients finds the Matrix rooms alarm a goes to, as alarm-notify.sh's
// "find the recipients' addresses per method" loop (master) does for the
// matrix method. Whether Matrix is enabled at all (SEND_MATRIX, homeserver,
// token) is the caller's business: the script skips the loop when it is
// not, and with it the tracking files.
//
// For each role in roles (commas become spaces, then split on spaces, tabs
// and newlines; "silent" and "disabled" skipped): role_recipients_matrix[role],
// or DEFAULT_RECIPIENT_MATRIX when that is empty; the recipients are split
// the same way and "disabled" is skipped. Each remaining recipient runs
// through FilterRecipient (which may create, touch or remove its tracking
// file, even for a duplicate or an empty recipient) and, when allowed, is
// added under its name without modifiers (everything before the first
// '|'). Duplicates are merged keeping the first allowed occurrence's
// position; the script's order is bash's associative-array hash order,
// i.e. unspecified. Room ids and aliases (!id:server, #alias:server) pass
// through untouched. Bash would also glob-expand unquoted roles and
// recipients (a room with '*', '?' or '[' matching a file in the working
// directory); that is not reproduced.
//
// cacheDir is NETDATA_CACHE_DIR ("" = DefaultCacheDir). log may be nil.
func Recipients(vars *healthconf.Vars, roles string, a Alarm, cacheDir string, log func(level, msg string)) []string {
	cacheDir = cmp.Or(cacheDir, DefaultCacheDir)
	if vars == nil {
		vars = healthconf.NewVars()
	}
	var out []string
	seen := map[string]bool{}
	for _, role := range SplitRecipients(roles) {
		if role == "silent" || role == "disabled" {
			continue
		}
		list := vars.Index("role_recipients_"+Method, role)
		if list == "" {
			list = vars.Get("DEFAULT_RECIPIENT_" + strings.ToUpper(Method))
		}
		for _, r := range SplitRecipients(list) {
			if r == "disabled" {
				continue
			}
			if !FilterRecipient(r, a, cacheDir, log) {
				continue
			}
			key, _, _ := strings.Cut(r, "|")
			// bash: arr_var[""]="1" is a "bad array subscript" error, the
			// empty recipient is never added.
			if key == "" || seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, key)
		}
	}
	return out
}

// SplitRecipients splits a list of roles or recipients as alarm-notify.sh
// does: commas become spaces, then the words of the default IFS.
func SplitRecipients(list string) []string {
	return ifsFields(strings.ReplaceAll(list, ",", " "))
}

// TrackingFile is the file alarm-notify.sh uses to remember that recipient
// (without modifiers) got a CRITICAL of alarm alarmID:
// $NETDATA_CACHE_DIR/alarm-notify/matrix/<recipient>/<alarm_id>, built by
// plain concatenation like the script (a recipient containing '/' nests).
func TrackingFile(cacheDir, recipient, alarmID string) string {
	return trackingDir(cacheDir, recipient) + "/" + alarmID
}

func trackingDir(cacheDir, recipient string) string {
	return cacheDir + "/alarm-notify/" + Method + "/" + recipient
}

// FilterRecipient is master's filter_recipient_by_criticality for the
// matrix method: whether recipient r (possibly with modifiers after '|')
// gets alarm a, with its tracking-file side effects.
//
//   - No '|': allowed, nothing touched.
//   - Modifiers (after the first '|', split on '|' and whitespace,
//     lower-cased): critical, noclear, nowarn. An unknown one logs an error
//     and allows at once, touching nothing (even after a valid critical).
//   - With critical, the tracking directory is created (mkdir -p) first.
//   - CRITICAL: allowed; with critical the tracking file is touched.
//   - WARNING: nowarn blocks; without critical allowed; with critical
//     allowed only if the tracking file exists (it is kept).
//   - CLEAR: the tracking file, if it exists, is removed (whatever the
//     modifiers); then noclear blocks; without critical allowed; with
//     critical allowed only if the file existed.
//   - any other status: with critical allowed only if the file exists.
//
// 1.37.1 knew only critical, and took the text after the LAST '|' as the
// one severity ("room|x|critical" filtered there, is an unknown modifier
// here); a recipient with only critical behaves the same in both.
func FilterRecipient(r string, a Alarm, cacheDir string, log func(level, msg string)) bool {
	if log == nil {
		log = func(string, string) {}
	}
	recipient, modifiers, found := strings.Cut(r, "|")
	if !found {
		return true
	}
	say := func(level, msg string) { log(level, "SEVERITY FILTERING for "+r+" VIA "+Method+": "+msg) }
	sayErr := func(err error) {
		if err != nil {
			say(LevelError, err.Error())
		}
	}
	var critical, noclear, nowarn bool
	for _, m := range ifsFields(lowerASCII(strings.ReplaceAll(modifiers, "|", " "))) {
		switch m {
		case "critical":
			critical = true
		case "noclear":
			noclear = true
		case "nowarn":
			nowarn = true
		default:
			say(LevelError, "invalid modifier '"+m+"'.")
			return true
		}
	}
	dir := trackingDir(cacheDir, recipient)
	file := dir + "/" + a.AlarmID
	if critical {
		sayErr(os.MkdirAll(dir, 0o777))
	}
	allow := func(why string) bool {
		say(LevelDebug, "ALLOW: "+why)
		return true
	}
	block := func(why string) bool {
		say(LevelDebug, "BLOCK: "+why)
		return false
	}
	switch a.Status {
	case StatusCritical:
		if critical {
			sayErr(touch(file))
			return allow("the alarm is CRITICAL (will now receive next status change)")
		}
		return allow("the alarm is CRITICAL")
	case StatusWarning:
		if nowarn {
			return block("recipient should not receive this notification (nowarn modifier set)")
		}
		if !critical {
			return allow("the alarm is WARNING")
		}
		if isRegular(file) {
			return allow("recipient has been notified for this alarm in the past (will still receive next status change)")
		}
	case StatusClear:
		existed := false
		if isRegular(file) {
			existed = true
			sayErr(os.Remove(file))
		}
		if noclear {
			return block("recipient should not receive this notification (noclear modifier set)")
		}
		if !critical {
			return allow("the alarm is CLEAR")
		}
		if existed {
			return allow("recipient has been notified for this alarm in the past (no status change will be sent from now)")
		}
	default:
		if critical && isRegular(file) {
			return allow("recipient has been notified for this alarm in the past (will still receive next status change)")
		}
	}
	return block("recipient should not receive this notification")
}

// isRegular is [ -f path ] (follows symlinks).
func isRegular(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// touch is touch(1): create (mode 0666 before umask) or update the times.
func touch(path string) error {
	now := time.Now()
	err := os.Chtimes(path, now, now)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		return err
	}
	return f.Close()
}
