package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"matrix-notify/sender"
)

// loginTimeout bounds the network part of `login` (discovery and the login
// request), not the time the user takes to type.
const loginTimeout = 60 * time.Second

// runLogin is `matrix-notify login`: the curl step of the tutorials. It asks
// for the homeserver, the user and the password (never from argv: the
// password is read from the terminal without echo, or as a line of stdin
// when stdin is not a terminal), logs in on a device whose id is derived from
// the user and the homeserver (so logging in again reuses it), and writes
// the homeserver and token into the TOML file (or prints the token).
func (a *app) runLogin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	homeserver := fs.String("homeserver", "", "homeserver URL or server name")
	user := fs.String("user", "", "user name or @user:server")
	config := fs.String("config", "", "TOML file to write")
	printOnly := fs.Bool("print", false, "print the token on stdout, write no file")
	recoveryFile := fs.String("recovery-key-file", "", "file holding the account's recovery key")
	noE2EE := fs.Bool("no-encryption", false, "set up no end-to-end encryption")
	if words, err := parseArgs(fs, args); err != nil {
		return err
	} else if len(words) > 0 {
		return usagef("login: unexpected argument %q (the password is asked for, never given on the command line)", words[0])
	}

	path := a.tomlFor(*config)
	var existing *fileConfig
	var err error
	if !*printOnly {
		if existing, err = loadFileConfig(path, false, a.log); err != nil {
			return usageError{err}
		}
	}

	in := newPrompter(a.stdin, a.stderr)
	defer in.close()
	hsInput := strings.TrimSpace(*homeserver)
	userInput := strings.TrimSpace(*user)
	if hsInput == "" && !(strings.HasPrefix(userInput, "@") && strings.Contains(userInput, ":")) {
		def := a.configuredHomeserver(existing)
		if hsInput, err = in.ask(ctx, "Homeserver (example.org or https://matrix.example.org)", def); err != nil {
			return err
		}
	}
	if userInput == "" {
		if userInput, err = in.ask(ctx, "User (bot or @bot:example.org)", ""); err != nil {
			return err
		}
	}
	if userInput == "" {
		return usagef("login: no user given")
	}
	if hsInput == "" {
		_, server, _ := strings.Cut(userInput, ":")
		hsInput = server
	}
	if hsInput == "" {
		return usagef("login: no homeserver given")
	}
	password, err := in.secret(ctx, "Password for "+userInput, "password")
	if err != nil {
		return err
	}
	a.logh.redact(password)
	if password == "" {
		return usagef("login: empty password")
	}

	nctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	hs, err := sender.Discover(nctx, nil, hsInput)
	if err != nil {
		return err
	}
	if hs.Via == "well-known" {
		a.log.Info("homeserver found in .well-known", "server", hsInput, "homeserver", hs.BaseURL)
	}
	var crypto *loginCrypto
	if !*printOnly && !*noE2EE {
		if crypto, err = a.planCrypto(nctx, path, existing, userInput, hs.BaseURL, *recoveryFile); err != nil {
			return err
		}
	} else if *printOnly && !*noE2EE {
		a.log.Info("--print: end-to-end encryption is not set up (its pickle key needs the config file): run login with --config to set it up")
	}
	device := crypto.loginDevice(userInput, hs.BaseURL)
	// Before the login revokes the device's previous token: whose are the
	// tokens other configurations hold?
	copies := identify(nctx, a.findTokenCopies(path, !*printOnly), hsInput, hs.BaseURL)
	res, err := sender.LoginDevice(nctx, nil, hs.BaseURL, userInput, password, device)
	if err != nil {
		if errors.Is(err, sender.ErrLoginRefused) {
			return usageError{err}
		}
		return err
	}
	a.logh.redact(res.AccessToken)
	a.log.Info("logged in", "user", res.UserID, "homeserver", hs.BaseURL, "device", res.DeviceID)

	if *printOnly {
		if _, err := fmt.Fprintln(a.stdout, res.AccessToken); err != nil {
			return err
		}
		a.fixTokenCopies(copies, res, "", false)
		return nil
	}
	where, err := saveLogin(path, existing, hs.BaseURL, res.AccessToken, crypto.keys()...)
	if err != nil {
		return fmt.Errorf("login succeeded but the token was not saved: %w (run again with --print to see it)", err)
	}
	mode := a.shareWithNetdata(path, path, where)
	a.log.Info("saved the homeserver and access token", "file", where, "access", mode, "next", "matrix-notify doctor --config "+path)
	a.fixTokenCopies(copies, res, where, true)
	if crypto != nil {
		return a.setupCrypto(ctx, crypto, res, hs.BaseURL, password, in)
	}
	return nil
}

