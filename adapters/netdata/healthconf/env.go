package healthconf

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/expand"
)

// expandBudget bounds the bytes of variable values one Parse may read
// through expansions. Real files read a few kilobytes; without a bound,
// a dozen lines of a=$a$a would take all memory.
const expandBudget = 4 << 20

// env presents Vars to mvdan.cc/sh/v3/expand. It is also writable, because
// ${VAR:=default} and $((x=1)) assign as a side effect, as they do in bash.
type env struct {
	v *Vars
	// budget is what is left of expandBudget; once it is spent, every
	// lookup fails and the assignment being evaluated is skipped.
	budget   int
	exceeded bool
	// denied counts refused lookups, so a caller can tell whether the
	// expansion it just ran saw the truth.
	denied int
}

var _ expand.WriteEnviron = (*env)(nil)

// charge spends n bytes of the budget and reports whether that was allowed.
func (e *env) charge(n int) bool {
	if !e.exceeded {
		e.budget -= n
		e.exceeded = e.budget < 0
	}
	if e.exceeded {
		e.denied++
		return false
	}
	return true
}

func (e *env) Get(name string) expand.Variable {
	if user, ok := strings.CutPrefix(name, "HOME "); ok {
		// expand asks this for ~user and, if we don't answer, looks the
		// user up through os/user (NSS, maybe LDAP). Answering with the
		// text unchanged keeps ~user literal and the lookup never happens.
		return expand.Variable{Set: true, Kind: expand.String, Str: "~" + user}
	}
	if name == "IFS" {
		// expand reads IFS before every word, even "after": charging it
		// would fail plain literals once the budget is gone. Reading it
		// copies nothing.
		s, ok := e.v.Scalars[name]
		return expand.Variable{Set: ok, Kind: expand.String, Str: s}
	}
	if e.exceeded {
		// Don't even measure: after the budget, lookups must be cheap.
		e.denied++
		return expand.Variable{}
	}
	exported := e.v.Exported[name]
	if arr, ok := e.v.Arrays[name]; ok {
		size := 0
		for k, val := range arr {
			size += len(k) + len(val)
		}
		if !e.charge(size) {
			return expand.Variable{}
		}
		vr := expand.Variable{Set: len(arr) > 0, Exported: exported}
		if !e.v.Indexed[name] {
			vr.Kind = expand.Associative
			vr.Map = arr
			return vr
		}
		vr.Kind = expand.Indexed
		dense := true
		for i, k := range e.v.indexes(name) {
			n, _ := strconv.Atoi(k)
			vr.List = append(vr.List, arr[k])
			vr.Indexes = append(vr.Indexes, n)
			dense = dense && n == i
		}
		if dense {
			vr.Indexes = nil
		}
		return vr
	}
	if s, ok := e.v.Scalars[name]; ok {
		if !e.charge(len(s)) {
			return expand.Variable{}
		}
		return expand.Variable{Set: true, Kind: expand.String, Str: s, Exported: exported}
	}
	return expand.Variable{Exported: exported}
}

// Each serves ${!prefix*}; names count against the budget too.
func (e *env) Each(fn func(name string, vr expand.Variable) bool) {
	size := 0
	for n := range e.v.Scalars {
		size += len(n)
	}
	for n := range e.v.Arrays {
		size += len(n)
	}
	if !e.charge(size) {
		return
	}
	names := slices.AppendSeq(slices.Collect(maps.Keys(e.v.Scalars)), maps.Keys(e.v.Arrays))
	slices.Sort(names)
	for _, n := range names {
		if !fn(n, e.Get(n)) {
			return
		}
	}
}

func (e *env) Set(name string, vr expand.Variable) error {
	if e.exceeded {
		// Lookups now answer "unset"; ${X:=default} must not take that
		// for the truth and overwrite X.
		e.denied++
		return errBudget
	}
	switch {
	case vr.Kind == expand.KeepValue:
	case !vr.IsSet():
		e.v.unset(name)
		return nil
	case vr.Kind == expand.Indexed:
		arr := make(map[string]string, len(vr.List))
		for i, s := range vr.List {
			k := i
			if vr.Indexes != nil {
				k = vr.Indexes[i]
			}
			arr[strconv.Itoa(k)] = s
		}
		e.v.setArray(name, arr, true)
	case vr.Kind == expand.Associative:
		e.v.setArray(name, maps.Clone(vr.Map), false)
	default:
		e.v.setScalar(name, vr.String(), false)
	}
	if vr.Exported {
		e.v.Exported[name] = true
	}
	return nil
}
