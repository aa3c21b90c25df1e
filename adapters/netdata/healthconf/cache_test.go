package healthconf

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// loadResult is what Load leaves behind, for comparing.
type loadResult struct {
	vars  *Vars
	warns []Warning
	err   string
}

func (r loadResult) String() string {
	return fmt.Sprintf("err %q\nwarnings %#v\nscalars %v\narrays %v\nindexed %v\nexported %v",
		r.err, r.warns, r.vars.Scalars, r.vars.Arrays, r.vars.Indexed, r.vars.Exported)
}

func runLoad(seed func() *Vars, load func(*Vars) ([]Warning, error)) loadResult {
	v := seed()
	w, err := load(v)
	r := loadResult{vars: v, warns: w}
	if err != nil {
		r.err = err.Error()
	}
	return r
}

func sameResult(t *testing.T, what string, got, want loadResult) {
	t.Helper()
	if got.err != want.err || !reflect.DeepEqual(got.warns, want.warns) || !reflect.DeepEqual(got.vars, want.vars) {
		t.Errorf("%s differs from Load:\n got: %v\nwant: %v", what, got, want)
	}
}

// mkdir makes a cache directory, as the caller of LoadCached must.
func mkdir(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

const absent = "\x00absent"

// TestLoadCachedIsLoad: cold (writes the cache) and warm (reads it), vars and
// warnings come out exactly as Load leaves and returns them.
func TestLoadCachedIsLoad(t *testing.T) {
	stock := string(stockFile(t))
	nilArray := func() *Vars { v := seed(); v.Arrays["nil_array"] = nil; v.Exported["X"] = false; return v }
	bare := func() *Vars { return &Vars{} }
	for _, tc := range []struct {
		name  string
		files []string // absent: a path that does not exist
		seed  func() *Vars
		cache bool // whether the result is cached
	}{
		{"stock and user", []string{stock, "MATRIX_HOMESERVER=https://hs\nMATRIX_ACCESSTOKEN=syt_x\nrole_recipients_matrix[dba]=\"!a:b\"\n"}, stockSeed, true},
		{"stock, no user file", []string{stock, absent}, stockSeed, true},
		{"warnings in both", []string{"A=1\nf() { :; }\nif x; then B=2; fi", "C=$(id)\nx\nD=$A"}, seed, true},
		{"no warnings", []string{"A=1", "B=${A}2"}, seed, true},
		{"arrays, exports, unset", []string{"declare -A h=([a]=1); L=(x y); export P=1; unset SEEDED", "h[b]=2; L+=(z); readonly R=1"}, seed, true},
		{"seed with a nil array", []string{"A=1"}, nilArray, true},
		{"seed with nil maps", []string{"A=1"}, bare, true},
		{"invalid UTF-8", []string{"# caf\xe9\nA=caf\xe9"}, seed, true},
		{"empty file", []string{""}, seed, true},
		{"no file at all", []string{absent, absent}, bare, false},
		{"parse error in the second file", []string{"A=1", "B='"}, seed, false},
		{"too large", []string{"A=1", strings.Repeat("#", MaxFileSize+1)}, seed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for i, content := range tc.files {
				p := filepath.Join(dir, fmt.Sprintf("%d.conf", i))
				if content != absent {
					writeFile(t, p, content)
				}
				paths = append(paths, p)
			}
			want := runLoad(tc.seed, func(v *Vars) ([]Warning, error) { return Load(v, paths...) })
			cache := mkdir(t, filepath.Join(dir, "cache"))
			for _, run := range []string{"cold", "warm"} {
				var tr cacheTrace
				got := runLoad(tc.seed, func(v *Vars) ([]Warning, error) { return loadCached(cache, v, paths, &tr) })
				sameResult(t, run, got, want)
				if wantHit := tc.cache && run == "warm"; tr.hit != wantHit {
					t.Errorf("%s: hit %v, want %v", run, tr.hit, wantHit)
				}
				if wantWrote := tc.cache && run == "cold"; tr.wrote != wantWrote {
					t.Errorf("%s: wrote %v, want %v", run, tr.wrote, wantWrote)
				}
			}
		})
	}
}

