package sender

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// DeviceDisplayName is the name matrix-notify's device shows in clients.
const DeviceDisplayName = "matrix-notify"

// DeviceID is the device id matrix-notify logs in with for user on the
// homeserver at baseURL: derived, so logging in again reuses the device
// instead of adding one per login (a login without device_id creates a new
// device every time). user may be a localpart or a full user id.
func DeviceID(user, baseURL string) string {
	local := strings.TrimPrefix(strings.TrimSpace(user), "@")
	local, _, _ = strings.Cut(local, ":")
	h := sha256.Sum256([]byte(strings.ToLower(local) + "\x00" + strings.ToLower(strings.TrimRight(baseURL, "/"))))
	return "MATRIXNOTIFY" + strings.ToUpper(txnEncoding.EncodeToString(h[:])[:8])
}

// LoginResult is a successful password login.
type LoginResult struct {
	UserID      string
	DeviceID    string
	AccessToken string
}

// Login logs user in on the homeserver at baseURL with a password
// (m.login.password), on the device DeviceID(user, baseURL). httpc may be
// nil. The password is sent in the body only, and no error quotes it.
func Login(ctx context.Context, httpc *http.Client, baseURL, user, password string) (LoginResult, error) {
	return LoginDevice(ctx, httpc, baseURL, user, password, DeviceID(user, baseURL))
}

// NewDeviceID is a device id for a new device of user on baseURL: the
// derived DeviceID and a random suffix. A new crypto store needs a new
// device (see e2ee.ErrDeviceHasKeys).
func NewDeviceID(user, baseURL string) string {
	b := make([]byte, 5)
	rand.Read(b) // never fails
	return DeviceID(user, baseURL) + "_" + txnEncoding.EncodeToString(b)
}

// Client is a mautrix client for the session of a login: for what login
// does next (encryption keys, cross-signing, logging out).
func (r LoginResult) Client(httpc *http.Client, baseURL string) (*mautrix.Client, error) {
	cli, err := newClient(httpc, baseURL)
	if err != nil {
		return nil, err
	}
	cli.UserID, cli.DeviceID, cli.AccessToken = id.UserID(r.UserID), id.DeviceID(r.DeviceID), r.AccessToken
	return cli, nil
}

func newClient(httpc *http.Client, baseURL string) (*mautrix.Client, error) {
	baseURL = strings.TrimRight(baseURL, "/")
	cli, err := mautrix.NewClient(baseURL, "", "")
	if err != nil {
		return nil, fmt.Errorf("homeserver %q: %w", baseURL, err)
	}
	cli.DefaultHTTPRetries = 0
	cli.Log = zerolog.Nop()
	cli.UserAgent = UserAgent
	if httpc != nil {
		cli.Client = httpc
	}
	return cli, nil
}

// DeviceHasKeys reports whether the login's device has identity keys on
// the homeserver; errors.ErrUnsupported when the homeserver has no
// end-to-end encryption API.
func (r LoginResult) DeviceHasKeys(ctx context.Context, httpc *http.Client, baseURL string) (bool, error) {
	cli, err := r.Client(httpc, baseURL)
	if err != nil {
		return false, err
	}
	keys, err := cli.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{cli.UserID: {cli.DeviceID}}})
	if err != nil {
		if se := toSendError("", err); se.ErrCode == "M_UNRECOGNIZED" || se.Status == http.StatusNotFound {
			return false, fmt.Errorf("the homeserver has no end-to-end encryption API (%s): %w", se.Message, errors.ErrUnsupported)
		}
		return false, fmt.Errorf("looking up the device's keys: %w", toSendError("", err))
	}
	_, ok := keys.DeviceKeys[cli.UserID][cli.DeviceID]
	return ok, nil
}

// Logout ends the login's session, which deletes its device.
func (r LoginResult) Logout(ctx context.Context, httpc *http.Client, baseURL string) error {
	cli, err := r.Client(httpc, baseURL)
	if err != nil {
		return err
	}
	if _, err := cli.Logout(ctx); err != nil {
		return fmt.Errorf("logging out device %s: %w", r.DeviceID, toSendError("", err))
	}
	return nil
}

// LoginDevice is Login on the given device id.
func LoginDevice(ctx context.Context, httpc *http.Client, baseURL, user, password, deviceID string) (LoginResult, error) {
	cli, err := newClient(httpc, baseURL)
	if err != nil {
		return LoginResult{}, err
	}
	resp, err := cli.Login(ctx, &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypePassword,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: user},
		Password:                 password,
		DeviceID:                 id.DeviceID(deviceID),
		InitialDeviceDisplayName: DeviceDisplayName,
	})
	if err != nil {
		se := toSendError("", err)
		if se.ErrCode == "M_FORBIDDEN" {
			return LoginResult{}, fmt.Errorf("login refused: wrong user or password (%s)", se.Message)
		}
		return LoginResult{}, errors.New("login failed: " + se.Error())
	}
	if resp.AccessToken == "" {
		return LoginResult{}, errors.New("login answered without an access token")
	}
	return LoginResult{UserID: resp.UserID.String(), DeviceID: resp.DeviceID.String(), AccessToken: resp.AccessToken}, nil
}
