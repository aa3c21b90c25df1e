package healthconf

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// stockPath is where scripts/fetch-netdata.sh extracts Debian's netdata-core.
const stockPath = "../../../testdata/.cache/netdata/usr/lib/netdata/conf.d/health_alarm_notify.conf"

// stockMethods are the methods alarm-notify.sh (1.37) declares
// role_recipients_<method> for before sourcing the files.
var stockMethods = []string{
	"email", "hangouts", "pushover", "pushbullet", "telegram", "slack", "alerta", "flock", "discord",
	"hipchat", "twilio", "messagebird", "kavenegar", "pd", "fleep", "irc", "syslog", "custom", "msteams",
	"rocketchat", "sms", "dynatrace", "stackpulse", "opsgenie", "gotify", "ntfy", "matrix", "prowl",
	"awssns", "kafka", "proxmox",
}

func stockFile(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile(stockPath)
	if os.IsNotExist(err) {
		tb.Skipf("%s is absent: run scripts/fetch-netdata.sh", stockPath)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// stockSeed is what alarm-notify.sh has set when it sources the files.
func stockSeed() *Vars {
	v := NewVars()
	for _, m := range stockMethods {
		v.Scalars["SEND_"+strings.ToUpper(m)] = "YES"
		v.Arrays["role_recipients_"+m] = map[string]string{}
	}
	return v
}

var stockRoles = []string{"sysadmin", "domainadmin", "dba", "webmaster", "proxyadmin", "sitemgr"}

func TestStock(t *testing.T) {
	data := stockFile(t)
	v := stockSeed()
	w, err := Parse(stockPath, bytes.NewReader(data), v)
	if err != nil {
		t.Fatal(err)
	}
	// The only thing in the stock file that is not an assignment is
	// custom_sender(), and it must have been skipped.
	if len(w) != 1 || w[0].Kind != SkippedFunction || !strings.Contains(w[0].Msg, "custom_sender()") {
		t.Errorf("warnings: %v", w)
	}
	want := map[string]string{
		"SEND_MATRIX":              "YES",
		"MATRIX_HOMESERVER":        "",
		"MATRIX_ACCESSTOKEN":       "",
		"DEFAULT_RECIPIENT_MATRIX": "",
		"date_format":              "",
		"SEND_EMAIL":               "NO",
		"DEFAULT_RECIPIENT_EMAIL":  "root",
		"HIPCHAT_SERVER":           "api.hipchat.com",
		"IRC_PORT":                 "6667",
		"MSTEAMS_ICON_CLEAR":       "💚",
	}
	for name, val := range want {
		got, ok := v.Scalars[name]
		if !ok || got != val {
			t.Errorf("%s = %q (set %v), want %q", name, got, ok, val)
		}
	}
	for _, role := range stockRoles {
		got, ok := v.Arrays["role_recipients_matrix"][role]
		if !ok || got != v.Get("DEFAULT_RECIPIENT_MATRIX") {
			t.Errorf("role_recipients_matrix[%s] = %q (set %v)", role, got, ok)
		}
		if got := v.Index("role_recipients_email", role); got != "root" {
			t.Errorf("role_recipients_email[%s] = %q", role, got)
		}
	}
	if _, ok := v.Scalars["custom_sender"]; ok {
		t.Error("custom_sender became a variable")
	}
	for _, n := range []string{"msg", "to"} { // assigned inside custom_sender
		if _, ok := v.Scalars[n]; ok {
			t.Errorf("%s assigned from inside custom_sender", n)
		}
	}
}

// TestStockAgainstBash sources the stock file with bash and checks that
// every variable has the value bash gives it.
func TestStockAgainstBash(t *testing.T) {
	data := stockFile(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	v := stockSeed()
	if _, err := Parse(stockPath, bytes.NewReader(data), v); err != nil {
		t.Fatal(err)
	}
	scalars := slices.Sorted(maps.Keys(v.Scalars))
	arrays := slices.Sorted(maps.Keys(v.Arrays))
	var script strings.Builder
	for _, m := range stockMethods {
		fmt.Fprintf(&script, "SEND_%s=YES; declare -A role_recipients_%s\n", strings.ToUpper(m), m)
	}
	script.WriteString("source \"$1\" || exit 1\n")
	for _, n := range scalars {
		fmt.Fprintf(&script, "printf '%%s\\0' \"$%s\"\n", n)
	}
	for _, n := range arrays {
		fmt.Fprintf(&script, "for k in \"${!%[1]s[@]}\"; do printf '%%s=%%s\\0' \"$k\" \"${%[1]s[$k]}\"; done; printf '\\n\\0'\n", n)
	}
	cmd := exec.Command(bash, "-c", script.String(), "bash", stockPath)
	cmd.Env = []string{"PATH=/nonexistent", "LC_ALL=C.UTF-8"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash: %v", err)
	}
	fields := strings.Split(string(out), "\x00")
	for i, n := range scalars {
		if fields[i] != v.Scalars[n] {
			t.Errorf("%s: bash %q, we %q", n, fields[i], v.Scalars[n])
		}
	}
	fields = fields[len(scalars):]
	for _, n := range arrays {
		got := map[string]string{}
		for fields[0] != "\n" {
			k, val, _ := strings.Cut(fields[0], "=")
			got[k] = val
			fields = fields[1:]
		}
		fields = fields[1:]
		if !maps.Equal(got, v.Arrays[n]) {
			t.Errorf("%s: bash %q, we %q", n, got, v.Arrays[n])
		}
	}
	t.Logf("%d scalars and %d arrays agree with bash", len(scalars), len(arrays))
}

func TestStockThenUser(t *testing.T) {
	data := stockFile(t)
	dir := t.TempDir()

	// A user file with only the changes: the roles were expanded by the
	// stock file while DEFAULT_RECIPIENT_MATRIX was empty, and stay so
	// (alarm-notify.sh then falls back to the default).
	small := filepath.Join(dir, "small.conf")
	if err := os.WriteFile(small, []byte(`
MATRIX_HOMESERVER="https://matrix.example.org"
MATRIX_ACCESSTOKEN='syt_secret'
DEFAULT_RECIPIENT_MATRIX="!room:example.org"
role_recipients_matrix[dba]="${DEFAULT_RECIPIENT_MATRIX} !dba:example.org|critical"
export https_proxy="http://proxy:3128"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	v := stockSeed()
	w, err := Load(v, stockPath, filepath.Join(dir, "absent.conf"), small)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 1 || w[0].File != stockPath {
		t.Errorf("warnings: %v", w)
	}
	for name, want := range map[string]string{
		"SEND_MATRIX":              "YES",
		"MATRIX_HOMESERVER":        "https://matrix.example.org",
		"MATRIX_ACCESSTOKEN":       "syt_secret",
		"DEFAULT_RECIPIENT_MATRIX": "!room:example.org",
		"https_proxy":              "http://proxy:3128",
	} {
		if got := v.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if got := v.Index("role_recipients_matrix", "sysadmin"); got != "" {
		t.Errorf("sysadmin = %q, want the stock file's expansion (empty)", got)
	}
	if got := v.Index("role_recipients_matrix", "dba"); got != "!room:example.org !dba:example.org|critical" {
		t.Errorf("dba = %q", got)
	}
	if !v.Exported["https_proxy"] {
		t.Error("https_proxy not exported")
	}

	// The usual user file: edit-config's full copy of the stock file,
	// edited. Its role lines now expand the new default.
	full := filepath.Join(dir, "full.conf")
	edited := strings.Replace(string(data), "DEFAULT_RECIPIENT_MATRIX=\"\"", "DEFAULT_RECIPIENT_MATRIX=\"!ops:example.org\"", 1)
	edited = strings.Replace(edited, "\nMATRIX_HOMESERVER=\n", "\nMATRIX_HOMESERVER=\"https://hs\"\n", 1)
	if edited == string(data) {
		t.Fatal("stock file changed shape: edits did not apply")
	}
	if err := os.WriteFile(full, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	v = stockSeed()
	if _, err := Load(v, stockPath, full); err != nil {
		t.Fatal(err)
	}
	if v.Get("MATRIX_HOMESERVER") != "https://hs" {
		t.Errorf("MATRIX_HOMESERVER = %q", v.Get("MATRIX_HOMESERVER"))
	}
	for _, role := range stockRoles {
		if got := v.Index("role_recipients_matrix", role); got != "!ops:example.org" {
			t.Errorf("role_recipients_matrix[%s] = %q", role, got)
		}
	}
}

func BenchmarkLoadStock(b *testing.B) {
	data := stockFile(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(stockPath, bytes.NewReader(data), stockSeed()); err != nil {
			b.Fatal(err)
		}
	}
}
