package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"maunium.net/go/mautrix/id"

	"matrix-notify/sender"
	"matrix-notify/sender/e2ee"
)

// login sets up end-to-end encryption once: a device with its own crypto
// store, cross-signed by its owner. The store is persistent state (losing
// it means a new device and the recovery key to sign it); its pickle key is
// a secret kept in the config beside the token, and the config names the
// store, so that every mode, run by whoever, uses the one store login made.
//
// Device ids: a store that holds an account for this user is reused with
// its device (logging in again keeps the device and its keys). Otherwise
// login makes a new device (the derived id and a random suffix): the
// derived device may have keys from a store that is gone or another host's,
// and a new store for a device with keys would replace them. A homeserver
// without the encryption API keeps the derived device, as before.

// loginCrypto is login's plan for encryption, made before logging in.
type loginCrypto struct {
	store  string // the crypto store's path
	pickle string // its pickle key: the config's, or a new one
	// device is the store's device when it holds an account for this user
	// ("" for a new store).
	device      string
	recoveryKey string // from --recovery-key-file or MATRIX_NOTIFY_RECOVERY_KEY
	off         bool   // the homeserver has no E2EE API: nothing to set up
}

// loginDevice is the device id to log in with.
func (c *loginCrypto) loginDevice(user, baseURL string) string {
	switch {
	case c == nil || c.off:
		return sender.DeviceID(user, baseURL)
	case c.device != "":
		return c.device
	}
	return sender.NewDeviceID(user, baseURL)
}

// keys are the [matrix] keys login writes for encryption.
func (c *loginCrypto) keys() [][2]string {
	if c == nil || c.off {
		return nil
	}
	return [][2]string{{"pickle_key", c.pickle}, {"crypto_store", c.store}}
}

// planCrypto decides the store and device before the login: an existing
// store must be this user's, and opened with the config's pickle key.
func (a *app) planCrypto(ctx context.Context, path string, existing *fileConfig, user, baseURL, recoveryFile string) (*loginCrypto, error) {
	c := &loginCrypto{}
	has, err := sender.HasE2EE(ctx, nil, baseURL)
	if err != nil {
		return nil, err
	}
	if !has {
		a.log.Warn("the homeserver has no end-to-end encryption API: encryption is not set up, and encrypted rooms will get unencrypted alerts", "homeserver", baseURL)
		return &loginCrypto{off: true}, nil
	}
	if existing != nil {
		c.store, c.pickle = existing.Matrix.CryptoStore, existing.Matrix.PickleKey
		if c.store != "" && !filepath.IsAbs(c.store) {
			c.store = filepath.Join(filepath.Dir(path), c.store)
		}
	}
	if c.store == "" && existing != nil && existing.Matrix.StateDir != "" {
		c.store = filepath.Join(existing.Matrix.StateDir, e2ee.StoreFile)
	} else if c.store == "" {
		c.store = filepath.Join(a.defaultStateDir(modeOf(path, a.netdataDirs())), e2ee.StoreFile)
	}
	if abs, err := filepath.Abs(c.store); err == nil {
		c.store = abs
	}
	key, err := a.recoveryKey(recoveryFile)
	if err != nil {
		return nil, err
	}
	c.recoveryKey = key
	owner, device, err := e2ee.StoreOwner(ctx, c.store)
	switch {
	case errors.Is(err, e2ee.ErrNoStore):
	case err != nil:
		return nil, fmt.Errorf("login: %w", err)
	case owner == "":
		// A store login made without finishing: its device never got keys.
	case !sameUser(owner, user):
		return nil, usagef("login: the crypto store %s holds the keys of %s device %s, not of %s: name another file with [matrix] crypto_store, or move it away if that device is no longer used",
			c.store, owner, device, user)
	case c.pickle == "":
		return nil, usagef("login: the crypto store %s holds the keys of %s device %s, but %s has no [matrix] pickle_key to open it: put back the pickle_key it was made with, or move the store away to start a new device",
			c.store, owner, device, path)
	default:
		c.device = device.String()
	}
	if c.pickle == "" {
		c.pickle = e2ee.NewPickleKey()
	}
	a.logh.redact(c.pickle)
	return c, nil
}

