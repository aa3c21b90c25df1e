package main

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"

	"matrix-notify/adapters/kuma"
	"matrix-notify/adapters/liquidjs"
	"matrix-notify/adapters/netdata"
)

// errTemplateHasErrors makes check-template exit 1.
var errTemplateHasErrors = errors.New("template has errors")

// contextKeys lists the top-level variables a source's templates can use.
func contextKeys(source string) ([]string, error) {
	switch source {
	case "kuma":
		return slices.Sorted(maps.Keys(kuma.Payload{}.Context())), nil
	case "netdata":
		return slices.Sorted(maps.Keys(netdata.Fields{}.Map())), nil
	}
	return nil, usagef("check-template: --source must be kuma or netdata, not %q", source)
}

// runCheckTemplate lints a template: parse errors (exit 1), and warnings
// for unknown variables and filters and Kuma's status trap (exit 0).
func (a *app) runCheckTemplate(args []string) error {
	fs := flag.NewFlagSet("check-template", flag.ContinueOnError)
	source := fs.String("source", "kuma", "kuma or netdata: whose variables the template sees")
	words, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(words) != 1 {
		return usagef("usage: matrix-notify check-template FILE [--source kuma|netdata]")
	}
	known, err := contextKeys(*source)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(words[0])
	if err != nil {
		return usagef("check-template: %v", err)
	}
	diags := liquidjs.Lint(words[0], string(src), known)
	errs := 0
	for _, d := range diags {
		fmt.Fprintf(a.stdout, "%s:%d:%d: %s: %s\n", words[0], d.Line, d.Col, d.Severity, d.Msg)
		if d.Severity == "error" {
			errs++
		}
	}
	if errs > 0 {
		return errTemplateHasErrors
	}
	if len(diags) == 0 {
		fmt.Fprintf(a.stdout, "%s: ok\n", words[0])
	}
	return nil
}
