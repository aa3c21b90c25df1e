package liquidjs

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The date filter as LiquidJS 10.26 implements it (src/filters/date.ts,
// src/util/liquid-date.ts, src/util/strftime.ts):
//
//   - nil (and undefined) give "" (the filter returns its input);
//   - "now" and "today" are the current time (Options.Now);
//   - a number is unix seconds, whatever its size (LiquidJS has no
//     milliseconds heuristic: 1700000000000 is a date in the year 55840);
//   - a string of digits only is unix seconds too;
//   - any other string is parsed as JavaScript's Date would (see parseJSDate:
//     ISO 8601, its space-separated variant, RFC 2822 and a few English
//     forms); one that does not parse is returned unchanged;
//   - the date is shown in the engine's zone (Options.Location, Kuma's
//     process zone), or in the zone given as the filter's second argument: an
//     IANA name, or minutes west of UTC as JavaScript's getTimezoneOffset;
//   - with no format, LiquidJS's default "%A, %B %-e, %Y at %-l:%M %P %z".

// DefaultDateFormat is LiquidJS's default dateFormat.
const DefaultDateFormat = "%A, %B %-e, %Y at %-l:%M %P %z"

// maxJSTime is the range of a JavaScript Date in milliseconds.
const maxJSTime = 8.64e15

// liquidDate is LiquidJS's LiquidDate: the fields strftime reads.
type liquidDate struct {
	disp     time.Time // the displayed wall clock (its zone is the process zone)
	offset   int       // minutes west of UTC (JavaScript's getTimezoneOffset)
	zoneName string    // %Z
}

// parseDate is the date LiquidJS makes of v, shown in tz (nil: the
// engine's zone); nil when v is no date.
func (e *Engine) parseDate(v any, tz any) (*liquidDate, error) {
	var ms float64
	switch x := v.(type) {
	case string:
		switch {
		case x == "now" || x == "today":
			ms = float64(e.nowFn().UnixMilli())
		case x != "" && strings.Trim(x, "0123456789") == "":
			ms = stringToNumber(x) * 1000
		default:
			t, ok := parseJSDate(x, e.loc)
			if !ok {
				return nil, nil
			}
			ms = float64(t.UnixMilli())
		}
	case bool:
		if x {
			ms = 1
		}
	case []any:
		// new Date([x]) is new Date(String([x])); others are invalid.
		if len(x) != 1 {
			return nil, nil
		}
		return e.parseDate(stringify(x[0]), tz)
	default:
		f, ok := toFloat(v)
		if !ok {
			return nil, nil // nil, null, objects
		}
		ms = f * 1000
	}
	if ms != ms || math.Abs(ms) > maxJSTime {
		return nil, nil
	}
	ms = math.Trunc(ms) // TimeClip
	instant := time.UnixMilli(int64(ms))
	local := instant.In(e.loc)
	_, localOff := local.Zone()
	d := &liquidDate{disp: local, offset: -localOff / 60, zoneName: e.zoneName}
	if tz == nil {
		return d, nil
	}
	var tzOffset int // minutes west of UTC
	if name, ok := tz.(string); ok {
		loc, err := loadLocation(name)
		if err != nil {
			return nil, fmt.Errorf("invalid time zone specified: %s", name)
		}
		_, off := instant.In(loc).Zone()
		tzOffset = -off / 60
		d.zoneName = name
	} else {
		tzOffset = int(toNumber(tz))
		d.zoneName = ""
	}
	// LiquidDate shifts the instant by the difference of offsets and reads the
	// shifted Date's local fields.
	diff := (d.offset - tzOffset) * 60000
	d.disp = time.UnixMilli(int64(ms) + int64(diff)).In(e.loc)
	d.offset = tzOffset
	return d, nil
}

func loadLocation(name string) (*time.Location, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return nil, fmt.Errorf("bad zone %q", name)
	}
	// Intl matches zone names case-insensitively for the common ones.
	if strings.EqualFold(name, "utc") || strings.EqualFold(name, "gmt") {
		return time.UTC, nil
	}
	return time.LoadLocation(name)
}

