package realpeer

import (
	"os"
	"testing"
)

// Skip skips a test whose real peer is missing, or fails it when
// REALPEERS_REQUIRED is set: CI installs every peer, so there a missing one is
// a broken install that must not pass as a skipped test.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("REALPEERS_REQUIRED") != "" {
		t.Fatalf("REALPEERS_REQUIRED is set, but: "+format, args...)
	}
	t.Skipf(format, args...)
}
