package kuma

import "testing"

// downBeat is a realistic DOWN notification as Kuma posts it.
const downBeat = `{"heartbeat":{"monitorID":3,"status":0,"time":"2026-11-23 10:00:00.000","msg":"connect ECONNREFUSED","ping":null,"important":true,"duration":60},"monitor":{"id":3,"name":"Shop API","url":"https://shop.example.org/health","type":"http"},"msg":"[Shop API] [🔴 Down] connect ECONNREFUSED"}`

// BenchmarkDecodeJSON is what serve pays to decode one webhook body.
func BenchmarkDecodeJSON(b *testing.B) {
	body := []byte(downBeat)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeJSONFixture decodes a full Kuma 2.x DOWN payload (the
// monitor object carries every one of Monitor.toJSON's ~90 keys).
func BenchmarkDecodeJSONFixture(b *testing.B) {
	body := []byte(readFixture(b, "http-down", "payload.json"))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}