// TestLoadCachedKey: each input of the result is in the key.
func TestLoadCachedKey(t *testing.T) {
	dir := t.TempDir()
	cache := mkdir(t, filepath.Join(dir, "cache"))
	a, b := filepath.Join(dir, "a.conf"), filepath.Join(dir, "b.conf")
	writeFile(t, a, "A=${SEEDED}-1\nx\n")
	writeFile(t, b, "B=$A\n")
	type step struct {
		name    string
		change  func(t *testing.T)
		seed    func() *Vars
		paths   []string
		wantHit bool
	}
	withVar := func(k, v string) func() *Vars {
		return func() *Vars { s := seed(); s.Scalars[k] = v; return s }
	}
	for _, st := range []step{
		{"first", nil, seed, []string{a, b}, false},
		{"again", nil, seed, []string{a, b}, true},
		{"a variable of the seed changes", nil, withVar("SEEDED", "other"), []string{a, b}, false},
		{"one the files do not read", nil, withVar("UNUSED", "x"), []string{a, b}, false},
		{"back to the first seed", nil, seed, []string{a, b}, false},
		{"exported in the seed", nil, func() *Vars { s := seed(); s.Exported["SEEDED"] = true; return s }, []string{a, b}, false},
		{"same bytes, other path (replaces the cache file)", func(t *testing.T) {
			writeFile(t, filepath.Join(dir, "c.conf"), "B=$A\n")
		}, seed, []string{a, filepath.Join(dir, "c.conf")}, false},
		{"first again", nil, seed, []string{a, b}, false},
		{"the second file disappears", func(t *testing.T) {
			if err := os.Rename(b, b+".away"); err != nil {
				t.Fatal(err)
			}
		}, seed, []string{a, b}, false},
		{"and comes back", func(t *testing.T) {
			if err := os.Rename(b+".away", b); err != nil {
				t.Fatal(err)
			}
		}, seed, []string{a, b}, false},
		{"edited in place: same size, same mtime", func(t *testing.T) {
			st, err := os.Stat(b)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(b, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("C"), 0); err != nil { // B=$A -> C=$A
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(b, st.ModTime(), st.ModTime()); err != nil { // touch -d back
				t.Fatal(err)
			}
			if st2, _ := os.Stat(b); st2.Size() != st.Size() || !st2.ModTime().Equal(st.ModTime()) {
				t.Fatalf("size or mtime changed: %v %v", st2.Size(), st2.ModTime())
			}
		}, seed, []string{a, b}, false},
		{"unchanged since", nil, seed, []string{a, b}, true},
	} {
		if st.change != nil {
			st.change(t)
		}
		want := runLoad(st.seed, func(v *Vars) ([]Warning, error) { return Load(v, st.paths...) })
		var tr cacheTrace
		got := runLoad(st.seed, func(v *Vars) ([]Warning, error) { return loadCached(cache, v, st.paths, &tr) })
		sameResult(t, st.name, got, want)
		if tr.hit != st.wantHit {
			t.Errorf("%s: hit %v, want %v", st.name, tr.hit, st.wantHit)
		}
	}

	// The executable's build ID is in the key too.
	files, _ := readFiles([]string{a, b})
	if cacheKey("x", files, seed()) == cacheKey("y", files, seed()) {
		t.Error("build ID not in the key")
	}
}

// TestLoadCachedBadCache: whatever is in the cache file, or wherever it
// cannot be written, the result is Load's and nothing is reported.
func TestLoadCachedBadCache(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "a.conf")
	writeFile(t, conf, "A=${SEEDED}\nx\nrole_recipients_matrix[dba]=\"!r:s\"\n")
	paths := []string{conf}
	want := runLoad(seed, func(v *Vars) ([]Warning, error) { return Load(v, paths...) })

	cache := mkdir(t, filepath.Join(dir, "cache"))
	if _, err := LoadCached(cache, seed(), paths...); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(cache, cacheName)
	good, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	flipped := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	// A payload that decodes but was not written for this key.
	var otherKey [sha256.Size]byte
	other := encodeCache(otherKey, nil, seed())
	badPayload := append(bytes.Clone(good[:len(cacheFormat)+sha256.Size]), 0xff, 0xff)
	sum := sha256.Sum256(badPayload)
	badPayload = append(badPayload, sum[:]...)

	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"garbage", []byte("not a cache file")},
		{"cut short", good[:len(good)-1]},
		{"header only", good[:len(cacheFormat)+sha256.Size]},
		{"flipped bit in the format", flipped(0)},
		{"flipped bit in the key", flipped(len(cacheFormat))},
		{"flipped bit in the payload", flipped(len(cacheFormat) + sha256.Size + 3)},
		{"flipped bit in the checksum", flipped(len(good) - 1)},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"other key", other},
		{"right key and checksum, bad payload", badPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(name, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			var tr cacheTrace
			got := runLoad(seed, func(v *Vars) ([]Warning, error) { return loadCached(cache, v, paths, &tr) })
			sameResult(t, tc.name, got, want)
			if tr.hit || !tr.wrote {
				t.Errorf("hit %v, wrote %v: want a miss that rewrites the file", tr.hit, tr.wrote)
			}
			var tr2 cacheTrace
			sameResult(t, "after rewrite", runLoad(seed, func(v *Vars) ([]Warning, error) { return loadCached(cache, v, paths, &tr2) }), want)
			if !tr2.hit {
				t.Error("no hit after the rewrite")
			}
		})
	}

	// Unusable cache directories.
	notDir := filepath.Join(dir, "file")
	writeFile(t, notDir, "")
	// The cache file's name taken by a directory: can be neither read nor
	// replaced.
	blocked := filepath.Join(dir, "blocked")
	mkdir(t, filepath.Join(blocked, cacheName, "x"))
	unwritable := []struct{ name, dir string }{
		{"missing", filepath.Join(dir, "missing")},
		{"under a regular file", filepath.Join(notDir, "cache")},
		{"a regular file", notDir},
		{"a cache file that is a directory", blocked},
	}
	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		unwritable = append(unwritable, struct{ name, dir string }{"read-only", ro})
	}
	for _, tc := range unwritable {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 {
				var tr cacheTrace
				got := runLoad(seed, func(v *Vars) ([]Warning, error) { return loadCached(tc.dir, v, paths, &tr) })
				sameResult(t, tc.name, got, want)
				if tr.hit || tr.wrote {
					t.Errorf("hit %v, wrote %v", tr.hit, tr.wrote)
				}
			}
			if entries, err := os.ReadDir(tc.dir); len(entries) > 1 || tc.name == "missing" && !os.IsNotExist(err) {
				t.Errorf("left behind: %v %v", entries, err)
			}
		})
	}
}

