package kuma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// DefaultMaxBody is the size limit DecodeRequest applies when given 0 or
// less.
const DefaultMaxBody = 1 << 20

// DecodeRequest decodes one Webhook request from Kuma, in any of the shapes
// webhook.js sends:
//
//   - GET with query parameters msg, and heartbeat and monitor as JSON
//     strings (absent for test and expiry notifications);
//   - POST application/json: {"heartbeat":…,"monitor":…,"msg":…};
//   - POST multipart/form-data with that JSON in the field data;
//   - a custom body: axios posts Kuma's rendered string as
//     application/x-www-form-urlencoded unless the user sets a header, so a
//     body that starts with "{" is decoded as the JSON document whatever
//     its content type; a real form works too, with data=JSON or the
//     fields msg, heartbeat, monitor as in a GET.
//
// Bodies (and a GET's query) over maxBody bytes fail with an error wrapping
// ErrTooLarge; a content type that is none of these, with a body that is
// not JSON, wraps ErrUnsupportedMediaType. Every other error is the
// sender's (HTTP 400) and says which field is wrong and how.
func DecodeRequest(r *http.Request, maxBody int64) (Payload, error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if int64(len(r.URL.RawQuery)) > maxBody {
			return Payload{}, fmt.Errorf("query: over %d bytes: %w", maxBody, ErrTooLarge)
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return Payload{}, &FieldError{"query", err.Error()}
		}
		return decodeFields(q, "query")
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return Payload{}, fmt.Errorf("body: Content-Encoding %q is not supported: %w", enc, ErrUnsupportedMediaType)
	}
	ct := r.Header.Get("Content-Type")
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil && ct != "" {
		return Payload{}, &FieldError{"Content-Type", fmt.Sprintf("cannot parse %q: %v", ct, err)}
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	// A caller's own, smaller MaxBytesReader reports its limit the same way.
	body = http.MaxBytesReader(nil, body, maxBody)
	if mediaType == "multipart/form-data" {
		return decodeMultipart(body, params["boundary"])
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return Payload{}, readError(err, "reading")
	}
	if looksLikeObject(b) {
		return DecodeJSON(b)
	}
	switch {
	case mediaType == "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(b))
		if err != nil {
			return Payload{}, &FieldError{"body", "invalid form: " + err.Error()}
		}
		return decodeFields(q, "form")
	case mediaType == "", mediaType == "application/json", strings.HasSuffix(mediaType, "+json"),
		strings.HasPrefix(mediaType, "text/"):
		return DecodeJSON(b)
	}
	return Payload{}, fmt.Errorf("body: content type %q is not one Kuma's webhook sends (application/json, multipart/form-data, or a GET query): %w",
		mediaType, ErrUnsupportedMediaType)
}

// decodeFields decodes the GET (and form) shape: msg, and heartbeat and
// monitor as JSON documents. where names the shape in errors.
func decodeFields(q url.Values, where string) (Payload, error) {
	if data, ok := q["data"]; ok && !q.Has("msg") {
		return decodeDocument([]byte(data[0]), "data")
	}
	if !q.Has("msg") {
		return Payload{}, &FieldError{"msg", "missing " + where + " parameter (expected msg, and heartbeat and monitor as JSON)"}
	}
	// Invalid UTF-8 becomes U+FFFD byte by byte, as when msg comes in JSON
	// (encoding/json's rule; converting to runes does the same).
	msg := string([]rune(q.Get("msg")))
	objs := map[string]any{}
	for _, name := range []string{"heartbeat", "monitor"} {
		if !q.Has(name) {
			continue
		}
		v := []byte(q.Get(name))
		if len(bytes.TrimSpace(v)) == 0 {
			return Payload{}, &FieldError{name, "empty " + where + " parameter (expected a JSON object)"}
		}
		var err error
		if objs[name], err = decodeJSON(v, name); err != nil {
			return Payload{}, err
		}
	}
	return build(msg, objs["heartbeat"], objs["monitor"])
}

// decodeMultipart finds the data field (or msg, heartbeat, monitor fields)
// of a multipart/form-data body.
func decodeMultipart(body io.Reader, boundary string) (Payload, error) {
	if boundary == "" {
		return Payload{}, &FieldError{"Content-Type", "multipart/form-data without a boundary"}
	}
	mr := multipart.NewReader(body, boundary)
	fields := url.Values{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Payload{}, readError(err, "invalid multipart/form-data")
		}
		name := part.FormName()
		b, err := io.ReadAll(part)
		if err != nil {
			return Payload{}, readError(err, fmt.Sprintf("invalid multipart/form-data part %q", name))
		}
		switch name {
		case "data", "msg", "heartbeat", "monitor":
			if !fields.Has(name) {
				fields.Set(name, string(b))
			}
		}
	}
	if !fields.Has("data") && !fields.Has("msg") {
		return Payload{}, &FieldError{"data", "missing multipart/form-data field (Kuma's form-data webhook sends the JSON in a field named data)"}
	}
	return decodeFields(fields, "multipart/form-data")
}

func looksLikeObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// readError is err from reading the body: over the size limit (wrapping
// ErrTooLarge), or what failed and how.
func readError(err error, what string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("body: over %d bytes: %w", mbe.Limit, ErrTooLarge)
	}
	if what == "reading" {
		return fmt.Errorf("body: reading: %w", err)
	}
	return &FieldError{"body", what + ": " + err.Error()}
}
