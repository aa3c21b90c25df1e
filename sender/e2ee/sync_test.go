package e2ee

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
)

// TestWithoutQuery: a failed sync's error is short (its inline filter made
// each log line some 900 characters) and still a refused connection.
func TestWithoutQuery(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	err := fmt.Errorf("request error: %w", &url.Error{Op: "Get", URL: "http://127.0.0.1:9/_matrix/client/v3/sync?filter=%7B%22room%22%7D&timeout=0", Err: refused})
	got := withoutQuery(err)
	if want := `Get "http://127.0.0.1:9/_matrix/client/v3/sync": dial tcp: connect: connection refused`; got.Error() != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !errors.Is(got, syscall.ECONNREFUSED) {
		t.Error("the refused connection is lost")
	}
	if plain := errors.New("x"); withoutQuery(plain) != plain {
		t.Error("an error without a URL changed")
	}
}
