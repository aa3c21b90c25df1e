package healthconf

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSlowCorpus(t *testing.T) {
	dir := os.Getenv("CORPUS")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		lines := strings.SplitN(string(raw), "\n", 3)
		s := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
		data, err := strconv.Unquote(s)
		if err != nil {
			t.Fatal(err)
		}
		st := time.Now()
		v := NewVars()
		Parse("f", bytes.NewReader([]byte(data)), v)
		if d := time.Since(st); d > 5*time.Millisecond {
			t.Logf("%v %s %q", d, filepath.Base(f), data[:min(len(data), 200)])
		}
	}
}
