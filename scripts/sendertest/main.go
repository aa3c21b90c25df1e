// Command sendertest runs the fake Matrix homeserver of package
// sender/sendertest as a process, for manual tries with curl or a stock
// alarm-notify.sh, and for scripts/bench, which drives matrix-notify from
// outside.
//
// It prints the base URL as the first line on stdout, so a script can read it
// (`read -r HS < <(go run ./scripts/sendertest ...)`), and serves until SIGINT
// or SIGTERM. What arrived is at GET $HS/_sendertest/events and
// $HS/_sendertest/requests. It listens on loopback only: it accepts any
// client that knows the test token (sendertest.DefaultToken), so it must
// never face a network.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"matrix-notify/sender/sendertest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sendertest:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("sendertest", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "loopback `address` to listen on; port 0 picks a free port")
	rooms := fs.String("rooms", "", "comma-separated room ids the bot has joined")
	delay := fs.Duration("delay", 0, "delay added before every answer")
	rateLimit := fs.Float64("rate-limit", 0, "new events per second over all rooms; excess gets 429 (0: off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := checkLoopback(*listen); err != nil {
		return err
	}
	srv := sendertest.NewHandler(sendertest.Options{Joined: split(*rooms), Delay: *delay})
	defer srv.Close()
	srv.SetRateLimit(*rateLimit)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	// "localhost" is resolved by the system: check what it became.
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		ln.Close()
		return fmt.Errorf("-listen %q: resolved to non-loopback %s", *listen, ip)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("http://%s\n", ln.Addr())
	os.Stdout.Sync()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	srv.Close() // end pending delays so that Shutdown does not wait on them
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hs.Shutdown(shutCtx)
}

// checkLoopback refuses any address that is not on the loopback interface.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %q: only loopback addresses (127.0.0.1, [::1], localhost) are allowed", addr)
	}
	return nil
}

func split(list string) []string {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