// icuZoneAliases are the older names that are the canonical ICU ids (what
// node's Intl.DateTimeFormat().resolvedOptions().timeZone prints) of zones.
var icuZoneAliases = map[string]string{
	"Asia/Kolkata": "Asia/Calcutta", "Asia/Kathmandu": "Asia/Katmandu", "Asia/Ho_Chi_Minh": "Asia/Saigon",
	"Asia/Yangon": "Asia/Rangoon", "Europe/Kyiv": "Europe/Kiev", "America/Nuuk": "America/Godthab",
	"Atlantic/Faroe": "Atlantic/Faeroe", "Pacific/Chuuk": "Pacific/Truk", "Pacific/Pohnpei": "Pacific/Ponape",
	"Pacific/Kanton": "Pacific/Enderbury", "America/Argentina/Buenos_Aires": "America/Buenos_Aires",
	"America/Indiana/Indianapolis": "America/Indianapolis", "America/Kentucky/Louisville": "America/Louisville",
	"Etc/UTC": "UTC", "Etc/UCT": "UTC", "Etc/Universal": "UTC", "Etc/Zulu": "UTC", "Universal": "UTC",
	"Zulu": "UTC", "UCT": "UTC", "Etc/GMT": "UTC", "GMT": "UTC",
}

// zoneDisplayName is %Z for the engine's zone: the IANA id as node prints it.
func zoneDisplayName(loc *time.Location) string {
	name := loc.String()
	if name == "Local" {
		name = localZoneName()
	}
	if a, ok := icuZoneAliases[name]; ok {
		return a
	}
	return name
}

// localZoneName finds the IANA name of time.Local as node would: TZ, else
// the /etc/localtime link, else UTC.
func localZoneName() string {
	if tz, ok := os.LookupEnv("TZ"); ok {
		tz = strings.TrimPrefix(tz, ":")
		if tz == "" {
			return "UTC"
		}
		if filepath.IsAbs(tz) {
			if i := strings.Index(tz, "zoneinfo/"); i >= 0 {
				return tz[i+len("zoneinfo/"):]
			}
		}
		return tz
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if i := strings.Index(target, "zoneinfo/"); i >= 0 {
			return target[i+len("zoneinfo/"):]
		}
	}
	return "UTC"
}

// --- JavaScript's Date parsing ----------------------------------------------

var (
	// ISO 8601 as ECMAScript's Date Time String Format, extended as V8 does:
	// a space instead of T, any number of fraction digits, offsets with or
	// without a colon, and a trailing " UTC"/" GMT"/" Z".
	rISODate = lazyRegexp(`^([+-]\d{6}|\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$`)
	rISOTime = lazyRegexp(`^([+-]\d{6}|\d{4})-(\d{1,2})-(\d{1,2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:([zZ]| UTC| GMT)|([+-])(\d{2}):?(\d{2}))?$`)
	// Dates V8's legacy parser reads as local midnight.
	rLooseDate = lazyRegexp(`^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$`)
)

var rfcLayouts = []string{
	"Mon, 02 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"Mon, 02 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"02 Jan 2006 15:04:05 MST",
	"02 Jan 2006 15:04:05 -0700",
	"Mon Jan 02 2006 15:04:05 GMT-0700",
	"Mon Jan 2 2006 15:04:05 GMT-0700",
}

var localLayouts = []string{
	"Jan 2 2006",
	"Jan 2, 2006",
	"January 2 2006",
	"January 2, 2006",
	"2 Jan 2006",
	"2 January 2006",
	"Jan 2 2006 15:04:05",
	"Jan 2, 2006 15:04:05",
	"January 2, 2006 15:04:05",
	"1/2/2006",
	"1/2/2006 15:04:05",
	"2006/1/2 15:04:05",
	"2006/1/2 15:04",
}

