package labowner

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestOwnerOfALiveAndAnExitedProcess(t *testing.T) {
	self, err := Of(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if pid, _, err := Parse(self); err != nil || pid != os.Getpid() {
		t.Fatalf("Parse(%q) = %d, %v", self, pid, err)
	}
	if Gone(self) {
		t.Errorf("Gone(%q) for this very process", self)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child, err := Of(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if Gone(child) {
		t.Errorf("Gone(%q) while the child runs", child)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !Gone(child) {
		t.Errorf("Gone(%q) = false after the child exited", child)
	}
	// The same pid with another start time is another process.
	pid, start, _ := Parse(self)
	other := strings.Replace(self, ":"+start, ":1"+start, 1)
	if !Gone(other) {
		t.Errorf("Gone(%q) = false for pid %d with another start time", other, pid)
	}
	if Gone("") {
		t.Error(`Gone("") = true: a lab without an owner is never abandoned`)
	}
}

func TestParseRefusesWhatIsNoOwner(t *testing.T) {
	for _, s := range []string{"", "12", "12:", ":34", "x:34", "-1:34", "0:34", "12:3a", "12:34:56"} {
		if _, _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted it", s)
		} else if !strings.Contains(err.Error(), EnvOwner) {
			t.Errorf("Parse(%q): %v does not name %s", s, err, EnvOwner)
		}
	}
	if Gone("garbage") {
		t.Error("Gone of an unreadable value is true: such a lab would be taken down")
	}
}

func TestFromEnvAndSetSelf(t *testing.T) {
	t.Setenv(EnvOwner, "")
	if o, err := FromEnv(); o != "" || err != nil {
		t.Errorf("FromEnv unset = %q, %v", o, err)
	}
	t.Setenv(EnvOwner, "nonsense")
	if _, err := FromEnv(); err == nil {
		t.Error("FromEnv accepted nonsense")
	}
	if err := SetSelf(); err != nil {
		t.Fatal(err)
	}
	o, err := FromEnv()
	if err != nil || Gone(o) {
		t.Errorf("after SetSelf: FromEnv = %q, %v", o, err)
	}
}

func TestParseStat(t *testing.T) {
	// The fields after the command name up to the start time (field 22).
	tail := " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 987654 5 6\n"
	tests := []struct {
		name string
		stat string
		want Proc
		ok   bool
	}{
		{"plain", "42 (sshd) S 7" + tail, Proc{PID: 42, Comm: "sshd", State: 'S', PPID: 7, Start: "987654"}, true},
		{"name with spaces and parentheses", "43 (a) b (c) R 1" + tail, Proc{PID: 43, Comm: "a) b (c", State: 'R', PPID: 1, Start: "987654"}, true},
		{"zombie", "44 (dead) Z 1" + tail, Proc{PID: 44, Comm: "dead", State: 'Z', PPID: 1, Start: "987654"}, true},
		{"no command name", "45 sshd S 7" + tail, Proc{}, false},
		{"cut short", "46 (sshd) S 7 1 2", Proc{}, false},
		{"not a pid", "x (sshd) S 7" + tail, Proc{}, false},
		{"not a parent", "47 (sshd) S x" + tail, Proc{}, false},
		{"empty", "", Proc{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseStat([]byte(tt.stat))
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if !(Proc{State: 'Z'}).Exited() || !(Proc{State: 'X'}).Exited() || (Proc{State: 'S'}).Exited() {
		t.Error("Exited: want true for Z and X only")
	}
	self, err := ReadProc(os.Getpid())
	if err != nil || self.PID != os.Getpid() || self.PPID != os.Getppid() || self.Exited() {
		t.Errorf("ReadProc(self) = %+v, %v; want this process, live, with its parent %d", self, err, os.Getppid())
	}
}
