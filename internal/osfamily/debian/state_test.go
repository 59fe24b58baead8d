package debian

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

func TestParseState(t *testing.T) {
	tr := osfamily.Transcript{StepState: {Stdout: []byte("0123456789abcdef0123456789abcdef  -\n")}}
	if got, err := ParseState(tr); err != nil || got != "apt:0123456789abcdef0123456789abcdef" {
		t.Errorf("got %q, %v", got, err)
	}
	tr = osfamily.Transcript{StepState: {Stdout: []byte("md5sum: command not found\n")}}
	if _, err := ParseState(tr); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("got %v, want a refusal", err)
	}
}

// The state script's digest tells two Ubuntu hosts apart by their machine
// ids, on which apt's phased updates depend, and two Debian hosts not: it
// runs on this machine in a mount namespace whose /etc/os-release and
// /etc/machine-id are bound over from test files.
func TestStateDigestOnUbuntuNamesTheMachine(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to bind files over /etc in a mount namespace")
	}
	for _, tool := range []string{"unshare", "dpkg", "md5sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	osRelease := map[string]string{
		"ubuntu": write("ubuntu", "NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"24.04\"\n"),
		"debian": write("debian", "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n"),
	}
	ids := []string{write("id1", "11111111111111111111111111111111\n"), write("id2", "22222222222222222222222222222222\n")}
	script := StateStep().Cmd.Args[2]
	digest := func(release, id string) string {
		t.Helper()
		cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
			`mount --bind "$1" /etc/os-release && mount --bind "$2" /etc/machine-id && exec sh -c "$3" patchpilot-state`,
			"sh", release, id, script)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Skipf("cannot run the script in a mount namespace here: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if a, b := digest(osRelease["ubuntu"], ids[0]), digest(osRelease["ubuntu"], ids[1]); a == b {
		t.Errorf("two Ubuntu machine ids give one digest %s: their phased updates may differ", a)
	}
	if a, b := digest(osRelease["debian"], ids[0]), digest(osRelease["debian"], ids[1]); a != b {
		t.Errorf("two Debian machine ids give digests %s and %s: Debian hosts alike should share one", a, b)
	}
}
