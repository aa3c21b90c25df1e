package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"matrix-notify/adapters/kuma"
	"matrix-notify/adapters/liquidjs"
	"matrix-notify/sender"
	"matrix-notify/sender/format"
)

// kumaPipeline turns Kuma payloads into notifications: rooms per route,
// templates parsed once, one transport for every request.
type kumaPipeline struct {
	app          *app
	severity     format.SeverityPolicy
	defaultRooms []string
	routes       map[string][]string
	tpl          messageTemplates
}

// newKumaPipeline parses the [kuma] templates. strict (serve) rejects a
// template that does not parse; otherwise (one payload on stdin) it is
// logged and the default message goes out, so the alert is not lost.
func (a *app) newKumaPipeline(s settings, fc *fileConfig, strict bool) (*kumaPipeline, error) {
	tpl, err := a.loadTemplates(s, "kuma", fc.Kuma, fc.dir)
	if err != nil {
		if strict {
			return nil, usageError{err}
		}
		a.log.Error("the templates cannot be used: sending the default message", "err", err)
		tpl = messageTemplates{section: "kuma"}
	}
	p := &kumaPipeline{app: a, severity: s.Severity, defaultRooms: fc.Kuma.Rooms, routes: fc.Kuma.Routes, tpl: tpl}
	if len(p.defaultRooms) == 0 {
		p.defaultRooms = s.Rooms
	}
	return p, nil
}

// kumaTemplateTraps lints the [kuma] templates for Kuma's status trap (a
// comparison of status with 1 or 0, which never matches in Kuma: every
// alert, UP and Test included, would read as DOWN) and returns one line per
// finding, "TEMPLATE:LINE:COL: what to write instead", TEMPLATE the file or
// the key in the TOML file. A template that cannot be read is left to
// loadTemplates to report.
func kumaTemplateTraps(fc *fileConfig) []string {
	var out []string
	for _, t := range fc.Kuma.slots() {
		name, src, err := templateSource(t.inline, t.file, fc.dir, "kuma."+t.key)
		if err != nil || src == "" {
			continue
		}
		if t.inline != "" {
			name = fmt.Sprintf("[kuma] %s", t.key)
			if fc.path != "" {
				name = fmt.Sprintf("%s [kuma] %s", fc.path, t.key)
			}
		}
		for _, d := range liquidjs.Lint(name, src, liquidjs.KumaVariables) {
			if d.NeverMatches {
				out = append(out, fmt.Sprintf("%s:%d:%d: %s", name, d.Line, d.Col, d.Msg))
			}
		}
	}
	return out
}

// rooms returns the rooms of a route ("" is the default route).
func (p *kumaPipeline) rooms(route string) ([]string, bool) {
	if route == "" {
		return p.defaultRooms, true
	}
	rooms, ok := p.routes[route]
	return rooms, ok
}

func (p *kumaPipeline) notification(pl kuma.Payload, rooms []string, received time.Time) sender.Notification {
	n := pl.Notification(rooms, received)
	n.Content = format.Finish(p.tpl.content(pl.Context(), n.Content, p.app.log), pl.Severity(), p.severity)
	return n
}

// runKuma delivers one Kuma webhook payload read from stdin.
func (a *app) runKuma(ctx context.Context, args []string) error {
	cf, words, err := parseFlags("kuma", args)
	if err != nil {
		return err
	}
	if len(words) > 0 {
		return usagef("kuma: unexpected argument %q (the payload is read from stdin)", words[0])
	}
	c, err := a.loadConfig("kuma", cf, standaloneMode)
	if err != nil {
		return err
	}
	s, fc := c.s, c.fc
	body, err := io.ReadAll(io.LimitReader(a.stdin, DefaultMaxBody+1))
	if err != nil {
		return usagef("kuma: reading stdin: %v", err)
	}
	if len(body) > DefaultMaxBody {
		return usagef("kuma: payload on stdin is over %d bytes", DefaultMaxBody)
	}
	pl, err := kuma.DecodeJSON(body)
	if err != nil {
		return usagef("kuma: stdin: %v", err)
	}
	if err := c.credentialsMissing("kuma"); err != nil {
		return err
	}
	pipe, err := a.newKumaPipeline(s, fc, false)
	if err != nil {
		return err
	}
	rooms := pipe.defaultRooms
	if len(rooms) == 0 {
		a.log.Info("not sending: no rooms ([kuma] rooms or [matrix] rooms)", "alert", pl.Summary())
		return errNothingToSend
	}
	return a.deliver(ctx, s, pipe.notification(pl, rooms, a.now()))
}
