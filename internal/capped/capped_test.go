package capped

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func TestReadFileAtAndOverTheCap(t *testing.T) {
	dir := t.TempDir()
	at := filepath.Join(dir, "at")
	over := filepath.Join(dir, "over")
	if err := os.WriteFile(at, []byte(strings.Repeat("x", 1024)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(over, []byte(strings.Repeat("x", 1025)), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := ReadFile(at, "plan", 1024)
	if err != nil || len(data) != 1024 {
		t.Errorf("ReadFile of a file of exactly the cap = %d bytes, %v; want 1024, nil", len(data), err)
	}
	_, err = ReadFile(over, "plan", 1024)
	if !errors.Is(err, ErrTooLarge) || patchpilot.ErrorCode(err) != patchpilot.EINVALID ||
		!strings.Contains(err.Error(), over) || !strings.Contains(err.Error(), "plan is larger than the cap of 1 KiB (1024 bytes)") {
		t.Errorf("ReadFile one byte over the cap: %v; want invalid naming %s and the cap", err, over)
	}
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Source != over || tl.Max != 1024 || tl.What != "plan" {
		t.Errorf("ReadFile over the cap: %#v; want a *TooLargeError", tl)
	}
	// The message says it once, without the sentinel's text appended.
	if want := over + ": plan is larger than the cap of 1 KiB (1024 bytes)"; err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
	if _, err := ReadFile(filepath.Join(dir, "none"), "plan", 1024); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v; want fs.ErrNotExist", err)
	}
}

// TestReadFileEndless reads /dev/zero, whose reported size is 0 and which
// never ends: the cap must stop it at once.
func TestReadFileEndless(t *testing.T) {
	start := time.Now()
	_, err := ReadFile("/dev/zero", "inventory file", 4<<20)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/dev/zero: inventory file is larger than the cap of 4 MiB") {
		t.Errorf("ReadFile(/dev/zero) = %v; want the cap error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ReadFile(/dev/zero) took %s", d)
	}
}

func TestReaderStopsAtTheCap(t *testing.T) {
	sc := bufio.NewScanner(NewReader(strings.NewReader(strings.Repeat("line\n", 100)), "h.jsonl", "history file", 250))
	lines := 0
	for sc.Scan() {
		lines++
	}
	if err := sc.Err(); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "h.jsonl: history file") {
		t.Errorf("scan past the cap: %v after %d lines; want the cap error", err, lines)
	}
	data, err := io.ReadAll(NewReader(strings.NewReader("exactly"), "s", "x", 7))
	if err != nil || string(data) != "exactly" {
		t.Errorf("read of exactly the cap = %q, %v", data, err)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{64 << 20: "64 MiB (67108864 bytes)", 1024: "1 KiB (1024 bytes)", 1000: "1000 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
