package planner

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

func TestReadFileCap(t *testing.T) {
	p, example, err := ReadFile("testdata/example.yaml")
	if err != nil || len(p.Stages) == 0 || len(example) == 0 {
		t.Fatalf("ReadFile(example.yaml) = %d stages, %d bytes, %v", len(p.Stages), len(example), err)
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	// A valid plan, then a comment up to one byte past the cap: only the
	// size is wrong with it.
	body := string(example) + "#" + strings.Repeat("x", MaxPlanBytes-len(example)-1) + "\n"
	if err := os.WriteFile(big, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = ReadFile(big)
	if !errors.Is(err, capped.ErrTooLarge) || patchpilot.ErrorCode(err) != patchpilot.EINVALID ||
		!strings.Contains(err.Error(), big+": plan is larger than the cap of 1 MiB") {
		t.Errorf("ReadFile of a plan over the cap: %v; want invalid naming the file and the cap", err)
	}

	start := time.Now()
	_, _, err = ReadFile("/dev/zero")
	if !errors.Is(err, capped.ErrTooLarge) || !strings.Contains(err.Error(), "/dev/zero: plan is larger than the cap") {
		t.Errorf("ReadFile(/dev/zero) = %v; want the cap error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ReadFile(/dev/zero) took %s", d)
	}

	if _, _, err := ReadFile(filepath.Join(dir, "none.yaml")); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("ReadFile of a missing plan: %v; want not_found", err)
	}
}
