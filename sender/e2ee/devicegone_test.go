package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"matrix-notify/internal/realpeer"
	"maunium.net/go/mautrix/id"
)

// deleteDevice deletes device from another session of user, answering
// the user-interactive auth with the password.
func deleteDevice(t *testing.T, d *realpeer.Dendrite, user id.UserID, password string, device id.DeviceID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other := login(t, d, user.String(), password)
	// The first answer (401) is the auth flows and session, JSON without an errcode.
	body, err := other.MakeRequest(ctx, http.MethodDelete, other.BuildClientURL("v3", "devices", device), struct{}{}, nil)
	var ui mautrix.RespUserInteractive
	if json.Unmarshal(body, &ui) != nil || ui.Session == "" {
		t.Fatalf("DELETE /devices/%s without auth: %v, want a user-interactive auth session", device, err)
	}
	if err := other.DeleteDevice(ctx, device, &mautrix.ReqDeleteDevice{Auth: passwordAuth(user, password)(&ui)}); err != nil {
		t.Fatalf("DELETE /devices/%s: %v", device, err)
	}
}

// loginAs logs user in again under an existing device id, as login does
// when the crypto store names a device.
func loginAs(t *testing.T, d *realpeer.Dendrite, user id.UserID, password string, device id.DeviceID) *mautrix.Client {
	t.Helper()
	cli := login(t, d, user.String(), password) // a throwaway device, for a client set up as the others
	_, err := cli.Login(context.Background(), &mautrix.ReqLogin{
		Type:             mautrix.AuthTypePassword,
		Identifier:       mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: user.String()},
		Password:         password,
		DeviceID:         device,
		StoreCredentials: true,
	})
	if err != nil || cli.DeviceID != device {
		t.Fatalf("login as device %s: %v (got device %s)", device, err, cli.DeviceID)
	}
	return cli
}

// Issue 15, items 5 and 6: a crypto store whose device was deleted on the
// homeserver, or whose keys another store replaced, must not encrypt in
// silence for receivers who would distrust or ignore it. Sending fails
// with ErrLoginAgain (the sender keeps the alert queued), doctor warns,
// and login again (SetupDevice) puts a deleted device's keys back.
func TestDeviceDeletedOnServer(t *testing.T) {
	d, alice, b, room := encryptedRoom(t)
	b.send(t, room, textContent("before"), "txn-1")
	alice.waitFor(1)
	device := b.cli.DeviceID
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	loginAgain := func(s sent) bool {
		return strings.Contains(s.Error, ErrLoginAgain.Error())
	}

	// Deleted: its token goes with it.
	deleteDevice(t, d, b.user, b.password, device)
	if s := deliver(ctx, d.URL, b.cli.AccessToken, b.opts, room, json.RawMessage(textContent("deleted")), "txn-2"); !loginAgain(s) {
		t.Errorf("send from a deleted device: %+v, want an error saying to log in again", s)
	}

	// Made anew under its id by a new login: no keys on the homeserver.
	cli := loginAs(t, d, b.user, b.password, device)
	for i := range 2 { // a failed check is made again: the sync token did not move past the change
		if s := deliver(ctx, d.URL, cli.AccessToken, b.opts, room, json.RawMessage(textContent("re-made")), "txn-3"); !loginAgain(s) || !strings.Contains(s.Error, "no encryption keys") {
			t.Errorf("send %d from a device without keys on the homeserver: %+v, want an error saying to log in again", i, s)
		}
	}
	st, err := CheckStatus(ctx, cli, []id.RoomID{room}, b.opts)
	if err != nil || st.Store || len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "login again") {
		t.Errorf("doctor on a device without keys: %+v, %v", st, err)
	}
	// login again: the store's keys go back up, signed again.
	if _, err := SetupDevice(ctx, cli, b.password, b.setup.RecoveryKey, b.opts); err != nil {
		t.Fatalf("SetupDevice after the device was deleted: %v", err)
	}
	if s := deliver(ctx, d.URL, cli.AccessToken, b.opts, room, json.RawMessage(textContent("after login")), "txn-4"); s.Error != "" || !s.Encrypted {
		t.Fatalf("send after login again: %+v", s)
	}
	if got := alice.waitFor(2); got[1].Body != "after login" {
		t.Errorf("alice decrypted %q, want %q", got[1].Body, "after login")
	}

	// Replaced: deleted and made anew, then another store uploads its keys
	// for the device.
	deleteDevice(t, d, b.user, b.password, device)
	cli = loginAs(t, d, b.user, b.password, device)
	other := b.opts
	other.DBPath = filepath.Join(t.TempDir(), StoreFile)
	if _, err := SetupDevice(ctx, cli, b.password, b.setup.RecoveryKey, other); err != nil {
		t.Fatalf("SetupDevice of another store: %v", err)
	}
	if s := deliver(ctx, d.URL, cli.AccessToken, b.opts, room, json.RawMessage(textContent("replaced")), "txn-5"); !loginAgain(s) || !strings.Contains(s.Error, "replaced") {
		t.Errorf("send from a store whose keys were replaced: %+v, want an error saying to log in again", s)
	}
	if _, err := SetupDevice(ctx, cli, b.password, b.setup.RecoveryKey, b.opts); !errors.Is(err, ErrDeviceHasKeys) || !strings.Contains(err.Error(), "move") {
		t.Errorf("SetupDevice of the replaced store: %v, want ErrDeviceHasKeys saying to move it away", err)
	}
}
