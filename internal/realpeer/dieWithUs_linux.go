package realpeer

import (
	"os/exec"
	"syscall"
)

// dieWithUs has the kernel kill Dendrite when the test binary dies (a
// panic or a timeout skips TestMain's stop).
func dieWithUs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
