package netdata

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultDateLayout is GNU date's output without a format in the C locale
// (alarm-notify.sh exports LC_ALL=C): "Mon Nov 23 23:17:50 UTC 2026".
const DefaultDateLayout = "%a %b %e %H:%M:%S %Z %Y"

// whenRE is what GNU date accepts after --date=@ once the unquoted ${when}
// has been word-split (no spaces survive): seconds with an optional sign and
// fraction ('.' or ',').
var whenRE = regexp.MustCompile(`^([+-]?[0-9]+)(?:[.,]([0-9]+))?$`)

// parseWhen returns the instant `date --date=@${when}` denotes.
func parseWhen(when string) (time.Time, bool) {
	m := whenRE.FindStringSubmatch(when)
	if m == nil {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || sec > 1<<55 || sec < -(1<<55) {
		return time.Time{}, false
	}
	var nsec int64
	if m[2] != "" {
		nsec, _ = strconv.ParseInt((m[2] + "000000000")[:9], 10, 64)
		if m[1][0] == '-' {
			nsec = -nsec
		}
	}
	return time.Unix(sec, nsec), true
}

// AlarmDate computes alarm-notify.sh's ${date} (or ${date_utc} with loc =
// time.UTC), whose fallback chain is:
//
//	date=$(date --date=@${when} "${date_format}")
//	[ -z "${date}" ] && date=$(date "${date_format}")
//	[ -z "${date}" ] && date=$(date --date=@${when})
//	[ -z "${date}" ] && date=$(date)
//
// A date_format not starting with '+' (including the stock empty one) makes
// the first two fail, giving the default "Mon Nov 23 23:17:50 UTC 2026"
// style; an unparsable when falls back to now. A format whose output is
// empty (after $(...) strips trailing newlines) also falls through.
// Deviation: `date "FORMAT"` without '+' would try to set the clock and can
// print a date; we treat any such format as failing.
func AlarmDate(when, dateFormat string, loc *time.Location, now time.Time) string {
	if loc == nil {
		loc = time.Local
	}
	t, whenOK := parseWhen(when)
	t = t.In(loc)
	now = now.In(loc)
	if f, ok := strings.CutPrefix(dateFormat, "+"); ok {
		if whenOK {
			if s := strings.TrimRight(Strftime(t, f), "\n"); s != "" {
				return s
			}
		}
		if s := strings.TrimRight(Strftime(now, f), "\n"); s != "" {
			return s
		}
	}
	if whenOK {
		return Strftime(t, DefaultDateLayout)
	}
	return Strftime(now, DefaultDateLayout)
}

// composites are the conversions GNU date defines by others in the C locale.
var composites = map[byte]string{
	'c': "%a %b %e %H:%M:%S %Y", 'D': "%m/%d/%y", 'x': "%m/%d/%y", 'F': "%Y-%m-%d",
	'r': "%I:%M:%S %p", 'R': "%H:%M", 'T': "%H:%M:%S", 'X': "%H:%M:%S",
}

// Strftime formats t like GNU date's +FORMAT in the C locale. Supported
// conversions: %a %A %b %B %c %C %d %D %e %F %g %G %h %H %I %j %k %l %m %M
// %n %N %p %P %q %r %R %s %S %t %T %u %U %V %w %W %x %X %y %Y %z %:z %::z
// %:::z %Z %%, with the flags - _ 0 ^ #, a field width, and the E and O
// modifiers (ignored, as in the C locale). An unknown conversion is copied
// literally, padded to its width, as GNU date does. Not reproduced: a
// flag or width on %z (GNU pads the hours: "%-:z" is "+0:00") and on
// "%N%" forms like "%5%".
func Strftime(t time.Time, format string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		start := i
		i++
		var pad byte // 0: default
		upper, swap := false, false
		for ; i < len(format) && strings.IndexByte("-_0^#", format[i]) >= 0; i++ {
			switch format[i] {
			case '^':
				upper = true
			case '#':
				swap = true
			default:
				pad = format[i]
			}
		}
		width := -1 // none
		for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
			width = min(max(width, 0)*10+int(format[i]-'0'), 1024)
		}
		colons := 0
		for ; i < len(format) && format[i] == ':'; i++ {
			colons++
		}
		if colons == 0 {
			for i < len(format) && (format[i] == 'E' || format[i] == 'O') {
				i++
			}
		}
		if i >= len(format) {
			b.WriteString(format[start:])
			break
		}
		conv := format[i]
		s, numeric, defPad, defWidth, ok := strftimeConv(t, conv, colons)
		if !ok || colons > 0 && (conv != 'z' || colons > 3) || conv == '%' && i != start+1 {
			// unknown: copied literally, padded like a string
			b.WriteString(padField(format[start:i+1], false, pad, ' ', width, 0))
			continue
		}
		if conv == 'N' && width > 0 {
			// GNU date: the width of %N is a precision.
			s = (fmt.Sprintf("%09d", t.Nanosecond()) + strings.Repeat("0", width))[:width]
			numeric, width = false, -1
		}
		if swap {
			switch conv {
			case 'p', 'Z':
				s = strings.ToLower(s)
			case 'P':
			default:
				s = strings.ToUpper(s)
			}
		}
		if upper {
			s = strings.ToUpper(s)
		}
		b.WriteString(padField(s, numeric, pad, defPad, width, defWidth))
	}
	return b.String()
}

