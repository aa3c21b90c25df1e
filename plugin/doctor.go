package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"matrix-notify/adapters/netdata"
	"matrix-notify/adapters/netdata/healthconf"
	"matrix-notify/sender"
)

// configuredRoom is one room of the configuration and where it is named.
type configuredRoom struct {
	room    string
	sources []string
}

// runDoctor is `matrix-notify doctor`: checks the token (whoami) and, for
// every configured room, that it resolves, that the bot is in it (or
// invited), may post and whether it is encrypted, and prints each problem
// with its fix. Exit 0 when every room can receive alerts, 3 otherwise.
func (a *app) runDoctor(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	var cf commonFlags
	fs.StringVar(&cf.config, "config", "", "TOML configuration file")
	fs.DurationVar(&cf.timeout, "timeout", 0, "deadline for the checks")
	join := fs.Bool("join", false, "accept pending invites now")
	if words, err := parseArgs(fs, args); err != nil {
		return err
	} else if len(words) > 0 {
		return usagef("doctor: unexpected argument %q", words[0])
	}

	// The configuration exec mode (or serve) would read, found as it does.
	c, err := a.loadConfig("doctor", cf, eitherMode)
	if err != nil {
		return err
	}
	s, fc, vars, configFile := c.s, c.fc, c.vars, c.tomlPath
	out := a.stdout
	if len(c.read) == 0 {
		fmt.Fprintf(out, "configuration: none found (searched %s and the environment)\n", strings.Join(c.searched, ", "))
	} else {
		fmt.Fprintf(out, "configuration: %s\n", strings.Join(c.read, ", "))
	}
	for _, n := range c.notes {
		fmt.Fprintf(out, "  PROBLEM: %s\n", n.msg)
	}
	fmt.Fprintf(out, "state: %s\n", s.StateDir)
	if vars != nil && vars.Get("SEND_MATRIX") != "YES" {
		fmt.Fprintf(out, "netdata: SEND_MATRIX=%q: alarms reach matrix-notify only through custom_sender() (DEFAULT_RECIPIENT_CUSTOM) or the side-by-side wrapper, and `matrix-notify test` sends nothing\n", vars.Get("SEND_MATRIX"))
	}
	for _, trap := range kumaTemplateTraps(fc) {
		fmt.Fprintf(out, "template %s (every alert, UP and Test included, would read as DOWN)\n", trap)
	}
	if s.Homeserver == "" || s.AccessToken == "" {
		return usagef("doctor: %s: run `matrix-notify login --config %s`", c.missing(), configFile)
	}
	rooms := doctorRooms(s, fc, vars)
	autoJoin := s.AutoJoin // [matrix] auto_join, default on

	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()

	hs, err := sender.Discover(ctx, nil, s.Homeserver)
	if err != nil {
		fmt.Fprintf(out, "homeserver: %s\n  PROBLEM: %v\n  fix: set [matrix] homeserver (or MATRIX_HOMESERVER) to your homeserver's URL, e.g. https://matrix.example.org\n", s.Homeserver, err)
		return errNotDelivered
	}
	switch {
	case hs.Via == "well-known":
		fmt.Fprintf(out, "homeserver: %s (%s, from .well-known)\n", hs.BaseURL, s.Homeserver)
	case strings.TrimRight(s.Homeserver, "/") != s.Homeserver:
		fmt.Fprintf(out, "homeserver: %s (trailing slash ignored)\n", hs.BaseURL)
	default:
		fmt.Fprintf(out, "homeserver: %s\n", hs.BaseURL)
	}
	tr, err := sender.NewMatrixTransportWithOptions(hs.BaseURL, s.AccessToken, sender.Options{})
	if err != nil {
		return usageError{err}
	}
	user, device, err := tr.Whoami(ctx)
	if err != nil {
		fmt.Fprintf(out, "account:\n  PROBLEM: %v\n", err)
		var se *sender.SendError
		if errors.As(err, &se) && (se.ErrCode == "M_UNKNOWN_TOKEN" || se.ErrCode == "M_MISSING_TOKEN") {
			fmt.Fprintf(out, "  fix: log in again: matrix-notify login --config %s\n", configFile)
		}
		return errNotDelivered
	}
	fmt.Fprintf(out, "account: %s (device %s)\n", user, device)
	fmt.Fprintf(out, "auto_join: %s\n", map[bool]string{true: "on", false: "off"}[autoJoin])
	if len(rooms) == 0 {
		fmt.Fprintln(out, "\nno rooms configured: set [matrix] rooms (or DEFAULT_RECIPIENT_MATRIX, role_recipients_matrix[ROLE], [kuma] rooms)")
		return errNotDelivered
	}

	names := make([]string, len(rooms))
	for i, r := range rooms {
		names[i] = r.room
	}
	statuses, err := tr.CheckRooms(ctx, user, names)
	joined := false
	for _, st := range statuses {
		if !*join || st.Membership != sender.MembershipInvite {
			continue
		}
		if _, err := tr.Join(ctx, st.RoomID); err != nil {
			a.log.Warn("could not join", "room", st.Room, "err", err)
		} else {
			a.log.Info("joined, accepting the invite", "room", st.Room)
			joined = true
		}
	}
	if joined {
		statuses, err = tr.CheckRooms(ctx, user, names)
	}
	if err != nil {
		fmt.Fprintf(out, "rooms:\n  PROBLEM: %v\n", err)
		return errNotDelivered
	}

	crypto := a.doctorCrypto(ctx, out, s, hs.BaseURL, user, device, statuses)
	good := 0
	for i, st := range statuses {
		if a.reportRoom(out, rooms[i], st, user, autoJoin) && crypto.reportRoom(out, st) {
			good++
		}
	}
	fmt.Fprintf(out, "\n%d of %d rooms can receive alerts\n", good, len(rooms))
	if good < len(rooms) {
		return errNotDelivered
	}
	return nil
}