// TestLoadCachedFiles: one file, mode 0600, replaced when the paths change,
// no temporary file left, and no directory created.
func TestLoadCachedFiles(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "a.conf")
	writeFile(t, conf, "MATRIX_ACCESSTOKEN=syt_secret\n")
	cache := filepath.Join(dir, "state", "matrix-notify")
	if _, err := LoadCached(cache, seed(), conf); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(cache)); !os.IsNotExist(err) {
		t.Errorf("LoadCached created directories: %v", err)
	}
	mkdir(t, cache)
	for range 3 {
		if _, err := LoadCached(cache, seed(), conf); err != nil {
			t.Fatal(err)
		}
	}
	var tr cacheTrace
	if _, err := loadCached(cache, seed(), []string{conf, filepath.Join(dir, "absent.conf")}, &tr); err != nil || !tr.wrote {
		t.Fatalf("%v %+v", err, tr)
	}
	entries, err := os.ReadDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != cacheName {
		t.Fatalf("cache directory holds %v, want %s alone", entries, cacheName)
	}
	if info, err := entries[0].Info(); err != nil || info.Mode() != 0o600 {
		t.Errorf("%s: mode %v %v, want 0600", cacheName, info.Mode(), err)
	}
}

// TestLoadCachedConcurrent: runs that share the cache and keep replacing it
// (two seeds, so two keys) all get Load's result.
func TestLoadCachedConcurrent(t *testing.T) {
	dir := t.TempDir()
	cache := mkdir(t, filepath.Join(dir, "cache"))
	conf := filepath.Join(dir, "a.conf")
	writeFile(t, conf, string(stockFile(t))+"\nMATRIX_ACCESSTOKEN=syt_x\n")
	seeds := []func() *Vars{stockSeed, seed}
	var wants []loadResult
	for _, s := range seeds {
		wants = append(wants, runLoad(s, func(v *Vars) ([]Warning, error) { return Load(v, conf) }))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				k := (g + i) % len(seeds)
				got := runLoad(seeds[k], func(v *Vars) ([]Warning, error) { return LoadCached(cache, v, conf) })
				sameResult(t, fmt.Sprintf("goroutine %d run %d", g, i), got, wants[k])
			}
		})
	}
	wg.Wait()
	if entries, _ := os.ReadDir(cache); len(entries) != 1 {
		t.Errorf("cache directory holds %v", entries)
	}
}

