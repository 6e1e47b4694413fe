// Package fsutil holds the small file-system helpers the lab's packages
// share: files written whole or not at all, and an exclusive file lock.
//
// Typical use:
//
//	err := fsutil.WriteAtomic(filepath.Join(dir, "farm.json"), b, 0o600)
//	unlock, err := fsutil.Lock(filepath.Join(dir, "directory.lock"))
//	defer unlock()
package fsutil

import (
	"os"
	"syscall"
)

// WriteAtomic writes path through a fresh temporary file created with
// mode, so a leftover temporary file cannot lend the result its mode.
func WriteAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// Lock takes an exclusive lock on path, waiting for it, and returns its
// release.
func Lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
