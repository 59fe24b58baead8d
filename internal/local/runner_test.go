package local

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func TestRunResult(t *testing.T) {
	r := New()
	tests := []struct {
		name       string
		cmd        patchpilot.Command
		wantOut    string
		wantErr    string
		wantStatus int
	}{
		{"stdout", patchpilot.Command{Args: []string{"echo", "a b", "$HOME"}}, "a b $HOME\n", "", 0},
		{"exit status is a result", patchpilot.Command{Args: []string{"sh", "-c", "echo oops >&2; exit 3"}}, "", "oops\n", 3},
		{"stdin", patchpilot.Command{Args: []string{"cat"}, Stdin: []byte("line one\nline two\n")}, "line one\nline two\n", "", 0},
		{"not found", patchpilot.Command{Args: []string{"patchpilot-no-such-program"}}, "", "patchpilot-no-such-program: command not found\n", ExitNotFound},
		{"killed by signal", patchpilot.Command{Args: []string{"sh", "-c", "kill -TERM $$"}}, "", "", 128 + 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Run(context.Background(), tt.cmd)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if string(got.Stdout) != tt.wantOut || string(got.Stderr) != tt.wantErr || got.ExitCode != tt.wantStatus {
				t.Errorf("got (%q, %q, %d), want (%q, %q, %d)", got.Stdout, got.Stderr, got.ExitCode, tt.wantOut, tt.wantErr, tt.wantStatus)
			}
		})
	}
}

func TestRunForcesCLocale(t *testing.T) {
	r := &Runner{Environ: []string{"PATH=/usr/bin:/bin", "LANG=de_DE.UTF-8", "LC_ALL=de_DE.UTF-8", "LANGUAGE=de", "KEEP=1"}}
	res, err := r.Run(context.Background(), patchpilot.Command{Args: []string{"env"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	want := map[string]string{"LC_ALL": "C", "LANG": "C", "KEEP": "1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["LANGUAGE"]; ok {
		t.Errorf("LANGUAGE was passed through: %q", got["LANGUAGE"])
	}
}

// TestRunPrivileged puts a fake sudo first in PATH that prints its
// arguments, to see exactly what a non-root controller would execute.
func TestRunPrivileged(t *testing.T) {
	dir := t.TempDir()
	fake := "#!/bin/sh\necho sudo \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "sudo"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + dir + ":/usr/bin:/bin"}
	tests := []struct {
		uid        int
		privileged bool
		want       string
	}{
		{1000, true, "sudo -n -- echo hi\n"},
		{1000, false, "hi\n"},
		{0, true, "hi\n"},
	}
	for _, tt := range tests {
		r := &Runner{UID: tt.uid, Environ: env}
		res, err := r.Run(context.Background(), patchpilot.Command{Args: []string{"echo", "hi"}, Privileged: tt.privileged})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(res.Stdout); got != tt.want {
			t.Errorf("uid %d privileged %v: got %q, want %q", tt.uid, tt.privileged, got, tt.want)
		}
	}
}

// TestRunTimeoutKillsGroup starts a shell that leaves a background child;
// the timeout must kill both, not only the shell.
func TestRunTimeoutKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := New()
	start := time.Now()
	_, err := r.Run(context.Background(), patchpilot.Command{
		Args:    []string{"sh", "-c", "sleep 30 & echo $! > " + pidFile + "; wait"},
		Timeout: 300 * time.Millisecond,
	})
	if got := patchpilot.ErrorCode(err); got != patchpilot.ETIMEOUT {
		t.Fatalf("error code = %q (%v), want %q", got, err, patchpilot.ETIMEOUT)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run returned after %v, want well under the child's 30s", d)
	}
	assertDead(t, pidFile)
}

func TestRunCancel(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	_, err := New().Run(ctx, patchpilot.Command{Args: []string{"sh", "-c", "sleep 30 & echo $! > " + pidFile + "; wait"}})
	if got := patchpilot.ErrorCode(err); got != patchpilot.ECANCELED {
		t.Fatalf("error code = %q (%v), want %q", got, err, patchpilot.ECANCELED)
	}
	assertDead(t, pidFile)

	_, err = New().Run(ctx, patchpilot.Command{Args: []string{"true"}})
	if got := patchpilot.ErrorCode(err); got != patchpilot.ECANCELED {
		t.Errorf("already cancelled: error code = %q, want %q", got, patchpilot.ECANCELED)
	}
}

func TestRunDefaultTimeout(t *testing.T) {
	r := &Runner{DefaultTimeout: 200 * time.Millisecond}
	_, err := r.Run(context.Background(), patchpilot.Command{Args: []string{"sleep", "10"}})
	if got := patchpilot.ErrorCode(err); got != patchpilot.ETIMEOUT {
		t.Fatalf("error code = %q (%v), want %q", got, err, patchpilot.ETIMEOUT)
	}
}

func TestRunEmpty(t *testing.T) {
	_, err := New().Run(context.Background(), patchpilot.Command{})
	if got := patchpilot.ErrorCode(err); got != patchpilot.EINVALID {
		t.Errorf("error code = %q, want %q", got, patchpilot.EINVALID)
	}
}

// assertDead checks that the process whose pid is in pidFile is gone or a
// zombie waiting for a parent that does not reap (PID 1 here may not).
func assertDead(t *testing.T, pidFile string) {
	t.Helper()
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("child pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("child pid %q: %v", data, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return // gone
		}
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d still running after the command was stopped: %s", pid, stat)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
