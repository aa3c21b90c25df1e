package e2ee

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/ssss"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Status is what doctor reports about encryption.
type Status struct {
	UserID   id.UserID
	DeviceID id.DeviceID
	// Store says the crypto store opened and serves this device. When it
	// does not, Warnings says why and the fix, and nothing below Store is
	// filled in.
	Store bool
	// Identity says the account has a cross-signing identity (master key).
	Identity bool
	// CrossSigned says our device is signed by its owner's self-signing
	// key, which is signed by the master key (checked on the keys the
	// homeserver publishes, not on what we stored).
	CrossSigned bool
	// RecoveryInSSSS says the account's default secret storage key exists
	// and holds the master key, so the recovery key can sign a next device.
	RecoveryInSSSS bool
	Rooms          []RoomStatus
	Warnings       []string
}

// RoomStatus is one target room.
type RoomStatus struct {
	Room      id.RoomID
	Encrypted bool
	// Members counts joined and invited members.
	Members int
	// Devices counts the devices known for them (ours excluded).
	Devices int
	// NoDevices are members with no device that can decrypt: they see
	// nothing of an encrypted alert until they log in with such a client.
	NoDevices []id.UserID
	// Err is why the room could not be checked.
	Err error
}

// CheckStatus opens the store as a send does (lock, sync) and reports on
// the device, its identity and each room. A store that cannot serve the
// device is a warning in Status, not an error: the error is for the
// homeserver or the lock not answering.
func CheckStatus(ctx context.Context, cli *mautrix.Client, rooms []id.RoomID, opts Options) (Status, error) {
	s := Status{UserID: cli.UserID, DeviceID: cli.DeviceID}
	m, err := Open(ctx, cli, rooms, opts)
	if errors.Is(err, ErrLoginAgain) {
		s.Warnings = append(s.Warnings, storeWarning(ctx, cli, err))
		return s, nil
	}
	if err != nil {
		return s, err
	}
	defer m.Close()
	s.Store = true
	s.UserID, s.DeviceID = m.Device()
	if err := m.checkIdentity(ctx, &s); err != nil {
		return s, err
	}
	for _, room := range rooms {
		s.Rooms = append(s.Rooms, m.roomStatus(ctx, room))
	}
	return s, nil
}

// storeWarning words a store that cannot serve the device, saying whether
// the device exists (then its messages cannot be encrypted: log in again).
func storeWarning(ctx context.Context, cli *mautrix.Client, err error) string {
	if cli.UserID != "" && cli.DeviceID != "" {
		kerr := checkDeviceKeys(ctx, cli, &id.Device{UserID: cli.UserID, DeviceID: cli.DeviceID})
		if kerr == nil || errors.Is(kerr, ErrDeviceHasKeys) {
			return fmt.Sprintf("device %s has encryption keys on the homeserver but %v: encrypted rooms get nothing until you log in again", cli.DeviceID, err)
		}
	}
	return err.Error()
}

func (m *Machine) checkIdentity(ctx context.Context, s *Status) error {
	// FetchKeys validates and stores the published cross-signing keys and
	// the signatures on our device.
	if _, err := m.mach.FetchKeys(ctx, []id.UserID{s.UserID}, true); err != nil {
		return fmt.Errorf("looking up our keys: %w", err)
	}
	has, signed, err := m.mach.GetOwnVerificationStatus(ctx)
	if err != nil {
		return err
	}
	s.Identity, s.CrossSigned = has, signed
	if !has {
		s.Warnings = append(s.Warnings, "the account has no cross-signing identity: Element marks every alert \"not verified by its owner\"; run login again")
	} else if !signed {
		s.Warnings = append(s.Warnings, fmt.Sprintf("device %s is not cross-signed by its owner: run login again with the recovery key", s.DeviceID))
	}
	keyID, err := m.mach.SSSS.GetDefaultKeyID(ctx)
	if errors.Is(err, ssss.ErrNoDefaultKeyID) {
		s.Warnings = append(s.Warnings, "the account has no secret storage: the next device cannot be signed with a recovery key")
		return nil
	} else if err != nil {
		return fmt.Errorf("looking up secret storage: %w", err)
	}
	var master ssss.EncryptedAccountDataEventContent
	err = m.cli.GetAccountData(ctx, event.AccountDataCrossSigningMaster.Type, &master)
	if err != nil && !errors.Is(err, mautrix.MNotFound) {
		return fmt.Errorf("looking up secret storage: %w", err)
	}
	_, s.RecoveryInSSSS = master.Encrypted[keyID]
	if !s.RecoveryInSSSS {
		s.Warnings = append(s.Warnings, "the master key is not in the account's default secret storage: the recovery key cannot sign a next device")
	}
	return nil
}

func (m *Machine) roomStatus(ctx context.Context, room id.RoomID) RoomStatus {
	rs := RoomStatus{Room: room}
	if rs.Err = m.ensureState(ctx, room); rs.Err != nil {
		return rs
	}
	if rs.Encrypted, rs.Err = m.st.state.IsEncrypted(ctx, room); rs.Err != nil || !rs.Encrypted {
		return rs
	}
	members, err := m.st.state.GetRoomJoinedOrInvitedMembers(ctx, room)
	if rs.Err = err; err != nil {
		return rs
	}
	rs.Members = len(members)
	devices, err := m.mach.FetchKeys(ctx, members, true)
	if rs.Err = err; err != nil {
		return rs
	}
	for _, u := range members {
		n := len(devices[u])
		if u == m.st.user {
			if _, ok := devices[u][m.st.device]; ok {
				n--
			}
		}
		rs.Devices += n
		if n == 0 && u != m.st.user {
			rs.NoDevices = append(rs.NoDevices, u)
		}
	}
	return rs
}

// NewPickleKey makes a pickle key for a new store: 32 random bytes,
// base64. login writes it into the config, beside the access token.
func NewPickleKey() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawStdEncoding.EncodeToString(b)
}
