// Package kuma reads Uptime Kuma's Webhook notification in every shape Kuma
// sends it (JSON, multipart form-data, GET query, custom bodies), and turns
// it into what the sender needs: Kuma's own template context, a default
// Matrix message, and a stable identity for transaction ids.
//
// Facts are from louislam/uptime-kuma (2.x): webhook.js, the
// NotificationProvider base (renderTemplate, extractAddress),
// Monitor.sendNotification and Heartbeat.toJSONAsync.
package kuma

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"matrix-notify/adapters/liquidjs"
)

// Status is a heartbeat's status, Kuma's src/util.ts numbering.
type Status int

// Kuma's heartbeat statuses.
const (
	Down        Status = 0
	Up          Status = 1
	Pending     Status = 2
	Maintenance Status = 3
)

// String is the upper-case name ("DOWN", "UP", "PENDING", "MAINTENANCE").
func (s Status) String() string {
	if names := []string{"DOWN", "UP", "PENDING", "MAINTENANCE"}; s >= 0 && int(s) < len(names) {
		return names[s]
	}
	return "STATUS(" + strconv.Itoa(int(s)) + ")"
}

// Heartbeat is the typed part of Kuma's heartbeatJSON that this package
// uses. Absent and null fields are zero.
type Heartbeat struct {
	Status Status
	// MonitorID is monitorID as JavaScript prints it ("42"), "" if absent.
	MonitorID string
	// Time is the beat's UTC time, "YYYY-MM-DD HH:mm:ss.SSS".
	Time string
	// Msg is the beat's message ("N/A" when Kuma had none).
	Msg string
	// Ping is the response time in ms, nil when null or absent.
	Ping *float64
	// Timezone, TimezoneOffset ("+01:00") and LocalDateTime
	// ("YYYY-MM-DD HH:mm:ss") are the server's zone and the time in it.
	Timezone       string
	TimezoneOffset string
	LocalDateTime  string
	// LastDownTime is the time of the last important DOWN beat, sent with
	// UP beats since Kuma 2.x.
	LastDownTime string
}

// Monitor is the typed part of Kuma's monitorJSON that this package uses.
// Absent and null fields are "".
type Monitor struct {
	// ID is id as JavaScript prints it ("42").
	ID       string
	Name     string
	Type     string
	Subtype  string
	URL      string
	Hostname string
	// Port as JavaScript prints it, "" when null or absent.
	Port string

	fields map[string]any // the members as sent (null is nil), for Kuma's exact rules
}

// Payload is one Kuma notification. Heartbeat and Monitor are nil for test
// and certificate/domain-expiry notifications, which carry only Msg.
type Payload struct {
	Msg       string
	Heartbeat *Heartbeat
	Monitor   *Monitor

	// The objects as templates see them (see decodeJSON); nil when null
	// or absent.
	heartbeatJSON, monitorJSON *liquidjs.Object
}

// FieldError is a payload that is valid JSON but not shaped like Kuma's:
// Field names the offending member ("heartbeat.status"), Problem what was
// expected and what came.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// ErrTooLarge is wrapped by the errors of payloads over the size limit
// (HTTP 413).
var ErrTooLarge = errors.New("payload too large")

// ErrUnsupportedMediaType is wrapped by the error of a request whose
// Content-Type is none that Kuma sends (HTTP 415).
var ErrUnsupportedMediaType = errors.New("unsupported media type")

// DecodeJSON decodes a Webhook JSON body, {"heartbeat":…,"monitor":…,
// "msg":…}, as Kuma posts with content type json (and inside form-data's
// data field). Errors name the member and what was expected.
func DecodeJSON(body []byte) (Payload, error) {
	return decodeDocument(body, "body")
}

// decodeDocument decodes a whole payload document; where names it in errors
// ("body", or "data" for the form field).
func decodeDocument(doc []byte, where string) (Payload, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return Payload{}, &FieldError{where, "empty (expected a JSON object: {\"heartbeat\":…,\"monitor\":…,\"msg\":…})"}
	}
	v, err := decodeJSON(doc, where)
	if err != nil {
		return Payload{}, err
	}
	top, ok := v.(*liquidjs.Object)
	if !ok {
		return Payload{}, &FieldError{where, "expected a JSON object, got " + typeName(v)}
	}
	msg, _ := top.Get("msg")
	hb, _ := top.Get("heartbeat")
	mon, _ := top.Get("monitor")
	return build(msg, hb, mon)
}

// decodeJSON decodes one JSON value as templates see it
// (liquidjs.DecodeJSON, which reads encoding/json's token stream: objects
// keep their key order, for Liquid's json filter, and null is
// liquidjs.Null). What it accepts, and how it explains what it does not,
// are encoding/json's: json.Valid checks first, and json.Unmarshal words
// the error (numbers out of range pass json.Valid, not json.Unmarshal), as
// "WHERE: invalid JSON at offset N: …" for a syntax error.
func decodeJSON(data []byte, where string) (any, error) {
	if json.Valid(data) {
		if v, err := liquidjs.DecodeJSON(data); err == nil {
			return v, nil
		}
	}
	err := json.Unmarshal(data, new(any))
	if err == nil {
		return nil, &FieldError{where, "invalid JSON"} // not reached: DecodeJSON reads all that encoding/json does
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the bytes read, the bad one included; report the
		// 0-based offset of the bad byte (of the end, for truncated input).
		off := se.Offset
		if off > 0 && off <= int64(len(data)) && !strings.HasPrefix(se.Error(), "unexpected end") {
			off--
		}
		return nil, &FieldError{where, fmt.Sprintf("invalid JSON at offset %d: %s", off, se.Error())}
	}
	return nil, &FieldError{where, "invalid JSON: " + err.Error()}
}

