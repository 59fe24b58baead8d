package osfamily

import (
	"slices"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func TestParseNeedsRestart(t *testing.T) {
	out := []byte("ssh.service\nsystemd-journald.service\n\nnot a unit\ngetty@tty1.service\nssh.service\n../evil.service\n")
	want := []string{"getty@tty1.service", "ssh.service", "systemd-journald.service"}
	if got := ParseNeedsRestart(out); !slices.Equal(got, want) {
		t.Errorf("ParseNeedsRestart = %v, want %v", got, want)
	}
	tests := []struct {
		name string
		t    Transcript
		want []string
	}{
		{"not run", Transcript{}, nil},
		{"not root", Transcript{StepNeedsRestart: {ExitCode: 2, Stderr: []byte("listing services that need a restart needs root\n")}}, nil},
		{"none", Transcript{StepNeedsRestart: {}}, nil},
		{"some", Transcript{StepNeedsRestart: patchpilot.Result{Stdout: []byte("cron.service\n")}}, []string{"cron.service"}},
	}
	for _, tt := range tests {
		if got := NeedsRestart(tt.t); !slices.Equal(got, tt.want) {
			t.Errorf("%s: NeedsRestart = %v, want %v", tt.name, got, tt.want)
		}
	}
}