// sameUser reports whether user (as typed: bot, @bot or @bot:server) names
// owner.
func sameUser(owner id.UserID, user string) bool {
	user = strings.TrimSpace(user)
	if strings.Contains(user, ":") {
		return owner.String() == user
	}
	return strings.EqualFold(owner.Localpart(), strings.TrimPrefix(user, "@"))
}

// recoveryKey reads the account's recovery key for scripts:
// --recovery-key-file, else MATRIX_NOTIFY_RECOVERY_KEY ("" for none).
func (a *app) recoveryKey(file string) (string, error) {
	key := a.getenv("MATRIX_NOTIFY_RECOVERY_KEY")
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", usagef("login: --recovery-key-file: %v", err)
		}
		key = string(data)
	}
	key = strings.TrimSpace(key)
	a.logh.redact(key)
	return key, nil
}

// setupCrypto makes the store and cross-signs the device (e2ee.SetupDevice),
// asking for the recovery key when the account has an identity, and
// prints a new identity's recovery key once.
func (a *app) setupCrypto(ctx context.Context, c *loginCrypto, res sender.LoginResult, baseURL, password string, in *prompter) error {
	if c.off {
		return nil
	}
	// Root making netdata's store makes it as netdata, who must write it.
	if err := a.enterStateDir("login", filepath.Dir(c.store)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.store), 0o700); err != nil {
		return fmt.Errorf("login: the crypto store's directory: %w", err)
	}
	cli, err := res.Client(nil, baseURL)
	if err != nil {
		return err
	}
	opts := e2ee.Options{DBPath: c.store, PickleKey: c.pickle}
	nctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	setup, err := e2ee.SetupDevice(nctx, cli, password, c.recoveryKey, opts)
	if errors.Is(err, e2ee.ErrRecoveryKeyNeeded) && c.device != "" {
		// Logging in again: the device may be cross-signed already.
		if st, serr := e2ee.CheckStatus(nctx, cli, nil, opts); serr == nil && st.CrossSigned {
			a.log.Info("the device keeps its crypto store and is cross-signed", "device", res.DeviceID, "store", c.store)
			return nil
		}
	}
	if errors.Is(err, e2ee.ErrRecoveryKeyNeeded) && c.recoveryKey == "" && in.tty >= 0 {
		key, rerr := in.secret(ctx, "Recovery key of "+res.UserID+" (Element: Settings, Security; it starts with Es)", "recovery key")
		if rerr != nil {
			return rerr
		}
		a.logh.redact(strings.TrimSpace(key))
		setup, err = e2ee.SetupDevice(nctx, cli, password, strings.TrimSpace(key), opts)
	}
	if errors.Is(err, e2ee.ErrRecoveryKeyNeeded) {
		return usagef("login: %v. The token is saved, and alerts to encrypted rooms are encrypted, but clients mark device %s \"not verified by its owner\" until it is signed: run login again with --recovery-key-file FILE (or MATRIX_NOTIFY_RECOVERY_KEY), or verify the session from Element", err, res.DeviceID)
	}
	if err != nil {
		return fmt.Errorf("login: setting up end-to-end encryption: %w (the token is saved: run login again to finish)", err)
	}
	a.log.Info("end-to-end encryption set up: the device is cross-signed", "device", setup.DeviceID, "store", c.store, "by", setup.UserID)
	if setup.RecoveryKey != "" {
		fmt.Fprintf(a.stdout, `%s now has a cross-signing identity. Its recovery key, shown only this once:

    %s

Keep it in your password manager: login asks for it to sign the next device
(another host, a lost crypto store), and Element accepts it to verify.
`, setup.UserID, setup.RecoveryKey)
	}
	return nil
}
