package e2ee

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Plain is one event to send to one room, before encryption.
type Plain struct {
	Room id.RoomID
	// Type is the event type inside the encryption; zero means
	// m.room.message.
	Type event.Type
	// Content is the event content as the caller would send it in the
	// clear: anything encoding/json marshals (a struct, a map, a
	// json.RawMessage). Its m.relates_to (threads, replies, edits) is copied
	// to the clear part, as the spec requires.
	Content any
}

// Sealed is what to send to a Plain's room: PUT
// /rooms/{Room}/send/{Type}/{txn} with Content and the caller's usual txn id.
type Sealed struct {
	Room id.RoomID
	// Type is m.room.encrypted for an encrypted room, else Plain's type.
	Type event.Type
	// Content is the *event.EncryptedEventContent, or Plain's content
	// unchanged when the room is not encrypted.
	Content any
	// Encrypted says Content is ciphertext.
	Encrypted bool
	// Warning is set when Options.AllowPlaintext let plaintext through
	// into an encrypted room: why it could not be encrypted.
	Warning string
	// Err means nothing may be sent to this room now (the alert stays
	// queued): its state could not be read, or it is encrypted and
	// encrypting failed (wrapping ErrPlaintextRefused).
	Err error
}

// EncryptAll seals each message for its room, in order: ciphertext for the
// rooms with m.room.encryption, the content unchanged for the others. A room
// the store has never seen has its state fetched first (members, and
// whether it is encrypted). The megolm session of a room is created and
// shared with its members' devices when missing, expired, or invalidated
// by a member or device change seen by Open's sync. Several messages for
// one room get consecutive indices of one session.
//
// The error joins the rooms' errors (each also in its Sealed.Err); the
// other rooms' results are good to send.
func (m *Machine) EncryptAll(ctx context.Context, msgs []Plain) ([]Sealed, error) {
	if m.closed {
		return nil, errors.New("e2ee: EncryptAll after Close")
	}
	out := make([]Sealed, len(msgs))
	var errs []error
	for i, p := range msgs {
		out[i] = m.seal(ctx, p)
		if out[i].Err != nil {
			errs = append(errs, out[i].Err)
		}
	}
	return out, errors.Join(errs...)
}

func (m *Machine) seal(ctx context.Context, p Plain) Sealed {
	typ := p.Type
	if typ.Type == "" {
		typ = event.EventMessage
	}
	plain := Sealed{Room: p.Room, Type: typ, Content: p.Content}
	if !slices.Contains(m.rooms, p.Room) {
		// Its member changes were not synced: its session may lack a
		// member, or include one who left.
		plain.Err = fmt.Errorf("room %s was not given to Open", p.Room)
		return plain
	}
	if err := m.ensureState(ctx, p.Room); err != nil {
		plain.Err = fmt.Errorf("room %s: reading its state (is it encrypted?): %w", p.Room, err)
		return plain
	}
	enc, err := m.st.state.IsEncrypted(ctx, p.Room)
	if err != nil {
		plain.Err = fmt.Errorf("room %s: crypto store: %w", p.Room, err)
		return plain
	}
	if !enc {
		return plain
	}
	content, err := m.encrypt(ctx, p.Room, typ, p.Content)
	if err != nil {
		err = fmt.Errorf("room %s is encrypted and encrypting for it failed: %w", p.Room, err)
		if m.opts.AllowPlaintext {
			plain.Warning = err.Error() + "; sent in the clear (allow_plaintext_in_encrypted_rooms)"
			return plain
		}
		plain.Err = fmt.Errorf("%w: %w", ErrPlaintextRefused, err)
		return plain
	}
	return Sealed{Room: p.Room, Type: event.EventEncrypted, Content: content, Encrypted: true}
}

// ensureState fetches a room's state the first time the store meets it: an
// incremental sync only tells changes, and a room whose state we never
// read would look unencrypted. With AutoJoin it accepts a pending invite
// first, as the send would be refused: one the sync showed, or one only
// the state shows (Dendrite hands invites to the sync stream a moment
// after the invite), and then reads the state again as a member.
func (m *Machine) ensureState(ctx context.Context, room id.RoomID) error {
	invited := func() bool {
		ms, err := m.st.state.GetMembership(ctx, room, m.st.user)
		return m.opts.AutoJoin && err == nil && ms == event.MembershipInvite
	}
	if invited() {
		if _, err := m.cli.JoinRoomByID(ctx, room); err != nil {
			return fmt.Errorf("auto_join: %w", err)
		}
	}
	fetched, err := m.st.state.HasFetchedMembers(ctx, room)
	if err != nil || fetched {
		return err
	}
	_, err = m.cli.State(ctx, room)
	if (err != nil && m.opts.AutoJoin && errors.Is(err, mautrix.MForbidden)) || (err == nil && invited()) {
		// Not joined: accepting a pending invite lets us read it.
		if _, jerr := m.cli.JoinRoomByID(ctx, room); jerr != nil {
			return errors.Join(err, fmt.Errorf("auto_join: %w", jerr))
		}
		_, err = m.cli.State(ctx, room)
	}
	return err
}

// encrypt is megolm encryption with the share-and-retry that a missing,
// expired or invalidated outbound session needs (one /keys/query,
// /keys/claim and /sendToDevice).
func (m *Machine) encrypt(ctx context.Context, room id.RoomID, typ event.Type, content any) (*event.EncryptedEventContent, error) {
	enc, err := m.mach.EncryptMegolmEvent(ctx, room, typ, content)
	if err == nil || !crypto.IsShareError(err) {
		return enc, err
	}
	members, err := m.st.state.GetRoomJoinedOrInvitedMembers(ctx, room)
	if err != nil {
		return nil, fmt.Errorf("reading the members: %w", err)
	}
	if err := m.mach.ShareGroupSession(ctx, room, members); err != nil {
		return nil, fmt.Errorf("sharing the room key with %d members: %w", len(members), err)
	}
	return m.mach.EncryptMegolmEvent(ctx, room, typ, content)
}
