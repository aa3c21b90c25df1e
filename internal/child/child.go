// Package child runs the servers that tests and the bench start as child
// processes (Dendrite, netdata, `matrix-notify serve`, the bench's
// homeserver): started with their Wait already under way, so that an exit is
// seen at once, waited for until they answer, and ended as a service manager
// ends them.
package child

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// Process is a started child.
type Process struct {
	Cmd  *exec.Cmd
	done chan struct{} // closed once Wait has returned
	err  error         // Wait's result, set before done is closed
}

// Start starts cmd and waits for it in the background.
func Start(cmd *exec.Cmd) (*Process, error) {
	return start(cmd, nil)
}

// start is Start with drain run first in the waiting goroutine: what reads
// cmd's StdoutPipe or StderrPipe to its end, which Wait requires.
func start(cmd *exec.Cmd, drain func()) (*Process, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	go func() {
		if drain != nil {
			drain()
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// StartAnnounced starts cmd and waits until a line of out (its StdoutPipe or
// StderrPipe) matches re, and returns re's first group: the URL a server
// says it listens on. Every line of out goes to each, when not nil (out is
// read to its end, whether each is nil or not). An error when the process
// exits first, or prints no such line within the time given (it is killed
// then).
func StartAnnounced(cmd *exec.Cmd, out io.Reader, re *regexp.Regexp, within time.Duration, each func(line string)) (*Process, string, error) {
	found := make(chan string, 1)
	p, err := start(cmd, func() {
		sc := bufio.NewScanner(out)
		for sent := false; sc.Scan(); {
			if each != nil {
				each(sc.Text())
			}
			if m := re.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		io.Copy(io.Discard, out) // a line longer than the Scanner's buffer stops it
	})
	if err != nil {
		return nil, "", err
	}
	select {
	case s := <-found:
		return p, s, nil
	case <-p.done:
		return nil, "", fmt.Errorf("%s exited at start: %v", cmd.Path, p.err)
	case <-time.After(within):
		cmd.Process.Kill()
		<-p.done
		return nil, "", fmt.Errorf("%s printed no %q within %v", cmd.Path, re, within)
	}
}

// Done is closed once the process has exited and been waited for.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is Wait's result, once Done is closed.
func (p *Process) Err() error { return p.err }

// WaitHTTP polls GET url until it answers 200 OK. An error when the
// process exits first, or when it has not answered within the time given
// (it is left running: the caller stops it, after reading its log).
func (p *Process) WaitHTTP(url string, within time.Duration) error {
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before %s answered: %v", p.Cmd.Path, url, p.Cmd.ProcessState)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %v", url, within)
		}
	}
}

// Stop sends SIGTERM, SIGKILL if the process has not exited after grace, and
// waits until it has: whether it exited within grace. When the process was
// started in its own process group (Setpgid), the signals go to the group:
// a daemon's helpers end with it.
func (p *Process) Stop(grace time.Duration) bool {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		p.signal(syscall.SIGKILL)
		<-p.done
		return false
	}
}

// Output is what a child prints (its Stdout or Stderr, or StartAnnounced's
// each), kept while it runs: the child writes it, through os/exec's copying
// goroutine or StartAnnounced's, while the test reads it.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// Line appends line and a newline: StartAnnounced's each.
func (o *Output) Line(line string) {
	o.Write([]byte(line + "\n"))
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
