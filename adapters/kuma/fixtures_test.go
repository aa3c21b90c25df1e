package kuma

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Kuma 2.x's key orders: Heartbeat.toJSONAsync, then what
// Monitor.sendNotification adds; Monitor.toJSON(preloadData, false).
var (
	heartbeatKeys = []string{"monitorID", "status", "time", "msg", "ping", "important", "duration", "retries", "response",
		"timezone", "timezoneOffset", "localDateTime"}
	monitorKeys = strings.Fields(`id name description path pathName parent childrenIDs url
		wsIgnoreSecWebsocketAcceptHeader wsSubprotocol method hostname port location protocol maxretries weight
		active forceInactive type subtype timeout interval retryInterval retryOnlyOnStatusCodeFailure
		resendInterval keyword invertKeyword expiryNotification domainExpiryNotification ignoreTls upsideDown
		packetSize maxredirects accepted_statuscodes dns_resolve_type dns_resolve_server dns_last_result
		docker_container docker_host proxyId notificationIDList tags maintenance mqttTopic mqttSuccessMessage
		mqttCheckType databaseQuery authMethod grpcUrl grpcProtobuf grpcMethod grpcServiceName grpcEnableTls
		radiusCalledStationId radiusCallingStationId game gamedigGivenPortOnly httpBodyEncoding jsonPath
		expectedValue system_service_name kafkaProducerTopic kafkaProducerBrokers kafkaProducerSsl
		kafkaProducerAllowAutoTopicCreation kafkaProducerMessage screenshot cacheBust remote_browser snmpOid
		jsonPathOperator snmpVersion smtpSecurity rabbitmqNodes conditions ipFamily expectedTlsAlert
		ping_numeric ping_count ping_per_request_timeout saveResponse saveErrorResponse responseMaxLength
		includeSensitiveData`)
)

// memberKeys returns the keys of the object member name of doc, in order.
func memberKeys(t *testing.T, doc []byte, name string) []string {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(top[name]))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestFixtures checks every testdata/kuma case: its README, that it
// decodes (or fails with want-error) through the path the golden harness
// uses, and that the well-formed payloads have Kuma's key order.
func TestFixtures(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(fixtureDir, "*"))
	if err != nil || len(dirs) < 20 {
		t.Fatalf("fixtures: %v, %d cases", err, len(dirs))
	}
	for _, dir := range dirs {
		kase := filepath.Base(dir)
		t.Run(kase, func(t *testing.T) {
			readme, err := os.ReadFile(filepath.Join(dir, "README"))
			if err != nil || len(bytes.TrimSpace(readme)) == 0 || bytes.Count(readme, []byte("\n")) != 1 || !bytes.HasSuffix(readme, []byte("\n")) {
				t.Errorf("README must be one line: %q %v", readme, err)
			}
			wantErr, expectErr := "", false
			if b, err := os.ReadFile(filepath.Join(dir, "want-error")); err == nil {
				wantErr, expectErr = strings.TrimSpace(string(b)), true
			}
			if strings.HasPrefix(kase, "malformed-") != expectErr {
				t.Errorf("malformed-* cases, and only they, have a want-error")
			}
			ran := 0
			check := func(what string, p Payload, err error) {
				t.Helper()
				ran++
				switch {
				case expectErr && err == nil:
					t.Errorf("%s: want error %q, got %+v", what, wantErr, p)
				case expectErr && !strings.Contains(err.Error(), wantErr):
					t.Errorf("%s: error %q does not contain %q", what, err, wantErr)
				case !expectErr && err != nil:
					t.Errorf("%s: %v", what, err)
				case !expectErr:
					checkContent(t, p.DefaultContent())
				}
			}
			if b, err := os.ReadFile(filepath.Join(dir, "payload.json")); err == nil {
				p, err := DecodeJSON(b)
				check("payload.json", p, err)
				if !expectErr && p.Heartbeat != nil {
					keys := memberKeys(t, b, "heartbeat")
					want := heartbeatKeys
					if p.Heartbeat.LastDownTime != "" {
						want = append(append([]string{}, heartbeatKeys...), "lastDownTime")
					}
					if !reflect.DeepEqual(keys, want) {
						t.Errorf("heartbeat keys\n got %v\nwant %v", keys, want)
					}
				}
				if !expectErr && p.Monitor != nil {
					if keys := memberKeys(t, b, "monitor"); !reflect.DeepEqual(keys, monitorKeys) {
						t.Errorf("monitor keys\n got %v\nwant %v", keys, monitorKeys)
					}
				}
				// Posted as JSON, the same.
				r := httptest.NewRequest(http.MethodPost, "/kuma", bytes.NewReader(b))
				r.Header.Set("Content-Type", "application/json")
				p, err = DecodeRequest(r, DefaultMaxBody)
				check("POST payload.json", p, err)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "payload.multipart")); err == nil {
				ct, err := os.ReadFile(filepath.Join(dir, "content-type"))
				if err != nil {
					t.Fatal("payload.multipart without content-type")
				}
				r := httptest.NewRequest(http.MethodPost, "/kuma", bytes.NewReader(b))
				r.Header.Set("Content-Type", strings.TrimSpace(string(ct)))
				p, err := DecodeRequest(r, DefaultMaxBody)
				check("payload.multipart", p, err)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "query")); err == nil {
				r := httptest.NewRequest(http.MethodGet, "/kuma?"+strings.TrimSpace(string(b)), nil)
				p, err := DecodeRequest(r, DefaultMaxBody)
				check("query", p, err)
			}
			if ran == 0 {
				t.Error("no payload.json, payload.multipart or query")
			}
		})
	}
}

