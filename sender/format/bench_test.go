package format

import (
	"os"
	"path/filepath"
	"testing"
)

// benchMarkdown is what a Kuma markdown_template renders to (the
// template-markdown fixture's template over its payload).
const benchMarkdown = "## 🔴 Down: **Example Shop**\n- Target: https://shop.example.com/health\n" +
	"- Message: `[Example Shop] [🔴 Down] Request failed with status code 503`\n\n" +
	"[Open the status page](https://status.example.com/dashboard/12) · _retries: 1_"

// BenchmarkMarkdown is the markdown_template path: Markdown, then Sanitize
// as every formatted body gets.
func BenchmarkMarkdown(b *testing.B) {
	b.SetBytes(int64(len(benchMarkdown)))
	b.ReportAllocs()
	for b.Loop() {
		Sanitize(Markdown(benchMarkdown))
	}
}

// BenchmarkSanitize sanitizes a default Kuma message's HTML (the
// http-down fixture's), the path every message takes.
func BenchmarkSanitize(b *testing.B) {
	const def = `<span data-mx-color="#dc3545"><b>🔴 Down</b></span> <b>Example Shop</b><br>` +
		`<a href="https://shop.example.com/health">https://shop.example.com/health</a><br>` +
		`Request failed with status code 503<br><i>Time (Europe/Berlin): 2026-03-14 10:12:03</i>`
	b.SetBytes(int64(len(def)))
	b.ReportAllocs()
	for b.Loop() {
		Sanitize(def)
	}
}

// BenchmarkSanitizeHostile sanitizes the hostile corpus, file by file.
func BenchmarkSanitizeHostile(b *testing.B) {
	var docs []string
	n := 0
	for _, f := range corpus(b) {
		d, err := os.ReadFile(filepath.Clean(f))
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, string(d))
		n += len(d)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range docs {
			Sanitize(d)
		}
	}
}
