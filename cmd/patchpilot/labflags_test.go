package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// 'lab up --hosts 0' is out of range, as --hosts 201 is, and not read as
// "the default number of hosts". (The bad profile beside it makes sure
// that no lab boots when the count is not checked.)
func TestUpWithZeroHostsIsRefused(t *testing.T) {
	e := newEnv(t)
	r := e.run("lab", "up", "--hosts", "0", "--profile", "no-such-profile", "--subnet", "127.0.71", "--dir", filepath.Join(e.home, "lab"))
	if r.code != 2 || !strings.Contains(r.stderr, "hosts: 0 is out of range (want 1 to 200)") {
		t.Errorf("lab up --hosts 0: exit %d, stderr %q; want exit 2 and the range of --hosts", r.code, r.stderr)
	}
}
