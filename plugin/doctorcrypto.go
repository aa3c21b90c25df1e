package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"maunium.net/go/mautrix/id"

	"matrix-notify/sender"
	"matrix-notify/sender/e2ee"
)

// doctorE2EE is what doctor found about end-to-end encryption.
type doctorE2EE struct {
	on     bool // a pickle key is configured
	status e2ee.Status
	err    error // the store or the homeserver did not answer
	rooms  map[string]e2ee.RoomStatus
}

// doctorCrypto checks the crypto store, the device's cross-signing and the
// recovery key in secret storage (e2ee.CheckStatus: the store's lock and a
// sync, as a send does), and prints them.
func (a *app) doctorCrypto(ctx context.Context, out io.Writer, s settings, baseURL, user, device string, statuses []sender.RoomStatus) *doctorE2EE {
	d := &doctorE2EE{on: s.PickleKey != "", rooms: map[string]e2ee.RoomStatus{}}
	if !d.on {
		for _, st := range statuses {
			if st.Encrypted {
				fmt.Fprintf(out, "encryption: not set up (no [matrix] pickle_key): encrypted rooms get unencrypted alerts; run `matrix-notify login` to set it up\n")
				break
			}
		}
		return d
	}
	var rooms []id.RoomID
	for _, st := range statuses {
		if st.RoomID != "" && st.Membership == sender.MembershipJoin {
			rooms = append(rooms, id.RoomID(st.RoomID))
		}
	}
	cli, err := sender.LoginResult{UserID: user, DeviceID: device, AccessToken: s.AccessToken}.Client(nil, baseURL)
	if err != nil {
		d.err = err
	} else {
		d.status, d.err = e2ee.CheckStatus(ctx, cli, rooms, e2ee.Options{DBPath: s.cryptoStore(), PickleKey: s.PickleKey})
	}
	for _, rs := range d.status.Rooms {
		d.rooms[rs.Room.String()] = rs
	}
	fmt.Fprintf(out, "encryption: crypto store %s\n", s.cryptoStore())
	switch {
	case d.err != nil:
		fmt.Fprintf(out, "  PROBLEM: %v\n  fix: check the homeserver answers, and that no matrix-notify hangs holding the store's lock\n", d.err)
	case !d.status.Store:
		fmt.Fprintf(out, "  PROBLEM: the store cannot encrypt for device %s\n  fix: log in again: matrix-notify login (alerts to encrypted rooms wait in the outbox until then)\n", device)
	default:
		signed := "NOT cross-signed by its owner"
		if d.status.CrossSigned {
			signed = "cross-signed by its owner"
		}
		fmt.Fprintf(out, "  device %s: %s\n", d.status.DeviceID, signed)
		recovery := "not in the account's secret storage"
		if d.status.RecoveryInSSSS {
			recovery = "opens the account's secret storage, which holds the cross-signing keys"
		}
		fmt.Fprintf(out, "  recovery key: %s\n", recovery)
	}
	for _, w := range d.status.Warnings {
		fmt.Fprintf(out, "  warning: %s\n", w)
	}
	return d
}

// reportRoom prints what encryption means for one joined room and reports
// whether alerts can reach it.
func (d *doctorE2EE) reportRoom(out io.Writer, st sender.RoomStatus) bool {
	if st.Membership != sender.MembershipJoin || !st.Encrypted {
		return true
	}
	if !d.on {
		fmt.Fprintf(out, "  warning: the room is encrypted but encryption is not set up: alerts arrive unencrypted, and clients that exclude unverified devices show nothing; run `matrix-notify login`\n")
		return true
	}
	if d.err != nil || !d.status.Store {
		fmt.Fprintf(out, "  PROBLEM: the room is encrypted and the crypto store cannot encrypt (see encryption above): alerts wait in the outbox\n")
		return false
	}
	rs, ok := d.rooms[st.RoomID]
	switch {
	case !ok:
		fmt.Fprintf(out, "  warning: encryption not checked\n")
	case rs.Err != nil:
		fmt.Fprintf(out, "  PROBLEM: encrypted, and its members' devices could not be read: %v\n", rs.Err)
		return false
	default:
		fmt.Fprintf(out, "  encrypted: %d members, %d devices known to receive the keys\n", rs.Members, rs.Devices)
		if len(rs.NoDevices) > 0 {
			names := make([]string, len(rs.NoDevices))
			for i, u := range rs.NoDevices {
				names[i] = u.String()
			}
			fmt.Fprintf(out, "  warning: no device that can decrypt for %s: they see nothing of the alerts until they log in with an encrypting client\n", strings.Join(names, ", "))
		}
	}
	return true
}
