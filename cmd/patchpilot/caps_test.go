package main

import (
	"strings"
	"testing"
	"time"
)

// TestInputCapsDevZero gives /dev/zero (size 0, endless) as a plan, an
// inventory and a history file: each command must exit 2 quickly with an
// error naming the file and the cap, not run the machine out of memory.
func TestInputCapsDevZero(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"rollout", "start", "/dev/zero"},
		{"inventory", "collect", "-i", "/dev/zero"},
		{"inventory", "import-facts", "/dev/zero"},
	} {
		start := time.Now()
		r := e.run(args...)
		if r.code != 2 || !strings.Contains(r.stderr, "/dev/zero: ") || !strings.Contains(r.stderr, "larger than the cap of") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 naming /dev/zero and the cap", strings.Join(args, " "), r.code, r.stderr)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %s", strings.Join(args, " "), d)
		}
	}
	// /dev/zero has no newline: the first history line passes its limit.
	r := e.run("history", "import", "/dev/zero")
	if r.code != 2 || !strings.Contains(r.stderr, "/dev/zero:1: line is longer than the limit of 1 MiB") {
		t.Errorf("history import /dev/zero: exit %d, stderr %q; want exit 2 naming /dev/zero:1 and the limit", r.code, r.stderr)
	}
}
