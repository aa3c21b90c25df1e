// Command launch runs one program and reports what wait4 says about it, for
// scripts/bench: `launch PROGRAM ARGS...` with a pipe on fd 3, on which it
// writes "WALL_NS USER_NS SYS_NS MAXRSS_KB EXIT" once the program is reaped.
//
// Why a launcher: on Linux a child's ru_maxrss starts from the memory of
// whoever forked it (fork copies the RSS high-water mark; Go's vfork-style
// exec carries the parent's mm into exec), so a child of the benchmark
// harness, tens of MB, would report the harness's RSS. This launcher is a
// small Go program (about 2 MB resident): peak RSS readings above that are
// the program's own. Wall time runs from just before the fork to wait4's
// return; CPU is user+sys of the program and every descendant it waited for.
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
		fmt.Fprintln(os.Stderr, "usage: launch PROGRAM ARGS... (report on fd 3)")
		os.Exit(2)
	}
	syscall.CloseOnExec(3) // the report pipe is ours, not the program's
	report := os.NewFile(3, "report")
	path, err := exec.LookPath(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "launch:", err)
		os.Exit(127)
	}
	start := time.Now()
	pid, err := syscall.ForkExec(path, os.Args[1:], &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "launch:", err)
		os.Exit(127)
	}
	var ws syscall.WaitStatus
	var ru syscall.Rusage
	for {
		_, err = syscall.Wait4(pid, &ws, 0, &ru)
		if err != syscall.EINTR {
			break
		}
	}
	wall := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "launch: wait4:", err)
		os.Exit(127)
	}
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	fmt.Fprintf(report, "%d %d %d %d %d\n", wall.Nanoseconds(), ru.Utime.Nano(), ru.Stime.Nano(), ru.Maxrss, code)
	report.Close()
}