// TestLoadCachedModTimeIgnored: a file set back to an older mtime with new
// content, and one rewritten with the same content and a new mtime.
func TestLoadCachedModTimeIgnored(t *testing.T) {
	dir := t.TempDir()
	cache := mkdir(t, filepath.Join(dir, "cache"))
	conf := filepath.Join(dir, "a.conf")
	writeFile(t, conf, "A=1\n")
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(conf, old, old); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		content string
		wantA   string
		wantHit bool
	}{
		{"A=1\n", "1", false},
		{"A=1\n", "1", true}, // rewritten, same content: still a hit
		{"A=2\n", "2", false},
		{"A=1\n", "1", false},
	} {
		writeFile(t, conf, step.content)
		if err := os.Chtimes(conf, old, old); err != nil {
			t.Fatal(err)
		}
		v := seed()
		var tr cacheTrace
		if _, err := loadCached(cache, v, []string{conf}, &tr); err != nil {
			t.Fatal(err)
		}
		if v.Get("A") != step.wantA || tr.hit != step.wantHit {
			t.Errorf("%q: A=%q hit %v, want %q %v", step.content, v.Get("A"), tr.hit, step.wantA, step.wantHit)
		}
	}
}

func TestElfGoBuildID(t *testing.T) {
	exeID := executableID()
	if exeID == "" {
		t.Skip("no build ID for this executable (not Linux?)")
	}
	exe, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	id := elfGoBuildID(bytes.Clone(exe[:32<<10]))
	if !strings.Contains(id, "/") {
		t.Errorf("build ID %q does not look like one", id)
	}
	if want := fmt.Sprintf("%s %d %d", id, st.Size(), st.ModTime().UnixNano()); exeID != want {
		t.Errorf("executableID %q, want %q", exeID, want)
	}
	for name, data := range map[string][]byte{
		"empty":       nil,
		"not ELF":     []byte(strings.Repeat("x", 100)),
		"header only": bytes.Clone(exe[:64]),
		"cut notes":   bytes.Clone(exe[:0xfa0]),
	} {
		// Must not panic; "" or the ID itself are the only answers.
		if got := elfGoBuildID(data); got != "" && got != id {
			t.Errorf("%s: %q", name, got)
		}
	}
}

// BenchmarkLoadCachedStock is the conf loading of one exec: Debian's stock
// file and a small user file over alarm-notify.sh's declarations, parsed
// (load: Load, as without a cache) or taken from a warm cache (cached: both
// files read and hashed, the cache file read and checked, the Vars rebuilt).
// Measured on a busy 2-core machine: load ~1.3 ms and 3400 allocations,
// cached ~0.2 ms and 280 allocations.
func BenchmarkLoadCachedStock(b *testing.B) {
	data := stockFile(b)
	dir := b.TempDir()
	stock, user := filepath.Join(dir, "stock.conf"), filepath.Join(dir, "user.conf")
	writeFile(b, stock, string(data))
	writeFile(b, user, "MATRIX_HOMESERVER=https://hs\nMATRIX_ACCESSTOKEN=syt_x\nDEFAULT_RECIPIENT_MATRIX=\"!a:b !c:d\"\n")
	paths := []string{stock, user}
	cache := mkdir(b, filepath.Join(dir, "cache"))
	var tr cacheTrace
	if _, err := loadCached(cache, stockSeed(), paths, &tr); err != nil || !tr.wrote {
		b.Fatalf("%v %+v", err, tr)
	}
	b.Run("load", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Load(stockSeed(), paths...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var tr cacheTrace
			if _, err := loadCached(cache, stockSeed(), paths, &tr); err != nil || !tr.hit {
				b.Fatalf("%v %+v", err, tr)
			}
		}
	})
}
