package e2ee

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/ssss"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"matrix-notify/internal/realpeer"
)

// checkChain verifies, on the keys the homeserver publishes and with
// nothing but ed25519, that device is signed by user's self-signing key and
// that key by the master key (realpeer.CheckCrossSigned), that the device
// vouches for the master key and has signed its own keys. It returns the
// master and self-signing keys.
func checkChain(t *testing.T, asker *mautrix.Client, user id.UserID, device id.DeviceID) (master, selfSigning string) {
	t.Helper()
	cs := realpeer.CheckCrossSigned(t, asker, user, device)
	// The device also vouches for the master key (SignOwnMasterKey).
	keys := cs.Device["keys"].(map[string]any)
	realpeer.VerifySigned(t, "master key", cs.Master, user, device.String(), keys["ed25519:"+device.String()].(string))
	// And the device keys are self-signed by the device.
	realpeer.VerifySigned(t, "device self-signature", cs.Device, user, device.String(), keys["ed25519:"+device.String()].(string))
	return cs.MasterKey, cs.SelfSigningKey
}

var recoveryKeyFormat = regexp.MustCompile(`^Es[1-9A-HJ-NP-Za-km-z]{2}( [1-9A-HJ-NP-Za-km-z]{4})+$`)

// login creates the account's identity, the recovery key opens its secret
// storage whose keys are the published ones, a second device is signed with
// that recovery key (never a new identity), and the chains verify with
// ed25519 alone.
func TestCrossSigning(t *testing.T) {
	d := homeserver(t)
	alice := newPeer(t, d, "alice")
	b := newBot(t, d)
	rk := b.setup.RecoveryKey
	if !recoveryKeyFormat.MatchString(rk) {
		t.Fatalf("recovery key %q is not in Element's format", rk)
	}
	master, selfSigning := checkChain(t, alice.cli, b.user, b.cli.DeviceID)
	if master != b.setup.MasterKey.String() {
		t.Errorf("published master key %s, SetupDevice said %s", master, b.setup.MasterKey)
	}

	// The recovery key opens the default secret storage, which holds the
	// private halves of the published keys.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sm := ssss.NewSSSSMachine(b.cli)
	keyID, keyData, err := sm.GetDefaultKeyData(ctx)
	if err != nil {
		t.Fatalf("default secret storage key: %v", err)
	}
	key, err := keyData.VerifyRecoveryKey(keyID, rk)
	if err != nil {
		t.Fatalf("the recovery key does not open secret storage: %v", err)
	}
	for _, c := range []struct {
		typ  event.Type
		want string
	}{{event.AccountDataCrossSigningMaster, master}, {event.AccountDataCrossSigningSelf, selfSigning}} {
		seed, err := sm.GetDecryptedAccountData(ctx, c.typ, key)
		if err != nil {
			t.Fatalf("%s from secret storage: %v", c.typ.Type, err)
		}
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		if got := b64(pub); got != c.want {
			t.Errorf("%s in secret storage is the private key of %s, published %s", c.typ.Type, got, c.want)
		}
	}

	// A second device: without the recovery key it is set up but not
	// signed, and says so; with it, signed by the same identity.
	cli2 := login(t, d, b.user.Localpart(), b.password)
	opts2 := Options{DBPath: filepath.Join(t.TempDir(), StoreFile), PickleKey: NewPickleKey()}
	if _, err := SetupDevice(ctx, cli2, b.password, "", opts2); !errors.Is(err, ErrRecoveryKeyNeeded) {
		t.Fatalf("second device without the recovery key: %v, want ErrRecoveryKeyNeeded", err)
	}
	if _, err := SetupDevice(ctx, cli2, b.password, "EsTc wrong key", opts2); err == nil {
		t.Fatal("second device with a wrong recovery key: no error")
	}
	s2, err := SetupDevice(ctx, cli2, b.password, rk, opts2)
	if err != nil {
		t.Fatalf("second device with the recovery key: %v", err)
	}
	if s2.RecoveryKey != "" || s2.MasterKey.String() != master {
		t.Errorf("second device: recovery key %q, master %s; want none and the existing %s", s2.RecoveryKey, s2.MasterKey, master)
	}
	master2, self2 := checkChain(t, alice.cli, b.user, cli2.DeviceID)
	if master2 != master || self2 != selfSigning {
		t.Errorf("the identity changed: master %s -> %s, self-signing %s -> %s", master, master2, selfSigning, self2)
	}
	checkChain(t, alice.cli, b.user, b.cli.DeviceID) // the first device stays signed

	// A device that has keys already is never given new ones.
	opts3 := Options{DBPath: filepath.Join(t.TempDir(), StoreFile), PickleKey: NewPickleKey()}
	if _, err := SetupDevice(ctx, cli2, b.password, rk, opts3); !errors.Is(err, ErrDeviceHasKeys) {
		t.Errorf("SetupDevice with a new store for a device with keys: %v, want ErrDeviceHasKeys", err)
	}
	// Nor is a store reused for another device.
	if _, err := SetupDevice(ctx, cli2, b.password, rk, b.opts); !errors.Is(err, ErrStoreInUse) {
		t.Errorf("SetupDevice on another device's store: %v, want ErrStoreInUse", err)
	}
	// A store missing for a device that exists: Open refuses, doctor warns.
	_, err = Open(ctx, cli2, nil, opts3)
	if !errors.Is(err, ErrLoginAgain) {
		t.Errorf("Open on a missing store: %v, want ErrLoginAgain", err)
	}
	st, err := CheckStatus(ctx, cli2, nil, Options{DBPath: filepath.Join(t.TempDir(), StoreFile), PickleKey: "k"})
	if err != nil || st.Store || len(st.Warnings) != 1 || !regexp.MustCompile(`has encryption keys on the homeserver.*log in again`).MatchString(st.Warnings[0]) {
		t.Errorf("CheckStatus with the store missing: %+v, %v", st, err)
	}
}

func b64(b []byte) string {
	s, _ := json.Marshal(b) // standard padded base64 in quotes
	return string(bytes.TrimRight(bytes.Trim(s, `"`), "="))
}
