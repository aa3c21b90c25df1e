package liquidjs

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
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

func (e *Engine) parseDate(v any, tz any, withTZ bool) (*liquidDate, bool, error) {
	var ms float64
	switch x := v.(type) {
	case nil, NullValue:
		return nil, false, nil
	case string:
		switch {
		case x == "now" || x == "today":
			ms = float64(e.now().UnixMilli())
		case isDigits(x):
			ms = stringToNumber(x) * 1000
		default:
			t, ok := parseJSDate(x, e.loc)
			if !ok {
				return nil, false, nil
			}
			ms = float64(t.UnixMilli())
		}
	case bool:
		if x {
			ms = 1
		}
	case time.Time:
		ms = float64(x.UnixMilli())
	case *Object, map[string]any:
		return nil, false, nil
	case []any:
		// new Date([x]) is new Date(String([x])); others are invalid.
		if len(x) != 1 {
			return nil, false, nil
		}
		return e.parseDate(stringify(x[0]), tz, withTZ)
	default:
		f, ok := toFloat(v)
		if !ok {
			return nil, false, nil
		}
		ms = f * 1000
	}
	if ms != ms || math.Abs(ms) > maxJSTime {
		return nil, false, nil
	}
	ms = math.Trunc(ms) // TimeClip
	instant := time.UnixMilli(int64(ms))
	local := instant.In(e.loc)
	_, localOff := local.Zone()
	d := &liquidDate{disp: local, offset: -localOff / 60, zoneName: e.zoneName}
	if !withTZ || tz == nil {
		return d, true, nil
	}
	var tzOffset int // minutes west of UTC
	if name, ok := tz.(string); ok {
		loc, err := loadLocation(name)
		if err != nil {
			return nil, false, fmt.Errorf("invalid time zone specified: %s", name)
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
	return d, true, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

var locCache sync.Map // string -> *time.Location

func loadLocation(name string) (*time.Location, error) {
	if l, ok := locCache.Load(name); ok {
		return l.(*time.Location), nil
	}
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return nil, fmt.Errorf("bad zone %q", name)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		// Intl matches zone names case-insensitively for the common ones.
		if strings.EqualFold(name, "utc") || strings.EqualFold(name, "gmt") {
			l = time.UTC
		} else {
			return nil, err
		}
	}
	locCache.Store(name, l)
	return l, nil
}

// icuZoneAlias is the older name that is the canonical ICU id (what node's
// Intl.DateTimeFormat().resolvedOptions().timeZone prints) of zone name,
// if it has one.
func icuZoneAlias(name string) (string, bool) {
	switch name {
	case "Asia/Kolkata":
		return "Asia/Calcutta", true
	case "Asia/Kathmandu":
		return "Asia/Katmandu", true
	case "Asia/Ho_Chi_Minh":
		return "Asia/Saigon", true
	case "Asia/Yangon":
		return "Asia/Rangoon", true
	case "Europe/Kyiv":
		return "Europe/Kiev", true
	case "America/Nuuk":
		return "America/Godthab", true
	case "Atlantic/Faroe":
		return "Atlantic/Faeroe", true
	case "Pacific/Chuuk":
		return "Pacific/Truk", true
	case "Pacific/Pohnpei":
		return "Pacific/Ponape", true
	case "Pacific/Kanton":
		return "Pacific/Enderbury", true
	case "America/Argentina/Buenos_Aires":
		return "America/Buenos_Aires", true
	case "America/Indiana/Indianapolis":
		return "America/Indianapolis", true
	case "America/Kentucky/Louisville":
		return "America/Louisville", true
	case "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "Universal", "Zulu", "UCT", "Etc/GMT", "GMT":
		return "UTC", true
	}
	return "", false
}

// zoneDisplayName is %Z for the engine's zone: the IANA id as node prints it.
func zoneDisplayName(loc *time.Location) string {
	name := loc.String()
	if name == "Local" {
		name = localZoneName()
	}
	if a, ok := icuZoneAlias(name); ok {
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
	if m := rISODate().FindStringSubmatch(s); m != nil {
		// Date-only ISO forms are UTC.
		y, _ := strconv.Atoi(m[1])
		mo, d := 1, 1
		if m[2] != "" {
			mo, _ = strconv.Atoi(m[2])
		}
		if m[3] != "" {
			d, _ = strconv.Atoi(m[3])
		}
		if mo < 1 || mo > 12 || d < 1 || d > 31 || m[1] == "-000000" {
			return time.Time{}, false
		}
		return time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC), true
	}
	if m := rISOTime().FindStringSubmatch(s); m != nil {
		y, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		d, _ := strconv.Atoi(m[3])
		h, _ := strconv.Atoi(m[4])
		mi, _ := strconv.Atoi(m[5])
		sec := 0
		if m[6] != "" {
			sec, _ = strconv.Atoi(m[6])
		}
		ms := 0
		if m[7] != "" {
			frac := (m[7] + "00")[:3]
			ms, _ = strconv.Atoi(frac)
		}
		if mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 59 ||
			(h == 24 && (mi != 0 || sec != 0 || ms != 0)) {
			return time.Time{}, false
		}
		zone := loc
		switch {
		case m[8] != "":
			zone = time.UTC
		case m[9] != "":
			oh, _ := strconv.Atoi(m[10])
			om, _ := strconv.Atoi(m[11])
			if oh > 23 || om > 59 {
				return time.Time{}, false
			}
			off := oh*3600 + om*60
			if m[9] == "-" {
				off = -off
			}
			zone = time.FixedZone("", off)
		}
		return time.Date(y, time.Month(mo), d, h, mi, sec, ms*1e6, zone), true
	}
	if m := rLooseDate().FindStringSubmatch(strings.TrimSpace(s)); m != nil {
		y, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		d, _ := strconv.Atoi(m[3])
		if mo < 1 || mo > 12 || d < 1 || d > 31 {
			return time.Time{}, false
		}
		return time.Date(y, time.Month(mo), d, 0, 0, 0, 0, loc), true
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

var (
	longMonths  = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	longDays    = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	padSpace    = "aAbBceklpP"
	flagChars   = "-_0^#:"
	strftimeSet = "aAbBcCdeHIjklLmMNpPqsSuUwWxXyYzZtnh%"
)

// defaultPadWidth is the width conversion conv is padded to without a
// width in the pattern.
func defaultPadWidth(conv byte) int {
	switch conv {
	case 'd', 'e', 'H', 'I', 'k', 'l', 'm', 'M', 'S', 'U', 'W':
		return 2
	case 'j', 'L':
		return 3
	}
	return 0
}

// strftime is LiquidJS's strftime: the pattern %([-_0^#:]+)?(\d+)?([EO])?(.)
// applied left to right; an unknown conversion is left as written.
func strftime(d *liquidDate, format string) string {
	var b strings.Builder
	b.Grow(len(format) + 16)
	for i := 0; i < len(format); {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			i++
			continue
		}
		j := i + 1
		fs := j
		for j < len(format) && strings.IndexByte(flagChars, format[j]) >= 0 {
			j++
		}
		flags := format[fs:j]
		ws := j
		for j < len(format) && format[j] >= '0' && format[j] <= '9' {
			j++
		}
		width := format[ws:j]
		if j < len(format) && (format[j] == 'E' || format[j] == 'O') && j+1 < len(format) && format[j+1] != '\n' {
			j++
		}
		if j >= len(format) || format[j] == '\n' || format[j] == '\r' {
			// JavaScript's "." matches no line terminator: no match here.
			b.WriteByte('%')
			i++
			continue
		}
		// The conversion is one UTF-16 unit in JavaScript; a multibyte
		// character is never a conversion, so copy the whole match as is.
		conv := format[j]
		if conv >= 0x80 || strings.IndexByte(strftimeSet, conv) < 0 {
			end := j + 1
			if conv >= 0x80 {
				_, size := utf8.DecodeRuneInString(format[j:])
				end = j + size
			}
			b.WriteString(format[i:end])
			i = end
			continue
		}
		b.WriteString(formatConv(d, conv, flags, width))
		i = j + 1
	}
	return b.String()
}

func formatConv(d *liquidDate, conv byte, flags, width string) string {
	t := d.disp
	var ret string
	switch conv {
	case 'a':
		ret = longDays[t.Weekday()][:3]
	case 'A':
		ret = longDays[t.Weekday()]
	case 'b', 'h':
		ret = longMonths[t.Month()-1][:3]
	case 'B':
		ret = longMonths[t.Month()-1]
	case 'c':
		ret = localeDate(t) + ", " + localeTime(t)
	case 'C':
		ys := strconv.Itoa(t.Year())
		if len(ys) > 2 {
			ys = ys[:2]
		}
		n, err := strconv.Atoi(ys)
		if err != nil {
			ret = "NaN"
		} else {
			ret = strconv.Itoa(n)
		}
	case 'd', 'e':
		ret = strconv.Itoa(t.Day())
	case 'H', 'k':
		ret = strconv.Itoa(t.Hour())
	case 'I', 'l':
		h := t.Hour() % 12
		if h == 0 {
			h = 12
		}
		ret = strconv.Itoa(h)
	case 'j':
		ret = strconv.Itoa(t.YearDay())
	case 'L':
		ret = strconv.Itoa(t.Nanosecond() / 1e6)
	case 'm':
		ret = strconv.Itoa(int(t.Month()))
	case 'M':
		ret = strconv.Itoa(t.Minute())
	case 'N':
		w, _ := strconv.Atoi(width)
		if w == 0 {
			w = 9
		}
		s := strconv.Itoa(t.Nanosecond() / 1e6)
		if len(s) > w {
			s = s[:w]
		}
		ret = s + strings.Repeat("0", w-len(s))
	case 'p':
		ret = "AM"
		if t.Hour() >= 12 {
			ret = "PM"
		}
	case 'P':
		ret = "am"
		if t.Hour() >= 12 {
			ret = "pm"
		}
	case 'q':
		ret = ordinal(t.Day())
	case 's':
		ret = strconv.FormatInt(int64(math.Round(float64(t.UnixMilli())/1000)), 10)
	case 'S':
		ret = strconv.Itoa(t.Second())
	case 'u':
		w := int(t.Weekday())
		if w == 0 {
			w = 7
		}
		ret = strconv.Itoa(w)
	case 'U':
		ret = weekOfYear(t, 0)
	case 'w':
		ret = strconv.Itoa(int(t.Weekday()))
	case 'W':
		ret = weekOfYear(t, 1)
	case 'x':
		ret = localeDate(t)
	case 'X':
		ret = localeTime(t)
	case 'y':
		ys := strconv.Itoa(t.Year())
		switch {
		case len(ys) >= 4:
			ys = ys[2:4]
		case len(ys) > 2:
			ys = ys[2:]
		default:
			ys = ""
		}
		ret = ys
	case 'Y':
		ret = strconv.Itoa(t.Year())
	case 'z':
		ret = offsetString(d.offset, strings.Contains(flags, ":"))
	case 'Z':
		ret = d.zoneName
		if ret == "" {
			ret = offsetString(d.offset, strings.Contains(flags, ":"))
		}
	case 't':
		ret = "\t"
	case 'n':
		ret = "\n"
	case '%':
		ret = "%"
	}
	padChar := "0"
	if strings.IndexByte(padSpace, conv) >= 0 {
		padChar = " "
	}
	padWidth := defaultPadWidth(conv)
	if width != "" {
		padWidth, _ = strconv.Atoi(width)
		if padWidth > 1024 {
			padWidth = 1024 // LiquidJS's memory limit would stop a template long before
		}
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
	switch day {
	case 11, 12, 13:
		return "th"
	}
	switch day % 10 {
	case 1:
		return "st"
	case 2:
		return "nd"
	case 3:
		return "rd"
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
	sign := "+"
	if offset > 0 {
		sign = "-"
	}
	if offset < 0 {
		offset = -offset
	}
	sep := ""
	if colon {
		sep = ":"
	}
	return fmt.Sprintf("%s%02d%s%02d", sign, offset/60, sep, offset%60)
}

// localeDate and localeTime are en-US toLocaleDateString/toLocaleTimeString.
func localeDate(t time.Time) string {
	return fmt.Sprintf("%d/%d/%d", int(t.Month()), t.Day(), t.Year())
}

func localeTime(t time.Time) string {
	h := t.Hour() % 12
	if h == 0 {
		h = 12
	}
	ampm := "AM"
	if t.Hour() >= 12 {
		ampm = "PM"
	}
	return fmt.Sprintf("%d:%02d:%02d %s", h, t.Minute(), t.Second(), ampm)
}
