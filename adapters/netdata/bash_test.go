package netdata

import (
	"strconv"
	"testing"
)

var durationInputs = []string{
	"0", "1", "2", "29", "30", "59", "60", "61", "62", "89", "90", "119", "120", "121",
	"3539", "3540", "3569", "3570", "3599", "3600", "3601", "3629", "3630", "3659", "3660",
	"5400", "7199", "7200", "7229", "7230", "86399", "86400", "86401", "88199", "88200",
	"89999", "90000", "171000", "171799", "171800", "172799", "172800", "180000", "259199",
	"864000", "31536000", "1700000000",
	"9223372036854775807", "-9223372036854775808", "99999999999999999999",
	"-1", "-5", "-60", "-61", "-3600", "-86400", "-90000",
	"", " ", "\t", "abc", "a_b", "010", "0x10", "0X1f", "2#101", "36#z", "64#_", "+5", "-+5",
	" 7 ", "3 4", "\n42\n",
	// bash errors (duration4human aborts, the script reuses a stale $REPLY)
	// or evaluates an expression: Duration4Human gives "0 second", see below.
	"1.5", "08", "0x", "5abc", "1e3", "$x", "--5", "1,5", "2*3", "a[1]",
}

// durationDeviations are the inputs where Duration4Human deliberately
// differs from bash: arithmetic syntax errors (bash leaves REPLY stale) and
// arithmetic expressions (bash evaluates them). All give "0 second" here.
var durationDeviations = map[string]bool{
	"1.5": true, "08": true, "5abc": true, "1e3": true, "$x": true,
	"1,5": true, "2*3": true,
}

const durationHeader = `duration4human, as computed by the real bash function cut out of netdata
1.37.1's alarm-notify.sh (identical in master), LC_ALL=C, "set -f", called
unquoted like the script: "duration4human ${x}"; "<error>" marks a bash
arithmetic error (the function aborts). Regenerate with: go test -run
TestDuration4Human -update (needs ALARM_NOTIFY_SH or scripts/fetch-netdata.sh).
Columns: input, bash output.`

func TestDuration4Human(t *testing.T) {
	const script = `set -f
while IFS= read -r -d '' x; do
  if out=$(duration4human ${x} 2>/dev/null); then printf '%s\0' "$out"; else printf '<error>\0'; fi
done`
	cases, live := bashGolden(t, "duration4human.golden", durationHeader, "duration4human", script, durationInputs)
	for _, c := range cases {
		in, want := c[0], c[1]
		got := Duration4Human(in)
		if durationDeviations[in] {
			if got != "0 second" {
				t.Errorf("Duration4Human(%q) = %q, want the documented deviation %q (bash: %q)", in, got, "0 second", want)
			}
			continue
		}
		if got != want {
			t.Errorf("Duration4Human(%q) = %q, bash gives %q", in, got, want)
		}
	}
	// live, when the script is around: the golden file is still what bash says
	for i, c := range cases {
		if i < len(live) && live[i] != c[1] {
			t.Errorf("golden for %q is %q but bash now says %q", c[0], c[1], live[i])
		}
	}
}

// a few values spelled out, independent of the golden file
func TestDuration4HumanTable(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0 second", "1": "1 second", "2": "2 seconds", "59": "59 seconds",
		"60": "1 minute", "61": "1 minute and 1 second", "89": "1 minute and 29 seconds",
		"90": "1 minute and 30 seconds", "3599": "59 minutes and 59 seconds",
		"3600": "1 hour", "3630": "1 hour and 1 minute", "5400": "1 hour and 30 minutes",
		"86399": "23 hours and 60 minutes", "86400": "1 day", "88200": "1 day and 1 hour",
		"180000": "2 days and 2 hours", "171000": "1 day and 24 hours", "": "0 second",
		"abc": "0 second", "010": "8 seconds",
	} {
		if got := Duration4Human(in); got != want {
			t.Errorf("Duration4Human(%q) = %q, want %q", in, got, want)
		}
	}
}

func urlencodeInputs() []string {
	in := []string{
		"", "abc", "AZaz09-_.~", "a b", "é", "日本語", "\"quoted\"", "it's", "`cmd`", "$(x)",
		"%", "+", "&=?#/:;,@!*()[]{}<>|\\^", "tab\there", "new\nline", "cr\rlf",
		"\xff\xfe", "\xc3", "\xc3(", "\xed\xa0\x80", "\xf0\x9f\x94\xb4", "⚠️", "\u00a0",
		"disk_space._", "192.168.1.1", "host.example.org", "95.3%", "-5 °C",
	}
	var all []byte
	for c := 1; c < 256; c++ { // argv cannot carry NUL
		all = append(all, byte(c))
		in = append(in, string([]byte{byte(c)}))
	}
	return append(in, string(all))
}

const urlencodeHeader = `urlencode, as computed by the real bash function cut out of netdata
1.37.1's alarm-notify.sh (identical in master), LC_ALL=C, called quoted like
the script: urlencode "${x}". Regenerate with: go test -run TestURLEncode
-update (needs ALARM_NOTIFY_SH or scripts/fetch-netdata.sh). Columns: input, output.`

func TestURLEncode(t *testing.T) {
	const script = `while IFS= read -r -d '' x; do urlencode "${x}" >/dev/null; printf '%s\0' "$REPLY"; done`
	inputs := urlencodeInputs()
	cases, live := bashGolden(t, "urlencode.golden", urlencodeHeader, "urlencode", script, inputs)
	for _, c := range cases {
		if got := URLEncode(c[0]); got != c[1] {
			t.Errorf("URLEncode(%q) = %q, bash gives %q", c[0], got, c[1])
		}
	}
	for i, out := range live {
		if got := URLEncode(inputs[i]); got != out {
			t.Errorf("URLEncode(%q) = %q, live bash gives %q", inputs[i], got, out)
		}
	}
}

func TestTestGT(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"5", "4", true}, {"4", "5", false}, {"5", "5", false}, {"010", "9", true},
		{"", "1", false}, {"1", "", false}, {"abc", "0", false}, {"1.5", "0", false},
		{"-1", "-2", true}, {"+3", "2", true}, {" 3 ", "2", true}, {"3 4", "2", false},
		{"0x10", "1", false}, {"99999999999999999999", "1", false},
		{"", "", true}, {"-n", "", true}, {"-z", "", false}, {"!", "", false},
	} {
		if got := testGT(c.a, c.b); got != c.want {
			t.Errorf("testGT(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// TestTestGTBash checks testGT against bash's [ ${a} -gt ${b} ].
func TestTestGTBash(t *testing.T) {
	if scriptFunctions(t, "urlencode") == "" {
		t.Skip("no bash/alarm-notify.sh")
	}
	vals := []string{"5", "4", "010", "9", "", "abc", "1.5", "-1", "+3", " 3 ", "3 4", "0x10", "99999999999999999999", "08", "-n", "-z", "!", "-f"}
	var ins []string
	for _, a := range vals {
		for _, b := range vals {
			ins = append(ins, a, b)
		}
	}
	outs := runBash(t, `set -f
while IFS= read -r -d '' a && IFS= read -r -d '' b; do
  if [ ${a} -gt ${b} ] 2>/dev/null; then printf 'true\0true\0'; else printf 'false\0false\0'; fi
done`, nil, ins)
	for i := 0; i < len(ins); i += 2 {
		want, _ := strconv.ParseBool(outs[i])
		if got := testGT(ins[i], ins[i+1]); got != want {
			t.Errorf("testGT(%q, %q) = %v, bash says %v", ins[i], ins[i+1], got, want)
		}
	}
}
