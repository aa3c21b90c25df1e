// Package healthconf reads netdata's health_alarm_notify.conf the way
// alarm-notify.sh sources it, but without executing it: the file is parsed as
// bash and only assignments are evaluated. Functions, command substitutions,
// conditionals and loops are skipped, never run.
//
// The point is to be a drop-in for alarm-notify.sh: users keep the
// configuration they already have (stock file plus their own override), and
// we read the same values bash would have, without handing a shell to
// whatever the file contains.
package healthconf

import (
	"maps"
	"slices"
	"strconv"
)

// Vars is the state a sequence of health_alarm_notify.conf files leaves
// behind: plain variables and (associative) arrays such as
// role_recipients_matrix.
//
// A name lives either in Scalars or in Arrays, never both: assigning an
// array to a scalar's name turns it into an array, and assigning a plain
// value to an array's name sets its element "0", as bash does.
type Vars struct {
	Scalars map[string]string
	Arrays  map[string]map[string]string
	// Indexed marks the arrays that are indexed (name=(a b c), declare -a):
	// their keys are decimal indexes. Every other array is associative.
	// alarm-notify.sh declares all role_recipients_* arrays associative
	// before sourcing the files; an array first created by an element
	// assignment such as x[key]=v is therefore associative here too.
	Indexed map[string]bool
	// Exported lists the names assigned with `export`, e.g. https_proxy.
	Exported map[string]bool
	// Origin is where each variable a file assigned was last assigned
	// (seeded values have none), so a caller can point at the line.
	Origin map[string]Origin
}

// Origin is a place in a file.
type Origin struct {
	File string
	Line int
}

func (o Origin) String() string { return o.File + ":" + strconv.Itoa(o.Line) }

// NewVars returns empty Vars.
func NewVars() *Vars {
	v := &Vars{}
	v.init()
	return v
}

// Get returns the value of a scalar variable ("" when unset).
func (v *Vars) Get(name string) string { return v.Scalars[name] }

// Index returns array[key] ("" when unset).
func (v *Vars) Index(array, key string) string { return v.Arrays[array][key] }

// indexes returns the keys of the indexed array name in numeric order.
func (v *Vars) indexes(name string) []string {
	keys := slices.Collect(maps.Keys(v.Arrays[name]))
	slices.SortFunc(keys, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return keys
}

// init makes the maps usable when Vars was built as a literal.
func (v *Vars) init() {
	if v.Scalars == nil {
		v.Scalars = map[string]string{}
	}
	if v.Arrays == nil {
		v.Arrays = map[string]map[string]string{}
	}
	if v.Indexed == nil {
		v.Indexed = map[string]bool{}
	}
	if v.Exported == nil {
		v.Exported = map[string]bool{}
	}
	if v.Origin == nil {
		v.Origin = map[string]Origin{}
	}
}

// setScalar implements NAME=value and NAME+=value.
func (v *Vars) setScalar(name, val string, appendTo bool) {
	if arr, ok := v.Arrays[name]; ok {
		// bash: assigning to an array's bare name sets element 0.
		if appendTo {
			val = arr["0"] + val
		}
		arr["0"] = val
		return
	}
	if appendTo {
		val = v.Scalars[name] + val
	}
	v.Scalars[name] = val
}

// array returns name's array, creating it (indexed or associative) if
// needed. A scalar of that name becomes element "0", as in bash.
func (v *Vars) array(name string, indexed bool) map[string]string {
	if arr, ok := v.Arrays[name]; ok {
		return arr
	}
	arr := map[string]string{}
	if s, ok := v.Scalars[name]; ok {
		arr["0"] = s
		delete(v.Scalars, name)
	}
	v.Arrays[name] = arr
	if indexed {
		v.Indexed[name] = true
	}
	return arr
}

// setArray replaces name's value with a whole array.
func (v *Vars) setArray(name string, arr map[string]string, indexed bool) {
	if arr == nil {
		arr = map[string]string{}
	}
	delete(v.Scalars, name)
	v.Arrays[name] = arr
	if indexed {
		v.Indexed[name] = true
	} else {
		delete(v.Indexed, name)
	}
}

// unset implements `unset name`.
func (v *Vars) unset(name string) {
	delete(v.Scalars, name)
	delete(v.Arrays, name)
	delete(v.Indexed, name)
	delete(v.Exported, name)
	delete(v.Origin, name)
}

// nextIndex is the index `name+=(x)` appends at: one past the highest.
func (v *Vars) nextIndex(name string) int {
	next := 0
	for k := range v.Arrays[name] {
		if n, err := strconv.Atoi(k); err == nil && n >= next {
			next = n + 1
		}
	}
	return next
}
