package netdata

import (
	"fmt"
	"slices"
	"strings"

	"matrix-notify/adapters/netdata/healthconf"
	"matrix-notify/sender"
)

// confNames are the health_alarm_notify.conf variables matrix-notify reads.
var confNames = []string{"MATRIX_HOMESERVER", "MATRIX_ACCESSTOKEN", "DEFAULT_RECIPIENT_MATRIX", "SEND_MATRIX", "role_recipients_matrix"}

// ScriptVars are the variables alarm-notify.sh has defined when it sources
// health_alarm_notify.conf: the whole environment (environ, as os.Environ
// gives it: the files may refer to any of it), then the script's defaults
// of what matrix-notify reads.
func ScriptVars(environ []string) *healthconf.Vars {
	vars := healthconf.NewVars()
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			vars.Scalars[k] = v
		}
	}
	vars.Scalars["SEND_MATRIX"] = "YES"
	vars.Scalars["MATRIX_HOMESERVER"] = ""
	vars.Scalars["MATRIX_ACCESSTOKEN"] = ""
	vars.Scalars["images_base_url"] = DefaultImagesBaseURL
	vars.Scalars["use_fqdn"] = "NO"
	vars.Arrays["role_recipients_"+Method] = map[string]string{}
	return vars
}

// isMatrixName reports whether a conf variable is about Matrix.
func isMatrixName(name string) bool {
	u := strings.ToUpper(name)
	return strings.HasPrefix(u, "MATRIX_") || strings.HasSuffix(u, "_MATRIX")
}

// ConfNotes lists what health_alarm_notify.conf meant for Matrix and
// matrix-notify does not take, each with what to write instead: an
// assignment to a Matrix variable that was skipped (a command substitution,
// an if: nothing in the file is ever run), and a name that is almost one we
// read (lowercase, as in netdata issue 18706, or mistyped) — bash would not
// read it either, but alarm-notify.sh then fails loudly and we must too.
// warns are the parser's warnings, vars what the files left.
func ConfNotes(vars *healthconf.Vars, warns []healthconf.Warning) []string {
	var out []string
	for _, w := range warns {
		names := slices.DeleteFunc(slices.Clone(w.Names), func(n string) bool { return !isMatrixName(n) })
		if len(names) == 0 {
			continue
		}
		fix := "write the value itself"
		switch {
		case strings.Contains(w.Msg, "substitution"):
			fix = "matrix-notify never runs commands: write the value itself"
			if slices.Contains(names, "MATRIX_ACCESSTOKEN") {
				fix += ", or keep the token in a file named by access_token_file in matrix-notify.toml"
			}
		case w.Kind == healthconf.SkippedCommand:
			fix = fmt.Sprintf("matrix-notify never runs commands or evaluates conditions: assign %s on a line of its own", strings.Join(names, ", "))
		}
		out = append(out, fmt.Sprintf("%s:%d: %s ignored: %s; %s", w.File, w.Line, strings.Join(names, ", "), w.Msg, fix))
	}
	assigned := make([]string, 0, len(vars.Origin))
	for name := range vars.Origin {
		assigned = append(assigned, name)
	}
	slices.SortFunc(assigned, func(a, b string) int {
		oa, ob := vars.Origin[a], vars.Origin[b]
		if c := strings.Compare(oa.File, ob.File); c != 0 {
			return c
		}
		return oa.Line - ob.Line
	})
	for _, name := range assigned {
		if want := nearName(name); want != "" {
			why := "names are case-sensitive"
			if !strings.EqualFold(name, want) {
				why = "no such setting"
			}
			out = append(out, fmt.Sprintf("%s: %s ignored (%s): write %s=... instead", vars.Origin[name], name, why, want))
		}
	}
	if hs, origin := vars.Get("MATRIX_HOMESERVER"), vars.Origin["MATRIX_HOMESERVER"]; hs != "" && origin.File != "" {
		if err := sender.CheckHomeserver(hs); err != nil {
			out = append(out, fmt.Sprintf("%s: MATRIX_HOMESERVER: %v", origin, err))
		}
	}
	return out
}

// nearName is the setting name is a near miss of, or "".
func nearName(name string) string {
	if slices.Contains(confNames, name) {
		return ""
	}
	for _, want := range confNames {
		// The length test first: every variable of the stock file is
		// checked on every alarm, and a distance is at least the
		// difference in length.
		if strings.EqualFold(name, want) || (len(name) >= 8 && abs(len(name)-len(want)) <= 2 &&
			editDistance(strings.ToUpper(name), strings.ToUpper(want)) <= 2) {
			return want
		}
	}
	return ""
}

func abs(n int) int { return max(n, -n) }

// editDistance is the Levenshtein distance of two ASCII names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
