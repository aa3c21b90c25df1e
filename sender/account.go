package sender

import (
	"cmp"
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
	cli, err := newClient(httpc, baseURL, "")
	if err != nil {
		return nil, err
	}
	cli.UserID, cli.DeviceID, cli.AccessToken = id.UserID(r.UserID), id.DeviceID(r.DeviceID), r.AccessToken
	return cli, nil
}

// newClient is a mautrix client as every request of ours wants it: our
// retry policy decides (mautrix's own retries ignore retry_after_ms), and
// mautrix logs nothing. httpc may be nil.
func newClient(httpc *http.Client, baseURL, accessToken string) (*mautrix.Client, error) {
	baseURL = strings.TrimRight(baseURL, "/")
	cli, err := mautrix.NewClient(baseURL, "", accessToken)
	if err != nil {
		return nil, fmt.Errorf("homeserver %q: %w", baseURL, err)
	}
	cli.DefaultHTTPRetries = 0
	cli.Log = zerolog.Nop()
	cli.UserAgent = UserAgent
	cli.Client = cmp.Or(httpc, cli.Client)
	return cli, nil
}

// HasE2EE reports whether the homeserver at baseURL has the end-to-end
// encryption API, asked before logging in (login then knows whether to
// make a device for a crypto store): an unauthenticated /keys/query is
// refused for want of a token where the endpoint exists, and is
// unrecognized (404) where it does not.
func HasE2EE(ctx context.Context, httpc *http.Client, baseURL string) (bool, error) {
	cli, err := newClient(httpc, baseURL, "")
	if err != nil {
		return false, err
	}
	_, err = cli.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{}})
	if err == nil {
		return true, nil
	}
	se := toSendError("", err)
	switch {
	case se.Status == http.StatusNotFound || se.ErrCode == "M_UNRECOGNIZED":
		return false, nil
	case se.Status != 0:
		return true, nil
	}
	return false, fmt.Errorf("asking the homeserver about encryption: %w", se)
}

// ErrLoginRefused is LoginDevice's error when the homeserver refuses the
// user or password (M_FORBIDDEN): a mistake to fix, not a failure to retry.
var ErrLoginRefused = errors.New("login refused")

// LoginDevice is Login on the given device id.
func LoginDevice(ctx context.Context, httpc *http.Client, baseURL, user, password, deviceID string) (LoginResult, error) {
	cli, err := newClient(httpc, baseURL, "")
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
			return LoginResult{}, fmt.Errorf("%w: wrong user or password (%s)", ErrLoginRefused, se.Message)
		}
		return LoginResult{}, fmt.Errorf("login failed: %w", se)
	}
	if resp.AccessToken == "" {
		return LoginResult{}, errors.New("login answered without an access token")
	}
	return LoginResult{UserID: resp.UserID.String(), DeviceID: resp.DeviceID.String(), AccessToken: resp.AccessToken}, nil
}
