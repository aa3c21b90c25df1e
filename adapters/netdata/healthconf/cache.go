package healthconf

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// cacheFormat starts every cache file and every cache key. Change it when
// the layout of the file or what goes into the key changes. A change of the
// evaluation itself (this package, mvdan.cc/sh, Go) needs no change here:
// the key holds the Go build ID of the running executable.
const cacheFormat = "matrix-notify healthconf cache v1\n"

// LoadCached is Load, remembering its result in the file healthconf.cache in
// dir, so that the next call with the same input skips parsing, which is
// nearly all of Load's cost (netdata runs the notifier once per alarm, and
// each run reads the 50 KiB stock file).
//
// Load's result is a function of the files' paths and contents, of the Vars
// it starts from, and of the code that evaluates them. The cache key is a
// SHA-256 of all of it: each path and the whole content of its file (read on
// every call: no size, timestamp or inode is trusted, so no edit goes
// unseen), every variable in vars, and the running executable's Go build ID,
// size and mtime. When the build ID cannot be read (not Linux, or built
// with -buildid=), nothing is cached.
//
// The cache changes nothing but the time taken: vars and the warnings come
// out as Load leaves and returns them, and errors are Load's (results with an
// error are not cached). A missing, unreadable, corrupt or stale cache file
// is ignored, one that cannot be written is not, and neither is reported.
// dir must exist: it is not created (a directory made by a run as another
// user, say root, could lock its owner out). The file is replaced atomically,
// so concurrent runs are safe, and has mode 0600: it holds the variables, the
// access token among them. dir "" means no cache.
//
// After a cache hit vars's own maps hold the result, but each array is a new
// map: an array's map taken out of vars before the call is not updated.
func LoadCached(dir string, vars *Vars, paths ...string) ([]Warning, error) {
	return loadCached(dir, vars, paths, nil)
}

// cacheTrace tells a test what loadCached did.
type cacheTrace struct {
	hit, wrote bool
}

func loadCached(dir string, vars *Vars, paths []string, trace *cacheTrace) ([]Warning, error) {
	if trace == nil {
		trace = &cacheTrace{}
	}
	if dir == "" || vars == nil {
		return Load(vars, paths...)
	}
	files, ok := readFiles(paths)
	if !ok {
		// Load reports the error, from the same place as always.
		return Load(vars, paths...)
	}
	if !slices.ContainsFunc(files, func(f confFile) bool { return f.present }) {
		return nil, nil // Load does nothing either
	}
	id := executableID()
	if id == "" {
		return loadFiles(vars, files)
	}
	key := cacheKey(id, files, vars)
	name := filepath.Join(dir, cacheName)
	if warns, ok := readCache(name, key, vars); ok {
		trace.hit = true
		return warns, nil
	}
	warns, err := loadFiles(vars, files)
	if err == nil {
		trace.wrote = writeCache(dir, name, encodeCache(key, warns, vars))
	}
	return warns, err
}

// confFile is one of Load's paths and what it held.
type confFile struct {
	path    string
	present bool
	data    []byte // what Parse reads: at most MaxFileSize+1 bytes
}

// readFiles reads each path as Load would, or returns false if one of them
// exists but cannot be read.
func readFiles(paths []string) ([]confFile, bool) {
	files := make([]confFile, len(paths))
	for i, path := range paths {
		files[i].path = path
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, false
		}
		size := 0
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = int(min(st.Size(), MaxFileSize+1))
		}
		// Room for the whole file plus bytes.MinRead, so that ReadFrom
		// needs no second buffer to see the end.
		buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
		_, err = buf.ReadFrom(io.LimitReader(f, MaxFileSize+1))
		_ = f.Close() // read-only: a close error tells nothing more
		if err != nil {
			return nil, false
		}
		files[i].present, files[i].data = true, buf.Bytes()
	}
	return files, true
}

// loadFiles is Load over files already read.
func loadFiles(vars *Vars, files []confFile) ([]Warning, error) {
	var warns []Warning
	for _, f := range files {
		if !f.present {
			continue
		}
		w, err := parseData(f.path, f.data, vars)
		warns = append(warns, w...)
		if err != nil {
			return warns, err
		}
	}
	return warns, nil
}

// cacheName is the cache file's name in LoadCached's dir. There is one: the
// key inside says which files and which Vars it was written for, and a call
// with others replaces it.
const cacheName = "healthconf.cache"

