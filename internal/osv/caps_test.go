package osv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot/internal/capped"
)

func TestImportRecordOverTheCap(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.json")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxRecordSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = ImportPath(p)
	if !errors.Is(err, capped.ErrTooLarge) || !strings.Contains(err.Error(), p+": advisory record is larger than the cap of 32 MiB") {
		t.Errorf("ImportPath of a record over the cap: %v; want the cap error naming the file", err)
	}
}