// build checks and types a payload's three members as decodeJSON made
// them (nil when absent).
func build(msg, heartbeat, monitor any) (Payload, error) {
	var p Payload
	if msg == nil {
		return p, &FieldError{"msg", "missing (expected a string)"}
	}
	s, ok := msg.(string)
	if !ok {
		return p, &FieldError{"msg", "expected a string, got " + typeName(msg)}
	}
	p.Msg = s
	var err error
	if p.heartbeatJSON, err = member(heartbeat, "heartbeat"); err != nil {
		return p, err
	}
	if p.heartbeatJSON != nil {
		if p.Heartbeat, err = heartbeatOf(fields(p.heartbeatJSON)); err != nil {
			return p, err
		}
	}
	if p.monitorJSON, err = member(monitor, "monitor"); err != nil || p.monitorJSON == nil {
		return p, err
	}
	p.Monitor, err = monitorOf(fields(p.monitorJSON))
	return p, err
}

// member is an object-or-null member: the object, nil when the member is
// null or absent.
func member(v any, name string) (*liquidjs.Object, error) {
	switch v := v.(type) {
	case nil, liquidjs.NullValue:
		return nil, nil
	case *liquidjs.Object:
		return v, nil
	}
	return nil, &FieldError{name, "expected an object or null, got " + typeName(v)}
}

// fields are the members of o as encoding/json would decode them into an
// any (null is nil), for the checks.
func fields(o *liquidjs.Object) map[string]any {
	m := make(map[string]any, o.Len())
	for _, k := range o.Keys() {
		v, _ := o.Get(k)
		if v == liquidjs.Null {
			v = nil
		}
		m[k] = v
	}
	return m
}

// heartbeatOf types the heartbeatFields of a heartbeat object, decoded as
// encoding/json would into an any.
func heartbeatOf(m map[string]any) (*Heartbeat, error) {
	h := &Heartbeat{}
	v, ok := m["status"]
	if !ok {
		return nil, &FieldError{"heartbeat.status", "missing (expected a number 0-3)"}
	}
	f, isNum := v.(float64)
	switch {
	case !isNum:
		return nil, &FieldError{"heartbeat.status", "expected a number 0-3, got " + typeName(v)}
	case f != math.Trunc(f) || f < 0 || f > 3:
		return nil, &FieldError{"heartbeat.status", "expected a number 0-3, got " + liquidjs.JSNumber(f)}
	}
	h.Status = Status(f)

	if err := read(m, "heartbeat", field{"monitorID", &h.MonitorID, true}, field{"time", &h.Time, false},
		field{"msg", &h.Msg, false}, field{"timezone", &h.Timezone, false}, field{"timezoneOffset", &h.TimezoneOffset, false},
		field{"localDateTime", &h.LocalDateTime, false}, field{"lastDownTime", &h.LastDownTime, false}); err != nil {
		return nil, err
	}
	if v, ok := m["ping"]; ok && v != nil {
		f, isNum := v.(float64)
		if !isNum {
			return nil, &FieldError{"heartbeat.ping", "expected a number or null, got " + typeName(v)}
		}
		h.Ping = &f
	}
	return h, nil
}

// monitorOf types the monitorFields of a monitor object, decoded as
// encoding/json would into an any.
func monitorOf(m map[string]any) (*Monitor, error) {
	mon := &Monitor{fields: m}
	if err := read(m, "monitor", field{"id", &mon.ID, true}, field{"name", &mon.Name, false}, field{"type", &mon.Type, false},
		field{"subtype", &mon.Subtype, false}, field{"url", &mon.URL, false}, field{"hostname", &mon.Hostname, false}); err != nil {
		return nil, err
	}
	switch v := m["port"].(type) {
	case nil:
	case float64:
		if v != 0 {
			mon.Port = liquidjs.JSNumber(v)
		}
	case string: // not Kuma's, but JavaScript would print it as is
		mon.Port = v
	default:
		return nil, &FieldError{"monitor.port", "expected a number or null, got " + typeName(v)}
	}
	return mon, nil
}

// field is a member read into a string: a string, or with number a number
// as JavaScript prints it; null or absent leaves it "".
type field struct {
	key    string
	dst    *string
	number bool
}

// read reads fields from m, the members of object obj (named in errors),
// in order.
func read(m map[string]any, obj string, fields ...field) error {
	for _, f := range fields {
		switch v := m[f.key].(type) {
		case nil:
			continue
		case string:
			if !f.number {
				*f.dst = v
				continue
			}
		case float64:
			if f.number {
				*f.dst = liquidjs.JSNumber(v)
				continue
			}
		}
		want := "a string"
		if f.number {
			want = "a number"
		}
		return &FieldError{obj + "." + f.key, "expected " + want + " or null, got " + typeName(m[f.key])}
	}
	return nil
}

// typeName names a decoded JSON value's type for error messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case *liquidjs.Object:
		return "an object"
	case liquidjs.NullValue:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// jsString is String(v) for the values decodeJSON makes.
func jsString(v any) string {
	switch v := v.(type) {
	case nil, liquidjs.NullValue:
		return "null"
	case string:
		return v
	case float64:
		return liquidjs.JSNumber(v)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			if e != nil && e != liquidjs.Null {
				parts[i] = jsString(e)
			}
		}
		return strings.Join(parts, ",")
	}
	return "[object Object]"
}

// jsTruthy is JavaScript's truthiness for the values decodeJSON makes.
func jsTruthy(v any) bool {
	switch v := v.(type) {
	case nil, liquidjs.NullValue:
		return false
	case string:
		return v != ""
	case float64:
		return v != 0 && !math.IsNaN(v)
	case bool:
		return v
	}
	return true
}
