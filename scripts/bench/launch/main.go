// Command launch runs one program and reports what wait4 says about it, for
// scripts/bench: `launch PROGRAM ARGS...` runs PROGRAM with /dev/null as its
// stdin, stdout and stderr, and once it is reaped writes "WALL_NS USER_NS
// SYS_NS MAXRSS_KB EXIT" on its own stdout.
//
// Why a launcher: on Linux a child's ru_maxrss starts from the memory of
// whoever forked it (Go's vfork-style exec carries the parent's mm into
// exec), so a child of the harness, tens of MB, would report the harness's
// RSS. This small program is about 2 MB resident: readings above that are
// the program's own. See BENCHMARKS.md, "How it measures".
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: launch PROGRAM ARGS...")
		os.Exit(2)
	}
	if err := launch(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "launch:", err)
		os.Exit(127)
	}
}

func launch(args []string) error {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		return err
	}
	fd := null.Fd()
	start := time.Now()
	pid, err := syscall.ForkExec(path, args, &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{fd, fd, fd}})
	if err != nil {
		return err
	}
	var ws syscall.WaitStatus
	var ru syscall.Rusage
	for err = syscall.EINTR; err == syscall.EINTR; {
		_, err = syscall.Wait4(pid, &ws, 0, &ru)
	}
	wall := time.Since(start)
	if err != nil {
		return fmt.Errorf("wait4: %w", err)
	}
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	_, err = fmt.Printf("%d %d %d %d %d\n", wall.Nanoseconds(), ru.Utime.Nano(), ru.Stime.Nano(), ru.Maxrss, code)
	return err
}