// reportRoom prints one room's findings and reports whether alerts reach it.
func (a *app) reportRoom(out io.Writer, cr configuredRoom, st sender.RoomStatus, user string, autoJoin bool) bool {
	title := cr.room
	if st.RoomID != "" && st.RoomID != cr.room {
		title += " -> " + st.RoomID
	}
	fmt.Fprintf(out, "\nroom %s (%s)\n", title, strings.Join(cr.sources, ", "))
	problem := func(what, fix string) {
		fmt.Fprintf(out, "  PROBLEM: %s\n  fix: %s\n", what, fix)
	}
	warn := func(what string) { fmt.Fprintf(out, "  warning: %s\n", what) }
	joinFix := "run `matrix-notify doctor --join` to accept it now, or enable auto_join ([matrix] auto_join = true)"

	if st.ResolveErr != nil {
		var se *sender.SendError
		if errors.As(st.ResolveErr, &se) && se.ErrCode == "M_NOT_FOUND" {
			problem("the alias does not exist on the homeserver", "check its spelling, or use the room id (Room settings → Advanced)")
		} else {
			problem(fmt.Sprintf("could not resolve the alias: %v", st.ResolveErr), "check the homeserver is reachable and run matrix-notify doctor again")
		}
		return false
	}
	switch st.Membership {
	case sender.MembershipNone:
		what := "the bot is not in the room and has no invite"
		if st.InvitesUnknown != nil {
			what = fmt.Sprintf("the bot is not in the room (pending invites could not be listed: %v)", st.InvitesUnknown)
		}
		fix := fmt.Sprintf("invite %s to the room, then run `matrix-notify doctor --join`", user)
		if autoJoin {
			fix += " (or let auto_join accept the invite at the next alert)"
		} else {
			fix += ", or enable auto_join"
		}
		problem(what, fix)
		return false
	case sender.MembershipInvite:
		if !autoJoin {
			problem("the bot is invited but has not joined, and auto_join is off", joinFix)
			return false
		}
		fmt.Fprintf(out, "  ok: invited; auto_join accepts the invite at the first alert (or run `matrix-notify doctor --join` now)\n")
		fmt.Fprintf(out, "  note: power levels and encryption can only be checked once joined\n")
		return true
	}
	ok := true
	if st.PowerErr != nil {
		warn(fmt.Sprintf("could not read the power levels: %v", st.PowerErr))
	} else if st.PowerKnown && st.UserLevel < st.SendLevel {
		problem(fmt.Sprintf("the bot may not post: its power level is %d, sending messages needs %d", st.UserLevel, st.SendLevel),
			fmt.Sprintf("raise the bot's power level to %d (Element: Room settings → Roles & Permissions), or lower \"Send messages\" to %d", st.SendLevel, st.UserLevel))
		ok = false
	}
	if st.EncryptionErr != nil {
		warn(fmt.Sprintf("could not check encryption: %v", st.EncryptionErr))
	}
	if ok {
		enc := "not encrypted"
		if st.Encrypted {
			enc = "encrypted"
		}
		fmt.Fprintf(out, "  ok: joined, can post (power %d, needs %d), %s\n", st.UserLevel, st.SendLevel, enc)
	}
	return ok
}

