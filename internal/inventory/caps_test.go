package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/capped"
)

// sparseFile creates a file of size bytes without writing them, so that a
// file past a cap costs no disk.
func sparseFile(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// wantCapError checks that err is the cap error naming path and the cap.
func wantCapError(t *testing.T, what string, err error, path string, max int64) {
	t.Helper()
	if !errors.Is(err, capped.ErrTooLarge) || patchpilot.ErrorCode(err) != patchpilot.EINVALID ||
		!strings.Contains(err.Error(), path+":") || !strings.Contains(err.Error(), capped.Size(max)) {
		t.Errorf("%s: %v; want invalid naming %s and the cap %s", what, err, path, capped.Size(max))
	}
}

func TestInventoryCaps(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.ini")
	sparseFile(t, big, MaxInventoryBytes+1)
	_, err := LoadFile(big, Options{})
	wantCapError(t, "inventory one byte over the cap", err, big, MaxInventoryBytes)

	// An inventory of exactly the cap is read (and then fails for
	// another reason: NUL bytes are not an inventory).
	exact := filepath.Join(dir, "exact.ini")
	sparseFile(t, exact, MaxInventoryBytes)
	if _, err := LoadFile(exact, Options{}); errors.Is(err, capped.ErrTooLarge) {
		t.Errorf("inventory of exactly the cap: %v", err)
	}

	inv := filepath.Join(dir, "site", "hosts.ini")
	if err := os.MkdirAll(filepath.Join(dir, "site", "group_vars"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inv, []byte("[web]\nweb1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(dir, "site", "group_vars", "web.yml")
	sparseFile(t, vars, MaxVarsFileBytes+1)
	_, err = LoadFile(inv, Options{})
	wantCapError(t, "group_vars file over the cap", err, vars, MaxVarsFileBytes)

	facts := filepath.Join(dir, "facts", "web1")
	sparseFile(t, facts, MaxFactsBytes+1)
	_, err = ImportFactsFile(facts)
	wantCapError(t, "fact file over the cap", err, facts, MaxFactsBytes)
}

// TestInventoryDevZero reads /dev/zero, which reports a size of 0 and never
// ends, as an inventory and as facts: the cap must stop both quickly.
func TestInventoryDevZero(t *testing.T) {
	start := time.Now()
	_, err := LoadFile("/dev/zero", Options{})
	wantCapError(t, "inventory /dev/zero", err, "/dev/zero", MaxInventoryBytes)
	_, err = ImportFactsFile("/dev/zero")
	wantCapError(t, "facts /dev/zero", err, "/dev/zero", MaxFactsBytes)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("reading /dev/zero twice took %s", d)
	}
}
