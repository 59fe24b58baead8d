package systemdrun

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Status
		ok   bool
	}{
		{"active\n-\nenv\napt-get\n", Status{Active: true, Args: []string{"env", "apt-get"}}, true},
		{"inactive\n0\nenv\n", Status{Finished: true, Args: []string{"env"}}, true},
		{"inactive\n100\n", Status{Finished: true, ExitCode: 100}, true},
		{"inactive\n-\n", Status{}, true},
		{"inactive\nx\n", Status{}, false},
		{"", Status{}, false},
	} {
		got, err := ParseStatus([]byte(tc.in))
		if (err == nil) != tc.ok || got.Active != tc.want.Active || got.Finished != tc.want.Finished || got.ExitCode != tc.want.ExitCode || !slices.Equal(got.Args, tc.want.Args) {
			t.Errorf("%q: got %+v, %v; want %+v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestStartCommand(t *testing.T) {
	cmd := StartCommand(Job{Unit: "pp-x", Args: []string{"apt-get", "install", "a=1"}, Timeout: 90 * time.Second})
	line := cmd.String()
	for _, want := range []string{"--unit=pp-x.service", "--collect", "RuntimeMaxSec=210", " 90s apt-get install a=1"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	if !cmd.Privileged {
		t.Error("not privileged")
	}
	for _, bad := range []string{"", "-x", "a b", "a/b", "a;b", "..x"} {
		if ValidUnit(bad) == nil {
			t.Errorf("unit %q: got valid", bad)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("active\n-\nenv\n"))
	f.Add([]byte("inactive\n100\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStatus(data)
		if err == nil && !st.Finished && st.ExitCode != 0 {
			t.Fatalf("exit code without a finished job: %+v", st)
		}
	})
}
