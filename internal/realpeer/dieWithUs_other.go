//go:build !linux

package realpeer

import "os/exec"

func dieWithUs(*exec.Cmd) {}
