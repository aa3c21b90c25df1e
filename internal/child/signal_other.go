//go:build !unix

package child

import "syscall"

// signal sends sig to the process (where there are no process groups to
// signal).
func (p *Process) signal(sig syscall.Signal) {
	p.Cmd.Process.Signal(sig)
}
