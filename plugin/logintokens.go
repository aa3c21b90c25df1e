package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"matrix-notify/adapters/netdata"
	"matrix-notify/adapters/netdata/healthconf"
	"matrix-notify/sender"
)

// Logging in again on the same device (login derives its device id, so
// every login of a user on a homeserver is the same device) makes the
// homeserver revoke the token it gave that device before: Synapse and
// Dendrite v0.13.8 both answer the old token with 401 M_UNKNOWN_TOKEN from
// then on. A copy of it left in another configuration file would make every
// alarm that reads that file fail. So login looks, before it logs in, at
// every configuration it knows that holds a token, asks the homeserver whose
// device each token is, and afterwards updates the copies the login revoked,
// or names them with what to write.

// Kinds of tokenCopy: the setting that holds the token, as log lines name it.
const (
	copyTOML       = "[matrix] access_token"
	copyTokenFile  = "[matrix] access_token_file"
	copyHealthConf = "MATRIX_ACCESSTOKEN"
	copyEnv        = "MATRIX_ACCESSTOKEN in the environment"
)

// tokenCopy is an access token held by a configuration login knows.
type tokenCopy struct {
	kind       string
	path       string // the file holding the token, "" for copyEnv
	token      string
	homeserver string // as that configuration names it, "" when it does not
	// From GET /account/whoami before the login.
	user, device string
	rejected     bool // the homeserver already refused the token
}

// attrs name the copy in a log line, before more.
func (c tokenCopy) attrs(more ...any) []any {
	if c.path == "" {
		return append([]any{"setting", c.kind}, more...)
	}
	return append([]any{"setting", c.kind, "file", c.path}, more...)
}

// findTokenCopies lists the tokens held by the configurations login knows:
// the TOML files the modes read (login's own, MATRIX_NOTIFY_CONFIG, the
// user's config.toml, netdata's matrix-notify.toml) and their
// access_token_file, netdata's user health_alarm_notify.conf, and
// MATRIX_ACCESSTOKEN. Login's own file (path) is left out when login
// writes it (written): saveLogin updates it.
func (a *app) findTokenCopies(path string, written bool) []tokenCopy {
	var out []tokenCopy
	seen := map[string]bool{}
	if written {
		seen[abs(path)] = true
	}
	d := a.netdataDirs()
	quiet := slog.New(slog.DiscardHandler)
	for _, p := range []string{path, a.getenv("MATRIX_NOTIFY_CONFIG"), a.defaultConfigPath(), filepath.Join(d.user, "matrix-notify.toml")} {
		if p == "" || seen[abs(p)] {
			continue
		}
		seen[abs(p)] = true
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var fc fileConfig
		md, err := toml.Decode(string(data), &fc)
		if err != nil {
			continue
		}
		switch {
		case md.IsDefined("matrix", "access_token"):
			if fc.Matrix.AccessToken != "" {
				out = append(out, tokenCopy{kind: copyTOML, path: p, token: fc.Matrix.AccessToken, homeserver: fc.Matrix.Homeserver})
			}
		case fc.Matrix.AccessTokenFile != "":
			if full, err := loadFileConfig(p, false, quiet); err == nil && full.Matrix.AccessToken != "" {
				out = append(out, tokenCopy{kind: copyTokenFile, path: fc.Matrix.AccessTokenFile, token: full.Matrix.AccessToken, homeserver: fc.Matrix.Homeserver})
			}
		}
	}
	hc := filepath.Join(d.user, "health_alarm_notify.conf")
	if data, err := os.ReadFile(hc); err == nil {
		if vars, ok := parseHealthConf(hc, data); ok && vars.Get("MATRIX_ACCESSTOKEN") != "" {
			out = append(out, tokenCopy{kind: copyHealthConf, path: hc, token: vars.Get("MATRIX_ACCESSTOKEN"), homeserver: vars.Get("MATRIX_HOMESERVER")})
		}
	}
	if tok := a.getenv("MATRIX_ACCESSTOKEN"); tok != "" {
		out = append(out, tokenCopy{kind: copyEnv, token: tok, homeserver: a.getenv("MATRIX_HOMESERVER")})
	}
	for _, c := range out {
		a.logh.redact(c.token)
	}
	return out
}

// parseHealthConf reads a health_alarm_notify.conf alone (parsed, never
// executed) for its MATRIX_ variables.
func parseHealthConf(name string, data []byte) (*healthconf.Vars, bool) {
	vars := netdata.ScriptVars(nil)
	if _, err := healthconf.Parse(name, bytes.NewReader(data), vars); err != nil {
		return nil, false
	}
	return vars, true
}

