//go:build unix

package child

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// announced starts sh -c script, its stdout read by StartAnnounced for
// "at (URL)", and stops it at the test's end.
func announced(t *testing.T, script string, attr *syscall.SysProcAttr) (*Process, string, *Output, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = attr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var lines Output
	p, url, err := StartAnnounced(cmd, out, regexp.MustCompile(`^at (\S+)$`), 10*time.Second, lines.Line)
	if err == nil {
		t.Cleanup(func() { p.Stop(time.Second) })
	}
	return p, url, &lines, err
}

// TestStartAnnounced: the first announced URL counts, and each gets every
// line, the later ones too.
func TestStartAnnounced(t *testing.T) {
	p, url, lines, err := announced(t, `echo starting; echo at http://127.0.0.1:1; sleep 0.1; echo at http://127.0.0.1:2`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if url != "http://127.0.0.1:1" {
		t.Errorf("url %q, want the first announced", url)
	}
	if <-p.Done(); p.Err() != nil {
		t.Errorf("exit: %v", p.Err())
	}
	if want := "starting\nat http://127.0.0.1:1\nat http://127.0.0.1:2\n"; lines.String() != want {
		t.Errorf("each got %q, want %q", lines.String(), want)
	}
}

func TestStartAnnouncedExitsFirst(t *testing.T) {
	if _, _, _, err := announced(t, `echo nothing to say; exit 7`, nil); err == nil || !strings.Contains(err.Error(), "exited at start: exit status 7") {
		t.Errorf("err %v, want the exit", err)
	}
}

// TestStopKills: a process that ignores SIGTERM is killed after the grace.
func TestStopKills(t *testing.T) {
	p, _, _, err := announced(t, `trap "" TERM; echo at ready; while :; do sleep 0.1; done`, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if p.Stop(300 * time.Millisecond) {
		t.Error("Stop says it exited within the grace")
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("Stop returned after %v, before the grace", took)
	}
	if ws, ok := p.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Errorf("exit %v, want killed", p.Cmd.ProcessState)
	}
}

// TestStopGroup: a process leading its own group is stopped with its
// children. The background sleep holds stdout: Done means it is gone too.
func TestStopGroup(t *testing.T) {
	p, _, _, err := announced(t, `sleep 30 & echo at ready; wait`, &syscall.SysProcAttr{Setpgid: true})
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan bool, 1)
	go func() { stopped <- p.Stop(5 * time.Second) }()
	select {
	case ok := <-stopped:
		if !ok {
			t.Error("the group outlived SIGTERM")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the shell's child kept the pipe open: it was not signalled")
	}
}

func TestWaitHTTP(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable) // starting
		}
	}))
	defer srv.Close()
	p, err := Start(exec.Command("sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(time.Second)
	if err := p.WaitHTTP(srv.URL, 10*time.Second); err != nil || calls.Load() != 3 {
		t.Errorf("err %v after %d calls, want nil after 3", err, calls.Load())
	}
	if err := p.WaitHTTP(srv.URL+"/never", 0); err != nil {
		t.Errorf("a 200 answer without waiting: %v", err)
	}

	srv.Config.Handler = http.NotFoundHandler()
	if err := p.WaitHTTP(srv.URL, 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "did not answer within") {
		t.Errorf("err %v, want a timeout", err)
	}
	gone, err := Start(exec.Command("true"))
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.WaitHTTP(srv.URL, 10*time.Second); err == nil || !strings.Contains(err.Error(), "exited before") {
		t.Errorf("err %v, want the exit", err)
	}
}
