package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/patchpilot/patchpilot"
)

// writeOutFile writes data to the file --out names, whole or not at all:
// into a temporary file beside it, synced, then renamed over it, so that a
// failure (a full disk) leaves an earlier file as it was. A path that
// cannot be written (a missing folder, a directory, no permission) is bad
// input, exit 2; a failure of the disk is not, exit 1.
func writeOutFile(flag, path string, data []byte) error {
	fail := func(err error) error {
		code := patchpilot.EINTERNAL
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EISDIR) ||
			errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EROFS) {
			code = patchpilot.EINVALID
		}
		return patchpilot.Errorf(code, "%s %s: %w", flag, path, err).
			WithHint("check that the directory of " + flag + " exists and is writable")
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fail(syscall.EISDIR)
	} else if err == nil && !fi.Mode().IsRegular() {
		// A device or a pipe (/dev/stdout) is written in place: it cannot
		// be renamed over.
		return writeInPlace(path, data, fail)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fail(err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fail(err)
	}
	done = true
	return nil
}

func writeInPlace(path string, data []byte, fail func(error) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	return nil
}
