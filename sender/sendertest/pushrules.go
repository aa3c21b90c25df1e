package sendertest

import (
	"encoding/json"
	"regexp"
	"strings"
)

// DendriteHighlights reports whether Dendrite v0.13.8's default push rules
// highlight (notify with the highlight tweak) an m.room.message with content
// for the user userID whose display name is displayName ("" for none), sent
// by another user with the power to notify the room. Dendrite 0.13 has no
// m.mentions rules (.m.rule.is_user_mention, .m.rule.is_room_mention): only
// the legacy body rules mention someone, in this order after the master rule
// (off by default):
//
//   - .m.rule.suppress_notices: an m.notice notifies no one;
//   - .m.rule.contains_display_name: the body contains the display name;
//   - .m.rule.roomnotif: the body contains "@room";
//   - .m.rule.contains_user_name (a content rule): the body contains the
//     user's localpart.
//
// "Contains" is Dendrite's glob: a pattern without * or ? becomes *pattern*,
// turned into the Go regexp ^(.*pattern.*)$ (internal/pushrules/util.go
// globToRegexp), case-sensitive, and . does not match a newline: a body with
// a line break anywhere matches none of them.
func DendriteHighlights(content json.RawMessage, userID, displayName string) bool {
	var c map[string]any
	if json.Unmarshal(content, &c) != nil {
		return false
	}
	if c["msgtype"] == "m.notice" {
		return false
	}
	body, isString := c["body"].(string)
	if !isString {
		return false
	}
	localpart, _, _ := strings.Cut(strings.TrimPrefix(userID, "@"), ":")
	for _, pattern := range []string{displayName, "@room", localpart} {
		if pattern != "" && dendriteGlob(pattern).MatchString(body) {
			return true
		}
	}
	return false
}

// dendriteGlob is the regexp Dendrite matches a push rule pattern with.
func dendriteGlob(pattern string) *regexp.Regexp {
	if !strings.ContainsAny(pattern, "*?") {
		pattern = "*" + pattern + "*"
	}
	var b strings.Builder
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	return regexp.MustCompile("^(" + b.String() + ")$")
}