// identify asks the homeserver at baseURL (the one login logs in on; input
// is what the user named it) whose device each copy's token is. A copy
// naming another homeserver is dropped: its token means nothing here.
func identify(ctx context.Context, copies []tokenCopy, input, baseURL string) []tokenCopy {
	same := func(hs string) bool {
		hs = strings.TrimRight(strings.TrimSpace(hs), "/")
		return hs == "" || strings.EqualFold(hs, strings.TrimRight(input, "/")) || strings.EqualFold(hs, strings.TrimRight(baseURL, "/"))
	}
	var out []tokenCopy
	for _, c := range copies {
		if !same(c.homeserver) {
			continue
		}
		if tr, err := sender.NewMatrixTransportWithOptions(baseURL, c.token, sender.Options{}); err == nil {
			var se *sender.SendError
			c.user, c.device, err = tr.Whoami(ctx)
			c.rejected = errors.As(err, &se) && se.ErrCode == "M_UNKNOWN_TOKEN"
		}
		out = append(out, c)
	}
	return out
}

// fixTokenCopies deals with the copies after the login res: those of its
// device held the token the homeserver has just revoked, and are updated
// (edit false: --print, which writes no file, only names them); those the
// homeserver already refused are named. written is where login saved the
// new token ("" for none).
func (a *app) fixTokenCopies(copies []tokenCopy, res sender.LoginResult, written string, edit bool) {
	var revoked, stale []tokenCopy
	for _, c := range copies {
		switch {
		case c.token == res.AccessToken:
		case c.user == res.UserID && c.device == res.DeviceID:
			revoked = append(revoked, c)
		case c.rejected:
			stale = append(stale, c)
		}
	}
	if len(revoked) > 0 {
		a.log.Warn("logging in again on the same device made the homeserver revoke the token it had, which other configurations held",
			"device", res.DeviceID, "configurations", len(revoked))
	}
	for _, c := range revoked {
		if !edit {
			a.log.Warn("a configuration holds the revoked token: put the one printed here instead", c.attrs()...)
		} else if err := a.updateTokenCopy(c, res.AccessToken); err != nil {
			a.log.Error("a configuration holds the revoked token and was not updated", c.attrs("err", err)...)
		} else if c.kind != copyEnv {
			a.log.Info("updated a configuration to the new token", c.attrs()...)
		}
	}
	for _, c := range stale {
		a.log.Warn("a configuration holds a token the homeserver already refuses: replace it with the new token if it is meant for this account",
			c.attrs("user", res.UserID, "new_token", cmp.Or(written, "stdout"))...)
	}
}

// updateTokenCopy puts token in place of c's revoked one.
func (a *app) updateTokenCopy(c tokenCopy, token string) error {
	switch c.kind {
	case copyEnv:
		return errors.New("set it to the new token where it is defined (or unset it and let the TOML file give the token)")
	case copyTokenFile:
		return writeFile0600(c.path, []byte(token+"\n"))
	case copyTOML:
		data, err := os.ReadFile(c.path)
		if err != nil {
			return err
		}
		updated, err := setMatrixKeys(string(data), [][2]string{{"access_token", token}})
		if err != nil {
			return err
		}
		return writeFile0600(c.path, []byte(updated))
	case copyHealthConf:
		return a.updateHealthConf(c, token)
	}
	return fmt.Errorf("unknown kind %q", c.kind)
}

// updateHealthConf replaces the revoked token where it is written literally
// in a MATRIX_ACCESSTOKEN= assignment, and nothing else: the file is bash,
// so the edit is kept only if parsing the result gives the new token. Any
// other form (the token built from other variables, a file that cannot be
// written) is left alone; the error names the line, and the exact line to
// write goes to stdout (never to the log).
func (a *app) updateHealthConf(c tokenCopy, token string) error {
	data, err := os.ReadFile(c.path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	assignment := -1 // the last line assigning MATRIX_ACCESSTOKEN
	edited := false
	for i, line := range lines {
		t := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "export "))
		if !strings.HasPrefix(t, "MATRIX_ACCESSTOKEN=") {
			continue
		}
		assignment = i
		if strings.Contains(line, c.token) && shellSafe(token) {
			lines[i] = strings.ReplaceAll(line, c.token, token)
			edited = true
		}
	}
	byHand := func(why string) error {
		at := c.path
		if assignment >= 0 {
			at = fmt.Sprintf("%s:%d", c.path, assignment+1)
		}
		fmt.Fprintf(a.stdout, "MATRIX_ACCESSTOKEN='%s'\n", strings.ReplaceAll(token, "'", `'\''`))
		return fmt.Errorf("%s; write there the line printed on stdout (at %s)", why, at)
	}
	if !edited {
		return byHand("the token is not written there as a plain value")
	}
	updated := strings.Join(lines, "\n")
	vars, ok := parseHealthConf(c.path, []byte(updated))
	if !ok || vars.Get("MATRIX_ACCESSTOKEN") != token || vars.Get("MATRIX_HOMESERVER") != c.homeserver {
		return byHand("the edited file would not give the new token")
	}
	// Keep its mode and (when allowed) its owner: health_alarm_notify.conf
	// is netdata's (root:netdata 0640), not a file of ours.
	st, err := os.Stat(c.path)
	if err == nil {
		err = replaceFile(c.path, []byte(updated), st.Mode().Perm())
	}
	if err != nil {
		return byHand(fmt.Sprintf("cannot write it (%v)", err))
	}
	return nil
}

// shellSafe reports whether s means the same inside or outside bash quotes.
func shellSafe(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._~+/=-", r))
	})
}
