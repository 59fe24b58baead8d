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
