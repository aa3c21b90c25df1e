// Package healthconf reads netdata's health_alarm_notify.conf the way
// alarm-notify.sh sources it, but without executing it: the file is parsed as
// bash and only assignments are evaluated. Functions, command substitutions,
// conditionals and loops are skipped, never run.
package healthconf

// Vars is the state a sequence of health_alarm_notify.conf files leaves
// behind: plain variables and (associative) arrays such as
// role_recipients_matrix.
type Vars struct {
	Scalars map[string]string
	Arrays  map[string]map[string]string
	// Exported lists the names assigned with `export`, e.g. https_proxy.
	Exported map[string]bool
}

// NewVars returns empty Vars.
func NewVars() *Vars {
	return &Vars{
		Scalars:  map[string]string{},
		Arrays:   map[string]map[string]string{},
		Exported: map[string]bool{},
	}
}

// Get returns the value of a scalar variable ("" when unset).
func (v *Vars) Get(name string) string { return v.Scalars[name] }

// Index returns array[key] ("" when unset).
func (v *Vars) Index(array, key string) string { return v.Arrays[array][key] }
