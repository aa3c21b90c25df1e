package sender

import (
	"context"
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
	baseURL = strings.TrimRight(baseURL, "/")
	cli, err := mautrix.NewClient(baseURL, "", "")
	if err != nil {
		return LoginResult{}, fmt.Errorf("homeserver %q: %w", baseURL, err)
	}
	cli.DefaultHTTPRetries = 0
	cli.Log = zerolog.Nop()
	cli.UserAgent = UserAgent
	if httpc != nil {
		cli.Client = httpc
	}
	resp, err := cli.Login(ctx, &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypePassword,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: user},
		Password:                 password,
		DeviceID:                 id.DeviceID(DeviceID(user, baseURL)),
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
