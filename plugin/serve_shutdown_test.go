package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestShutdownCutsUnansweredRequests: a request still unanswered when the
// stop grace ends is cut off, and that is a clean stop with a warning, not
// an error (serve exited 3, "shutdown: context canceled").
func TestShutdownCutsUnansweredRequests(t *testing.T) {
	a, _, stderr := newGoldenApp("", nil)
	a.log, a.logh = newLogger(a.stderr, false)
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release // a webhook waiting behind a slow delivery
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String()); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	inFlight, end := context.WithCancel(context.Background())
	end() // the grace is over
	if err := a.shutdown(srv, inFlight); err != nil {
		t.Errorf("shutdown: %v, want a clean stop", err)
	}
	if !strings.Contains(stderr.String(), "stopped with webhooks unanswered after the grace period") {
		t.Errorf("no warning:\n%s", stderr.String())
	}
}
