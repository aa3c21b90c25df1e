package main

import (
	"slices"
	"testing"
)

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:0": true, "127.0.0.2:8008": true, "[::1]:0": true, "localhost:8008": true,
		"0.0.0.0:0": false, ":0": false, "[::]:0": false, "192.168.1.2:80": false, "example.org:80": false, "127.0.0.1": false,
	} {
		if err := checkLoopback(addr); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v, want ok %v", addr, err, ok)
		}
	}
}

func TestRunRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"-listen", "0.0.0.0:0"},
		{"-delay", "soon"},
		{"extra"},
	} {
		if err := run(args); err == nil {
			t.Errorf("run(%q) accepted", args)
		}
	}
}

func TestSplit(t *testing.T) {
	if got := split(" !a:hs, ,!b ,"); !slices.Equal(got, []string{"!a:hs", "!b"}) {
		t.Errorf("split = %q", got)
	}
}