// saveLogin writes the homeserver and token into the TOML file at path,
// 0600: a new file gets a [matrix] table; an existing one keeps every other
// line and comment (setMatrixKeys). When the file names an access_token_file
// and has no access_token, the token goes into that file instead. extra are
// further [matrix] keys (the pickle key and the crypto store's path). It
// returns where the token went.
func saveLogin(path string, existing *fileConfig, homeserver, token string, extra ...[2]string) (string, error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	tokenFile := ""
	if existing != nil && existing.Matrix.AccessTokenFile != "" && keyLine(old, toml.Key{"matrix", "access_token"}) == 0 {
		tokenFile = existing.Matrix.AccessTokenFile
	}
	keys := [][2]string{{"homeserver", homeserver}}
	if tokenFile == "" {
		keys = append(keys, [2]string{"access_token", token})
	}
	updated, err := setMatrixKeys(string(old), append(keys, extra...))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if tokenFile != "" {
		if err := writeFile0600(tokenFile, []byte(token+"\n")); err != nil {
			return "", err
		}
	}
	if err := writeFile0600(path, []byte(updated)); err != nil {
		return "", err
	}
	if tokenFile != "" {
		return tokenFile, nil
	}
	return path, nil
}

// setMatrixKeys sets keys of the [matrix] table in a TOML document, editing
// only those lines, found by the TOML parser (keyLine): a key present is
// rewritten in place (its trailing comment kept), a key missing is added
// right after the [matrix] header, and a document without [matrix] gets the
// table appended. The result must decode to the keys set, or it is an error.
func setMatrixKeys(content string, keys [][2]string) (string, error) {
	lines := strings.Split(content, "\n")
	var missing []string
	for _, kv := range keys {
		n := keyLine([]byte(content), toml.Key{"matrix", kv[0]})
		if n == 0 {
			missing = append(missing, kv[0]+" = "+tomlQuote(kv[1]))
			continue
		}
		repl, err := replaceValue(lines[n-1], kv[0], tomlQuote(kv[1]))
		if err != nil {
			return "", fmt.Errorf("[matrix] %s: %w", kv[0], err)
		}
		lines[n-1] = repl
	}
	header := keyLine([]byte(content), toml.Key{"matrix"})
	switch {
	case len(missing) == 0:
	case content == "":
		lines = append(append([]string{"[matrix]"}, missing...), "")
	case header == 0 || !strings.HasPrefix(strings.TrimSpace(lines[header-1]), "[matrix]"):
		if lines[len(lines)-1] != "" {
			lines = append(lines, "")
		}
		lines = append(append(append(lines, "[matrix]"), missing...), "")
	default:
		if strings.HasSuffix(lines[header-1], "\r") {
			for i := range missing {
				missing[i] += "\r"
			}
		}
		lines = slices.Insert(lines, header, missing...)
	}
	updated := strings.Join(lines, "\n")
	var check struct{ Matrix map[string]any }
	if _, err := toml.Decode(updated, &check); err != nil {
		return "", fmt.Errorf("the updated file would not parse (%v): edit it by hand", err)
	}
	for _, kv := range keys {
		if check.Matrix[kv[0]] != kv[1] {
			return "", fmt.Errorf("could not update [matrix] %s: edit it by hand", kv[0])
		}
	}
	return updated, nil
}

// replaceValue rewrites the value of a `key = value` line, keeping the
// indentation, the key as written and what follows the value (a comment).
// The old value ends at the first '#' (or the line's end) before which the
// TOML parser reads a whole value.
func replaceValue(line, key, value string) (string, error) {
	eq := strings.Index(line, "=")
	if eq < 0 || !strings.Contains(line[:eq], key) {
		return "", errors.New("a multi-line value: edit it by hand")
	}
	rest := strings.TrimSuffix(line[eq+1:], "\r")
	for end := range len(rest) + 1 {
		if end < len(rest) && rest[end] != '#' {
			continue
		}
		var v map[string]any
		if _, err := toml.Decode("v ="+rest[:end], &v); err == nil {
			old := strings.TrimRight(rest[:end], " \t")
			return strings.TrimRight(line[:eq], " \t") + " = " + value + line[eq+1+len(old):], nil
		}
	}
	return "", errors.New("a value that goes on past its line: edit it by hand")
}

// tomlQuote writes s as a TOML basic string, quoted by the TOML library.
func tomlQuote(s string) string {
	b, _ := toml.Marshal(map[string]string{"v": s}) // a map of strings always encodes
	return strings.TrimSuffix(strings.TrimPrefix(string(b), "v = "), "\n")
}

// configuredHomeserver is the homeserver login offers by default: the TOML
// file's, else that of health_alarm_notify.conf in netdata's config
// directory, else MATRIX_HOMESERVER, else "". A netdata admin has
// usually set MATRIX_HOMESERVER in the conf already.
func (a *app) configuredHomeserver(existing *fileConfig) string {
	if existing != nil && existing.Matrix.Homeserver != "" {
		return existing.Matrix.Homeserver
	}
	hc := filepath.Join(a.netdataDirs().user, "health_alarm_notify.conf")
	if data, err := os.ReadFile(hc); err == nil {
		if vars, ok := parseHealthConf(hc, data); ok && vars.Get("MATRIX_HOMESERVER") != "" {
			return vars.Get("MATRIX_HOMESERVER")
		}
	}
	return a.getenv("MATRIX_HOMESERVER")
}