// parseJSDate parses s as new Date(s) does in node for the forms a template
// is likely to meet; it reports false for anything else (LiquidJS then
// passes the input through).
func parseJSDate(s string, loc *time.Location) (time.Time, bool) {
	n := func(s string, def int) int {
		if s == "" {
			return def
		}
		v, _ := strconv.Atoi(s)
		return v
	}
	if m := rISODate().FindStringSubmatch(s); m != nil {
		// Date-only ISO forms are UTC.
		mo, d := n(m[2], 1), n(m[3], 1)
		if mo < 1 || mo > 12 || d < 1 || d > 31 || m[1] == "-000000" {
			return time.Time{}, false
		}
		return time.Date(n(m[1], 0), time.Month(mo), d, 0, 0, 0, 0, time.UTC), true
	}
	if m := rISOTime().FindStringSubmatch(s); m != nil {
		mo, d, h, mi, sec, ms := n(m[2], 0), n(m[3], 0), n(m[4], 0), n(m[5], 0), n(m[6], 0), n((m[7] + "000")[:3], 0)
		if mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 59 ||
			(h == 24 && (mi != 0 || sec != 0 || ms != 0)) {
			return time.Time{}, false
		}
		zone := loc
		switch {
		case m[8] != "":
			zone = time.UTC
		case m[9] != "":
			oh, om := n(m[10], 0), n(m[11], 0)
			if oh > 23 || om > 59 {
				return time.Time{}, false
			}
			off := oh*3600 + om*60
			if m[9] == "-" {
				off = -off
			}
			zone = time.FixedZone("", off)
		}
		return time.Date(n(m[1], 0), time.Month(mo), d, h, mi, sec, ms*1e6, zone), true
	}
	if m := rLooseDate().FindStringSubmatch(strings.TrimSpace(s)); m != nil {
		mo, d := n(m[2], 0), n(m[3], 0)
		if mo < 1 || mo > 12 || d < 1 || d > 31 {
			return time.Time{}, false
		}
		return time.Date(n(m[1], 0), time.Month(mo), d, 0, 0, 0, 0, loc), true
	}
	for _, layout := range rfcLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// --- strftime ---------------------------------------------------------------

// rStrftime is LiquidJS's conversion pattern. An unknown conversion (a
// multibyte character among them: one UTF-16 unit in JavaScript, never a
// conversion) is left as written, as is a "%" that starts no match.
var rStrftime = lazyRegexp(`%([-_0^#:]+)?(\d+)?([EO])?(.)`)

const strftimeSet = "aAbBcCdeHIjklLmMNpPqsSuUwWxXyYzZtnh%"

// strftime is LiquidJS's strftime: the pattern applied left to right.
func strftime(d *liquidDate, format string) string {
	return rStrftime().ReplaceAllStringFunc(format, func(m string) string {
		sub := rStrftime().FindStringSubmatch(m)
		if len(sub[4]) != 1 || !strings.Contains(strftimeSet, sub[4]) {
			return m
		}
		return formatConv(d, sub[4][0], sub[1], sub[2])
	})
}

// convValue is conversion conv of d before casing and padding (only the
// one asked for is computed: a template formats a date on every render).
func convValue(d *liquidDate, conv byte, flags, width string) string {
	t := d.disp
	switch conv {
	case 'd', 'e':
		return strconv.Itoa(t.Day())
	case 'H', 'k':
		return strconv.Itoa(t.Hour())
	case 'I', 'l':
		return strconv.Itoa((t.Hour()+11)%12 + 1)
	case 'j':
		return strconv.Itoa(t.YearDay())
	case 'L':
		return strconv.Itoa(t.Nanosecond() / 1e6)
	case 'm':
		return strconv.Itoa(int(t.Month()))
	case 'M':
		return strconv.Itoa(t.Minute())
	case 'S':
		return strconv.Itoa(t.Second())
	case 'u':
		return strconv.Itoa((int(t.Weekday())+6)%7 + 1)
	case 'w':
		return strconv.Itoa(int(t.Weekday()))
	case 'Y':
		return strconv.Itoa(t.Year())
	case 'a':
		return t.Format("Mon")
	case 'A':
		return t.Format("Monday")
	case 'b', 'h':
		return t.Format("Jan")
	case 'B':
		return t.Format("January")
	case 'c':
		return localeDate(t) + ", " + localeTime(t)
	case 'q':
		return ordinal(t.Day())
	case 'p':
		return t.Format("PM")
	case 'P':
		return t.Format("pm")
	case 'x':
		return localeDate(t)
	case 'X':
		return localeTime(t)
	case 't':
		return "\t"
	case 'n':
		return "\n"
	case '%':
		return "%"
	case 'U':
		return weekOfYear(t, 0)
	case 'W':
		return weekOfYear(t, 1)
	case 'Z':
		if d.zoneName != "" {
			return d.zoneName
		}
		fallthrough
	case 'z':
		return offsetString(d.offset, strings.Contains(flags, ":"))
	case 'C':
		ys := strconv.Itoa(t.Year())
		if n, err := strconv.Atoi(ys[:min(len(ys), 2)]); err == nil {
			return strconv.Itoa(n)
		}
		return "NaN"
	case 'y':
		ys := strconv.Itoa(t.Year())
		return ys[min(len(ys), 2):min(len(ys), 4)]
	case 'N':
		w, _ := strconv.Atoi(width)
		if w == 0 {
			w = 9
		}
		ms := strconv.Itoa(t.Nanosecond() / 1e6)
		return ms[:min(len(ms), w)] + strings.Repeat("0", max(0, w-len(ms)))
	case 's':
		return strconv.FormatInt(int64(math.Round(float64(t.UnixMilli())/1000)), 10)
	}
	return ""
}

// formatConv is one conversion, cased and padded as its flags and width say.
func formatConv(d *liquidDate, conv byte, flags, width string) string {
	ret := convValue(d, conv, flags, width)
	padChar := "0"
	if strings.IndexByte("aAbBceklpP", conv) >= 0 {
		padChar = " "
	}
	padWidth := 0
	switch conv {
	case 'd', 'e', 'H', 'I', 'k', 'l', 'm', 'M', 'S', 'U', 'W':
		padWidth = 2
	case 'j', 'L':
		padWidth = 3
	}
	if width != "" {
		padWidth, _ = strconv.Atoi(width)
		padWidth = min(padWidth, 1024) // LiquidJS's memory limit would stop a template long before
	}
	if strings.Contains(flags, "^") {
		ret = strings.ToUpper(ret)
	} else if strings.Contains(flags, "#") {
		if strings.ContainsFunc(ret, func(r rune) bool { return r >= 'a' && r <= 'z' }) {
			ret = strings.ToUpper(ret)
		} else {
			ret = strings.ToLower(ret)
		}
	}
	if strings.Contains(flags, "_") {
		padChar = " "
	} else if strings.Contains(flags, "0") {
		padChar = "0"
	}
	if strings.Contains(flags, "-") {
		padWidth = 0
	}
	if n := padWidth - jsLength(ret); n > 0 {
		ret = strings.Repeat(padChar, n) + ret
	}
	return ret
}

func ordinal(day int) string {
	if day/10 != 1 && day%10 >= 1 && day%10 <= 3 {
		return []string{"st", "nd", "rd"}[day%10-1]
	}
	return "th"
}

func weekOfYear(t time.Time, startDay int) string {
	now := t.YearDay() + (startDay - int(t.Weekday()))
	jan1 := time.Date(t.Year(), 1, 1, 0, 0, 0, 0, t.Location())
	then := 7 - int(jan1.Weekday()) + startDay
	return strconv.Itoa(int(math.Floor(float64(now-then)/7)) + 1)
}

func offsetString(offset int, colon bool) string {
	sign, sep, abs := "+", "", max(offset, -offset)
	if offset > 0 {
		sign = "-"
	}
	if colon {
		sep = ":"
	}
	return fmt.Sprintf("%s%02d%s%02d", sign, abs/60, sep, abs%60)
}

// localeDate and localeTime are en-US toLocaleDateString/toLocaleTimeString.
func localeDate(t time.Time) string {
	return fmt.Sprintf("%d/%d/%d", int(t.Month()), t.Day(), t.Year())
}

func localeTime(t time.Time) string {
	return fmt.Sprintf("%d:%02d:%02d %s", (t.Hour()+11)%12+1, t.Minute(), t.Second(), t.Format("PM"))
}