// TestFixtureShapesAgree: http-down sent as JSON, form-data and GET is the
// same notification with the same identity.
func TestFixtureShapesAgree(t *testing.T) {
	want := mustDecode(t, readFixture(t, "http-down", "payload.json"))
	r := httptest.NewRequest(http.MethodPost, "/kuma", strings.NewReader(readFixture(t, "http-down-formdata", "payload.multipart")))
	r.Header.Set("Content-Type", strings.TrimSpace(readFixture(t, "http-down-formdata", "content-type")))
	mp, err := DecodeRequest(r, 0)
	if err != nil {
		t.Fatal(err)
	}
	same(t, mp, want)
	r = httptest.NewRequest(http.MethodGet, "/kuma?"+strings.TrimSpace(readFixture(t, "http-down-get", "query")), nil)
	g, err := DecodeRequest(r, 0)
	if err != nil {
		t.Fatal(err)
	}
	same(t, g, want)

	r = httptest.NewRequest(http.MethodGet, "/kuma?"+strings.TrimSpace(readFixture(t, "test-notification-get", "query")), nil)
	tg, err := DecodeRequest(r, 0)
	if err != nil {
		t.Fatal(err)
	}
	same(t, tg, mustDecode(t, readFixture(t, "test-notification", "payload.json")))
}

func TestFixtureHostileDecoding(t *testing.T) {
	p := mustDecode(t, readFixture(t, "hostile", "payload.json"))
	// encoding/json keeps \u0000 as NUL and makes the lone \ud800 U+FFFD.
	if want := "second line\x00x\ufffdy"; !strings.HasSuffix(p.Monitor.Name, want) {
		t.Errorf("name = %q, want suffix %q", p.Monitor.Name, want)
	}
	if !strings.Contains(p.Heartbeat.Msg, "\u2028 \x00\ufffd 💥") {
		t.Errorf("heartbeat msg = %q", p.Heartbeat.Msg)
	}
	var fe *FieldError
	if _, err := DecodeJSON([]byte(readFixture(t, "malformed-status-string", "payload.json"))); !errors.As(err, &fe) || fe.Field != "heartbeat.status" {
		t.Errorf("err = %v", err)
	}
}