// cacheKey digests everything LoadCached's result depends on. Every field
// is length-prefixed, so that different inputs never hash the same bytes.
func cacheKey(exeID string, files []confFile, vars *Vars) [sha256.Size]byte {
	h := sha256.New()
	b := make([]byte, 0, 4<<10)
	b = appendStr(b, cacheFormat)
	b = appendStr(b, exeID)
	b = binary.AppendUvarint(b, uint64(len(files)))
	for _, f := range files {
		b = appendStr(b, f.path)
		b = appendBool(b, f.present)
		b = binary.AppendUvarint(b, uint64(len(f.data)))
		h.Write(b)
		h.Write(f.data)
		b = b[:0]
	}
	// Sorted, so that equal Vars give equal keys.
	var keys []string
	sorted := func(each iter.Seq[string]) []string {
		keys = keys[:0]
		for k := range each {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys
	}
	b = binary.AppendUvarint(b, uint64(len(vars.Scalars)))
	for _, k := range sorted(maps.Keys(vars.Scalars)) {
		b = appendStr(appendStr(b, k), vars.Scalars[k])
	}
	b = binary.AppendUvarint(b, uint64(len(vars.Arrays)))
	names := slices.Sorted(maps.Keys(vars.Arrays))
	for _, name := range names {
		arr := vars.Arrays[name]
		b = appendStr(b, name)
		b = appendBool(b, arr == nil)
		b = binary.AppendUvarint(b, uint64(len(arr)))
		for _, k := range sorted(maps.Keys(arr)) {
			b = appendStr(appendStr(b, k), arr[k])
		}
	}
	for _, m := range []map[string]bool{vars.Indexed, vars.Exported} {
		b = binary.AppendUvarint(b, uint64(len(m)))
		for _, k := range sorted(maps.Keys(m)) {
			b = appendBool(appendStr(b, k), m[k])
		}
	}
	h.Write(b)
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

// executableID identifies the code of the running executable: its Go build
// ID (a hash of everything that went into it), then its size and mtime, in
// case a build set -buildid to a constant. It is "" when there is no build
// ID to read. It reads /proc/self/exe, which is the file this process runs
// even if its path has since been given to another (an upgrade during the
// run must not file the old code's result under the new code's name).
func executableID() string {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	// Go's linker puts the note first, right after the program headers,
	// within the first page; cmd/go looks in the first 32 KiB.
	for _, size := range []int{4 << 10, 32 << 10} {
		data := make([]byte, size)
		n, err := f.ReadAt(data, 0)
		if err != nil && err != io.EOF {
			return ""
		}
		if id := elfGoBuildID(data[:n]); id != "" {
			return fmt.Sprintf("%s %d %d", id, st.Size(), st.ModTime().UnixNano())
		}
		if n < size {
			break
		}
	}
	return ""
}

// elfGoBuildID finds the Go build ID note (name "Go", type 4) in the first
// bytes of an ELF file, as cmd/internal/buildid does, reading the program
// headers by hand (debug/elf would add its tables to every exec's binary).
func elfGoBuildID(data []byte) string {
	if len(data) < 64 || string(data[:4]) != "\x7fELF" {
		return ""
	}
	var bo binary.ByteOrder
	switch data[5] { // EI_DATA
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return ""
	}
	// Where the program headers are, and where in one are its type,
	// offset and size in the file, per class.
	var phoff, phentsize, phnum, offOff, sizeOff uint64
	var word func([]byte) uint64
	switch data[4] { // EI_CLASS
	case 1:
		phoff, phentsize, phnum = uint64(bo.Uint32(data[28:])), uint64(bo.Uint16(data[42:])), uint64(bo.Uint16(data[44:]))
		offOff, sizeOff, word = 4, 16, func(b []byte) uint64 { return uint64(bo.Uint32(b)) }
	case 2:
		phoff, phentsize, phnum = bo.Uint64(data[32:]), uint64(bo.Uint16(data[54:])), uint64(bo.Uint16(data[56:]))
		offOff, sizeOff, word = 8, 32, bo.Uint64
	default:
		return ""
	}
	const ptNote, goBuildIDTag = 4, 4
	for i := range phnum {
		ph := phoff + i*phentsize
		if phentsize < sizeOff+8 || ph > uint64(len(data)) || phentsize > uint64(len(data))-ph {
			break
		}
		p := data[ph : ph+phentsize]
		off, size := word(p[offOff:]), word(p[sizeOff:])
		if bo.Uint32(p) != ptNote || off > uint64(len(data)) || size > uint64(len(data))-off {
			continue
		}
		note := data[off : off+size]
		for len(note) >= 16 {
			nameSize := uint64(bo.Uint32(note))
			descSize := uint64(bo.Uint32(note[4:]))
			tag := bo.Uint32(note[8:])
			descOff := 12 + (nameSize+3)&^3
			if descOff > uint64(len(note)) || descSize > uint64(len(note))-descOff {
				break
			}
			if nameSize == 4 && tag == goBuildIDTag && string(note[12:16]) == "Go\x00\x00" {
				return string(note[descOff : descOff+descSize])
			}
			next := descOff + (descSize+3)&^3
			if next > uint64(len(note)) {
				break
			}
			note = note[next:]
		}
	}
	return ""
}

// A cache file is
//
//	cacheFormat, key (32 bytes), payload, SHA-256 of all that (32 bytes)
//
// where the payload is the warnings and then the Vars, in uvarint-prefixed
// fields (see encodeCache). The trailing checksum catches a file that was
// cut short or damaged; nothing is fsynced.

// encodeCache lays out a cache file for key.
func encodeCache(key [sha256.Size]byte, warns []Warning, vars *Vars) []byte {
	b := make([]byte, 0, 16<<10)
	b = append(b, cacheFormat...)
	b = append(b, key[:]...)
	b = binary.AppendUvarint(b, uint64(len(warns)))
	for _, w := range warns {
		b = appendStr(b, w.File)
		b = binary.AppendVarint(b, int64(w.Line))
		b = binary.AppendVarint(b, int64(w.Kind))
		b = appendStr(b, w.Msg)
	}
	b = binary.AppendUvarint(b, uint64(len(vars.Scalars)))
	for k, v := range vars.Scalars {
		b = appendStr(appendStr(b, k), v)
	}
	b = binary.AppendUvarint(b, uint64(len(vars.Arrays)))
	for name, arr := range vars.Arrays {
		b = appendStr(b, name)
		b = appendBool(b, arr == nil)
		b = binary.AppendUvarint(b, uint64(len(arr)))
		for k, v := range arr {
			b = appendStr(appendStr(b, k), v)
		}
	}
	for _, m := range []map[string]bool{vars.Indexed, vars.Exported} {
		b = binary.AppendUvarint(b, uint64(len(m)))
		for k, v := range m {
			b = appendBool(appendStr(b, k), v)
		}
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// readCache returns the warnings of the cache file name and puts its Vars in
// vars, if the file is intact and was written for key. Otherwise it returns
// false and leaves vars alone.
func readCache(name string, key [sha256.Size]byte, vars *Vars) ([]Warning, bool) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, false
	}
	head := len(cacheFormat) + len(key)
	if len(data) < head+sha256.Size || string(data[:len(cacheFormat)]) != cacheFormat ||
		!bytes.Equal(data[len(cacheFormat):head], key[:]) {
		return nil, false
	}
	body := data[:len(data)-sha256.Size]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], data[len(body):]) {
		return nil, false
	}
	// One string for the whole payload: every name and value is a
	// substring of it, not an allocation of its own.
	payload := string(body[head:])
	// Check it all before changing vars, then decode it into them.
	if _, ok := decodePayload(payload, nil); !ok {
		return nil, false
	}
	vars.init()
	clear(vars.Scalars)
	clear(vars.Arrays)
	clear(vars.Indexed)
	clear(vars.Exported)
	return decodePayload(payload, vars)
}

