package kuma

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func multipartBody(t testing.TB, fields ...string) (body, contentType string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for i := 0; i < len(fields); i += 2 {
		if err := w.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String(), w.FormDataContentType()
}

func post(body, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/kuma", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func get(q url.Values) *http.Request {
	return httptest.NewRequest(http.MethodGet, "/kuma?"+q.Encode(), nil)
}

// same reports whether two payloads decode to the same thing for every
// consumer: typed fields, context, default message, identity.
func same(t *testing.T, got, want Payload) {
	t.Helper()
	if got.Msg != want.Msg || !reflect.DeepEqual(got.Heartbeat, want.Heartbeat) {
		t.Errorf("payload differs:\n got %+v %+v\nwant %+v %+v", got.Msg, got.Heartbeat, want.Msg, want.Heartbeat)
	}
	if !reflect.DeepEqual(got.Context(), want.Context()) {
		t.Errorf("context differs:\n got %v\nwant %v", got.Context(), want.Context())
	}
	if got.DefaultContent() != want.DefaultContent() {
		t.Errorf("content differs:\n got %+v\nwant %+v", got.DefaultContent(), want.DefaultContent())
	}
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	if got.Identity(now) != want.Identity(now) {
		t.Errorf("identity differs: %q vs %q", got.Identity(now), want.Identity(now))
	}
}

func TestDecodeRequestShapes(t *testing.T) {
	full := readFixture(t, "http-down", "payload.json")
	want := mustDecode(t, full)
	hbJSON, monJSON := splitMembers(t, full)
	mpBody, mpCT := multipartBody(t, "data", full)
	mpFields, mpFieldsCT := multipartBody(t, "msg", want.Msg, "heartbeat", hbJSON, "monitor", monJSON)
	fullQuery := url.Values{"msg": {want.Msg}, "heartbeat": {hbJSON}, "monitor": {monJSON}}

	for _, tc := range []struct {
		name string
		req  *http.Request
	}{
		{"json", post(full, "application/json")},
		{"json charset", post(full, "application/json; charset=utf-8")},
		{"vendor +json", post(full, "application/vnd.kuma+json")},
		{"no content type", post(full, "")},
		{"text/plain", post(full, "text/plain")},
		// custom body: axios posts a string as a form unless told otherwise
		{"custom body as form", post(full, "application/x-www-form-urlencoded")},
		{"custom body, odd type", post("\n  "+full, "application/octet-stream")},
		{"multipart data", post(mpBody, mpCT)},
		{"multipart fields", post(mpFields, mpFieldsCT)},
		{"form data=", post(url.Values{"data": {full}}.Encode(), "application/x-www-form-urlencoded")},
		{"form fields", post(fullQuery.Encode(), "application/x-www-form-urlencoded")},
		{"get", get(fullQuery)},
		{"get data=", get(url.Values{"data": {full}})},
		{"put json", func() *http.Request {
			r := httptest.NewRequest(http.MethodPut, "/kuma", strings.NewReader(full))
			r.Header.Set("Content-Type", "application/json")
			return r
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodeRequest(tc.req, 1<<20)
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			same(t, p, want)
		})
	}
}

// splitMembers returns the heartbeat and monitor members' JSON text.
func splitMembers(t *testing.T, doc string) (hb, mon string) {
	t.Helper()
	var m map[string]rawMsg
	if err := jsonUnmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return string(m["heartbeat"]), string(m["monitor"])
}

func TestDecodeRequestTestNotification(t *testing.T) {
	want := mustDecode(t, `{"heartbeat":null,"monitor":null,"msg":"Matrix Testing"}`)
	mp, ct := multipartBody(t, "data", `{"heartbeat":null,"monitor":null,"msg":"Matrix Testing"}`)
	for _, tc := range []struct {
		name string
		req  *http.Request
	}{
		{"get msg only", get(url.Values{"msg": {"Matrix Testing"}})},
		{"get null members", get(url.Values{"msg": {"Matrix Testing"}, "heartbeat": {"null"}, "monitor": {" null "}})},
		{"json", post(`{"heartbeat":null,"monitor":null,"msg":"Matrix Testing"}`, "application/json")},
		{"multipart", post(mp, ct)},
		{"form msg only", post("msg=Matrix+Testing", "application/x-www-form-urlencoded")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodeRequest(tc.req, 0)
			if err != nil {
				t.Fatal(err)
			}
			if p.Heartbeat != nil || p.Monitor != nil {
				t.Errorf("want no heartbeat or monitor: %+v", p)
			}
			same(t, p, want)
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestDecodeRequestErrors(t *testing.T) {
	full := readFixture(t, "http-down", "payload.json")
	mpNoData, mpNoDataCT := multipartBody(t, "other", "x")
	mpBad, mpBadCT := multipartBody(t, "data", `{"msg":"m","heartbeat":{"status":"x"}}`)
	mpTrunc, mpTruncCT := multipartBody(t, "data", `{"msg":"m"}`)
	mpTrunc = mpTrunc[:len(mpTrunc)-20]
	big := `{"msg":"` + strings.Repeat("x", 2000) + `"}`
	mpBig, mpBigCT := multipartBody(t, "data", big)
	gz := post(full, "application/json")
	gz.Header.Set("Content-Encoding", "gzip")
	maxBytes := post(big, "application/json")
	maxBytes.Body = http.MaxBytesReader(httptest.NewRecorder(), maxBytes.Body, 100)
	broken := post("", "application/json")
	broken.Body = io.NopCloser(failingReader{})

	for _, tc := range []struct {
		name     string
		req      *http.Request
		want     string
		tooLarge bool
		mediaErr bool
	}{
		{"json too large", post(big, "application/json"), "body: over 1000 bytes: payload too large", true, false},
		{"form too large", post(big, "application/x-www-form-urlencoded"), "body: over 1000 bytes: payload too large", true, false},
		{"multipart too large", post(mpBig, mpBigCT), "body: over 1000 bytes: payload too large", true, false},
		{"query too large", get(url.Values{"msg": {strings.Repeat("x", 2000)}}), "query: over 1000 bytes: payload too large", true, false},
		{"MaxBytesReader", maxBytes, "body: over 100 bytes: payload too large", true, false},
		{"xml", post("<x/>", "application/xml"), `body: content type "application/xml" is not one Kuma's webhook sends (application/json, multipart/form-data, or a GET query): unsupported media type`, false, true},
		{"gzip", gz, `body: Content-Encoding "gzip" is not supported: unsupported media type`, false, true},
		{"bad content type", post(full, "application/json; charset"), `Content-Type: cannot parse "application/json; charset": mime: invalid media parameter`, false, false},
		{"multipart no boundary", post(full, "multipart/form-data"), "Content-Type: multipart/form-data without a boundary", false, false},
		{"multipart no data", post(mpNoData, mpNoDataCT), "data: missing multipart/form-data field (Kuma's form-data webhook sends the JSON in a field named data)", false, false},
		{"multipart bad data", post(mpBad, mpBadCT), "heartbeat.status: expected a number 0-3, got a string", false, false},
		{"multipart data not JSON", post(strings.Replace(mpBad, `{"msg"`, `{msg`, 1), mpBadCT), "data: invalid JSON at offset 1: invalid character 'm' looking for beginning of object key string", false, false},
		{"multipart truncated", post(mpTrunc, mpTruncCT), "body: invalid multipart/form-data", false, false},
		{"multipart wrong boundary", post(mpNoData, "multipart/form-data; boundary=nope"), "body: invalid multipart/form-data: multipart: NextPart: EOF", false, false},
		{"get no msg", get(url.Values{"heartbeat": {"{}"}}), "msg: missing query parameter (expected msg, and heartbeat and monitor as JSON)", false, false},
		{"get empty", get(nil), "msg: missing query parameter", false, false},
		{"get heartbeat not JSON", get(url.Values{"msg": {"m"}, "heartbeat": {"{status:0}"}}), "heartbeat: invalid JSON at offset 1: invalid character 's' looking for beginning of object key string", false, false},
		{"get heartbeat empty", get(url.Values{"msg": {"m"}, "heartbeat": {""}}), "heartbeat: empty query parameter (expected a JSON object)", false, false},
		{"get heartbeat number", get(url.Values{"msg": {"m"}, "heartbeat": {"1"}}), "heartbeat: expected an object or null, got a number", false, false},
		{"get monitor trailing", get(url.Values{"msg": {"m"}, "monitor": {"{} x"}}), "monitor: invalid JSON at offset 3: invalid character 'x' after top-level value", false, false},
		{"get bad escape", httptest.NewRequest(http.MethodGet, "/kuma?msg=%zz", nil), `query: invalid URL escape "%zz"`, false, false},
		{"get semicolon", httptest.NewRequest(http.MethodGet, "/kuma?msg=a;b", nil), "query: invalid semicolon separator in query", false, false},
		{"form no msg", post("a=b", "application/x-www-form-urlencoded"), "msg: missing form parameter", false, false},
		{"form bad escape", post("msg=%zz", "application/x-www-form-urlencoded"), `body: invalid form: invalid URL escape "%zz"`, false, false},
		{"json malformed", post(`{"msg":1}`, "application/json"), "msg: expected a string, got a number", false, false},
		{"json empty", post("", "application/json"), "body: empty", false, false},
		{"read error", broken, "body: reading: connection reset", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodeRequest(tc.req, 1000)
			if err == nil {
				t.Fatalf("no error: %+v", p)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n got %q\nwant %q", err, tc.want)
			}
			if errors.Is(err, ErrTooLarge) != tc.tooLarge {
				t.Errorf("errors.Is(ErrTooLarge) = %v", !tc.tooLarge)
			}
			if errors.Is(err, ErrUnsupportedMediaType) != tc.mediaErr {
				t.Errorf("errors.Is(ErrUnsupportedMediaType) = %v", !tc.mediaErr)
			}
		})
	}
}

func TestDecodeRequestSizeBoundary(t *testing.T) {
	body := `{"msg":"` + strings.Repeat("x", 92) + `"}` // 102 bytes
	if _, err := DecodeRequest(post(body, "application/json"), int64(len(body))); err != nil {
		t.Errorf("exactly maxBody: %v", err)
	}
	if _, err := DecodeRequest(post(body, "application/json"), int64(len(body)-1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("one over maxBody: %v", err)
	}
	// The default limit applies for 0.
	huge := `{"msg":"` + strings.Repeat("x", DefaultMaxBody) + `"}`
	if _, err := DecodeRequest(post(huge, "application/json"), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("default limit: %v", err)
	}
}
