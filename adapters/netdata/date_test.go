package netdata

import (
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the golden zones without the system's tzdata
)

var dateZones = []string{"UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"}

var dateWhens = []string{"0", "1700000000", "1719792000", "1704067199", "951782400", "-86400", "1.25", "1700000000,5", "+5"}

var dateFormats = []string{
	"", "+", "+%n", "%F", "+%FT%T%z", "+%a, %d %b %Y %H:%M:%S %z", "+%F %T%:z",
	"+%a, %d %b %Y %H:%M:%S %Z", "+%A, %d-%b-%y %H:%M:%S %Z", "+%x %X", "+%c",
	"+%C|%D|%e|%g|%G|%h|%I|%j|%k|%l|%m|%M|%p|%P|%q|%r|%R|%s|%S|%u|%U|%V|%w|%W|%y|%Y",
	"+%N|%3N|%12N|%::z|%:::z|%Z|%%|%t|x",
	"+%-d|%_m|%05e|%-H|%_3S|%^a|%^B|%#a|%#Z|%#p|%10A|%-10A|%010s|%_Y",
	"+%Q|%E|%Ey|%Od|%:a|%", "+literal only", "+[%5Q][%-5Q][%_%][%05Q][%^Q][%:Q][%::::z]",
}

const dateHeader = `AlarmDate against GNU date under LC_ALL=C: the output of alarm-notify.sh's
four-line ${date} fallback chain (date --date=@${when} "${date_format}", ...)
for TZ, when, date_format. Regenerate with: go test -run TestAlarmDate -update
(needs bash and GNU date). Columns: TZ, when, date_format, output.`

func dateChainScript() string {
	return `while IFS= read -r -d '' when && IFS= read -r -d '' date_format; do
date=$(date --date=@${when} "${date_format}" 2>/dev/null)
[ -z "${date}" ] && date=$(date "${date_format}" 2>/dev/null)
[ -z "${date}" ] && date=$(date --date=@${when} 2>/dev/null)
[ -z "${date}" ] && date=$(date 2>/dev/null)
printf '%s\0\0' "$date"
done`
}

func haveGNUDate() bool {
	out, err := exec.Command("date", "--version").Output()
	return err == nil && strings.Contains(string(out), "GNU")
}

func TestAlarmDate(t *testing.T) {
	if *update {
		if !haveGNUDate() {
			t.Fatal("-update needs GNU date")
		}
		var cases []goldenCase
		for _, tz := range dateZones {
			var ins []string
			for _, w := range dateWhens {
				for _, f := range dateFormats {
					ins = append(ins, w, f)
				}
			}
			outs := runBash(t, dateChainScript(), []string{"TZ=" + tz}, ins)
			for i := 0; i < len(outs); i += 2 {
				cases = append(cases, goldenCase{tz, ins[i], ins[i+1], outs[i]})
			}
		}
		writeGolden(t, "date.golden", dateHeader, cases)
	}
	cases := readGolden(t, "date.golden")
	if len(cases) == 0 {
		t.Fatal("empty golden")
	}
	now := time.Unix(1600000000, 0) // every golden case has a valid when
	for _, c := range cases {
		loc, err := time.LoadLocation(c[0])
		if err != nil {
			t.Logf("skipping zone %s: %v", c[0], err)
			continue
		}
		if got := AlarmDate(c[1], c[2], loc, now); got != c[3] {
			t.Errorf("TZ=%s AlarmDate(%q, %q) = %q, date gives %q", c[0], c[1], c[2], got, c[3])
		}
	}
}

func TestAlarmDateFallbacks(t *testing.T) {
	now := time.Date(2026, 11, 23, 23, 17, 50, 0, time.UTC)
	for _, c := range []struct{ when, format, want string }{
		{"", "", "Mon Nov 23 23:17:50 UTC 2026"},           // date
		{"abc", "+%F", "2026-11-23"},                       // date "+%F" at now
		{"1 2", "+%F", "2026-11-23"},                       // word-split when
		{"1700000000", "", "Tue Nov 14 22:13:20 UTC 2023"}, // asctime style
		{"1700000000", "%F", "Tue Nov 14 22:13:20 UTC 2023"},
		{"1700000000", "+", "Tue Nov 14 22:13:20 UTC 2023"},
		{"0x10", "+%s", "1795475870"},
		{"99999999999999999999", "", "Mon Nov 23 23:17:50 UTC 2026"},
		{"5", "+%e|%k\n\n", " 1| 0"},
	} {
		if got := AlarmDate(c.when, c.format, time.UTC, now); got != c.want {
			t.Errorf("AlarmDate(%q, %q) = %q, want %q", c.when, c.format, got, c.want)
		}
	}
}

// TestValidWhen checks which whens AlarmDate takes (the others fall back to
// now) against the pattern GNU date accepts.
func TestValidWhen(t *testing.T) {
	re := regexp.MustCompile(`^[+-]?[0-9]+([.,][0-9]+)?$`)
	now := time.Unix(1600000000, 0)
	check := func(s string) {
		// The last case matches but is out of range: now as well.
		want := re.MatchString(s) && s != "12345678901234567890.5"
		if got := AlarmDate(s, "+%s", time.UTC, now) != "1600000000"; got != want {
			t.Errorf("AlarmDate(%q) took when: %v, pattern says %v", s, got, want)
		}
	}
	for _, s := range append(dateWhens, "", "+", "-", ".", ",", "1.", ".5", "1.2.3", "1,2,3", "1.2,3", "--1",
		"+-1", "1+", " 1", "1 ", "1\n", "١", "0x10", "1e5", "12345678901234567890.5") {
		check(s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "+-.,0123456789 \nx"
	for range 50000 {
		b := make([]byte, rng.IntN(7))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		check(string(b))
	}
}
