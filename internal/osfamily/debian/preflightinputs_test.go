package debian

import (
	"strings"
	"testing"
)

func TestParsePreflightInputs(t *testing.T) {
	// Captured from a lab host (bookworm).
	out := "/var/lib/dpkg/status 149448 1796624105.886464907 281\n" +
		"/var/lib/apt/lists/_srv_pp-repo_._Packages 12434 1796623222.989125531 885237\n" +
		"/etc/apt/sources.list.d/patchpilot-lab.list 97 1796623223.022191005 884987\n" +
		"--\n    Avail\n509767680\n"
	fp, free, err := ParsePreflightInputs([]byte(out))
	if err != nil || free != 509767680 || !strings.HasPrefix(fp, "/var/lib/dpkg/status 149448 ") || strings.Contains(fp, "Avail") {
		t.Fatalf("got %q, %d, %v", fp, free, err)
	}
	for _, bad := range []string{"", "--\n    Avail\n1\n", "/var/lib/dpkg/status 1 2 3\n", "/var/lib/dpkg/status 1 2 3\n--\nx\n"} {
		if _, _, err := ParsePreflightInputs([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	cmd := PreflightInputsCommand()
	if cmd.Privileged || cmd.Args[0] != "/bin/sh" || !strings.Contains(cmd.Args[2], "/var/lib/dpkg/status") {
		t.Errorf("command %q", cmd.Args)
	}
}