// isRoomRef reports whether a custom-method recipient is a Matrix room id
// or alias (the custom method may be anything: an e-mail address, a URL).
func isRoomRef(r string) bool {
	return len(r) > 1 && (r[0] == '!' || r[0] == '#') && strings.Contains(r, ":")
}

// doctorRooms lists every configured room once, with where it is named:
// [matrix] rooms, [kuma] rooms and routes, and netdata's
// DEFAULT_RECIPIENT_MATRIX and role_recipients_matrix[ROLE] (modifiers
// after '|' dropped, "disabled" skipped), and, with SEND_CUSTOM="YES", the
// custom method's recipients that are Matrix rooms (custom_sender.conf's
// way: alarm-notify.sh hands them to matrix-notify).
func doctorRooms(s settings, fc *fileConfig, vars *healthconf.Vars) []configuredRoom {
	var out []configuredRoom
	index := map[string]int{}
	add := func(room, source string) {
		room, _, _ = strings.Cut(strings.TrimSpace(room), "|")
		if room == "" || room == "disabled" {
			return
		}
		if i, seen := index[room]; seen {
			if !slices.Contains(out[i].sources, source) {
				out[i].sources = append(out[i].sources, source)
			}
			return
		}
		index[room] = len(out)
		out = append(out, configuredRoom{room: room, sources: []string{source}})
	}
	for _, r := range s.Rooms {
		add(r, "[matrix] rooms")
	}
	for _, r := range fc.Kuma.Rooms {
		add(r, "[kuma] rooms")
	}
	for _, name := range slices.Sorted(maps.Keys(fc.Kuma.Routes)) {
		for _, r := range fc.Kuma.Routes[name] {
			add(r, "[kuma.routes] "+name)
		}
	}
	for _, method := range []string{"matrix", "custom"} {
		if vars == nil || (method == "custom" && vars.Get("SEND_CUSTOM") != "YES") {
			continue
		}
		def := "DEFAULT_RECIPIENT_" + strings.ToUpper(method)
		for _, r := range netdata.SplitRecipients(vars.Get(def)) {
			if method == "matrix" || isRoomRef(r) {
				add(r, def)
			}
		}
		roles := "role_recipients_" + method
		for _, role := range slices.Sorted(maps.Keys(vars.Arrays[roles])) {
			for _, r := range netdata.SplitRecipients(vars.Index(roles, role)) {
				if method == "matrix" || isRoomRef(r) {
					add(r, roles+"["+role+"]")
				}
			}
		}
	}
	return out
}
