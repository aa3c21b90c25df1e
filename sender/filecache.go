package sender

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// fileCache is a small JSON map of key to value with a time per entry, in a
// file of a cache directory shared by every run of matrix-notify. Reads that
// fail are misses and writes that fail are ignored: a cache must never stop a
// delivery. Concurrent processes may lose each other's entries (the last
// rename wins), which only costs a lookup.
type fileCache struct {
	dir, name string
	ttl       time.Duration
	now       func() time.Time
}

type cacheEntry struct {
	Value string    `json:"value"`
	Time  time.Time `json:"time"`
}

var cacheMu sync.Mutex // serializes read-modify-write within a process

func (c fileCache) path() string { return filepath.Join(c.dir, c.name) }

func (c fileCache) load() map[string]cacheEntry {
	entries := map[string]cacheEntry{}
	if c.dir == "" {
		return entries
	}
	data, err := os.ReadFile(c.path())
	if err != nil {
		return entries
	}
	if json.Unmarshal(data, &entries) != nil {
		return map[string]cacheEntry{}
	}
	return entries
}

func (c fileCache) get(key string) (string, bool) {
	if c.dir == "" {
		return "", false
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	e, ok := c.load()[key]
	if !ok || e.Value == "" {
		return "", false
	}
	if age := c.now().Sub(e.Time); age < 0 || age > c.ttl {
		return "", false
	}
	return e.Value, true
}

// put stores key (or, with value "", forgets it).
func (c fileCache) put(key, value string) {
	if c.dir == "" {
		return
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	entries := c.load()
	now := c.now()
	for k, e := range entries { // drop what has expired
		if now.Sub(e.Time) > c.ttl {
			delete(entries, k)
		}
	}
	if value == "" {
		delete(entries, key)
	} else {
		entries[key] = cacheEntry{Value: value, Time: now}
	}
	data, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(c.dir, "."+c.name+".*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(append(data, '\n'))
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), c.path()) != nil {
		os.Remove(tmp.Name())
	}
}
