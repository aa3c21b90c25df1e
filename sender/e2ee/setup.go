package e2ee

import (
	"context"
	"errors"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/ssss"
	"maunium.net/go/mautrix/id"
)

var (
	// ErrRecoveryKeyNeeded is an account that already has a cross-signing
	// identity: the new device can only be signed with the account's
	// recovery key (its secret storage key), which SetupDevice must be
	// given. The device and its store are set up; calling SetupDevice again
	// with the key finishes.
	ErrRecoveryKeyNeeded = errors.New("this account already has a cross-signing identity: its recovery key is needed to sign the new device")
	// ErrDeviceHasKeys is a login whose device already has identity keys
	// on the homeserver, made by another store: a new account for it would
	// replace them. Log in as a new device.
	ErrDeviceHasKeys = errors.New("the device already has encryption keys on the homeserver")
	// ErrStoreInUse is a crypto store file that holds another device's
	// account.
	ErrStoreInUse = errors.New("the crypto store holds another device's keys")
)

// Setup is what SetupDevice did.
type Setup struct {
	UserID   id.UserID
	DeviceID id.DeviceID
	// RecoveryKey is set only when SetupDevice created the account's
	// cross-signing identity: Element's format (base58, groups of 4,
	// starting "Es"). Print it once; it is stored nowhere else, and it is
	// what signs the next device (and verifies the account in Element).
	RecoveryKey string
	// MasterKey is the account's cross-signing master key.
	MasterKey id.Ed25519
}

// SetupDevice gives cli's device (a fresh login: UserID and DeviceID set)
// its own crypto store at opts.DBPath, uploads its keys, and has it
// cross-signed:
//   - an account with no identity gets one (master, self-signing and
//     user-signing keys, their private halves in secret storage under a new
//     default key), the device and the master key are signed, and the
//     recovery key is returned to be printed once;
//   - an account with an identity is opened with recoveryKey (else
//     ErrRecoveryKeyNeeded) and the device is signed with its self-signing
//     key. An existing identity is never replaced.
//
// password answers the homeserver's user-interactive auth for the key
// upload (Dendrite asks for it). Running it again for the same device and
// store resumes where an earlier run stopped. opts.AutoJoin and the
// plaintext options are not used.
func SetupDevice(ctx context.Context, cli *mautrix.Client, password, recoveryKey string, opts Options) (Setup, error) {
	if cli.UserID == "" || cli.DeviceID == "" {
		return Setup{}, errors.New("e2ee: SetupDevice needs a logged-in client (user and device id)")
	}
	if opts.DBPath == "" {
		return Setup{}, errors.New("e2ee: no crypto store path given")
	}
	lk, err := lock(ctx, opts.DBPath+".lock")
	if err != nil {
		return Setup{}, err
	}
	defer lk.unlock()
	pickle := []byte(opts.PickleKey)
	st, err := openStores(ctx, opts.DBPath, pickle, true)
	if err != nil {
		return Setup{}, err
	}
	defer st.close()
	if st.user != "" && (st.user != cli.UserID || st.device != cli.DeviceID) {
		return Setup{}, fmt.Errorf("%s holds %s device %s, not %s device %s: %w (remove it once that device is logged out)",
			opts.DBPath, st.user, st.device, cli.UserID, cli.DeviceID, ErrStoreInUse)
	}
	c, err := clientFor(cli, &stores{user: cli.UserID, device: cli.DeviceID, state: st.state})
	if err != nil {
		return Setup{}, err
	}
	if st.user == "" {
		keys, err := c.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{c.UserID: {c.DeviceID}}})
		if err != nil {
			return Setup{}, fmt.Errorf("looking up the device's keys: %w", err)
		}
		if _, ok := keys.DeviceKeys[c.UserID][c.DeviceID]; ok {
			return Setup{}, fmt.Errorf("device %s: %w; log in as a new device", c.DeviceID, ErrDeviceHasKeys)
		}
		st.setOwner(c.UserID, c.DeviceID, pickle)
	}
	mach := newOlmMachine(c, st, opts)
	defer mach.Destroy()
	if err := mach.Load(ctx); err != nil {
		return Setup{}, fmt.Errorf("crypto store %s: loading the olm account: %w", opts.DBPath, err)
	}
	if acc := mach.GetAccount(); acc.Shared {
		// Logging in again after the device was deleted on the homeserver
		// makes it anew under the same id, without keys: upload the
		// store's again. Other keys there are another store's.
		switch err := checkDeviceKeys(ctx, c, mach.OwnIdentity()); {
		case errors.Is(err, errNoDeviceKeys):
			acc.Shared = false
		case err != nil:
			return Setup{}, fmt.Errorf("%w: move %s away and log in again as a new device", err, opts.DBPath)
		}
	}
	if !mach.GetAccount().Shared {
		if err := mach.ShareKeys(ctx, 0); err != nil {
			return Setup{}, fmt.Errorf("uploading the device's keys: %w", err)
		}
	}
	res := Setup{UserID: c.UserID, DeviceID: c.DeviceID}
	res.RecoveryKey, res.MasterKey, err = crossSign(ctx, mach, password, recoveryKey)
	return res, err
}

// errNoDeviceKeys is a device the homeserver publishes no keys for.
var errNoDeviceKeys = errors.New("the homeserver has no encryption keys for it (deleted, or made anew under the same id)")

