package realpeer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// CrossSigning is what a homeserver publishes of a user's cross-signing
// for one device: the raw key objects of /keys/query, and the ed25519 keys
// of the master and self-signing keys.
type CrossSigning struct {
	Master, SelfSigning, Device map[string]any
	MasterKey, SelfSigningKey   string
}

// CheckCrossSigned checks that device is signed by user's self-signing key
// and that key by the master key, with nothing but ed25519 over the raw JSON
// the homeserver publishes (/keys/query as asker sees it): no code of
// mautrix's, which the sender signs with, checks it.
func CheckCrossSigned(t testing.TB, asker *mautrix.Client, user id.UserID, device id.DeviceID) CrossSigning {
	t.Helper()
	var resp map[string]map[string]any
	body := map[string]any{"device_keys": map[string][]string{user.String(): {}}}
	if _, err := asker.MakeRequest(context.Background(), http.MethodPost, asker.BuildClientURL("v3", "keys", "query"), body, &resp); err != nil {
		t.Fatal(err)
	}
	var cs CrossSigning
	cs.Master, _ = resp["master_keys"][user.String()].(map[string]any)
	cs.SelfSigning, _ = resp["self_signing_keys"][user.String()].(map[string]any)
	devs, _ := resp["device_keys"][user.String()].(map[string]any)
	cs.Device, _ = devs[device.String()].(map[string]any)
	if cs.Master == nil || cs.SelfSigning == nil || cs.Device == nil {
		t.Fatalf("keys/query for %s: master %v, self-signing %v, device %s %v", user, cs.Master != nil, cs.SelfSigning != nil, device, cs.Device != nil)
	}
	cs.MasterKey, cs.SelfSigningKey = onlyKey(t, cs.Master), onlyKey(t, cs.SelfSigning)
	VerifySigned(t, "the self-signing key by the master key", cs.SelfSigning, user, cs.MasterKey, cs.MasterKey)
	VerifySigned(t, "device "+device.String()+" by the self-signing key", cs.Device, user, cs.SelfSigningKey, cs.SelfSigningKey)
	return cs
}

// VerifySigned checks obj's signature by user's key keyName (the part
// after "ed25519:") with the public key pub (unpadded base64).
func VerifySigned(t testing.TB, what string, obj map[string]any, user id.UserID, keyName, pub string) {
	t.Helper()
	sigs, _ := obj["signatures"].(map[string]any)
	mine, _ := sigs[user.String()].(map[string]any)
	sig, _ := mine["ed25519:"+keyName].(string)
	if sig == "" {
		t.Errorf("%s: no signature by ed25519:%s (signatures: %v)", what, keyName, sigs)
		return
	}
	if !ed25519.Verify(ed25519.PublicKey(unb64(t, pub)), canonical(t, obj), unb64(t, sig)) {
		t.Errorf("%s: the signature by ed25519:%s does not verify", what, keyName)
	}
}

// canonical is the spec's canonical JSON of a signed object: signatures and
// unsigned removed, keys sorted, no insignificant whitespace (the keys
// objects hold no numbers, where Go's encoding would differ).
func canonical(t testing.TB, obj map[string]any) []byte {
	t.Helper()
	c := map[string]any{}
	for k, v := range obj {
		if k != "signatures" && k != "unsigned" {
			c[k] = v
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// onlyKey is the single ed25519 key of a cross-signing key object.
func onlyKey(t testing.TB, obj map[string]any) string {
	t.Helper()
	keys, _ := obj["keys"].(map[string]any)
	if len(keys) != 1 {
		t.Fatalf("cross-signing key object with %d keys: %v", len(keys), obj)
	}
	for _, v := range keys {
		return v.(string)
	}
	return ""
}

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return b
}
