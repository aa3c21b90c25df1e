package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// prompter asks questions on stderr and reads answers from stdin, one line
// each, read only when asked. When stdin is a terminal, secrets are read
// with echo off (golang.org/x/term); otherwise (a pipe or a file, which
// show nothing) as a plain line, so scripts can pipe the password in.
type prompter struct {
	out io.Writer
	in  *bufio.Reader
	tty int // stdin's file descriptor when it is a terminal, else -1
	// echo is the terminal's state while a secret is being read, to be
	// restored if the read is given up on.
	echo *term.State
}

func newPrompter(stdin io.Reader, out io.Writer) *prompter {
	p := &prompter{out: out, in: bufio.NewReader(stdin), tty: -1}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = int(f.Fd())
	}
	return p
}

// close gives the terminal its echo back if a secret's read was given up
// on (Ctrl-C), which leaves term.ReadPassword waiting with echo off.
func (p *prompter) close() {
	if p.echo != nil {
		_ = term.Restore(p.tty, p.echo)
		p.echo = nil
	}
}

// read runs readLine, which reads one answer, and gives up on it when ctx
// ends (Ctrl-C) while it waits. what names the answer in errors.
func (p *prompter) read(ctx context.Context, what string, readLine func() (string, error)) (string, error) {
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := readLine()
		done <- result{line, err}
	}()
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("login: interrupted: %w", ctx.Err())
	case res := <-done:
		if errors.Is(res.err, io.EOF) {
			if p.tty < 0 {
				// A one-line password file piped in was taken for an
				// earlier question's answer.
				return "", usagef("login: no %s on stdin: piped in, its lines answer the questions asked, in order (the homeserver, unless --homeserver or a configured one; the user, unless --user; then the password)", what)
			}
			return "", usagef("login: no %s on stdin", what)
		} else if res.err != nil {
			return "", usagef("login: reading %s: %v", what, res.err)
		}
		return res.line, nil
	}
}

// line reads one line of stdin; a last line without a newline counts.
func (p *prompter) line() (string, error) {
	line, err := p.in.ReadString('\n')
	if err == io.EOF && line != "" {
		err = nil
	}
	return strings.TrimRight(line, "\r\n"), err
}

// ask reads a visible answer; an empty one takes def.
func (p *prompter) ask(ctx context.Context, question, def string) (string, error) {
	if def != "" {
		fmt.Fprintf(p.out, "%s [%s]: ", question, def)
	} else {
		fmt.Fprintf(p.out, "%s: ", question)
	}
	v, err := p.read(ctx, strings.ToLower(strings.SplitN(question, " ", 2)[0]), p.line)
	if err != nil {
		return "", err
	}
	if v = strings.TrimSpace(v); v == "" {
		v = def
	}
	return v, nil
}

// secret reads an answer that must not be shown (what names it in errors):
// with echo off on a terminal, as a plain line otherwise.
func (p *prompter) secret(ctx context.Context, question, what string) (string, error) {
	fmt.Fprintf(p.out, "%s: ", question)
	if p.tty < 0 {
		return p.read(ctx, what, p.line)
	}
	// A terminal hands over one line per read, so p.in holds nothing
	// ahead of the password, which term.ReadPassword reads from the
	// descriptor itself.
	state, err := term.GetState(p.tty)
	if err != nil {
		return "", fmt.Errorf("login: cannot read the terminal's settings: %w", err)
	}
	p.echo = state
	v, err := p.read(ctx, what, func() (string, error) {
		b, err := term.ReadPassword(p.tty)
		return string(b), err
	})
	fmt.Fprintln(p.out) // the newline the user typed was not echoed
	if err == nil {
		p.echo = nil // ReadPassword restored the terminal itself
	}
	return v, err
}