// checkDeviceKeys asks the homeserver for own's keys (one /keys/query):
// errNoDeviceKeys when it has none, ErrDeviceHasKeys when they are not
// own's.
func checkDeviceKeys(ctx context.Context, cli *mautrix.Client, own *id.Device) error {
	resp, err := cli.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{own.UserID: {own.DeviceID}}})
	if err != nil {
		return fmt.Errorf("looking up our device's keys: %w", err)
	}
	dev, ok := resp.DeviceKeys[own.UserID][own.DeviceID]
	switch {
	case !ok:
		return fmt.Errorf("device %s: %w", own.DeviceID, errNoDeviceKeys)
	case dev.Keys.GetEd25519(own.DeviceID) != own.SigningKey || dev.Keys.GetCurve25519(own.DeviceID) != own.IdentityKey:
		return fmt.Errorf("device %s: %w, not the crypto store's (another login replaced them)", own.DeviceID, ErrDeviceHasKeys)
	}
	return nil
}

// crossSign makes the device signed by its owner's self-signing key.
func crossSign(ctx context.Context, mach *crypto.OlmMachine, password, recoveryKey string) (string, id.Ed25519, error) {
	pub, err := mach.GetCrossSigningPublicKeys(ctx, mach.Client.UserID)
	if err != nil {
		return "", "", fmt.Errorf("looking up the account's cross-signing keys: %w", err)
	}
	keyID, keyData, ssssErr := mach.SSSS.GetDefaultKeyData(ctx)
	if ssssErr != nil && !errors.Is(ssssErr, ssss.ErrNoDefaultKeyID) {
		return "", "", fmt.Errorf("looking up the account's secret storage: %w", ssssErr)
	}
	hasSSSS := ssssErr == nil

	if pub == nil && !hasSSSS {
		// A new identity, under a new default secret storage key.
		rk, keys, err := mach.GenerateAndUploadCrossSigningKeysWithPassword(ctx, password, "")
		if err != nil {
			return "", "", fmt.Errorf("creating the account's cross-signing identity: %w", err)
		}
		return rk, keys.MasterKey.PublicKey(), signDevice(ctx, mach)
	}

	// Secret storage exists: everything below needs its key.
	if recoveryKey == "" {
		if pub == nil {
			return "", "", fmt.Errorf("the account has secret storage but no cross-signing identity; creating one needs the recovery key of that storage: %w", ErrRecoveryKeyNeeded)
		}
		return "", "", ErrRecoveryKeyNeeded
	}
	if !hasSSSS {
		return "", "", errors.New("the account has a cross-signing identity but no secret storage to hold its keys: sign this device from another session (Element: Settings, Sessions, Verify)")
	}
	key, err := keyData.VerifyRecoveryKey(keyID, recoveryKey)
	if err != nil {
		return "", "", fmt.Errorf("the recovery key does not open the account's secret storage: %w", err)
	}
	if pub == nil {
		// Secret storage (e.g. key backup) without an identity: keep that
		// storage and its key, store the new identity in it.
		keys, err := mach.GenerateCrossSigningKeys()
		if err != nil {
			return "", "", err
		}
		if err := mach.UploadCrossSigningKeysToSSSS(ctx, key, keys); err != nil {
			return "", "", fmt.Errorf("storing the cross-signing keys in secret storage: %w", err)
		}
		if err := mach.PublishCrossSigningKeys(ctx, keys, passwordAuth(mach.Client.UserID, password)); err != nil {
			return "", "", fmt.Errorf("publishing the cross-signing keys: %w", err)
		}
		return "", keys.MasterKey.PublicKey(), signDevice(ctx, mach)
	}
	if err := mach.FetchCrossSigningKeysFromSSSS(ctx, key); err != nil {
		return "", "", fmt.Errorf("reading the cross-signing keys from secret storage: %w", err)
	}
	if got := mach.CrossSigningKeys.MasterKey.PublicKey(); got != pub.MasterKey {
		return "", "", fmt.Errorf("secret storage holds master key %s but the account publishes %s: reset cross-signing in Element, then log in again", got, pub.MasterKey)
	}
	if got := mach.CrossSigningKeys.SelfSigningKey.PublicKey(); got != pub.SelfSigningKey {
		return "", "", fmt.Errorf("secret storage holds self-signing key %s but the account publishes %s: reset cross-signing in Element, then log in again", got, pub.SelfSigningKey)
	}
	return "", pub.MasterKey, signDevice(ctx, mach)
}

// signDevice signs our device with the self-signing key and the master key
// with our device (so clients see both directions of trust).
func signDevice(ctx context.Context, mach *crypto.OlmMachine) error {
	if err := mach.SignOwnDevice(ctx, mach.OwnIdentity()); err != nil {
		return fmt.Errorf("signing the device with the self-signing key: %w", err)
	}
	if err := mach.SignOwnMasterKey(ctx); err != nil {
		return fmt.Errorf("signing the master key with the device: %w", err)
	}
	return nil
}

// passwordAuth answers user-interactive auth with the account's password.
func passwordAuth(user id.UserID, password string) mautrix.UIACallback {
	return func(ui *mautrix.RespUserInteractive) any {
		return &mautrix.ReqUIAuthLogin{
			BaseAuthData: mautrix.BaseAuthData{Type: mautrix.AuthTypePassword, Session: ui.Session},
			User:         user.String(),
			Password:     password,
		}
	}
}