// padField applies GNU strftime padding. Numeric fields carry their
// default width and pad; '-' strips padding, '_' pads with spaces, '0' with
// zeros; a width overrides the default.
func padField(s string, numeric bool, pad, defPad byte, width, defWidth int) string {
	if !numeric {
		if pad == '-' || width < 0 || len(s) >= width {
			return s
		}
		p := " "
		if pad == '0' {
			p = "0"
		}
		return strings.Repeat(p, width-len(s)) + s
	}
	sign, digits := "", s
	if strings.HasPrefix(s, "-") {
		sign, digits = "-", s[1:]
	}
	w := defWidth
	if width >= 0 {
		w = width
	}
	p := defPad
	switch pad {
	case '-':
		w = 0
	case '_':
		p = ' '
	case '0':
		p = '0'
	}
	n := w - len(sign) - len(digits)
	if n <= 0 {
		return sign + digits
	}
	if p == '0' {
		return sign + strings.Repeat("0", n) + digits
	}
	return strings.Repeat(" ", n) + sign + digits
}

// strftimeConv returns one conversion's text; numeric fields are returned
// unpadded with their default pad and width.
func strftimeConv(t time.Time, conv byte, colons int) (s string, numeric bool, defPad byte, defWidth int, ok bool) {
	num := func(v, w int) (string, bool, byte, int, bool) { return strconv.Itoa(v), true, '0', w, true }
	spc := func(v, w int) (string, bool, byte, int, bool) { return strconv.Itoa(v), true, ' ', w, true }
	str := func(v string) (string, bool, byte, int, bool) { return v, false, ' ', 0, true }
	hour12 := t.Hour() % 12
	if hour12 == 0 {
		hour12 = 12
	}
	isoYear, isoWeek := t.ISOWeek()
	if f, ok := composites[conv]; ok {
		return str(Strftime(t, f))
	}
	switch conv {
	case 'a':
		return str(t.Weekday().String()[:3])
	case 'A':
		return str(t.Weekday().String())
	case 'b', 'h':
		return str(t.Month().String()[:3])
	case 'B':
		return str(t.Month().String())
	case 'C':
		return num((t.Year()-mod100(t.Year()))/100, 2) // rounded down
	case 'd':
		return num(t.Day(), 2)
	case 'e':
		return spc(t.Day(), 2)
	case 'g':
		return num(mod100(isoYear), 2)
	case 'G':
		return num(isoYear, 1)
	case 'H':
		return num(t.Hour(), 2)
	case 'I':
		return num(hour12, 2)
	case 'j':
		return num(t.YearDay(), 3)
	case 'k':
		return spc(t.Hour(), 2)
	case 'l':
		return spc(hour12, 2)
	case 'm':
		return num(int(t.Month()), 2)
	case 'M':
		return num(t.Minute(), 2)
	case 'n':
		return str("\n")
	case 'N':
		return num(t.Nanosecond(), 9)
	case 'p':
		return str(t.Format("PM"))
	case 'P':
		return str(t.Format("pm"))
	case 'q':
		return num((int(t.Month())-1)/3+1, 1)
	case 's':
		return strconv.FormatInt(t.Unix(), 10), true, '0', 1, true
	case 'S':
		return num(t.Second(), 2)
	case 't':
		return str("\t")
	case 'u':
		return num((int(t.Weekday())+6)%7+1, 1)
	case 'U':
		return num((t.YearDay()+6-int(t.Weekday()))/7, 2)
	case 'V':
		return num(isoWeek, 2)
	case 'w':
		return num(int(t.Weekday()), 1)
	case 'W':
		return num((t.YearDay()+6-(int(t.Weekday())+6)%7)/7, 2)
	case 'y':
		return num(mod100(t.Year()), 2)
	case 'Y':
		return num(t.Year(), 1)
	case 'z':
		return str(numericZone(t, colons))
	case 'Z':
		name, _ := t.Zone()
		return str(name)
	case '%':
		return str("%")
	}
	return "", false, 0, 0, false
}

// mod100 is y modulo 100 in 0..99, also for years before 0.
func mod100(y int) int { return (y%100 + 100) % 100 }

// numericZone is %z with colons ':' after the '%' (%:::z: as many fields
// as the offset needs). Not time's layouts: they get offsets of -1 to -59
// seconds wrong (an LMT of Accra is -0:00:52).
func numericZone(t time.Time, colons int) string {
	_, off := t.Zone()
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	h, m, s := off/3600, off/60%60, off%60
	switch {
	case colons == 0:
		return fmt.Sprintf("%s%02d%02d", sign, h, m)
	case colons == 2 || colons == 3 && s != 0:
		return fmt.Sprintf("%s%02d:%02d:%02d", sign, h, m, s)
	case colons == 1 || m != 0:
		return fmt.Sprintf("%s%02d:%02d", sign, h, m)
	}
	return fmt.Sprintf("%s%02d", sign, h)
}
