//go:build unix

package child

import "syscall"

// signal sends sig to the process, or to its group when it leads one.
func (p *Process) signal(sig syscall.Signal) {
	if a := p.Cmd.SysProcAttr; a != nil && a.Setpgid {
		syscall.Kill(-p.Cmd.Process.Pid, sig)
		return
	}
	p.Cmd.Process.Signal(sig)
}
