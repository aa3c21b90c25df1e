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
	body := &capReader{r: r.Body, max: maxBody}
	if r.Body == nil {
		body.r = http.NoBody
	}
	if mediaType == "multipart/form-data" {
		return decodeMultipart(body, params["boundary"])
	}
	b, err := readAll(body)
	if err != nil {
		return Payload{}, err
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
	m := members{msg: string([]rune(q.Get("msg")))}
	for _, f := range []struct {
		name string
		dst  *any
	}{{"heartbeat", &m.heartbeat}, {"monitor", &m.monitor}} {
		if !q.Has(f.name) {
			continue
		}
		v := []byte(q.Get(f.name))
		if len(bytes.TrimSpace(v)) == 0 {
			return Payload{}, &FieldError{f.name, "empty " + where + " parameter (expected a JSON object)"}
		}
		var err error
		if *f.dst, err = decodeJSON(v, f.name); err != nil {
			return Payload{}, err
		}
	}
	return build(m)
}

// decodeMultipart finds the data field (or msg, heartbeat, monitor fields)
// of a multipart/form-data body.
func decodeMultipart(body *capReader, boundary string) (Payload, error) {
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
			if body.over {
				return Payload{}, body.tooLarge()
			}
			return Payload{}, &FieldError{"body", "invalid multipart/form-data: " + err.Error()}
		}
		name := part.FormName()
		b, err := io.ReadAll(part)
		if err != nil {
			if body.over {
				return Payload{}, body.tooLarge()
			}
			return Payload{}, &FieldError{"body", fmt.Sprintf("invalid multipart/form-data part %q: %v", name, err)}
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

func readAll(body *capReader) ([]byte, error) {
	b, err := io.ReadAll(body)
	if body.over {
		return nil, body.tooLarge()
	}
	if err != nil {
		return nil, fmt.Errorf("body: reading: %w", err)
	}
	return b, nil
}

// capReader reads at most max bytes of r and fails once there is more.
type capReader struct {
	r    io.Reader
	max  int64
	n    int64
	over bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.over {
		return 0, c.tooLarge()
	}
	if room := c.max + 1 - c.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		c.over = true
		return 0, c.tooLarge()
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) { // the caller's own, smaller limit
		c.over, c.max = true, mbe.Limit
		return n, c.tooLarge()
	}
	return n, err
}

func (c *capReader) tooLarge() error {
	return fmt.Errorf("body: over %d bytes: %w", c.max, ErrTooLarge)
}
