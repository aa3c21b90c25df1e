package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// replaceFile replaces path atomically with data (a synced temporary file
// renamed over it) in mode perm, giving it the owner of the file it replaces
// where we may (root editing a file of netdata's); a reader never sees half
// a configuration.
func replaceFile(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(perm)
	if st, statErr := os.Stat(path); err == nil && statErr == nil {
		if uid, gid, ok := fileOwner(st); ok {
			if chownErr := os.Chown(tmp.Name(), uid, gid); !errors.Is(chownErr, fs.ErrPermission) {
				err = chownErr
			}
		}
	}
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeFile0600 replaces path atomically with data, mode 0600, keeping the
// owner of the file it replaces when allowed (root editing netdata's file).
func writeFile0600(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return replaceFile(path, data, 0o600)
}
