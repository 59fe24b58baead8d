package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// --out replaces a file whole or leaves it as it was, and tells a path
// that cannot be written (exit 2) from a disk that fails (exit 1).
func TestWriteOutFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, []byte("old report"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeOutFile("--out", path, []byte("new report")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if err != nil || string(data) != "new report" || fi.Mode().Perm() != 0o644 {
		t.Errorf("after the write: %q, %v, mode %v", data, err, fi.Mode())
	}
	for _, bad := range []string{dir, filepath.Join(dir, "missing", "r.html"), filepath.Join(path, "r.html")} {
		if err := writeOutFile("--out", bad, []byte("x")); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("--out %s: %v; want a usage error", bad, err)
		}
	}
	if _, err := os.Stat("/dev/full"); err == nil {
		if err := writeOutFile("--out", "/dev/full", []byte("x")); patchpilot.ErrorCode(err) != patchpilot.EINTERNAL {
			t.Errorf("--out /dev/full: %v; want a failure of the disk, not a usage error", err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left in the folder: %v", entries)
	}
}
