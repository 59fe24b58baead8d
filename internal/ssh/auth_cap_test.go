package ssh

import (
	"errors"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot/internal/capped"
)

// TestKeyFileCap gives /dev/zero as a key file: it is refused at the cap,
// naming the file, instead of being read until memory runs out.
func TestKeyFileCap(t *testing.T) {
	_, err := NewDialer(Options{HomeDir: t.TempDir(), KeyFiles: []string{"/dev/zero"}})
	if !errors.Is(err, capped.ErrTooLarge) || !strings.Contains(err.Error(), "/dev/zero: key file is larger than the cap of 1 MiB") {
		t.Errorf("NewDialer with /dev/zero as a key file: %v; want the cap error", err)
	}
}