// decodePayload reads encodeCache's payload into vars, which it expects
// empty, and reports whether the payload is well formed. With vars nil, it
// only checks.
func decodePayload(payload string, vars *Vars) ([]Warning, bool) {
	d := decoder{s: payload}
	var warns []Warning
	n := d.count()
	if vars != nil && n > 0 {
		warns = make([]Warning, n)
	}
	for i := range n {
		w := Warning{File: d.str(), Line: int(d.varint()), Kind: WarningKind(d.varint()), Msg: d.str()}
		if warns != nil {
			warns[i] = w
		}
	}
	for range d.count() {
		k, v := d.str(), d.str()
		if vars != nil {
			vars.Scalars[k] = v
		}
	}
	for range d.count() {
		name, isNil, n := d.str(), d.bool(), d.count()
		var arr map[string]string
		if vars != nil && !isNil {
			arr = make(map[string]string, n)
		}
		for range n {
			k, v := d.str(), d.str()
			if arr != nil {
				arr[k] = v
			}
		}
		if vars != nil {
			vars.Arrays[name] = arr
		}
	}
	var flags [2]map[string]bool
	if vars != nil {
		flags = [2]map[string]bool{vars.Indexed, vars.Exported}
	}
	for _, m := range flags {
		for range d.count() {
			k, v := d.str(), d.bool()
			if m != nil {
				m[k] = v
			}
		}
	}
	if d.bad || d.s != "" {
		return nil, false
	}
	return warns, true
}

// decoder reads encodeCache's fields. Past the first malformed one it
// returns zero values and sets bad.
type decoder struct {
	s   string
	bad bool
}

func (d *decoder) uvarint() uint64 {
	n, size := 0, 0
	var x uint64
	for size = 0; size < len(d.s) && size < binary.MaxVarintLen64; size++ {
		c := d.s[size]
		x |= uint64(c&0x7f) << (7 * size)
		if c < 0x80 {
			n = size + 1
			break
		}
	}
	if n == 0 || d.bad {
		d.bad = true
		return 0
	}
	d.s = d.s[n:]
	return x
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

// count reads a number of entries, each of which takes at least one byte:
// a damaged count cannot make a huge map.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		d.bad = true
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.s)) {
		d.bad = true
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

func (d *decoder) bool() bool {
	switch d.uvarint() {
	case 0:
		return false
	case 1:
		return true
	}
	d.bad = true
	return false
}

// writeCache replaces the cache file name with data and reports whether it
// did: a cache that cannot be written only costs the next run a parse.
func writeCache(dir, name string, data []byte) bool {
	// CreateTemp makes the file with mode 0600, and fails when dir does
	// not exist: it is not created here.
	f, err := os.CreateTemp(dir, filepath.Base(name)+".*.tmp")
	if err != nil {
		return false
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err == nil
}
