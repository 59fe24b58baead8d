package ssh

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name   string
		cmd    patchpilot.Command
		user   string
		become bool
		want   string
	}{
		{"plain", patchpilot.Command{Args: []string{"uname", "-r"}}, "root", false,
			pidPrefix + "env LC_ALL=C LANG=C 'uname' '-r'"},
		{"quote", patchpilot.Command{Args: []string{"echo", "it's", ""}}, "root", false,
			pidPrefix + `env LC_ALL=C LANG=C 'echo' 'it'\''s' ''`},
		{"privileged as root needs no sudo", patchpilot.Command{Args: []string{"apt-get", "update"}, Privileged: true}, "root", true,
			pidPrefix + "env LC_ALL=C LANG=C 'apt-get' 'update'"},
		{"privileged with become", patchpilot.Command{Args: []string{"apt-get", "update"}, Privileged: true}, "deploy", true,
			pidPrefix + "sudo -n -- env LC_ALL=C LANG=C 'apt-get' 'update'"},
		{"privileged without become", patchpilot.Command{Args: []string{"apt-get", "update"}, Privileged: true}, "deploy", false,
			pidPrefix + "env LC_ALL=C LANG=C 'apt-get' 'update'"},
		{"unprivileged with become", patchpilot.Command{Args: []string{"uname"}}, "deploy", true,
			pidPrefix + "env LC_ALL=C LANG=C 'uname'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := commandLine(tt.cmd, tt.user, tt.become)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestCommandLineRejectsWhatCannotBeQuoted(t *testing.T) {
	for _, args := range [][]string{nil, {""}, {"A=b"}, {"echo", "a\x00b"}} {
		if _, err := commandLine(patchpilot.Command{Args: args}, "root", false); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("args %q: got %v, want an invalid error", args, err)
		}
	}
}

func TestKillLine(t *testing.T) {
	if got, want := killLine(42, false), "kill -KILL -- -42"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := killLine(42, true), "sudo -n -- kill -KILL -- -42"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// The quoting is checked against the shells a host may log in with.
func TestShellQuoteRoundTrips(t *testing.T) {
	args := []string{"", "plain", "it's", "''", `"`, `\`, "$(id)", "`id`", "a\nb", " ", "*", "~root", "!$", "\t", "é"}
	for _, shell := range []string{"sh", "bash", "dash"} {
		path, err := exec.LookPath(shell)
		if err != nil {
			continue
		}
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = shellQuote(a)
		}
		out, err := exec.Command(path, "-c", `printf '%s\0' `+strings.Join(quoted, " ")).Output()
		if err != nil {
			t.Fatalf("%s: %v", shell, err)
		}
		got := strings.Split(string(out), "\x00")
		got = got[:len(got)-1]
		if strings.Join(got, "|") != strings.Join(args, "|") || len(got) != len(args) {
			t.Errorf("%s: got %q, want %q", shell, got, args)
		}
	}
}

func TestPIDFilter(t *testing.T) {
	long := strings.Repeat("x", 2*maxPIDLine)
	tests := []struct {
		name    string
		in      string
		wantOut string
		wantPID int
	}{
		{"id line only", "patchpilot-pid:123\n", "", 123},
		{"id line then output", "patchpilot-pid:123\nerr\nmore", "err\nmore", 123},
		{"startup noise first", "noise\n\npatchpilot-pid:77\nerr\n", "noise\n\nerr\n", 77},
		{"long noise line", long + "\npatchpilot-pid:77\nerr\n", long + "\nerr\n", 77},
		{"later id lines are output", "patchpilot-pid:5\npatchpilot-pid:6\n", "patchpilot-pid:6\n", 5},
		{"no id line", "sh: exec: failed\npartial", "sh: exec: failed\npartial", 0},
		{"bad id", "patchpilot-pid:x\n", "patchpilot-pid:x\n", 0},
	}
	for _, tt := range tests {
		// Every split of the stream into two writes gives the same result.
		for cut := 0; cut <= len(tt.in); cut++ {
			var out bytes.Buffer
			f := newPIDFilter(&out)
			for _, part := range []string{tt.in[:cut], tt.in[cut:]} {
				if n, err := f.Write([]byte(part)); n != len(part) || err != nil {
					t.Fatalf("%s: Write returned %d, %v", tt.name, n, err)
				}
			}
			f.flush()
			if out.String() != tt.wantOut || f.PID() != tt.wantPID {
				t.Fatalf("%s, cut at %d: got %q, pid %d; want %q, pid %d", tt.name, cut, out.String(), f.PID(), tt.wantOut, tt.wantPID)
			}
		}
	}
}
